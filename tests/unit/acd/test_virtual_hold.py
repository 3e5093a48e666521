"""Virtual hold in the pure router and its policy: a virtual entry keeps its place, is served after
callers ahead of it, reserves an agent for its callback, and a missed callback parks it."""

from __future__ import annotations

from pathlib import Path

import pytest

from acd.config import load_queues
from acd.decisions import Abandoned, Announce, Bridge, CancelOffer, LimitAction, Offer, Overflow
from acd.errors import IllegalTransition, InvalidRequest, StaleOffer
from acd.model import AgentState, CallState, LimitKind, LimitSpec, QueueConfig
from acd.routing import RING_GRACE_S
from acd.virtual_hold import (
    EntryEvent,
    EntryState,
    VirtualHoldPolicy,
    attempt_result,
    callback_allowance_s,
    next_attempt,
    next_state,
    offer_due,
)
from cti.errors import ConfigError
from cti.settings import load_settings

from .helpers import changes, of, offers, ready_agent, router

Q = QueueConfig("support", ring_timeout_s=15, callback_ring_s=30, wrap_up_s=0, announce_every_s=10,
                max_wait_s=100, max_wait_action=LimitSpec(LimitKind.VOICEMAIL), overflow_after_s=50,
                overflow_to="general")
GENERAL = QueueConfig("general")


def _queue_of_three() -> tuple:
    """a (t=0), v (t=1, goes virtual), c (t=2) wait; nobody is ready."""
    r = router(Q, GENERAL)
    r.agent_login("1001", {}, 0.0, queues=["support"])
    for n, cid in enumerate(("a", "v", "c")):
        r.enqueue(cid, "support", float(n))
    r.hold_virtually("v", 3.0)
    return (r,)


def test_virtual_entry_keeps_its_place_behind_callers_ahead() -> None:
    (r,) = _queue_of_three()
    assert r.waiting("support") == ["a", "v", "c"]
    assert r.position("v")[0] == 2
    assert r.estimates("support") == {c: r.position(c)[1] for c in ("a", "v", "c")}
    out = r.set_ready("1001", 4.0)
    assert offers(out) == [("a", "1001")]  # the caller ahead first
    r.offer_answered("a", "1001", 5.0)
    out = r.call_ended("a", 6.0)  # wrap-up 0: free again; the virtual entry is next
    offer = of(out, Offer)[0]
    assert isinstance(offer, Offer) and (offer.call_id, offer.callback) == ("v", True)
    assert offer.ring_timeout_s == 15 + 30  # the customer's ring, then the agent's
    assert r.agent("1001").state is AgentState.RESERVED


def test_virtual_entry_hears_no_announcement_and_meets_no_limit() -> None:
    (r,) = _queue_of_three()
    out = r.tick(200.0)  # announcements, overflow (50 s) and max wait (100 s) all fell due
    assert [d.call_id for d in of(out, Announce) if isinstance(d, Announce)].count("v") == 0
    gone = {d.call_id for d in out if isinstance(d, LimitAction | Overflow)}
    assert "v" not in gone and {"a", "c"} <= gone
    assert r.call("v").virtual and r.call("v").queue == "support"
    snap = r.queue_snapshot("support", 200.0)
    assert (snap.waiting, snap.virtual_waiting) == (0, 1)


def test_answered_callback_becomes_a_caller_ringing_the_reserved_agent() -> None:
    r = router(Q)
    ready_agent(r, "1001", {}, 0.0)
    r.agent_login("1002", {}, 0.0, queues=["support"])
    r.enqueue("busy", "support", 0.5)  # 1001 takes it
    r.enqueue("v", "support", 1.0)
    r.hold_virtually("v", 2.0)
    r.offer_answered("busy", "1001", 2.0)
    out = r.set_ready("1002", 3.0)
    assert [(d.call_id, d.agent_id, d.callback) for d in of(out, Offer) if isinstance(d, Offer)] == [
        ("v", "1002", True)]
    with pytest.raises(StaleOffer):
        r.callback_answered("v", "1001", 10.0, new_id="cb-1")
    r.callback_answered("v", "1002", 10.0, new_id="cb-1")
    view = r.call("cb-1")
    assert (view.state, view.virtual, view.agent_id, view.enqueued_at) == (CallState.RINGING, False, "1002", 1.0)
    assert r.agent("1002").offers == ("cb-1",)
    out = r.offer_answered("cb-1", "1002", 12.0)
    bridge = of(out, Bridge)[0]
    assert isinstance(bridge, Bridge) and bridge.wait_s == 11.0  # waited since its first call entered
    # The agent's own ring timeout applies from the answer on (no callback allowance any more).
    r2 = router(Q)
    ready_agent(r2, "1001", {}, 0.0)
    r2.enqueue("v", "support", 0.0, virtual=True)
    r2.callback_answered("v", "1001", 20.0, new_id="cb")
    out = r2.tick(20.0 + 15 + RING_GRACE_S)
    assert [(d.call_id, d.reason) for d in of(out, CancelOffer) if isinstance(d, CancelOffer)] == [
        ("cb", "ring_timeout")]


def test_missed_callback_parks_the_entry_at_its_place_then_retries() -> None:
    r = router(Q)
    ready_agent(r, "1001", {}, 0.0)
    r.enqueue("v", "support", 0.0, virtual=True)  # a web request: virtual from the start, offered at once
    out = r.callback_missed("v", "1001", 30.0, retry_at=90.0)
    assert changes(out)[0] == ("1001", "reserved", "available", None)  # not blamed: no "missed"
    assert r.call("v").parked and r.call("v").state is CallState.WAITING
    out = r.enqueue("w", "support", 40.0)  # a later caller is served while v is parked
    assert offers(out) == [("w", "1001")]
    r.offer_answered("w", "1001", 41.0)
    r.call_ended("w", 42.0)
    assert r.agent("1001").state is AgentState.AVAILABLE  # v stays parked: nobody is offered it
    r.set_not_ready("1001", "break", 43.0)
    r.enqueue("x", "support", 50.0)
    assert r.waiting("support") == ["x"]  # parked: not among the waiting calls offered
    assert not of(r.tick(89.0), Offer)
    r.tick(90.0)  # the pause is over: v is back at its place, ahead of x (it entered first)
    assert r.waiting("support") == ["v", "x"]
    out = r.set_ready("1001", 91.0)
    assert [(d.call_id, d.callback) for d in of(out, Offer) if isinstance(d, Offer)] == [("v", True)]


def test_parked_entry_is_not_offered_to_the_agent_it_just_freed() -> None:
    (r,) = _queue_of_three()
    r.set_ready("1001", 4.0)
    r.offer_answered("a", "1001", 5.0)
    r.call_ended("a", 6.0)  # v's turn
    out = r.callback_missed("v", "1001", 7.0, retry_at=20.0)
    assert offers(out) == [("c", "1001")]  # the agent goes on to c; v waits out its pause


def _figures(r: object, at: float) -> tuple[int, ...]:
    snap = r.queue_snapshot("support", at)  # type: ignore[attr-defined]
    return (snap.offered, snap.answered, snap.abandoned, snap.limit_exits, snap.overflowed, snap.callbacks_requested)


def test_missed_callback_without_retry_leaves_the_queue_uncounted_as_abandon() -> None:
    """A web request is no call that entered the queue: its failure counts in no figure of the queue
    (docs/kpis.md); a late report of its callback is ignored."""
    r = router(Q)
    ready_agent(r, "1001", {}, 0.0)
    r.enqueue("v", "support", 0.0, virtual=True)
    out = r.callback_missed("v", "1001", 30.0, retry_at=None)
    assert not of(out, Abandoned)
    assert r.calls() == [] and r.agent("1001").state is AgentState.AVAILABLE
    assert _figures(r, 31.0) == (0, 0, 0, 0, 0, 0)
    assert r.callback_missed("v", "1001", 32.0, retry_at=None) == []  # a late report is ignored


def test_the_queue_counts_the_key_as_a_callback_request_and_the_callback_in_no_offered_figure() -> None:
    """docs/kpis.md, virtual hold: the caller who pressed the key was offered and not answered, no
    abandon, in the denominators of the service level and the abandon rate; its callback's answer is
    no answer of the queue (the reports count it handled, never offered), nor its caller hanging up
    or meeting a limit once on the line; the agent's talk and handle time count."""
    (r,) = _queue_of_three()
    assert _figures(r, 3.0) == (3, 0, 0, 0, 0, 1)
    snap = r.queue_snapshot("support", 3.0)
    assert (snap.service_level, snap.abandon_rate) == (0.0, 0.0)  # one call left the queue: v, not answered
    r.withdraw("a", 3.5)
    r.set_ready("1001", 4.0)  # reserved for v's callback
    r.callback_answered("v", "1001", 10.0, new_id="cb")
    r.offer_answered("cb", "1001", 12.0)
    r.call_ended("cb", 40.0)
    assert _figures(r, 40.0) == (3, 0, 0, 0, 0, 1)
    snap = r.queue_snapshot("support", 40.0)
    assert (snap.answered_wait_s, snap.ewt_samples, snap.handled, snap.avg_talk_s) == (0.0, 0, 1, 28.0)
    # The next callback's caller misses the agent, then meets its queue's limits on the line: none counts.
    r.enqueue("w", "support", 41.0, virtual=True)  # c (on the line) is offered first: withdraw it
    r.withdraw("c", 41.0)
    r.callback_answered("w", "1001", 45.0, new_id="cb2")
    r.offer_no_answer("cb2", "1001", 60.0)
    r.tick(200.0)  # overflowed at 91 (50 s after w entered), nobody answers in general
    assert r.call("cb2").queue == "general" and r.queue_snapshot("support", 200.0).overflowed == 0
    r.caller_hung_up("cb2", 210.0)
    assert _figures(r, 210.0) == (3, 0, 0, 0, 0, 1)
    assert r.queue_snapshot("general", 210.0).offered == 0


def test_lost_callback_report_frees_the_agent_by_the_backstop_and_keeps_the_entry() -> None:
    r = router(Q)
    ready_agent(r, "1001", {}, 0.0)
    r.enqueue("v", "support", 0.0, virtual=True)
    out = r.tick(15 + 30 + RING_GRACE_S + 200.0)  # long past max wait (100 s) and overflow (50 s)
    assert [(d.call_id, d.reason) for d in of(out, CancelOffer) if isinstance(d, CancelOffer)] == [
        ("v", "ring_timeout")]
    assert not of(out, LimitAction) and not of(out, Overflow)
    assert r.call("v").virtual and r.waiting("support") == ["v"]


def test_only_a_caller_waiting_on_the_line_can_go_virtual() -> None:
    r = router(Q)
    ready_agent(r, "1001", {}, 0.0)
    r.enqueue("ringing", "support", 0.0)
    with pytest.raises(InvalidRequest):
        r.hold_virtually("ringing", 1.0)
    r.enqueue("v", "support", 1.0)
    r.hold_virtually("v", 2.0)
    with pytest.raises(InvalidRequest):
        r.hold_virtually("v", 3.0)


def test_restored_virtual_entry_takes_its_original_place() -> None:
    r = router(Q)
    r.agent_login("1001", {}, 0.0, queues=["support"])
    r.enqueue("late", "support", 100.0)
    r.restore_waiting("v", "support", 101.0, entered_at=10.0, virtual=True)
    assert r.waiting("support") == ["v", "late"]
    out = r.set_ready("1001", 102.0)
    assert [(d.call_id, d.callback) for d in of(out, Offer) if isinstance(d, Offer)] == [("v", True)]


POLICY = VirtualHoldPolicy(offer_after_s=60, offer_ewt_s=120, first_offer_s=5, reoffer_every_s=30,
                           max_attempts=2, retry_pause_s=60)


@pytest.mark.parametrize(("waited", "ewt", "offers_made", "last", "now", "due"), [
    (3, 500, 0, None, 3, False),  # never in the first seconds
    (10, 30, 0, None, 10, False),  # short estimate, short wait
    (10, 150, 0, None, 10, True),  # long estimate: offered early
    (61, 30, 0, None, 61, True),  # waited long enough
    (70, 30, 1, 61, 70, False),  # offered 9 s ago
    (95, 30, 1, 61, 95, True),  # offered again after reoffer_every_s
])
def test_offer_due(waited: float, ewt: float, offers_made: int, last: float | None, now: float, due: bool) -> None:
    assert offer_due(POLICY, waited_s=waited, ewt_s=ewt, offers=offers_made, last_offer_at=last, now=now) is due


def test_retry_policy_and_attempt_results() -> None:
    assert next_attempt(POLICY, attempts=1, now=100.0) == 160.0
    assert next_attempt(POLICY, attempts=2, now=100.0) is None
    assert [attempt_result(False, 3), attempt_result(False, 5), attempt_result(False, "refused"),
            attempt_result(True, 4), attempt_result(True, 4, confirmed=False)] == [
        "no_answer", "busy", "failed", "answered", "declined"]


def test_queue_config_reserves_the_agent_for_the_callback_and_its_question(tmp_path: Path) -> None:
    (tmp_path / "queues.yaml").write_text(
        "skills: [s]\nqueues:\n  q:\n    ring_timeout_s: 15\n"
        "    virtual_hold: {key: '#', confirm: true, confirm_timeout_s: 5, ring_s: 20, max_attempts: 2}\n"
        "  plain: {}\n", encoding="utf-8")
    cfg = load_queues(load_settings(config_dir=tmp_path))
    assert cfg.virtual_hold["q"].key == "#" and "plain" not in cfg.virtual_hold
    assert cfg.queue("q").callback_ring_s == 20 + 2 * 5 + 10 == callback_allowance_s(cfg.virtual_hold["q"])
    (tmp_path / "queues.yaml").write_text(
        "skills: [s]\nqueues:\n  q:\n    virtual_hold: {key: '12'}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="key"):
        load_queues(load_settings(config_dir=tmp_path))


def test_entry_state_machine_and_policy_validation() -> None:
    assert next_state("v", EntryState.VIRTUAL, EntryEvent.TURN) is EntryState.CALLING
    assert next_state("v", EntryState.CALLING, EntryEvent.MISSED) is EntryState.VIRTUAL
    with pytest.raises(IllegalTransition):
        next_state("v", EntryState.FAILED, EntryEvent.TURN)
    with pytest.raises(ValueError, match="key"):
        VirtualHoldPolicy(key="12")
    with pytest.raises(ValueError, match="prompt"):
        VirtualHoldPolicy(prompt="x,System(rm)")
