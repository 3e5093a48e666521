"""An attended transfer to a number, ended by the agent in the instant between the number answering
and its leg being bridged with the agent's (``consult`` waits for that bridge before it records the
leg): Back to caller, or the agent's phone hanging up, must still hang up the answered leg, and
``consult`` must not record it on a call that has moved on. The ACD with a fake PBX whose bridge
never comes until the test says so."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from acd.calls import LiveCall
from acd.delivery import AcdService
from acd.errors import AcdError
from acd.model import QueueConfig
from acd.routing import Router
from cti.ami.control import BRIDGE_WAIT_S, FakeCallControl
from cti.ami.events import ConsultAlone, ParkedLeft
from cti.bus import InProcessBus
from cti.events import Event
from cti.journey import CallTransferred, HoldEnded

CALLER, AGENT_LEG = "Local/s@cti-queue-00000001;2", "Local/1001@cti-sim-phone-00000002;1"
TARGET_LEG = "Local/fake-00000001;1"  # FakeCallControl's answered originate


class _BridgeNotYet(FakeCallControl):
    """A PBX on which the answered target's leg is not yet bridged with the agent's: the wait for it
    answers only once ``go`` is set (never, unless a test sets it)."""

    def __init__(self) -> None:
        super().__init__()
        self.inside, self.go = asyncio.Event(), asyncio.Event()

    async def wait_bridged(self, channel: str, peer: str, *, together: bool = True,
                           timeout_s: float = BRIDGE_WAIT_S) -> bool:
        answer = await super().wait_bridged(channel, peer, together=together, timeout_s=timeout_s)
        if together and channel == TARGET_LEG:
            self.inside.set()
            await self.go.wait()
        return answer


@pytest.fixture
async def acd() -> AsyncIterator[tuple[AcdService, _BridgeNotYet, list[Event]]]:
    bus = InProcessBus()
    seen: list[Event] = []

    async def record(ev: Event) -> None:
        seen.append(ev)

    bus.subscribe(Event, record, name="recorder")
    control = _BridgeNotYet()
    service = AcdService(Router([QueueConfig(name="support")]), control, bus, clock=lambda: 1000.0)
    service.subscribe()
    await bus.start()
    service.calls["c.1"] = LiveCall(linkedid="c.1", caller_channel=CALLER, caller_number="13800000001",
                                    queue="support", status="talking", agent_id="1001", agent_channel=AGENT_LEG)
    try:
        yield service, control, seen
    finally:
        await bus.stop()


async def _answered_not_bridged(service: AcdService, control: _BridgeNotYet) -> asyncio.Task[None]:
    transfer = asyncio.create_task(service.actions.transfer("c.1", target_kind="number", target="8610557",
                                                            kind="attended"))
    await asyncio.wait_for(control.inside.wait(), 5.0)  # answered, waiting for the bridge
    return transfer


def _ring(control: FakeCallControl) -> str:
    ring = control.called("originate")[0]["channel_id"]
    assert isinstance(ring, str)
    return ring


async def test_back_to_caller_before_the_answered_number_is_bridged_hangs_it_up(
        acd: tuple[AcdService, _BridgeNotYet, list[Event]]) -> None:
    """Back to caller in that instant hung up nothing (the ring was no longer named, the leg not yet
    recorded), then ``consult`` recorded the leg on the call back to ``talking``."""
    service, control, seen = acd
    transfer = await _answered_not_bridged(service, control)
    await service.actions.cancel_consult("c.1")
    control.go.set()  # the bridge the number's Bridge() was making comes all the same
    with pytest.raises(AcdError, match="consultation was cancelled while 8610557"):
        await asyncio.wait_for(transfer, 5.0)
    hung_up = [c["channel"] for c in control.called("hangup")]
    assert _ring(control) in hung_up or TARGET_LEG in hung_up
    call = service.calls["c.1"]
    assert (call.status, call.consult_channel, call.consult_ring, call.consult_target) == ("talking", None, None,
                                                                                         None)
    assert len(control.called("unhold")) == 1
    await service.bus.drain()  # type: ignore[attr-defined]
    assert len([e for e in seen if isinstance(e, HoldEnded)]) == 1


async def test_back_to_caller_hangs_up_the_answered_number_before_the_agent_goes_back(
        acd: tuple[AcdService, _BridgeNotYet, list[Event]]) -> None:
    """Answered, the number's Bridge() pulls the agent's leg any instant: hung up first, so it
    cannot pull that leg from the caller; the unhold waits until the agent's leg is out of it."""
    service, control, _ = acd
    transfer = await _answered_not_bridged(service, control)
    ring = _ring(control)
    control.calls.clear()
    await service.actions.cancel_consult("c.1")
    # The transfer ends at once, its wait for the bridge with it (the bridge never comes here).
    with pytest.raises(AcdError, match="cancelled"):
        await asyncio.wait_for(transfer, 5.0)
    steps = [(m, kw.get("channel"), kw.get("together")) for m, kw in control.calls
             if m in ("hangup", "wait_bridged", "unhold")]
    assert steps[:3] == [("hangup", ring, None), ("wait_bridged", AGENT_LEG, False),
                         ("unhold", CALLER, None)]


async def test_the_agents_phone_hanging_up_before_the_answered_number_is_bridged_hangs_it_up(
        acd: tuple[AcdService, _BridgeNotYet, list[Event]]) -> None:
    """The agent's phone in that instant: the caller waits in the queue again (as while the number
    rings), and the answered leg, nobody's now, is hung up; the transfer is not completed to it."""
    service, control, _ = acd
    transfer = await _answered_not_bridged(service, control)
    await service.follower.on_parked_left(ParkedLeft(ts=1001.0, channel=AGENT_LEG, uniqueid="u.2", linkedid="c.1"))
    control.go.set()
    with pytest.raises(AcdError, match="agent's phone hung up while 8610557"):
        await asyncio.wait_for(transfer, 5.0)
    hung_up = [c["channel"] for c in control.called("hangup")]
    assert _ring(control) in hung_up or TARGET_LEG in hung_up
    again = service.calls["c.1"]
    assert (again.status, again.agent_id, again.consult_channel) == ("queued", None, None)


async def test_a_bridge_that_comes_records_the_leg(acd: tuple[AcdService, _BridgeNotYet, list[Event]]) -> None:
    """Nothing cancelled: once bridged, the leg is the consultation's and the ring no longer named."""
    service, control, _ = acd
    transfer = await _answered_not_bridged(service, control)
    call = service.calls["c.1"]
    assert call.consult_channel is None  # not before the bridge
    control.go.set()
    await asyncio.wait_for(transfer, 5.0)
    assert (call.status, call.consult_channel, call.consult_ring) == ("consulting", TARGET_LEG, None)
    assert not control.called("hangup")


async def test_the_agents_phone_hanging_up_once_the_number_is_bridged_but_before_its_leg_is_recorded_completes(
        acd: tuple[AcdService, _BridgeNotYet, list[Event]]) -> None:
    """The number's Bridge() joined the agent's leg and the agent's phone hung up before ``consult``
    recorded the leg: the leg's report (ConsultAlone, its uniqueid the ring's) must not be ignored.
    The transfer completes, as when the leg was recorded: the caller talks with the number."""
    service, control, seen = acd
    transfer = await _answered_not_bridged(service, control)
    ring = _ring(control)
    await service.follower.on_consult_alone(ConsultAlone(ts=1001.0, channel=TARGET_LEG, uniqueid=ring,
                                                         linkedid="c.9"))
    await asyncio.wait_for(transfer, 5.0)  # the bridge the wait looked for is over: never set go
    steps = [(m, kw.get("channel"), kw.get("name"), kw.get("channel1"), kw.get("channel2"))
             for m, kw in control.calls if m in ("set_var", "bridge")]
    assert steps == [("set_var", TARGET_LEG, "CTI_HELD_CALLER", None, None),
                     ("bridge", None, None, CALLER, TARGET_LEG)]
    assert "c.1" not in service.calls  # the agent's part is over
    await service.bus.drain()  # type: ignore[attr-defined]
    assert [(e.kind, e.target) for e in seen if isinstance(e, CallTransferred)] == [("attended", "8610557")]


async def test_the_agents_parked_leg_reporting_its_end_after_that_report_does_not_put_the_caller_back(
        acd: tuple[AcdService, _BridgeNotYet, list[Event]]) -> None:
    """Both reports of the agent's phone hanging up in that instant (the number's leg alone, then the
    agent's leg): the first wins, the transfer completes; the caller is not put back in the queue."""
    service, control, _ = acd
    transfer = await _answered_not_bridged(service, control)
    await service.follower.on_consult_alone(ConsultAlone(ts=1001.0, channel=TARGET_LEG, uniqueid=_ring(control),
                                                         linkedid="c.9"))
    await service.follower.on_parked_left(ParkedLeft(ts=1001.0, channel=AGENT_LEG, uniqueid="u.2", linkedid="c.1"))
    await asyncio.wait_for(transfer, 5.0)
    assert "c.1" not in service.calls  # handed over, not waiting in the queue again
    assert [kw["channel2"] for kw in control.called("bridge")] == [TARGET_LEG]
    assert not control.called("hangup")
