"""The stored interaction's after-call work is the agent's wrap-up state time, so the reports' AHT
and occupancy's handle time agree (docs/kpis.md): the ACD (its router steps carried out by
``AcdService``) publishes the agent's states and the end of each call's wrap-up, the call logger
stores the interactions, the reports read them back, and the supervisor's agent clock counts the
same agent's on-call and wrap-up time."""

from __future__ import annotations

from pathlib import Path

import pytest

from acd.delivery import AcdService
from acd.events import AgentStateChanged
from acd.kpis import summarize
from acd.model import QueueConfig
from acd.routing import Router
from agent_console.supervisor.agents import AgentClock
from agent_console.supervisor.records import load_records
from crm_core.calllog import CallLogger
from crm_core.db import Database
from cti.ami.control import FakeCallControl
from cti.bus import InProcessBus
from cti.journey import CallArrived, CallConnected, CallEnded, QueueEntered, WrapUpDone

T0 = 1790000000.0
WRAP_UP_S = 10.0


async def test_acw_and_aht_agree_with_the_agents_wrap_up_state_time(db: Database, tmp_path: Path) -> None:
    now = [T0]
    bus = InProcessBus()
    acd = AcdService(Router([QueueConfig("support", wrap_up_s=WRAP_UP_S)]), FakeCallControl(), bus,
                     clock=lambda: now[0])
    logger = CallLogger(db, tmp_path)
    logger.subscribe(bus)
    clock = AgentClock()

    async def on_state(ev: AgentStateChanged) -> None:
        clock.changed(ev.agent_id, ev.state, ev.since, ev.phone_reachable)

    bus.subscribe(AgentStateChanged, on_state, name="test.agent_clock")
    await logger.start()
    await bus.start()

    async def at(ts: float) -> None:
        now[0] = T0 + ts

    async def call(lid: str, start: float, talk: float) -> None:
        """A caller queues at ``start``, agent 1001 answers 2 s later and talks ``talk`` seconds."""
        await at(start)
        await bus.publish(CallArrived(ts=now[0], linkedid=lid, channel=f"PJSIP/trunk-{lid}",
                                      caller_number="13800138000"))
        await bus.publish(QueueEntered(ts=now[0], linkedid=lid, queue="support"))
        await acd.decide(lambda t: acd.router.enqueue(lid, "support", t))
        await at(start + 2)
        await acd.decide(lambda t: acd.router.offer_answered(lid, "1001", t))
        await bus.publish(CallConnected(ts=now[0], linkedid=lid, agent_id="1001", queue="support"))
        await at(start + 2 + talk)
        await bus.publish(CallEnded(ts=now[0], linkedid=lid))
        await acd.decide(lambda t: acd.router.call_ended(lid, t))

    def form(lid: str) -> WrapUpDone:
        return WrapUpDone(ts=now[0], linkedid=lid, agent_id="1001", disposition="resolved", queue="support")

    try:
        await acd.decide(lambda t: acd.router.agent_login("1001", {}, t, queues=["support"], ready=True))
        # 1: never submitted: the wrap-up timer makes the agent ready 10 s after the hang-up.
        await call("L1", 10.0, 30.0)
        await at(52.0)
        await acd.decide(acd.router.tick)
        # 2: submitted in wrap-up after 4 s: the console publishes it, then makes the agent ready.
        await call("L2", 100.0, 60.0)
        await at(166.0)
        await bus.publish(form("L2"))
        await acd.set_ready("1001")
        # 3: the timer ends the wrap-up; the form comes 50 s later (while the agent waits for calls).
        await call("L3", 200.0, 20.0)
        await at(232.0)
        await acd.decide(acd.router.tick)
        await at(282.0)
        await bus.publish(form("L3"))
        await at(300.0)
        await acd.set_not_ready("1001", "lunch")
        await bus.drain()
        await logger.flush()
    finally:
        await bus.stop()
        await logger.stop()

    records = {r.linkedid: r for r in await load_records(db, T0, T0 + 3600)}
    assert {lid: (r.talk_s, r.acw_s) for lid, r in records.items()} == {
        "L1": (30.0, 10.0), "L2": (60.0, 4.0), "L3": (20.0, 10.0)}
    kpis = summarize(list(records.values()), agent_times=clock.times(T0 + 300.0, since=T0))
    # The agent was on call or in wrap-up for 30+10 + 60+4 + 20+10 s: the handled calls' AHT sum.
    (handle_s,) = {round(sum(t.handle_s for t in clock.times(T0 + 300.0, since=T0)), 3)}
    assert kpis.handled == 3 and kpis.aht_s is not None
    assert kpis.aht_s * kpis.handled == pytest.approx(handle_s) == pytest.approx(134.0)
