"""An agent's browser phone reloaded while a call from the queue rings it: Asterisk removes the
phone's SIP contact (ContactStatus Removed) and the ring to it rings nobody until its timeout; it
was then the agent's no answer (not ready "missed", the caller back at the queue's head) although
the page registered again within a second. The phone back at a new contact within
``PHONE_GRACE_S`` is rung there again with the same call (the agent reserved throughout); one still
away after it has the offer withdrawn unblamed and counts as offline. The router's step, then the
ACD with a fake PBX (``acd.ring_contacts``)."""

from __future__ import annotations

import asyncio
from typing import Any

from acd.calls import AgentPhone, LiveCall
from acd.consultations import _GRACE_POLL_S
from acd.decisions import AgentStateChange, CancelOffer, Offer, Requeue
from acd.delivery import AcdService
from acd.events import AgentOffer, AgentOfferWithdrawn, AgentPhoneReachability, AgentStateChanged
from acd.model import AgentState, QueueConfig
from acd.routing import RING_GRACE_S, Router
from cti.ami.control import FakeCallControl, OriginateResult
from cti.ami.events import ContactStatus, DeviceStateChange
from cti.bus import InProcessBus
from cti.events import Event
from cti.journey import AgentRinging
from tests.helpers import until
from tests.unit.acd.test_consult_reregister import NEW, OLD, Clock

PHONE_GRACE_S = 5.0  # acd.consultations' (the test says the figure it means)

# -- the router -------------------------------------------------------------------------------------


def _router_ringing() -> Router:
    """c.1 rings 1001 (the longest idle); 1002 is idle too."""
    r = Router([QueueConfig(name="support", ring_timeout_s=15.0)])
    r.agent_login("1001", {}, 0.0, queues=["support"], ready=True)
    r.agent_login("1002", {}, 1.0, queues=["support"], ready=True)
    r.enqueue("c.1", "support", 2.0)
    assert r.call("c.1").agent_id == "1001"
    return r


def test_the_router_rings_the_same_agent_again_with_the_same_call() -> None:
    """``offer_failed(reason="ring_again")`` on a call from the queue: the old ring is stopped
    (``CancelOffer`` ring_again) and the same call rings the same agent, though another agent is
    idle; no state change (the agent stays reserved), no requeue, not a new journey step."""
    r = _router_ringing()
    out = r.offer_failed("c.1", "1001", 5.0, reason="ring_again")
    assert [type(d) for d in out] == [CancelOffer, Offer], out
    cancel, offer = out
    assert isinstance(cancel, CancelOffer) and (cancel.agent_id, cancel.reason) == ("1001", "ring_again")
    assert isinstance(offer, Offer) and (offer.call_id, offer.agent_id, offer.again) == ("c.1", "1001", True)
    assert offer.ring_timeout_s == 15.0  # a whole ring
    assert r.agent("1001").state is AgentState.RESERVED and r.agent("1002").state is AgentState.AVAILABLE
    assert r.call("c.1").agent_id == "1001"
    assert not any(isinstance(d, (AgentStateChange, Requeue)) for d in out)


def test_the_old_rings_backstop_is_void_and_the_new_one_counts_from_the_ring_again() -> None:
    r = _router_ringing()
    r.offer_failed("c.1", "1001", 10.0, reason="ring_again")
    # The first ring's backstop (2 + 15 + grace) passes: nothing, the call still rings 1001.
    assert not [d for d in r.tick(2.0 + 15.0 + RING_GRACE_S + 0.5) if isinstance(d, CancelOffer)]
    assert r.call("c.1").agent_id == "1001"
    out = r.tick(10.0 + 15.0 + RING_GRACE_S + 0.1)  # the second ring's backstop: a miss, as any ring's
    assert [(d.reason) for d in out if isinstance(d, CancelOffer)] == ["ring_timeout"]


def test_a_first_offer_is_no_ring_again() -> None:
    r = Router([QueueConfig(name="support", ring_timeout_s=15.0)])
    r.agent_login("1001", {}, 0.0, queues=["support"], ready=True)
    assert [d.again for d in r.enqueue("c.1", "support", 2.0) if isinstance(d, Offer)] == [False]


def test_a_ring_again_for_an_offer_no_longer_ringing_is_ignored() -> None:
    r = _router_ringing()
    r.caller_hung_up("c.1", 3.0)
    assert r.offer_failed("c.1", "1001", 4.0, reason="ring_again") == []


# -- the ACD ----------------------------------------------------------------------------------------


class Pbx(FakeCallControl):
    """Rings that the test ends: each originate waits on a future of ``rings``; its leg is live
    (``live``) until hung up, which ends the ring as Asterisk does (failed, reason 1)."""

    def __init__(self) -> None:
        super().__init__()
        self.rings: list[asyncio.Future[OriginateResult]] = []
        self.legs: list[str] = []
        self.live: set[str] = set()

    async def originate(self, channel: str, **kw: Any) -> OriginateResult:
        await super().originate(channel, **kw)
        out: asyncio.Future[OriginateResult] = asyncio.get_running_loop().create_future()
        leg = f"{channel}-{len(self.rings):08d}"
        self.rings.append(out)
        self.legs.append(leg)
        self.live.add(leg)
        try:
            return await out
        finally:
            self.live.discard(leg)

    async def hangup(self, channel: str, cause: int = 16, *, may_be_gone: bool = False) -> None:
        await super().hangup(channel, cause, may_be_gone=may_be_gone)
        if channel in self.live:
            self.live.discard(channel)
            ring = self.rings[self.legs.index(channel)]
            if not ring.done():
                ring.set_result(OriginateResult(False, 1))


async def _ringing(clock: Clock, *, second_agent: bool = False) -> tuple[AcdService, Pbx, list[Event]]:
    """A caller waits in support; 1001 (a browser phone) goes ready and is rung with it."""
    bus = InProcessBus()
    seen: list[Event] = []

    async def record(ev: Event) -> None:
        seen.append(ev)

    bus.subscribe(Event, record, name="recorder")
    pbx = Pbx()
    service = AcdService(Router([QueueConfig(name="support", wrap_up_s=30.0, ring_timeout_s=30.0)]), pbx, bus,
                         clock=clock, live_channels=lambda: set(pbx.live))
    service.subscribe()
    await bus.start()
    await service.agent_login("1001", {}, ["support"], phone=AgentPhone("1001", "webrtc"), ready=False)
    if second_agent:
        await service.agent_login("1003", {}, ["support"], phone=AgentPhone("1003", "sim"), ready=False)
    await service.enqueue(LiveCall(linkedid="c.1", caller_channel="Local/s@cti-queue-1;2", caller_number="138",
                                   queue="support"))
    await service.set_ready("1001")
    await until(lambda: len(pbx.rings) == 1, what="1001 rung")
    assert service.calls["c.1"].status == "ringing"
    assert service.router.agent("1001").state is AgentState.RESERVED
    return service, pbx, seen


async def _contact(service: AcdService, uri: str, status: str) -> None:
    await service.bus.publish(ContactStatus(ts=0.0, endpoint="web1001", aor="web1001", uri=uri, status=status))
    await service.bus.drain()  # type: ignore[attr-defined]
    await asyncio.sleep(0.05)


def _missed(seen: list[Event]) -> list[Event]:
    return [e for e in seen if isinstance(e, AgentStateChanged) and e.reason == "missed"]


async def test_a_reload_while_a_queue_call_rings_rings_the_new_contact_again() -> None:
    clock = Clock()
    service, pbx, seen = await _ringing(clock)
    try:
        await _contact(service, OLD, "Removed")  # the page reloads: its WebSocket, and contact, gone
        # The ring to the old contact ends as a dead ring does (no answer): nobody's doing.
        pbx.rings[0].set_result(OriginateResult(False, 3))
        await asyncio.sleep(0.1)
        assert service.calls["c.1"].status == "ringing" and service.calls["c.1"].agent_id == "1001"
        assert service.router.agent("1001").state is AgentState.RESERVED
        assert len(pbx.rings) == 1
        await _contact(service, NEW, "NonQualified")  # the reloaded page registered again
        await until(lambda: len(pbx.rings) == 2, what="1001 rung again")
        assert service.calls["c.1"].status == "ringing" and service.calls["c.1"].agent_id == "1001"
        await service.bus.drain()  # type: ignore[attr-defined]
        # Rung again, not withdrawn: the console gets the offer again and no "withdrawn"; the
        # journey has one ring (the feed's call.offered, the offers metric).
        assert [e.reason for e in seen if isinstance(e, AgentOfferWithdrawn)] == []
        assert len([e for e in seen if isinstance(e, AgentOffer) and e.agent_id == "1001"]) == 2
        assert len([e for e in seen if isinstance(e, AgentRinging)]) == 1
        pbx.rings[1].set_result(OriginateResult(True, 4, "u.2", "u.2", "PJSIP/web1001-00000001"))
        await until(lambda: service.calls["c.1"].status == "talking", what="the call answered")
        assert service.router.agent("1001").state is AgentState.ON_CALL
        assert _missed(seen) == []
        # 1001 was reserved from the first ring to the answer: no state in between.
        states = [e.state for e in seen if isinstance(e, AgentStateChanged) and e.agent_id == "1001"]
        assert states == ["not_ready", "available", "reserved", "on_call"], states  # login, ready, rung, answered
        clock.now += PHONE_GRACE_S + 1.0  # no grace under way ends anything
        await asyncio.sleep(2 * _GRACE_POLL_S + 0.1)
        assert service.calls["c.1"].status == "talking"
    finally:
        await service.bus.stop()  # type: ignore[attr-defined]


async def test_the_ring_to_the_old_contact_is_hung_up_before_the_new_ring() -> None:
    clock = Clock()
    service, pbx, _ = await _ringing(clock)
    try:
        await _contact(service, OLD, "Removed")
        await _contact(service, NEW, "Reachable")
        await until(lambda: len(pbx.rings) == 2, what="1001 rung again")
        calls = [(m, kw["channel"]) for m, kw in pbx.calls if m in ("originate", "hangup")]
        assert calls[-2:] == [("hangup", "PJSIP/web1001-00000000"), ("originate", "PJSIP/web1001")], calls
        assert pbx.rings[0].done() and not pbx.rings[1].done()
        assert service.router.agent("1001").state is AgentState.RESERVED
    finally:
        await service.bus.stop()  # type: ignore[attr-defined]


async def test_a_new_contact_registered_before_the_old_one_is_removed_rings_again_at_once() -> None:
    clock = Clock()
    service, pbx, seen = await _ringing(clock)
    try:
        await _contact(service, NEW, "Created")
        assert len(pbx.rings) == 1  # a second contact alone changes nothing
        await _contact(service, OLD, "Removed")
        await until(lambda: len(pbx.rings) == 2, what="1001 rung again")
        assert service.calls["c.1"].agent_id == "1001" and _missed(seen) == []
    finally:
        await service.bus.stop()  # type: ignore[attr-defined]


async def test_a_phone_not_back_within_the_grace_has_the_offer_withdrawn_unblamed() -> None:
    """The offer is withdrawn (the ring to nobody stopped, "withdrawn" to the console) and the
    phone counts as offline, as an UNAVAILABLE device state makes it: 1001 stays available, offered
    nothing (the call is not rung back to a phone with no contact: that ring would fail at once,
    counted as a miss), and the caller goes to the next agent; a registration after tells the
    router the phone is back."""
    clock = Clock()
    service, pbx, seen = await _ringing(clock, second_agent=True)
    try:
        await _contact(service, OLD, "Removed")
        clock.now += PHONE_GRACE_S - 1.0
        await asyncio.sleep(2 * _GRACE_POLL_S + 0.1)
        assert service.calls["c.1"].agent_id == "1001"  # within the grace: nothing yet
        clock.now += 1.0
        await until(lambda: service.calls["c.1"].status == "queued", what="the offer withdrawn")
        await service.bus.drain()  # type: ignore[attr-defined]
        assert pbx.rings[0].done()  # the ring to nobody is stopped
        view = service.router.agent("1001")
        assert view.state is AgentState.AVAILABLE and not view.registered  # not "missed": offline
        assert [e.reason for e in seen if isinstance(e, AgentOfferWithdrawn)] == ["withdrawn"]
        assert [(e.agent_id, e.reachable) for e in seen if isinstance(e, AgentPhoneReachability)] == [("1001", False)]
        assert _missed(seen) == []
        await service.set_ready("1003")  # the next agent takes the caller
        await until(lambda: service.calls["c.1"].agent_id == "1003", what="1003 rung")
        await _contact(service, NEW, "Created")  # back too late: nothing to ring
        assert len([r for r in pbx.calls if r[0] == "originate" and r[1]["channel"] == "PJSIP/web1001"]) == 1
        # The phone's device state after the ring: UNAVAILABLE (no change), then back.
        await service.bus.publish(DeviceStateChange(ts=0.0, device="PJSIP/web1001", state="UNAVAILABLE"))
        await service.bus.publish(DeviceStateChange(ts=0.0, device="PJSIP/web1001", state="NOT_INUSE"))
        await until(lambda: service.router.agent("1001").registered, what="the phone back for the router")
    finally:
        await service.bus.stop()  # type: ignore[attr-defined]


async def test_a_caller_who_hangs_up_in_the_grace_ends_it() -> None:
    clock = Clock()
    service, _, seen = await _ringing(clock)
    try:
        await _contact(service, OLD, "Removed")
        await service.decide(lambda now: service.router.caller_hung_up("c.1", now))
        clock.now += PHONE_GRACE_S + 1.0
        await asyncio.sleep(2 * _GRACE_POLL_S + 0.1)
        assert service.router.agent("1001").registered  # nothing left to withdraw: the phone is the device state's
        assert [e for e in seen if isinstance(e, AgentPhoneReachability)] == []
    finally:
        await service.bus.stop()  # type: ignore[attr-defined]


async def test_a_contact_change_with_nothing_ringing_changes_nothing() -> None:
    clock = Clock()
    service, pbx, _ = await _ringing(clock)
    try:
        pbx.rings[0].set_result(OriginateResult(True, 4, "u.1", "u.1", "PJSIP/web1001-00000000"))
        await until(lambda: service.calls["c.1"].status == "talking", what="the call answered")
        await _contact(service, OLD, "Removed")  # a reload mid-call: acd.reconnect's (device state)
        await _contact(service, NEW, "Created")
        clock.now += PHONE_GRACE_S + 1.0
        await asyncio.sleep(2 * _GRACE_POLL_S + 0.1)
        assert len(pbx.rings) == 1 and service.calls["c.1"].status == "talking"
        assert service.router.agent("1001").registered
    finally:
        await service.bus.stop()  # type: ignore[attr-defined]
