"""The virtual-hold adapter on the in-memory fakes (call control, store, bus): the offer of the key,
the key, and missed callbacks retried per the policy until the entry fails."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from acd.calls import LiveCall
from acd.delivery import AcdService
from acd.model import CallState, QueueConfig
from acd.routing import Router
from acd.virtual_hold import EntryState, MemoryVirtualHoldStore, VirtualHoldPolicy
from acd.virtual_hold_pbx import OFFER_CONTEXT, VirtualHold
from cti.ami.control import FakeCallControl, OriginateResult
from cti.bus import InProcessBus
from cti.events import Event
from cti.journey import CallArrived, QueueLeft
from tests.helpers import until

POLICY = VirtualHoldPolicy(offer_after_s=10, offer_ewt_s=None, first_offer_s=1, reoffer_every_s=None,
                           max_attempts=2, retry_pause_s=30, ring_s=5)


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def rig() -> AsyncIterator[tuple[VirtualHold, FakeCallControl, Clock, list[Event]]]:
    bus, seen, clock = InProcessBus(), [], Clock()

    async def record(ev: Event) -> None:
        seen.append(ev)

    bus.subscribe(Event, record, name="test")
    await bus.start()
    control = FakeCallControl()
    acd = AcdService(Router((QueueConfig("support", ring_timeout_s=15, callback_ring_s=5),)), control, bus,
                     clock=clock)
    vh = VirtualHold(acd, {"support": POLICY}, MemoryVirtualHoldStore(), far_end_wait_s=0)
    await acd.agent_login("1001", {}, ["support"])
    yield vh, control, clock, seen
    await vh.stop()
    await bus.stop()


async def test_key_offered_once_after_the_wait_then_the_caller_goes_virtual(rig: tuple) -> None:
    vh, control, clock, seen = rig
    await vh.acd.enqueue(LiveCall("c1", "PJSIP/x-1", "+8613900000001", "support"))
    await vh.acd.enqueue(LiveCall("anon", "PJSIP/x-2", "", "support"))  # no number: never offered
    clock.now = 105.0
    await vh.offer_due_callers()
    assert control.called("redirect") == []
    clock.now = 111.0
    await vh.offer_due_callers()
    await vh.offer_due_callers()
    assert [(r["channel"], r["context"]) for r in control.called("redirect")] == [("PJSIP/x-1", OFFER_CONTEXT)]
    assert {(v["name"], v["value"]) for v in control.called("set_var")} >= {("CTI_VH_KEY", "*"), ("CTI_VH_ID", "c1")}
    assert await vh.accept("c1")
    assert not await vh.accept("c1")  # pressed twice: already virtual
    assert vh.acd.router.call("c1").virtual and "c1" not in vh.acd.calls
    await vh.acd.bus.drain()  # type: ignore[attr-defined]
    assert [(e.linkedid, e.reason) for e in seen if isinstance(e, QueueLeft)] == [("c1", "virtual_hold")]
    assert vh.store.rows["c1"].state is EntryState.VIRTUAL  # type: ignore[attr-defined]


async def test_missed_callbacks_are_retried_then_the_entry_fails(rig: tuple) -> None:
    vh, control, clock, seen = rig
    control.originate_result = OriginateResult(False, 3, "cb.1", "cb-attempt", "Local/8613900000001@cti-external/n")
    entry = await vh.request("+8613900000001", "support")
    await vh.acd.set_ready("1001")  # the entry's turn: the agent is reserved, the customer called
    await until(lambda: len(vh.entries[entry.entry_id].attempts) == 1 and vh.acd.agent_state("1001").value
                == "available")
    assert vh.entries[entry.entry_id].attempts[0]["result"] == "no_answer"
    assert vh.acd.router.call(entry.entry_id).parked
    origin = control.called("originate")[0]
    assert origin["channel"] == "Local/8613900000001@cti-trunk-sim/n" and origin["timeout_ms"] == 5000
    assert origin["variables"]["CTI_VH_ID"] == entry.entry_id
    clock.now += 30  # the pause is over: the entry's turn again, the last attempt
    await vh.acd.decide(vh.acd.router.tick)
    await until(lambda: entry.entry_id not in vh.entries)
    saved = vh.store.rows[entry.entry_id]  # type: ignore[attr-defined]
    assert saved.state is EntryState.FAILED and [a["result"] for a in saved.attempts] == ["no_answer"] * 2
    assert vh.acd.router.calls() == [] and vh.acd.agent_state("1001").value == "available"
    await vh.acd.bus.drain()  # type: ignore[attr-defined]
    arrived = [e for e in seen if isinstance(e, CallArrived)]
    assert [(e.linkedid, e.direction, e.dnis, e.callback_id) for e in arrived] == [
        ("cb-attempt", "outbound", "virtual_hold", entry.entry_id)] * 2  # each attempt names the request


async def test_a_web_request_the_store_could_not_save_is_not_kept_and_may_be_asked_again(rig: tuple) -> None:
    """The database is away for a moment: the request is refused (503 upstream), and nothing of it
    stays behind, or asking again is refused as "already waiting" while no callback ever comes."""
    vh = rig[0]
    saved = vh.store.save

    async def database_away(entry: object) -> None:
        raise ConnectionError("database away")

    vh.store.save = database_away
    with pytest.raises(ConnectionError):
        await vh.request("+8613900000001", "support")
    assert vh.entries == {} and vh.acd.router.waiting("support") == []
    vh.store.save = saved
    entry = await vh.request("+8613900000001", "support")
    assert vh.acd.router.waiting("support") == [entry.entry_id]


async def test_callbacks_not_placed_while_the_pbx_is_away_are_not_attempts(rig: tuple) -> None:
    """Asterisk restarting (AMI away) while an entry's turn comes: each turn failed at once and counted
    as a missed call, so a few minutes of outage gave up on a callback nobody ever dialled."""
    from cti.errors import AmiNotSent

    vh, control, clock, _ = rig
    placed = control.originate

    async def pbx_away(*args: object, **kw: object) -> OriginateResult:
        raise AmiNotSent("AMI is not connected (Originate not sent)")  # what the AMI client raises

    control.originate = pbx_away
    entry = await vh.request("+8613900000001", "support")
    await vh.acd.set_ready("1001")
    for _ in range(POLICY.max_attempts + 1):  # more turns than attempts allowed
        await until(lambda: vh.acd.router.call(entry.entry_id).parked and vh.acd.agent_state("1001").value
                    == "available")
        assert entry.entry_id in vh.entries and vh.entries[entry.entry_id].attempts == []
        clock.now += POLICY.retry_pause_s
        await vh.acd.decide(vh.acd.router.tick)
    control.originate = placed  # the PBX is back: this turn's call is placed
    control.originate_result = OriginateResult(False, 3, "cb.1", "cb-attempt", "Local/8613900000001@cti-external/n")
    await until(lambda: len(vh.entries[entry.entry_id].attempts) == 1)
    assert vh.entries[entry.entry_id].attempts[0]["result"] == "no_answer"


async def test_a_callback_whose_originate_was_sent_before_ami_dropped_is_an_attempt(rig: tuple) -> None:
    """The connection lost with the Originate written: Asterisk may have dialled the customer. That
    turn is an attempt (``failed``, under the retry rule): taking it for "nothing dialled" could ring
    the customer again at once, without end if the connection kept dropping."""
    from cti.errors import AmiUnavailable

    vh, control, _, _ = rig

    async def lost_after_sending(*args: object, **kw: object) -> OriginateResult:
        raise AmiUnavailable("AMI connection lost (closed by Asterisk)")

    control.originate = lost_after_sending
    entry = await vh.request("+8613900000001", "support")
    await vh.acd.set_ready("1001")
    await until(lambda: len(vh.entries[entry.entry_id].attempts) == 1)
    assert vh.entries[entry.entry_id].attempts[0]["result"] == "failed"


async def test_an_answered_callback_rings_the_agent_as_a_callback(rig: tuple) -> None:
    """The customer who kept their place answered: the agent's offer and call say it is their
    callback (``callback``), where the console showed an ordinary "Incoming call"."""
    from acd.calls import call_detail
    from acd.events import AgentOffer
    from agent_console.desk import EngineDesk

    vh, control, _, seen = rig
    control.originate_result = OriginateResult(True, 4, "cb.1", "cb-call", "Local/8613900000001@cti-external/n")
    entry = await vh.request("+8613900000001", "support")
    await vh.acd.set_ready("1001")
    await until(lambda: entry.entry_id in vh.calling._answers)
    vh.calling.answer_reported(entry.entry_id, True)  # the customer's leg reached vhold-answer
    await until(lambda: "cb-call" in vh.acd.calls)
    await vh.acd.bus.drain()  # type: ignore[attr-defined]
    offer = next(e for e in seen if isinstance(e, AgentOffer))
    assert (offer.linkedid, offer.agent_id, offer.callback) == ("cb-call", "1001", True)
    # The callback's call names the web request it serves (an integrator joins request -> call).
    arrived = next(e for e in seen if isinstance(e, CallArrived) and e.linkedid == "cb-call")
    assert entry.entry_id.startswith("web-") and arrived.callback_id == entry.entry_id
    call = vh.acd.calls["cb-call"]
    assert (call.direction, call.callback) == ("inbound", True)
    assert (call_detail(call) or {}).get("callback") is True
    vh.acd.calls["cb-call"].status = "ringing"  # a console reloaded while the phone rings
    snap = await EngineDesk(vh.acd, db=None, bus=vh.acd.bus).snapshot("1001")  # type: ignore[arg-type]
    assert snap.offer is not None and snap.offer.callback is True


async def test_a_put_back_caller_going_virtual_waited_since_the_put_back(rig: tuple) -> None:
    """QueueLeft.waited_s is the call's stay in the queue (docs/kpis.md): for a call put back after its
    agent's softphone was lost (at 200, first queued at 100), its wait since then, not its talk too."""
    vh, _, clock, seen = rig
    clock.now = 200.0
    await vh.acd.restore_waiting(LiveCall("c1", "PJSIP/x-1", "+8613900000001", "support", queued_at=100.0),
                                 fresh_timers=True)
    clock.now = 230.0
    assert await vh.accept("c1")
    await vh.acd.bus.drain()  # type: ignore[attr-defined]
    assert [(e.reason, e.waited_s) for e in seen if isinstance(e, QueueLeft)] == [("virtual_hold", 30.0)]


async def test_a_callback_call_put_back_after_its_agent_was_lost_counts_in_no_offered_figure(rig: tuple) -> None:
    """docs/kpis.md, virtual hold: the callback's call is no offered call of the queue; put back after
    its agent's softphone was lost (acd.reconnect) it is still none: its answer by the next agent
    adds no wait to ASA (a put-back call's wait adds to its answer's otherwise)."""
    import dataclasses

    vh, control, clock, _ = rig
    control.originate_result = OriginateResult(True, 4, "cb.1", "cb-call", "Local/8613900000001@cti-external/n")
    entry = await vh.request("+8613900000001", "support")
    await vh.acd.set_ready("1001")
    await until(lambda: entry.entry_id in vh.calling._answers)
    vh.calling.answer_reported(entry.entry_id, True)
    router = vh.acd.router
    await until(lambda: "cb-call" in vh.acd.calls and router.call("cb-call").state is CallState.CONNECTED)
    call = vh.acd.calls["cb-call"]  # the fake phone answered: the agent talks with the customer
    clock.now += 60.0  # the agent's softphone is lost and does not come back: the customer waits again
    await vh.acd.release_agent(call)
    await vh.acd.restore_waiting(dataclasses.replace(call, status="queued", agent_id=None, agent_channel=None,
                                                     answered_at=None, ring_task=None, consult=None),
                                 fresh_timers=True)
    router.agent_login("1002", {}, clock.now, queues=["support"], ready=True)  # offered the customer at once
    router.offer_answered("cb-call", "1002", clock.now + 10)
    snap = router.queue_snapshot("support", clock.now + 11)
    assert (snap.offered, snap.answered, snap.answered_wait_s, snap.callbacks_requested) == (0, 0, 0.0, 0)


@pytest.mark.parametrize("number", ["+449098790000", "+19005550100"])
async def test_a_caller_presenting_a_premium_rate_number_is_not_called_back(rig: tuple, number: str) -> None:
    """Toll fraud: a caller ID is the caller's to choose (spoofed on many trunks); one presenting a
    premium-rate number who takes the key would have the centre call that number, as a stranger's web
    request may not (cti.trunks.toll_fraud_refusal). The caller keeps waiting on the line."""
    vh, _control, _clock, seen = rig
    await vh.acd.enqueue(LiveCall("c1", "PJSIP/x-1", number, "support"))
    assert not await vh.accept("c1")
    assert vh.entries == {} and vh.acd.calls["c1"].status == "queued"
    assert not [e for e in seen if isinstance(e, QueueLeft)]


@pytest.mark.parametrize("number", ["+449098790000", "+19005550100", "not-a-number"])
async def test_a_caller_the_callback_would_refuse_is_not_offered_the_key(rig: tuple, number: str) -> None:
    """The key a caller presses is refused for a premium-rate number, or one no route calls
    (``accept``): the offer must not be made to such a caller at all, or they press a key that does
    nothing. One rule (``VirtualHold.callback_number``) for both; a caller of a usable number waiting
    as long is offered the key in the same pass."""
    vh, control, clock, _ = rig
    await vh.acd.enqueue(LiveCall("refused", "PJSIP/x-1", number, "support"))
    await vh.acd.enqueue(LiveCall("fine", "PJSIP/x-2", "+8613900000001", "support"))
    clock.now = 111.0
    await vh.offer_due_callers()
    clock.now = 200.0
    await vh.offer_due_callers()
    assert [r["channel"] for r in control.called("redirect")] == ["PJSIP/x-2"]
    assert not [v for v in control.called("set_var") if v["channel"] == "PJSIP/x-1"]
    assert vh.acd.floor.holder("PJSIP/x-1", clock.now) is None  # an announcement may still come
