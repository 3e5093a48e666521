"""Callers on a real carrier (tests/asterisk/trunks' second Asterisk) calling the shipped demo IVR
over SIP, with the waits of config/queues.yaml shortened so that a test hears them in seconds: the
first DID on the always-open line, the second on the line that keeps the opening hours, closed
for the run."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from callcenter.engine import Engine
from cti.events import Event
from tests.asterisk.trunks.rig import Rig, carrier_rig
from tests.helpers import engine_settings, running_engine

ANNOUNCE_EVERY_S = 25  # support's (30 in config/queues.yaml; 25 is the least acd/config.py takes)
GENERAL_MAX_WAIT_S = 12  # general's (900), whose action is the closing announcement
VHOLD_OFFER_AFTER_S = 3  # billing's virtual hold offer (60)


def _edit(config: Path) -> None:
    trunks = config / "trunks.yaml"
    text = trunks.read_text(encoding="utf-8")
    assert 'dnis: "7001", flow: sales-line' in text
    # The carrier's first DID opens the demo flow on its always-open line (5002).
    # Its second DID opens the demo flow on its English line (5000), which keeps the opening hours: closed
    # for this test run (today, and the days either side, are holidays), whatever the real clock says.
    assert 'dnis: "7002", flow: hotline' in text
    text = text.replace('dnis: "7001", flow: sales-line', 'dnis: "5002", flow: demo', 1)
    trunks.write_text(text.replace('dnis: "7002", flow: hotline', 'dnis: "5000", flow: demo', 1), encoding="utf-8")
    demo = yaml.safe_load((config / "ivr" / "demo.yaml").read_text(encoding="utf-8"))
    today = datetime.now(ZoneInfo(demo["hours"]["timezone"])).date()
    demo["hours"]["holidays"] += [str(today + timedelta(days=d)) for d in (-1, 0, 1)]
    (config / "ivr" / "demo.yaml").write_text(yaml.safe_dump(demo, allow_unicode=True), encoding="utf-8")
    data = yaml.safe_load((config / "queues.yaml").read_text(encoding="utf-8"))
    data["queues"]["support"].update(announce_every_s=ANNOUNCE_EVERY_S)
    data["queues"]["general"].update(max_wait_s=GENERAL_MAX_WAIT_S)
    data["queues"]["billing"]["virtual_hold"].update(offer_after_s=VHOLD_OFFER_AFTER_S)
    (config / "queues.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with carrier_rig(tmp_path_factory.mktemp("caller"), edit_config=_edit) as r:
        yield r


@pytest.fixture
async def engine(rig: Rig, tmp_path: Path) -> AsyncIterator[tuple[Engine, list[Event]]]:
    seen: list[Event] = []

    async def record(ev: Event) -> None:
        seen.append(ev)

    subscribe = lambda eng: eng.bus.subscribe(Event, record, name="test.recorder")  # noqa: E731
    async with running_engine(rig.ours, engine_settings(rig.settings, tmp_path), before_start=subscribe,
                              answer_after_s=0.5) as eng:
        yield eng, seen
    rig.carrier.cli("channel request hangup all")
