"""The whole Engine on the test Asterisk with a migrated, seeded CRM, and a helper that places a
real inbound call (IVR -> support queue) from a known customer's number."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from crm_core.db import Database
from crm_core.models import Customer
from crm_core.seed import seed_demo
from cti.engine import Engine
from cti.events import Event
from cti.journey import QueueEntered
from cti.pbx import ManagedPbx
from cti.settings import Settings


async def until(predicate: Callable[[], Any], timeout_s: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


class Running:
    def __init__(self, engine: Engine, seen: list[Event], pbx: ManagedPbx) -> None:
        self.engine, self.seen, self.pbx = engine, seen, pbx

    async def place_support_call(self, account: str = "100001") -> str:
        """A known customer calls and presses 1 (support) until the call waits in the queue; its linkedid."""
        eng = self.engine
        async with eng.db.session() as s:
            customer = (await s.scalars(select(Customer).where(Customer.account_number == account))).one()
            number = customer.phones[0].e164
        before = len([e for e in self.seen if isinstance(e, QueueEntered)])
        result = await eng.ami.control.originate("Local/5002@cti-inbound/n", context="cti-sim-caller", exten="s",
                                                 caller_id=f"<{number}>", timeout_ms=10000)
        assert result.success, result
        caller_half = await until(lambda: next((ch.name for c in eng.ami.model.calls() for ch in c.live
                                                if ch.name.startswith("Local/5002@cti-inbound-")
                                                and ch.name.endswith(";1")), None))
        # Digits are only heard while the menu listens: a key sent during another prompt is sent again.
        deadline = time.monotonic() + 30
        while len(entered := [e for e in self.seen if isinstance(e, QueueEntered)]) == before:
            assert time.monotonic() < deadline, "the call never reached the queue"
            await eng.ami.control.play_dtmf(caller_half, "1")
            await asyncio.sleep(0.7)
        return str(entered[-1].linkedid)


@pytest.fixture
async def running(pbx: ManagedPbx, pbx_settings: Settings, tmp_path: Path) -> AsyncIterator[Running]:
    settings = pbx_settings.model_copy(update={
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'engine.db'}", "state_dir": tmp_path / "state"})
    db = Database.from_settings(settings)
    await db.upgrade()
    await seed_demo(db, progress=lambda *_: None, config_dir=settings.config_dir)
    await db.dispose()
    eng = Engine(settings, answer_after_s=0.5)
    assert eng.app is not None and getattr(eng.app.state, "supervisor", None) is not None
    seen: list[Event] = []

    async def record(ev: Event) -> None:
        seen.append(ev)

    eng.bus.subscribe(Event, record, name="test.recorder")
    await eng.start()
    try:
        yield Running(eng, seen, pbx)
    finally:
        pbx.cli("channel request hangup all")
        await asyncio.sleep(0.5)
        await eng.stop()
