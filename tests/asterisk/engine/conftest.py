"""The whole engine on the session's real Asterisk, with every bus event recorded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from callcenter.engine import Engine
from cti.events import Event
from cti.pbx import ManagedPbx
from cti.settings import Settings
from tests.helpers import engine_settings, running_engine


@pytest.fixture
async def engine(pbx: ManagedPbx, pbx_settings: Settings, tmp_path: Any) -> AsyncIterator[tuple[Engine, list[Event]]]:
    seen: list[Event] = []

    async def record(ev: Event) -> None:
        seen.append(ev)

    settings = engine_settings(pbx_settings, tmp_path)
    subscribe = lambda eng: eng.bus.subscribe(Event, record, name="test.recorder")  # noqa: E731
    async with running_engine(pbx, settings, before_start=subscribe, answer_after_s=0.5) as eng:
        yield eng, seen
