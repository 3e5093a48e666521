"""Two real Asterisk instances (rig.py): the call centre under test and a carrier that delivers
calls to our DIDs and plays the customers of the numbers we call."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from callcenter.engine import Engine
from cti.events import Event
from tests.asterisk.trunks.rig import Rig, carrier_rig
from tests.helpers import engine_settings, running_engine


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with carrier_rig(tmp_path_factory.mktemp("trunks"), sip={"auth_failure_threshold": 3}) as r:
        yield r


@pytest.fixture
async def engine(rig: Rig, tmp_path: Any) -> AsyncIterator[tuple[Engine, list[Event]]]:
    seen: list[Event] = []

    async def record(ev: Event) -> None:
        seen.append(ev)

    settings = engine_settings(rig.settings, tmp_path)
    subscribe = lambda eng: eng.bus.subscribe(Event, record, name="test.recorder")  # noqa: E731
    async with running_engine(rig.ours, settings, before_start=subscribe, answer_after_s=0.5) as eng:
        yield eng, seen
    rig.carrier.cli("channel request hangup all")
