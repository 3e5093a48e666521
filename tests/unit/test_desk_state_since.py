"""The console's state timer counts from the agent's current state: the desk's snapshot (the hello
a console gets on connecting or reloading, and /api/agent/snapshot) said ``since`` = the time the
agent went ready, whatever their state, so a ringing agent's timer read the time since Ready (00:14
as the phone began ringing), until the next state frame restarted it (an agent's trial)."""

from __future__ import annotations

import pytest

from acd.calls import AgentPhone, LiveCall
from acd.delivery import AcdService
from acd.model import QueueConfig
from acd.routing import Router
from agent_console.desk import EngineDesk
from cti.ami.control import FakeCallControl
from cti.bus import InProcessBus

pytestmark = pytest.mark.unit


async def test_the_snapshots_since_is_when_the_current_state_began() -> None:
    t = [1000.0]
    bus = InProcessBus()
    acd = AcdService(Router([QueueConfig(name="support", ring_timeout_s=30.0)]), FakeCallControl(), bus,
                     clock=lambda: t[0])
    acd.subscribe()
    await bus.start()
    desk = EngineDesk(acd, db=None, bus=bus)  # type: ignore[arg-type]
    await acd.agent_login("1001", {}, ["support"], phone=AgentPhone("1001"), ready=True)
    assert (await desk.snapshot("1001")).state.since == 1000.0
    t[0] = 1014.0  # 14 s ready, then a caller: the phone rings
    await acd.enqueue(LiveCall(linkedid="c.1", caller_channel="PJSIP/trunk-1", caller_number="138", queue="support"))
    snap = await desk.snapshot("1001")
    assert (snap.state.state, snap.state.since) == ("reserved", 1014.0)
    t[0] = 1020.0
    await acd.set_not_ready("1001", "break")  # pending until the call's end: the state and its time stand
    assert (await desk.snapshot("1001")).state.since == 1014.0
    await bus.stop()
