"""A browser softphone lost mid-call (acd.reconnect) on fakes: the caller is kept, the same agent
is rung again once registered, or the call waits again ahead of later callers."""

from __future__ import annotations

import asyncio
import time

import pytest

from acd import reconnect
from acd.calls import AgentPhone, LiveCall
from acd.delivery import AcdService
from acd.model import AgentState, QueueConfig
from acd.routing import Router
from cti.ami.control import FakeCallControl, OriginateResult
from cti.ami.events import DeviceStateChange
from cti.bus import InProcessBus
from cti.journey import CallEnded

DEVICE = "PJSIP/web1001"


class Pbx:
    def __init__(self) -> None:
        self.live = {"PJSIP/trunk-1", "PJSIP/web1001-1"}
        self.devices = {DEVICE: "INUSE"}


@pytest.fixture
def pbx(monkeypatch: pytest.MonkeyPatch) -> Pbx:
    monkeypatch.setattr(reconnect, "SETTLE_S", 0.01)
    monkeypatch.setattr(reconnect, "CAUSE_WAIT_S", 0.3)
    return Pbx()


async def talking(pbx: Pbx, *, requeue_after_s: float = 5.0, held: bool = False) -> tuple[AcdService, LiveCall]:
    control = FakeCallControl(originate_result=OriginateResult(True, 4, "u2", "L1", "PJSIP/web1001-2"))
    acd = AcdService(Router([QueueConfig("support", wrap_up_s=0)]), control, InProcessBus(),
                     live_channels=lambda: pbx.live, device_state=pbx.devices.get,
                     softphone_requeue_s=requeue_after_s)
    acd.reconnect.retry_s = 0.02
    acd.subscribe()
    await acd.bus.start()
    await acd.agent_login("1001", {}, ["support"], phone=AgentPhone("1001", "webrtc"), ready=True)
    call = LiveCall(linkedid="L1", caller_channel="PJSIP/trunk-1", caller_number="138", queue="support",
                    queued_at=time.time() - 5)
    await acd.enqueue(call)
    assert acd.router.call("L1").agent_id == "1001"  # offered at once; the fake phone answered
    await until(lambda: call.status == "talking")
    call.agent_channel = "PJSIP/web1001-1"
    if held:
        call.status = "held"
    control.calls.clear()
    return acd, call


async def until(predicate: object, timeout_s: float = 3.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met"
        await asyncio.sleep(0.01)


async def lose_leg(acd: AcdService, pbx: Pbx, state: str) -> None:
    pbx.live.discard("PJSIP/web1001-1")
    pbx.devices[DEVICE] = state
    await acd.bus.publish(DeviceStateChange(ts=time.time(), device=DEVICE, state=state))


async def test_a_held_call_whose_softphone_reloads_rings_the_same_agent_again(pbx: Pbx) -> None:
    acd, call = await talking(pbx, held=True)
    control: FakeCallControl = acd.control  # type: ignore[assignment]
    await lose_leg(acd, pbx, "UNAVAILABLE")
    # The caller leaves cti-hold for the queue's music (which watches the engine); nobody is rung yet.
    await until(lambda: control.called("redirect"))
    assert control.called("redirect")[0]["context"] == "cti-queue" and not control.called("originate")
    assert call.status == "held" and call.agent_channel is None
    # The console is back: its registration rings the agent into the caller's bridge.
    pbx.devices[DEVICE] = "NOT_INUSE"
    await acd.bus.publish(DeviceStateChange(ts=time.time(), device=DEVICE, state="NOT_INUSE"))
    await until(lambda: call.status == "talking")
    ring = control.called("originate")[0]
    assert ring["channel"] == DEVICE and ring["context"] == "cti-agent-connect"
    assert ring["variables"]["CTI_CALLER"] == "PJSIP/trunk-1" and ring["variables"]["CTI_KEEP_CALLER"] == "1"
    assert call.agent_channel == "PJSIP/web1001-2" and acd.agent_state("1001") is AgentState.ON_CALL
    assert not control.called("hangup")
    await acd.stop()
    await acd.bus.stop()


async def test_an_agent_who_does_not_come_back_leaves_the_call_to_the_queue_ahead_of_later_callers(pbx: Pbx) -> None:
    acd, _ = await talking(pbx, requeue_after_s=0.2)
    later = LiveCall(linkedid="L2", caller_channel="PJSIP/trunk-2", caller_number="139", queue="support")
    await acd.enqueue(later)
    await lose_leg(acd, pbx, "UNAVAILABLE")
    await until(lambda: acd.calls.get("L1") is not None and acd.calls["L1"].status == "queued")
    assert ("1001", "L1") in acd.wrapups  # the agent's part ended: wrap-up as after any call
    assert acd.router.waiting("support") == ["L1", "L2"]
    assert not acd.control.called("originate")  # type: ignore[attr-defined]
    await acd.stop()
    await acd.bus.stop()


async def test_the_engines_own_hang_up_and_a_caller_leaving_are_no_loss(pbx: Pbx) -> None:
    acd, _ = await talking(pbx)
    pbx.live.discard("PJSIP/trunk-1")  # the console hung up the caller: both legs end
    await lose_leg(acd, pbx, "NOT_INUSE")
    await asyncio.sleep(0.05)
    assert not acd.reconnect.lost and not acd.control.called("originate")  # type: ignore[attr-defined]
    # Lost, then the caller hangs up while waiting: the watcher stops, the agent wraps up.
    pbx.__init__()  # type: ignore[misc]
    acd2, call2 = await talking(pbx)
    await lose_leg(acd2, pbx, "UNAVAILABLE")
    await until(lambda: "L1" in acd2.reconnect.lost and call2.agent_channel is None)
    await acd2.bus.publish(CallEnded(ts=time.time(), linkedid="L1"))
    await until(lambda: not acd2.reconnect.lost and call2.status == "ended")
    for service in (acd, acd2):
        await service.stop()
        await service.bus.stop()


async def test_a_declined_ring_again_puts_the_call_back_to_routing_at_once_and_does_not_ring_the_agent_again(
        pbx: Pbx) -> None:
    """The console's Decline (X) answers the ring again with 486: Asterisk 22 ends the leg with cause
    17 (user busy) and then says Reason 0 in the OriginateResponse. A real "not now", as a missed
    offer is. The call waits again at once at its place (ahead of later callers)
    for another agent, long before the requeue time; the agent wraps up their part, then goes not
    ready "missed", and is not rung again for it."""
    acd, call = await talking(pbx, requeue_after_s=30.0)
    control: FakeCallControl = acd.control  # type: ignore[assignment]
    later = LiveCall(linkedid="L2", caller_channel="PJSIP/trunk-2", caller_number="139", queue="support")
    await acd.enqueue(later)
    await lose_leg(acd, pbx, "UNAVAILABLE")
    await until(lambda: "L1" in acd.reconnect.lost and call.agent_channel is None)
    declined = OriginateResult(False, 0)
    plain = control.originate

    async def refused(channel: str, **kw: object) -> OriginateResult:  # the agent declines the ring again
        await plain(channel, **kw)  # type: ignore[arg-type]
        leg = str(kw["channel_id"])  # the leg is a call of its own: its CallEnded comes just after
        asyncio.get_running_loop().call_later(0.05, lambda: asyncio.ensure_future(
            acd.bus.publish(CallEnded(ts=time.time(), linkedid=leg, cause=17, cause_text="User busy"))))
        return declined

    control.originate = refused  # type: ignore[method-assign]
    pbx.devices[DEVICE] = "NOT_INUSE"
    await acd.bus.publish(DeviceStateChange(ts=time.time(), device=DEVICE, state="NOT_INUSE"))
    await until(lambda: acd.calls.get("L1") is not None and acd.calls["L1"].status == "queued")
    assert ("1001", "L1") in acd.wrapups  # the agent's part ended: wrap-up as after any call
    assert acd.router.waiting("support") == ["L1", "L2"]  # its place kept
    await asyncio.sleep(0.1)  # several retry_s: a watcher still running would have rung again
    assert len(control.called("originate")) == 1, control.called("originate")
    assert not acd.reconnect.lost
    view = acd.agent("1001")
    assert (view.state, view.reason or view.not_ready_after_call) in (
        (AgentState.NOT_READY, "missed"), (AgentState.WRAP_UP, "missed"))
    await acd.stop()
    await acd.bus.stop()


async def test_a_ring_again_that_fails_for_another_cause_is_tried_again(pbx: Pbx) -> None:
    """Not the agent's refusal (a ring to a contact not quite back: no cause told): rung again."""
    acd, call = await talking(pbx, requeue_after_s=30.0)
    control: FakeCallControl = acd.control  # type: ignore[assignment]
    await lose_leg(acd, pbx, "UNAVAILABLE")
    await until(lambda: "L1" in acd.reconnect.lost and call.agent_channel is None)
    control.originate_result = OriginateResult(False, 0)
    pbx.devices[DEVICE] = "NOT_INUSE"
    await acd.bus.publish(DeviceStateChange(ts=time.time(), device=DEVICE, state="NOT_INUSE"))
    await until(lambda: len(control.called("originate")) >= 2, timeout_s=5.0)
    assert call.status == "held" and "L1" in acd.reconnect.lost and acd.agent_state("1001") is AgentState.ON_CALL
    await acd.stop()
    await acd.bus.stop()


async def test_a_ring_in_flight_to_a_phone_that_went_unreachable_is_hung_up_and_the_next_registration_rung(
        pbx: Pbx) -> None:
    """A page frozen (no network, no FIN) is rung as soon as its leg is lost; that INVITE can stay
    pending for the whole ring time (30 s) after the page's connection died. The page back and
    registered again was not rung until that ring ran out: the device going unreachable now hangs
    the ring in flight up, and the registration that follows is rung at once."""
    acd, call = await talking(pbx)
    control: FakeCallControl = acd.control  # type: ignore[assignment]
    released = asyncio.Event()
    first = True

    async def originate(channel: str, **kwargs: object) -> OriginateResult:
        nonlocal first
        control._record("originate", channel=channel, **kwargs)
        if first:  # the frozen page: nothing answers until the ring is hung up
            first = False
            await released.wait()
            return OriginateResult(False, 0, None, None, None)
        return OriginateResult(True, 4, "u3", "L1", "PJSIP/web1001-3")

    async def hangup(channel: str, cause: int = 16, *, may_be_gone: bool = False) -> None:
        control._record("hangup", channel=channel, cause=cause)
        released.set()

    control.originate, control.hangup = originate, hangup  # type: ignore[method-assign]
    await lose_leg(acd, pbx, "NOT_INUSE")  # lost while the page still looks registered: rung at once
    await until(lambda: len(control.called("originate")) == 1)
    leg = control.called("originate")[0]["channel_id"]
    pbx.devices[DEVICE] = "UNAVAILABLE"  # qualify fails, then the registration goes
    await acd.bus.publish(DeviceStateChange(ts=time.time(), device=DEVICE, state="UNAVAILABLE"))
    await until(lambda: [h["channel"] for h in control.called("hangup")] == [leg])
    pbx.devices[DEVICE] = "NOT_INUSE"  # the page is back and registered
    await acd.bus.publish(DeviceStateChange(ts=time.time(), device=DEVICE, state="NOT_INUSE"))
    await until(lambda: call.status == "talking")
    assert len(control.called("originate")) == 2 and call.agent_channel == "PJSIP/web1001-3"
    await acd.stop()
    await acd.bus.stop()
