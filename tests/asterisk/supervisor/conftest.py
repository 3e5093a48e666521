"""The whole Engine on the test Asterisk with a migrated, seeded CRM, and a helper that places a
real inbound call (IVR -> support queue) from a known customer's number."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from callcenter.engine import Engine
from cti.events import Event
from cti.journey import QueueEntered
from cti.pbx import ManagedPbx
from cti.settings import Settings
from tests.helpers import customer_number, engine_settings, place_call, running_engine


class Running:
    def __init__(self, engine: Engine, seen: list[Event], pbx: ManagedPbx) -> None:
        self.engine, self.seen, self.pbx = engine, seen, pbx

    async def place_support_call(self, account: str = "100001", caller: str = "cti-sim-caller") -> str:
        """A known customer calls and presses 1 (support) until the call waits in the queue; its linkedid."""
        _, _, number = await customer_number(self.engine, account)
        entered = await place_call(self.engine, lambda: [e for e in self.seen if isinstance(e, QueueEntered)], number,
                                   caller=caller)
        return str(entered.linkedid)


@pytest.fixture
async def running(pbx: ManagedPbx, pbx_settings: Settings, tmp_path: Path) -> AsyncIterator[Running]:
    seen: list[Event] = []

    async def record(ev: Event) -> None:
        seen.append(ev)

    def before_start(eng: Engine) -> None:
        assert eng.app is not None and getattr(eng.app.state, "supervisor", None) is not None
        eng.bus.subscribe(Event, record, name="test.recorder")

    settings = engine_settings(pbx_settings, tmp_path)
    async with running_engine(pbx, settings, before_start=before_start, answer_after_s=0.5) as eng:
        yield Running(eng, seen, pbx)
