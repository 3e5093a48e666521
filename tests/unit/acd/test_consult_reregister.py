"""A consulted agent's browser phone reloaded while the consultation rings it: Asterisk removes the
phone's SIP contact (ContactStatus Removed) and the ring to it rings nobody until its timeout; it
ended the consultation as the consulted agent's no answer (the caller back with the transferring
agent, the consulted agent not ready "missed") although the page registered again within a second.
The phone back at a new contact within ``PHONE_GRACE_S`` is rung there again, the caller still on
hold; one still away after it ends the consultation as an offline phone does (``unavailable``, not
blamed). The pure table (``acd.phone_contacts``), then the ACD with a fake PBX."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from acd.calls import AgentPhone, LiveCall
from acd.consultations import _GRACE_POLL_S, PHONE_GRACE_S
from acd.decisions import CancelOffer, Offer
from acd.delivery import AcdService
from acd.events import AgentCallUpdate, AgentOffer, AgentOfferWithdrawn
from acd.model import AgentState, QueueConfig
from acd.phone_contacts import ContactState, ContactWatch, Step
from acd.routing import Router
from cti.ami.control import FakeCallControl, OriginateResult
from cti.ami.events import ContactStatus, DeviceStateChange
from cti.bus import InProcessBus
from cti.events import Event
from tests.helpers import until

OLD = "sip:old@127.0.0.1:40001;transport=WS"
NEW = "sip:new@127.0.0.1:40002;transport=WS"
RING = "c.1#consult"

# -- the table --------------------------------------------------------------------------------------

# (events before, each (uri, status, ringing)), the last event, the step and the state after it.
CASES: list[tuple[str, list[tuple[str, str, str | None]], tuple[str, str, str | None], Step, ContactState]] = [
    ("reload while ringing: away", [], (OLD, "Removed", RING), Step.AWAY, ContactState.AWAY),
    ("back at a new contact: ring again", [(OLD, "Removed", RING)], (NEW, "NonQualified", RING),
     Step.RING_AGAIN, ContactState.THERE),
    ("back, qualified: ring again", [(OLD, "Removed", RING)], (NEW, "Reachable", RING),
     Step.RING_AGAIN, ContactState.THERE),
    ("back at the same contact: ring again", [(OLD, "Removed", RING)], (OLD, "Created", RING),
     Step.RING_AGAIN, ContactState.THERE),
    ("new contact first, then the old removed: ring again", [(NEW, "Created", RING)], (OLD, "Removed", RING),
     Step.RING_AGAIN, ContactState.THERE),
    ("rung again once only", [(OLD, "Removed", RING), (NEW, "NonQualified", RING)], (NEW, "Reachable", RING),
     Step.NONE, ContactState.THERE),
    ("qualify unreachable changes nothing", [], (OLD, "Unreachable", RING), Step.NONE, ContactState.THERE),
    ("away, then unreachable: still away", [(OLD, "Removed", RING)], (NEW, "Unreachable", RING),
     Step.NONE, ContactState.AWAY),
    ("away, removed again: still away", [(OLD, "Removed", RING)], (NEW, "Removed", RING),
     Step.NONE, ContactState.AWAY),
    ("nothing rings: nothing", [], (OLD, "Removed", None), Step.NONE, ContactState.THERE),
    ("a new registration while nothing rings: nothing", [(OLD, "Removed", None)], (NEW, "Created", None),
     Step.NONE, ContactState.THERE),
    ("away for a ring that ended: another ring is not rung again", [(OLD, "Removed", RING)],
     (NEW, "Created", "c.2#consult"), Step.NONE, ContactState.THERE),
    ("a refresh while ringing: nothing", [], (OLD, "Updated", RING), Step.NONE, ContactState.THERE),
]


@pytest.mark.parametrize(("before", "last", "step", "state"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_what_a_contact_change_means_for_the_ring(before: list[tuple[str, str, str | None]],
                                                  last: tuple[str, str, str | None], step: Step,
                                                  state: ContactState) -> None:
    watch = ContactWatch()
    for uri, status, ringing in before:
        watch.seen("1002", uri, status, ringing=ringing)
    uri, status, ringing = last
    assert watch.seen("1002", uri, status, ringing=ringing) is step
    assert watch.state("1002", ringing) is state


def test_settled_forgets_the_ring_away() -> None:
    watch = ContactWatch()
    assert watch.seen("1002", OLD, "Removed", ringing=RING) is Step.AWAY
    watch.settled("1002")
    assert watch.state("1002", RING) is ContactState.THERE
    assert watch.seen("1002", NEW, "Created", ringing=RING) is Step.NONE


def test_agents_are_apart() -> None:
    watch = ContactWatch()
    assert watch.seen("1002", OLD, "Removed", ringing=RING) is Step.AWAY
    assert watch.seen("1003", NEW, "Created", ringing="c.3#consult") is Step.NONE
    assert watch.state("1002", RING) is ContactState.AWAY


def test_the_router_rings_the_pinned_call_again_in_one_step() -> None:
    """``offer_failed(reason="ring_again")``: the offer is withdrawn (``CancelOffer`` ring_again,
    which hangs up the old ring) before the same call is offered to the same agent: one list of
    decisions, in that order, the agent reserved throughout, no "missed"."""
    r = Router([QueueConfig(name="support", ring_timeout_s=15.0)])
    r.agent_login("1002", {}, 0.0, queues=["support"], ready=True)
    r.enqueue(RING, "support", 2.0, required_agent="1002", counted=False)
    assert r.call(RING).agent_id == "1002"
    out = r.offer_failed(RING, "1002", 5.0, reason="ring_again")
    kinds = [(type(d).__name__, getattr(d, "reason", None)) for d in out if isinstance(d, (CancelOffer, Offer))]
    assert kinds == [("CancelOffer", "ring_again"), ("Offer", None)]
    assert [(d.call_id, d.agent_id) for d in out if isinstance(d, Offer)] == [(RING, "1002")]
    assert r.agent("1002").state is AgentState.RESERVED and r.agent("1002").reason is None


# -- the ACD ----------------------------------------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Pbx(FakeCallControl):
    """Rings that the test ends: each originate waits on a future of ``rings``; its leg is live
    (``live``) until hung up, which ends the ring as Asterisk does (failed, reason 1)."""

    def __init__(self) -> None:
        super().__init__()
        self.rings: list[asyncio.Future[OriginateResult]] = []
        self.live: set[str] = set()
        self.rang = asyncio.Event()

    async def originate(self, channel: str, **kw: Any) -> OriginateResult:
        await super().originate(channel, **kw)
        out: asyncio.Future[OriginateResult] = asyncio.get_running_loop().create_future()
        leg = f"PJSIP/web1002-{len(self.rings):08d}"
        self.rings.append(out)
        self.live.add(leg)
        self.rang.set()
        try:
            return await out
        finally:
            self.live.discard(leg)

    async def hangup(self, channel: str, cause: int = 16, *, may_be_gone: bool = False) -> None:
        await super().hangup(channel, cause, may_be_gone=may_be_gone)
        if channel in self.live:
            self.live.discard(channel)
            ring = self.rings[int(channel.rsplit("-", 1)[1])]
            if not ring.done():
                ring.set_result(OriginateResult(False, 1))


async def _ringing(clock: Clock) -> tuple[AcdService, Pbx, list[Event]]:
    """1001 consults 1002 (ready, a browser phone): the consultation rings 1002's phone."""
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
    await service.agent_login("1002", {}, ["support"], phone=AgentPhone("1002", "webrtc"), ready=True)
    service.calls["c.1"] = LiveCall(linkedid="c.1", caller_channel="Local/s@cti-queue-1;2", caller_number="138",
                                    queue="support", status="talking", agent_id="1001", agent_channel="Local/1001;1")
    await service.actions.transfer("c.1", target_kind="agent", target="1002", kind="attended")
    await asyncio.wait_for(pbx.rang.wait(), 5)
    assert service.router.agent("1002").state is AgentState.RESERVED
    return service, pbx, seen


async def _contact(service: AcdService, uri: str, status: str) -> None:
    await service.bus.publish(ContactStatus(ts=0.0, endpoint="web1002", aor="web1002", uri=uri, status=status))
    await service.bus.drain()  # type: ignore[attr-defined]
    await asyncio.sleep(0.05)


def _updates(seen: list[Event]) -> list[tuple[str, Any]]:
    return [(e.status, (e.detail or {}).get("consult_ended")) for e in seen
            if isinstance(e, AgentCallUpdate) and e.agent_id == "1001"]


async def test_a_reload_while_the_consultation_rings_rings_the_new_contact_again() -> None:
    clock = Clock()
    service, pbx, seen = await _ringing(clock)
    try:
        await _contact(service, OLD, "Removed")  # the page reloads: its WebSocket, and contact, gone
        # The ring to the old contact ends as a dead ring does (no answer): nobody's doing.
        pbx.rings[0].set_result(OriginateResult(False, 3))
        await asyncio.sleep(0.1)
        assert service.calls["c.1"].status == "consulting"
        assert service.router.agent("1002").state is AgentState.RESERVED
        assert len(pbx.rings) == 1
        await _contact(service, NEW, "NonQualified")  # the reloaded page registered again
        await until(lambda: len(pbx.rings) == 2, what="1002 rung again")
        consult = service.calls["c.1"].consult
        assert consult is not None and consult.status == "ringing" and consult.agent_id == "1002"
        # Rung again, not withdrawn: the console gets the offer again and no "withdrawn" toast.
        await service.bus.drain()  # type: ignore[attr-defined]
        assert [e.reason for e in seen if isinstance(e, AgentOfferWithdrawn)] == []
        assert len([e for e in seen if isinstance(e, AgentOffer) and e.agent_id == "1002"]) == 2
        pbx.rings[1].set_result(OriginateResult(True, 4, "u.2", "u.2", "PJSIP/web1002-00000001"))
        await until(lambda: consult.status == "consulting", what="the consultation answered")
        assert service.router.agent("1002").state is AgentState.ON_CALL
        assert _updates(seen) == [("consulting", None)]  # 1001's call stays consulting throughout
        clock.now += PHONE_GRACE_S + 1.0  # no grace under way ends anything
        await asyncio.sleep(2 * _GRACE_POLL_S + 0.1)
        assert service.calls["c.1"].status == "consulting" and consult.status == "consulting"
    finally:
        await service.bus.stop()  # type: ignore[attr-defined]


async def test_the_ring_to_the_old_contact_is_hung_up_before_the_new_ring() -> None:
    clock = Clock()
    service, pbx, _ = await _ringing(clock)
    try:
        await _contact(service, OLD, "Removed")
        await _contact(service, NEW, "Reachable")
        await until(lambda: len(pbx.rings) == 2, what="1002 rung again")
        calls = [(m, kw["channel"]) for m, kw in pbx.calls if m in ("originate", "hangup")]
        assert calls[-2:] == [("hangup", "PJSIP/web1002-00000000"), ("originate", "PJSIP/web1002")], calls
        assert pbx.rings[0].done() and not pbx.rings[1].done()
        assert service.router.agent("1002").state is AgentState.RESERVED
    finally:
        await service.bus.stop()  # type: ignore[attr-defined]


async def test_a_new_contact_registered_before_the_old_one_is_removed_rings_again_at_once() -> None:
    clock = Clock()
    service, pbx, _ = await _ringing(clock)
    try:
        await _contact(service, NEW, "Created")
        assert len(pbx.rings) == 1  # a second contact alone changes nothing
        await _contact(service, OLD, "Removed")
        await until(lambda: len(pbx.rings) == 2, what="1002 rung again")
        assert service.calls["c.1"].status == "consulting"
    finally:
        await service.bus.stop()  # type: ignore[attr-defined]


async def test_a_phone_not_back_within_the_grace_ends_the_consultation_unblamed() -> None:
    clock = Clock()
    service, pbx, seen = await _ringing(clock)
    try:
        await _contact(service, OLD, "Removed")
        clock.now += PHONE_GRACE_S - 1.0
        await asyncio.sleep(2 * _GRACE_POLL_S + 0.1)
        assert service.calls["c.1"].status == "consulting"  # within the grace: nothing yet
        clock.now += 1.0
        await until(lambda: service.calls["c.1"].status == "talking", what="the caller back with 1001")
        await service.bus.drain()  # type: ignore[attr-defined]
        assert _updates(seen) == [("consulting", None), ("talking", {"reason": "unavailable", "target_kind": "agent",
                                                                     "target": "1002"})]
        assert pbx.rings[0].done()  # the ring to nobody is stopped
        assert service.router.agent("1002").state is AgentState.AVAILABLE  # not "missed"
        await _contact(service, NEW, "Created")  # back too late: nothing to ring
        assert len(pbx.rings) == 1
    finally:
        await service.bus.stop()  # type: ignore[attr-defined]


async def test_a_phone_not_back_within_the_grace_is_offline_before_the_consultation_frees_its_agent() -> None:
    """Once the consultation ends, 1002 is available again: a caller waiting meanwhile must not be
    rung to a phone with no contact (that ring would fail at once and count as 1002's miss). The
    phone counts as offline first, as an UNAVAILABLE device state makes it."""
    clock = Clock()
    service, pbx, _ = await _ringing(clock)
    try:
        await service.enqueue(LiveCall(linkedid="c.2", caller_channel="Local/s@cti-queue-2;2", caller_number="139",
                                       queue="support"))
        assert service.calls["c.2"].status == "queued"  # 1001 talks, 1002 is reserved for the consultation
        await _contact(service, OLD, "Removed")
        clock.now += PHONE_GRACE_S + 1.0
        await until(lambda: service.calls["c.1"].status == "talking", what="the caller back with 1001")
        await service.bus.drain()  # type: ignore[attr-defined]
        await asyncio.sleep(0.1)
        view = service.router.agent("1002")
        assert view.state is AgentState.AVAILABLE and not view.registered
        assert service.calls["c.2"].status == "queued" and len(pbx.rings) == 1  # nobody rung on no contact
        await service.bus.publish(DeviceStateChange(ts=0.0, device="PJSIP/web1002", state="UNAVAILABLE"))
        await service.bus.publish(DeviceStateChange(ts=0.0, device="PJSIP/web1002", state="NOT_INUSE"))
        await until(lambda: service.calls["c.2"].agent_id == "1002", what="1002 rung once registered again")
    finally:
        await service.bus.stop()  # type: ignore[attr-defined]


async def test_a_contact_removed_while_the_consultation_waits_is_left_to_the_device_state() -> None:
    """Not ringing (1002 not ready): the phone's device state says UNAVAILABLE, and the grace of
    tests/unit/acd/test_consult_agent_gone.py applies; the contact changes nothing more."""
    bus = InProcessBus()
    pbx = Pbx()
    service = AcdService(Router([QueueConfig(name="support", ring_timeout_s=30.0)]), pbx, bus, clock=Clock(),
                         live_channels=lambda: set(pbx.live))
    service.subscribe()
    await bus.start()
    try:
        await service.agent_login("1001", {}, ["support"], phone=AgentPhone("1001", "webrtc"), ready=False)
        await service.agent_login("1002", {}, ["support"], phone=AgentPhone("1002", "webrtc"), ready=False)
        service.calls["c.1"] = LiveCall(linkedid="c.1", caller_channel="Local/s@cti-queue-1;2", caller_number="138",
                                        queue="support", status="talking", agent_id="1001",
                                        agent_channel="Local/1001;1")
        await service.actions.transfer("c.1", target_kind="agent", target="1002", kind="attended")
        await _contact(service, OLD, "Removed")
        await _contact(service, NEW, "Created")
        assert not pbx.rings and service.calls["c.1"].status == "consulting"
        assert not service.consultations._away  # no grace started here
    finally:
        await bus.stop()
