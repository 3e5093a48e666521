"""A stopped ACD offers no call. The engine stops the ACD before AMI and the bus, so events still
arrive for a few seconds (a call ending, an IVR hand-off the bus still held): none of them may ring
an agent whom no engine will connect. They are still followed, so the call log stays whole: the
hand-off is a queue entry (written on the caller's channel, where the next engine reads it), the
caller who hangs up has abandoned, the agent freed is available."""

from __future__ import annotations

from acd.delivery import AcdService
from acd.model import AgentState, QueueConfig
from acd.recovery import ENTRY_VAR
from acd.routing import Router
from cti.ami.control import FakeCallControl
from cti.bus import InProcessBus
from cti.events import Event
from cti.journey import CallEnded, IvrFinished, QueueEntered, QueueLeft


def _handed(linkedid: str) -> IvrFinished:
    return IvrFinished(ts=1000.0, linkedid=linkedid, flow="main", outcome="queue",
                       channel=f"PJSIP/trunk-{linkedid}", caller_number="+8613800138000", queue="general")


async def test_a_stopped_acd_rings_no_agent_but_follows_its_calls() -> None:
    bus = InProcessBus()
    control = FakeCallControl()
    acd = AcdService(Router([QueueConfig(name="general", wrap_up_s=0)]), control, bus, clock=lambda: 1000.0)
    acd.subscribe()
    journey: list[Event] = []

    async def record(e: Event) -> None:
        journey.append(e)

    bus.subscribe((QueueEntered, QueueLeft), record, name="test.journey")
    await bus.start()
    await acd.start()
    try:
        await acd.agent_login("1001", {}, ["general"], ready=True)
        await bus.publish(_handed("1.1"))
        await bus.drain()
        ring = acd.calls["1.1"].ring_task
        assert ring is not None
        await ring  # running: the hand-off rang 1001, who answered
        assert len(control.called("originate")) == 1 and acd.agent("1001").state is AgentState.ON_CALL
        await acd.stop()

        await bus.publish(_handed("2.2"))  # what the bus still held at the stop
        await bus.drain()
        await bus.publish(CallEnded(ts=1001.0, linkedid="1.1"))  # 1001 is free: 2.2 waits
        await bus.drain()
        assert len(control.called("originate")) == 1, control.called("originate")
        assert acd.agent("1001").state is AgentState.AVAILABLE
        entries = [c for c in control.called("set_var") if c["channel"] == "PJSIP/trunk-2.2"]
        assert [c["name"] for c in entries] == [ENTRY_VAR]  # where the next engine finds the caller

        await bus.publish(CallEnded(ts=1002.0, linkedid="2.2"))
        await bus.drain()
        assert [(type(e).__name__, e.linkedid) for e in journey] == [
            ("QueueEntered", "1.1"), ("QueueEntered", "2.2"), ("QueueLeft", "2.2")]
        assert isinstance(journey[-1], QueueLeft) and journey[-1].reason == "abandoned"
    finally:
        await bus.stop()
