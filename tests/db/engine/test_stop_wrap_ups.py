"""An engine that stops while an agent wraps up a call ends that wrap-up at the stop: the call log's
after-call work (``ended_by`` stopped) and the agent's state history (the state the agent leaves
wrap-up for, at the same instant) agree. Before, no end was published: the call's ACW was 0 unless
the form came, while the state history counted wrap-up until the agent's next recorded state after
the restart. No PBX is needed: only the bus, the call log and the ACD's router run (SQLite)."""

from __future__ import annotations

import time
from pathlib import Path

from acd.events import AgentStateChanged, AgentWrapUpEnded
from callcenter.engine import Engine
from crm_core.interactions import interaction_by_linkedid, segments_of
from cti.events import Event
from cti.journey import CallArrived, CallConnected, CallEnded, QueueEntered
from cti.settings import load_settings


async def test_a_wrap_up_under_way_ends_at_the_engines_stop(tmp_path: Path) -> None:
    settings = load_settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}", state_dir=tmp_path / "state")
    engine = Engine(settings, web=False)
    await engine.db.upgrade()
    engine.logger.subscribe(engine.bus)
    seen: list[Event] = []

    async def record(ev: Event) -> None:
        seen.append(ev)

    engine.bus.subscribe(AgentWrapUpEnded, record, name="test.wrapup_ended")
    engine.bus.subscribe(AgentStateChanged, record, name="test.states")
    await engine.bus.start()
    await engine.logger.start()
    queue = engine.acd.queue_names()[0]
    now = time.time()
    await engine.acd.agent_login("a1", engine.acd.first_need(queue, None), [queue], ready=True, wrap_up_s=3600.0)
    r = engine.acd.router
    r.enqueue("stop-1", queue, now - 40.0)
    r.offer_answered("stop-1", "a1", now - 30.0)
    r.call_ended("stop-1", now - 10.0)  # a1 wraps up from 10 s ago: no form, and an hour to go
    for ev in (CallArrived(ts=now - 45.0, linkedid="stop-1", channel="PJSIP/t-1", caller_number="+8613800138000"),
               QueueEntered(ts=now - 40.0, linkedid="stop-1", queue=queue),
               CallConnected(ts=now - 30.0, linkedid="stop-1", agent_id="a1", queue=queue),
               CallEnded(ts=now - 10.0, linkedid="stop-1")):
        await engine.bus.publish(ev)
    await engine.bus.drain()
    before_stop = len(seen)
    await engine.stop()
    stopped = time.time()
    ends = [e for e in seen if isinstance(e, AgentWrapUpEnded)]
    assert [(e.agent_id, e.linkedid, e.reason) for e in ends] == [("a1", "stop-1", "stopped")]
    assert now <= ends[0].ts <= stopped
    states = [(e.state, e.since) for e in seen[before_stop:] if isinstance(e, AgentStateChanged)]
    assert states == [("available", ends[0].ts)]  # the state history's wrap-up ends at the same instant
    again = Engine(settings, web=False)
    try:
        await again.logger.start()
        await again.logger.flush()
        async with again.db.session() as s:
            row = await interaction_by_linkedid(session=s, linkedid="stop-1")
            assert row is not None
            wraps = [seg for seg in await segments_of(session=s, interaction_id=row.id) if seg.kind == "wrapup"]
        assert abs(row.acw_s - (ends[0].ts - (now - 10.0))) < 0.01 and row.acw_s >= 10.0
        assert [(w.agent_id, (w.detail or {}).get("ended_by")) for w in wraps] == [("a1", "stopped")]
    finally:
        await again.logger.stop()
        await again.db.dispose()
