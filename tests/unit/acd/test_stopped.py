"""A stopped ACD acts on the PBX no more. The engine stops the ACD before AMI and the bus, so events
still arrive for a few seconds (a call ending, an IVR hand-off the bus still held): none of them may
ring an agent whom no engine will connect, nor move a caller whose entry the next engine reads from
the channel anyway."""

from __future__ import annotations

from acd.delivery import AcdService
from acd.model import QueueConfig
from acd.routing import Router
from cti.ami.control import FakeCallControl
from cti.bus import InProcessBus
from cti.journey import IvrFinished


def _handed(linkedid: str) -> IvrFinished:
    return IvrFinished(ts=1000.0, linkedid=linkedid, flow="main", outcome="queue",
                       channel=f"PJSIP/trunk-{linkedid}", caller_number="+8613800138000", queue="general")


async def test_a_stopped_acd_rings_no_agent_for_a_hand_off_it_still_hears() -> None:
    bus = InProcessBus()
    control = FakeCallControl()
    acd = AcdService(Router([QueueConfig(name="general")]), control, bus, clock=lambda: 1000.0)
    acd.subscribe()
    await bus.start()
    await acd.start()
    try:
        await acd.agent_login("1001", {}, ["general"], ready=True)
        await acd.agent_login("1002", {}, ["general"], ready=True)
        await bus.publish(_handed("1.1"))
        await bus.drain()
        assert len(control.called("originate")) == 1  # running: the hand-off rings an agent
        await acd.stop()
        await bus.publish(_handed("2.2"))
        await bus.drain()
        assert len(control.called("originate")) == 1, control.called("originate")
        assert all("2.2" not in str(c) for c in control.called("set_var"))  # nor writes its entry
    finally:
        await bus.stop()
