"""The public feed's ``call.wrapped_up.wrapup_s`` is the call's after-call work (docs/kpis.md,
docs/event-feed.md): the real desk over the real ACD, a SQLite CRM and the event feed."""

from __future__ import annotations

import json
from pathlib import Path

from acd.delivery import AcdService
from acd.model import QueueConfig
from acd.routing import Router
from agent_console.desk import EngineDesk
from agent_console.ports import WrapUpInput
from crm_core.db import Database
from crm_core.feed import EventFeed
from cti.bus import InProcessBus
from cti.journey import CallEnded, IvrFinished
from tests.db.console.desk_worlds import CALLER, Pbx


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_wrapped_up_says_the_wrap_up_not_the_talk(crm_template: bytes, tmp_path: Path) -> None:
    """Answered at 100, hung up at 160, the form at 175: wrapup_s 15 (it said 75, talk included)."""
    (tmp_path / "crm.db").write_bytes(crm_template)
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}")
    clock = Clock(1_800_000_100.0)
    bus = InProcessBus()
    acd = AcdService(Router([QueueConfig(name="support", wrap_up_s=60.0)]), Pbx(), bus, clock=clock)
    acd.subscribe()
    desk = EngineDesk(acd, db, bus, clock=clock, journal=tmp_path / "wrapups.jsonl")
    feed = EventFeed(db, tmp_path)
    feed.subscribe(bus)
    await feed.start()
    await bus.start()
    try:
        await acd.agent_login("1001", {"support": 3}, ["support"], ready=True)
        await bus.publish(IvrFinished(ts=clock.now, linkedid="L1", flow="main", outcome="queue",
                                      channel="PJSIP/trunk-1", caller_number=CALLER, queue="support"))
        await bus.drain()
        ring = acd.calls["L1"].ring_task
        assert ring is not None
        await ring  # the agent answers at 100
        await bus.drain()
        clock.now += 60.0
        await bus.publish(CallEnded(ts=clock.now, linkedid="L1"))
        await bus.drain()
        clock.now += 15.0
        await desk.wrap_up("1001", "L1", WrapUpInput(disposition="resolved"))
        await bus.drain()
        await feed.flush()
        bodies = [json.loads(r[2]) for r in await feed.page(0, 1000)]
    finally:
        await acd.stop()
        await bus.stop()
        await feed.stop()
        await db.dispose()
    wrapped = [b["data"] for b in bodies if b["type"] == "call.wrapped_up"]
    assert [w["wrapup_s"] for w in wrapped] == [15.0]
