"""Table-driven tests of the router: one scenario per rule of the issue."""

from __future__ import annotations

import pytest

from acd.decisions import (
    Abandoned,
    AgentStateChange,
    Announce,
    Bridge,
    CancelOffer,
    LimitAction,
    NotReadyPending,
    Offer,
    Overflow,
    Requeue,
)
from acd.errors import IllegalTransition, InvalidRequest, StaleOffer, UnknownCall, UnknownQueue
from acd.model import AgentState, CallState, LimitKind, LimitSpec, QueueConfig, Strategy
from acd.routing import RING_GRACE_S, Router

from .helpers import changes, of, offers, ready_agent, router, steps

BILLING = QueueConfig(
    "billing",
    steps=steps((0, {"billing": 4}), (30, {"billing": 2}), (60, {}, 0)),
    wrap_up_s=20,
    ring_timeout_s=15,
)


def test_login_then_ready_emits_state_changes() -> None:
    r = router()
    out = r.agent_login("1001", {"support": 3}, 0.0, queues=["support"])
    assert changes(out) == [("1001", "logged_out", "not_ready", "login")]
    out = r.set_ready("1001", 1.0)
    assert changes(out) == [("1001", "not_ready", "available", None)]
    assert r.agent("1001").state is AgentState.AVAILABLE


def test_offer_goes_to_longest_idle_eligible_agent() -> None:
    r = router()
    ready_agent(r, "c", {"support": 5}, 0.0, registered=False)  # idle longest, phone unregistered
    ready_agent(r, "b", {"support": 3}, 0.5)  # idle longer
    ready_agent(r, "a", {"support": 3}, 1.0)
    out = r.enqueue("c1", "support", 2.0)
    assert offers(out) == [("c1", "b")]
    offer = of(out, Offer)[0]
    assert isinstance(offer, Offer) and offer.ring_timeout_s == 15.0
    assert changes(out) == [("b", "available", "reserved", None)]


@pytest.mark.parametrize(
    ("agent_skills", "call_skills", "offered"),
    [
        ({"billing": 4}, None, True),
        ({"billing": 3}, None, False),  # below the first step's level
        ({"billing": 5, "zh": 3}, {"zh": 3}, True),
        ({"billing": 5, "zh": 2}, {"zh": 3}, False),
        ({"billing": 5}, {"zh": 1}, False),
        ({"support": 5}, None, False),
    ],
)
def test_skills_at_the_current_step(agent_skills: dict[str, int], call_skills: dict[str, int] | None,
                                    offered: bool) -> None:
    r = router(BILLING)
    ready_agent(r, "a", agent_skills, 0.0, queues=["billing"])
    out = r.enqueue("c1", "billing", 1.0, skills=call_skills)
    assert bool(offers(out)) is offered


@pytest.mark.parametrize(("agent_level", "offered_at"), [(4, 0.0), (3, 30.0), (2, 30.0), (1, 60.0)])
def test_widening_happens_exactly_at_step_expiry(agent_level: int, offered_at: float) -> None:
    r = router(BILLING)
    ready_agent(r, "a", {"billing": agent_level}, 0.0, queues=["billing"])
    t0 = 100.0
    out = r.enqueue("c1", "billing", t0)
    if offered_at == 0.0:
        assert offers(out) == [("c1", "a")]
        return
    assert offers(out) == []
    assert offers(r.tick(t0 + offered_at - 0.001)) == []
    assert r.call("c1").step == (1 if offered_at > 30 else 0)
    out = r.tick(t0 + offered_at)
    assert offers(out) == [("c1", "a")]
    # the decision is dated at the expiry, even when the tick comes later
    r2 = router(BILLING)
    ready_agent(r2, "a", {"billing": agent_level}, 0.0, queues=["billing"])
    r2.enqueue("c1", "billing", t0)
    out = r2.tick(t0 + offered_at + 7.0)
    assert [d.at for d in of(out, AgentStateChange)] == [t0 + offered_at]  # type: ignore[attr-defined]


def test_widening_applies_when_an_agent_frees_after_expiry_without_a_tick() -> None:
    r = router(BILLING)
    r.agent_login("a", {"billing": 2}, 0.0, queues=["billing"])
    r.enqueue("c1", "billing", 0.0)
    out = r.set_ready("a", 45.0)  # no tick since 0: the step-1 timer runs first, inside this call
    assert offers(out) == [("c1", "a")]


def test_fifo_within_a_priority_and_vip_overtakes() -> None:
    r = router()
    r.agent_login("a", {}, 0.0, queues=["support"])
    r.enqueue("n1", "support", 1.0)
    r.enqueue("n2", "support", 2.0)
    r.enqueue("vip", "support", 3.0, priority=5)
    r.enqueue("n3", "support", 4.0)
    assert r.waiting("support") == ["vip", "n1", "n2", "n3"]
    assert r.position("n2")[0] == 3
    picked = []
    now = 10.0
    out = r.set_ready("a", now)
    for _ in range(4):
        (call_id, agent_id), = offers(out)
        picked.append(call_id)
        r.offer_answered(call_id, agent_id, now + 1)
        out = r.call_ended(call_id, now + 2)
        out += r.tick(now + 2 + 10.0)  # wrap-up ends: the agent takes the next call
        now += 20
    assert picked == ["vip", "n1", "n2", "n3"]


def test_fairness_across_queues_takes_the_oldest_call() -> None:
    r = Router([QueueConfig("support"), QueueConfig("sales")])
    r.agent_login("a", {}, 0.0, queues=["support", "sales"])
    r.enqueue("s1", "sales", 1.0)
    r.enqueue("p1", "support", 2.0)
    assert offers(r.set_ready("a", 3.0)) == [("s1", "a")]


def test_preferred_agent_gets_the_call_within_the_window() -> None:
    q = QueueConfig("support", preferred_agent_s=20.0)
    r = router(q)
    ready_agent(r, "a", {}, 0.0)  # idle longest
    ready_agent(r, "pref", {}, 1.0)
    assert offers(r.enqueue("c1", "support", 5.0, preferred_agent="pref")) == [("c1", "pref")]


def test_preferred_agent_busy_then_free_within_window_then_others_after_it() -> None:
    q = QueueConfig("support", preferred_agent_s=20.0, wrap_up_s=0.0)
    r = router(q)
    ready_agent(r, "a", {}, 0.0)
    ready_agent(r, "pref", {}, 1.0)
    r.enqueue("x", "support", 2.0)  # goes to a (longest idle)
    r.enqueue("y", "support", 2.5)  # goes to pref
    r.offer_answered("y", "pref", 3.0)
    r.offer_answered("x", "a", 3.0)
    assert offers(r.enqueue("c1", "support", 10.0, preferred_agent="pref")) == []
    assert r.call("c1").pref_active
    out = r.call_ended("x", 12.0)  # a frees: not the preferred agent, the call keeps waiting
    assert offers(out) == []
    out = r.call_ended("y", 15.0)  # the preferred agent frees within the window
    assert offers(out) == [("c1", "pref")]
    # and a second such call, whose preferred agent stays busy, goes to anyone at window end
    r.offer_answered("c1", "pref", 16.0)
    r.enqueue("c2", "support", 20.0, preferred_agent="pref")
    assert offers(r.tick(39.999)) == []
    assert offers(r.tick(40.0)) == [("c2", "a")]


def test_preferred_agent_not_in_queue_means_no_waiting() -> None:
    r = router(QueueConfig("support", preferred_agent_s=20.0), QueueConfig("sales"))
    ready_agent(r, "a", {}, 0.0)
    ready_agent(r, "other", {}, 0.0, queues=["sales"])
    assert offers(r.enqueue("c1", "support", 1.0, preferred_agent="other")) == [("c1", "a")]


def test_ring_no_answer_agent_missed_call_back_at_head() -> None:
    r = router()
    ready_agent(r, "a", {}, 0.0)
    r.enqueue("c1", "support", 1.0)
    r.enqueue("c2", "support", 2.0)
    out = r.offer_no_answer("c1", "a", 16.0)
    assert changes(out) == [("a", "reserved", "not_ready", "missed")]
    assert of(out, Requeue) == [Requeue(call_id="c1", queue="support", reason="no_answer")]
    assert r.waiting("support") == ["c1", "c2"]
    ready_agent(r, "b", {}, 17.0)
    assert r.call("c1").agent_id == "b"
    assert r.offer_no_answer("c1", "a", 18.0) == []  # a late duplicate report is ignored


def test_a_missed_offer_leaves_no_pending_not_ready_behind() -> None:
    """An agent who asked for not ready while the offer rang (held as pending) and then missed it is
    not ready "missed"; the pending request stayed on the agent and went out with every state
    change after it, though nothing was pending any more."""
    r = router()
    ready_agent(r, "a", {}, 0.0)
    r.enqueue("c1", "support", 1.0)
    assert of(r.set_not_ready("a", "break", 2.0), NotReadyPending)
    out = r.offer_no_answer("c1", "a", 16.0)
    assert changes(out) == [("a", "reserved", "not_ready", "missed")]
    assert r.agent("a").not_ready_after_call is None


def test_ring_backstop_when_the_no_answer_report_is_lost() -> None:
    r = router()
    ready_agent(r, "a", {}, 0.0)
    r.enqueue("c1", "support", 1.0)
    assert r.tick(1.0 + 15.0 + RING_GRACE_S - 0.01) == []
    out = r.tick(1.0 + 15.0 + RING_GRACE_S)
    assert of(out, CancelOffer) == [CancelOffer(call_id="c1", agent_id="a", reason="ring_timeout")]
    assert r.agent("a").state is AgentState.NOT_READY and r.agent("a").reason == "missed"


def test_answer_bridge_end_wrap_up_available() -> None:
    r = router(BILLING)
    ready_agent(r, "a", {"billing": 5}, 0.0, queues=["billing"])
    r.enqueue("c1", "billing", 10.0)
    out = r.offer_answered("c1", "a", 14.0)
    assert of(out, Bridge) == [Bridge(call_id="c1", agent_id="a", queue="billing", wait_s=4.0)]
    out = r.call_ended("c1", 100.0)
    assert changes(out) == [("a", "on_call", "wrap_up", None)]
    assert r.agent("a").wrap_until == 120.0
    # The state change says when the wrap-up ends on its own (the console's countdown); no other does.
    assert [c.wrap_until for c in of(out, AgentStateChange)] == [120.0]
    assert r.tick(119.9) == []
    out = r.tick(120.0)
    assert changes(out) == [("a", "wrap_up", "available", None)]
    assert [c.wrap_until for c in of(out, AgentStateChange)] == [None]


def test_agent_wrap_up_overrides_queue() -> None:
    r = router(BILLING)
    ready_agent(r, "a", {"billing": 5}, 0.0, queues=["billing"], wrap_up_s=3.0)
    r.enqueue("c1", "billing", 1.0)
    r.offer_answered("c1", "a", 2.0)
    r.call_ended("c1", 10.0)
    assert changes(r.tick(13.0)) == [("a", "wrap_up", "available", None)]


def test_not_ready_after_this_call() -> None:
    r = router()
    ready_agent(r, "a", {}, 0.0)
    r.enqueue("c1", "support", 1.0)
    r.offer_answered("c1", "a", 2.0)
    # the state stays on_call; the console is told what comes after the call
    assert r.not_ready_after_call("a", 3.0, reason="break") == [NotReadyPending(agent_id="a", reason="break")]
    r.enqueue("c2", "support", 4.0)
    r.call_ended("c1", 50.0)
    out = r.tick(60.0)
    assert changes(out) == [("a", "wrap_up", "not_ready", "break")]
    assert offers(out) == [] and r.waiting("support") == ["c2"]


def test_set_ready_during_wrap_up_ends_it_early() -> None:
    r = router()
    ready_agent(r, "a", {}, 0.0)
    r.enqueue("c1", "support", 1.0)
    r.offer_answered("c1", "a", 2.0)
    r.call_ended("c1", 3.0)
    r.enqueue("c2", "support", 4.0)
    assert offers(r.set_ready("a", 5.0)) == [("c2", "a")]
    assert r.tick(20.0) == []  # the cancelled wrap-up timer does nothing


def test_caller_hangs_up_while_ringing() -> None:
    r = router()
    ready_agent(r, "a", {}, 0.0)
    r.enqueue("c1", "support", 1.0)
    r.enqueue("c2", "support", 2.0)
    out = r.caller_hung_up("c1", 4.0)
    assert of(out, CancelOffer) == [CancelOffer(call_id="c1", agent_id="a", reason="caller_hung_up")]
    assert of(out, Abandoned) == [Abandoned(call_id="c1", queue="support", wait_s=3.0)]
    assert offers(out) == [("c2", "a")]  # the agent is free again and takes the next call
    with pytest.raises(UnknownCall):
        r.caller_hung_up("c1", 5.0)


def test_capacity_is_never_exceeded() -> None:
    r = router()
    ready_agent(r, "a", {}, 0.0, capacity=2)
    assert offers(r.enqueue("c1", "support", 1.0)) == [("c1", "a")]
    assert offers(r.enqueue("c2", "support", 2.0)) == []  # one offer rings at a time
    assert offers(r.offer_answered("c1", "a", 3.0)) == [("c2", "a")]
    r.offer_answered("c2", "a", 4.0)
    assert offers(r.enqueue("c3", "support", 5.0)) == []
    out = r.call_ended("c1", 6.0)
    assert offers(out) == [("c3", "a")] and r.agent("a").state is AgentState.ON_CALL
    r.offer_answered("c3", "a", 7.0)
    r.call_ended("c2", 8.0)
    out = r.call_ended("c3", 9.0)
    assert changes(out) == [("a", "on_call", "wrap_up", None)]


def test_unregistered_phone_not_offered_until_registered_again() -> None:
    r = router()
    ready_agent(r, "a", {}, 0.0)
    r.set_device_registered("a", False, 1.0)
    # Still available, but not offered: the queue does not count the agent available either.
    assert r.agent("a").state is AgentState.AVAILABLE and r.queue_snapshot("support", 1.5).agents_available == 0
    assert offers(r.enqueue("c1", "support", 2.0)) == []
    assert offers(r.set_device_registered("a", True, 3.0)) == [("c1", "a")]


def test_live_skill_change_counts_at_next_decision() -> None:
    r = router(BILLING)
    ready_agent(r, "a", {"billing": 2}, 0.0, queues=["billing"])
    ready_agent(r, "b", {"billing": 4}, 1.0, queues=["billing"])
    r.set_skills("b", {"billing": 1}, 2.0)
    r.set_skills("a", {"billing": 5}, 2.0)
    assert offers(r.enqueue("c1", "billing", 3.0)) == [("c1", "a")]
    r.agent_login("c", {"billing": 1}, 3.0, queues=["billing"], ready=True)
    assert offers(r.enqueue("c2", "billing", 4.0)) == []
    assert offers(r.set_skills("c", {"billing": 4}, 5.0)) == [("c2", "c")]


def test_longest_idle_seniority_survives_a_skill_change() -> None:
    r = router()
    ready_agent(r, "old", {"support": 3}, 0.0)
    ready_agent(r, "new", {"support": 3}, 5.0)
    r.set_skills("old", {"support": 4}, 6.0)
    assert offers(r.enqueue("c1", "support", 7.0)) == [("c1", "old")]


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [(Strategy.LONGEST_IDLE, ["a", "b", "c"]), (Strategy.MOST_SKILLED, ["c", "b", "a"]),
     (Strategy.ROUND_ROBIN, ["a", "b", "c"])],
)
def test_strategies(strategy: Strategy, expected: list[str]) -> None:
    q = QueueConfig("billing", steps=steps((0, {"billing": 1})), strategy=strategy)
    r = router(q)
    ready_agent(r, "a", {"billing": 2}, 0.0, queues=["billing"])
    ready_agent(r, "b", {"billing": 3}, 1.0, queues=["billing"])
    ready_agent(r, "c", {"billing": 5}, 2.0, queues=["billing"])
    got = [offers(r.enqueue(f"c{i}", "billing", 10.0 + i))[0][1] for i in range(3)]
    assert got == expected


def test_round_robin_continues_after_the_last_agent_offered() -> None:
    q = QueueConfig("sales", strategy=Strategy.ROUND_ROBIN, wrap_up_s=0)
    r = router(q)
    for i, a in enumerate("abc"):
        ready_agent(r, a, {}, float(i), queues=["sales"])
    picks = []
    for i in range(5):
        ((call, agent),) = offers(r.enqueue(f"c{i}", "sales", 10.0 + i))
        picks.append(agent)
        r.offer_answered(call, agent, 10.5 + i)
        r.call_ended(call, 10.6 + i)
    assert picks == ["a", "b", "c", "a", "b"]


def test_overflow_to_another_queue() -> None:
    sup = QueueConfig("support", steps=steps((0, {"support": 3})), overflow_after_s=60, overflow_to="general")
    r = Router([sup, QueueConfig("general")])
    ready_agent(r, "g", {}, 0.0, queues=["general"])
    r.enqueue("c1", "support", 1.0)
    assert r.tick(60.9) == []
    out = r.tick(61.0)
    assert of(out, Overflow) == [Overflow(call_id="c1", from_queue="support", to_queue="general", wait_s=60.0)]
    assert offers(out) == [("c1", "g")]
    assert r.queue_snapshot("support", 61.0).overflowed == 1
    assert r.queue_snapshot("general", 61.0).offered == 1


def test_a_call_moved_to_another_queue_keeps_its_longest_wait() -> None:
    """The wallboard's longest wait is the age of the oldest call waiting (docs/kpis.md): a caller
    who waited 60 s in support and 30 s more in general has waited 90 s, not 30 (the figure, and so
    the longest-wait alerts, started again at every overflow; found by the supervisor's trial). The
    queue's own timers (max wait, steps) still count from the entry into it."""
    sup = QueueConfig("support", steps=steps((0, {"support": 3})), overflow_after_s=60, overflow_to="general")
    r = Router([sup, QueueConfig("general", steps=steps((0, {"general": 1})), max_wait_s=100)])
    ready_agent(r, "s", {"support": 1}, 0.0, queues=["support"])  # too weak for the call's step
    r.enqueue("c1", "support", 1.0)
    assert r.queue_snapshot("support", 31.0).longest_wait_s == 30.0
    r.tick(61.0)  # overflows to general, where nobody serves it
    assert r.queue_snapshot("support", 61.0).waiting == 0
    assert r.queue_snapshot("general", 91.0).longest_wait_s == 90.0
    assert r.call("c1").entered_queue_at == 61.0  # general's max wait (100 s) counts from 61
    assert r.tick(160.0) == [] and r.call("c1").queue == "general"


def test_waiting_calls_list_each_queues_callers_in_the_order_it_serves_them() -> None:
    """The wallboard's list of callers waiting now: per queue (configured order) next first, a
    higher priority ahead; the wait counted from the first queue entry (an overflowed caller keeps
    its age, as the longest wait); a virtual-hold entry keeps its place, flagged; a ringing call and
    an agent's consultation of a colleague are not waiting callers."""
    sup = QueueConfig("support", steps=steps((0, {"support": 3})), overflow_after_s=60, overflow_to="general")
    r = Router([sup, QueueConfig("general", steps=steps((0, {"general": 1})))])
    ready_agent(r, "s", {"support": 1}, 0.0, queues=["support"])  # too weak for support's calls
    r.enqueue("moved", "support", 1.0)
    r.tick(61.0)  # overflows to general
    r.enqueue("n1", "support", 70.0)
    r.enqueue("n2", "support", 75.0)
    r.enqueue("vip", "support", 80.0, priority=5)
    r.hold_virtually("n2", 85.0)
    r.enqueue("g1", "general", 90.0)
    r.set_not_ready("s", "break", 94.0)
    r.enqueue("c1#consult", "support", 95.0, required_agent="s", counted=False)  # waits for s
    assert r.call("c1#consult").state is CallState.WAITING
    ready_agent(r, "g", {"general": 1}, 96.0, queues=["general"])  # takes "moved": ringing, not waiting
    listed = [(w.queue, w.position, w.call_id, w.priority, w.waited_s, w.virtual) for w in r.waiting_calls(100.0)]
    assert listed == [("support", 1, "vip", 5, 20.0, False), ("support", 2, "n1", 0, 30.0, False),
                      ("support", 3, "n2", 0, 25.0, True), ("general", 1, "g1", 0, 10.0, False)]
    r.offer_no_answer("moved", "g", 110.0)  # back to waiting in general, ahead of g1 (older)
    moved = [(w.position, w.call_id, w.waited_s) for w in r.waiting_calls(120.0) if w.queue == "general"]
    assert moved == [(1, "moved", 119.0), (2, "g1", 30.0)]


@pytest.mark.parametrize("action", [LimitKind.VOICEMAIL, LimitKind.CALLBACK, LimitKind.HANGUP])
def test_max_wait_action(action: LimitKind) -> None:
    q = QueueConfig("support", max_wait_s=120, max_wait_action=LimitSpec(action, "bye" if action == "hangup" else None))
    r = router(q)
    r.agent_login("a", {}, 0.0, queues=["support"])
    r.enqueue("c1", "support", 0.0)
    assert r.tick(119.0) == []
    out = r.tick(120.0)
    assert out == [LimitAction(call_id="c1", queue="support", reason="max_wait", action=action,
                               target="bye" if action == "hangup" else None, wait_s=120.0)]
    with pytest.raises(UnknownCall):
        r.call("c1")
    assert r.queue_snapshot("support", 120.0).limit_exits == 1


def test_max_wait_reached_while_ringing_applies_when_the_offer_fails() -> None:
    q = QueueConfig("support", max_wait_s=10, max_wait_action=LimitSpec(LimitKind.VOICEMAIL), ring_timeout_s=15)
    r = router(q)
    ready_agent(r, "a", {}, 0.0)
    r.enqueue("c1", "support", 1.0)
    assert r.tick(12.0) == []  # ringing: the limit waits for the ring to end
    out = r.offer_no_answer("c1", "a", 16.0)
    assert [type(d).__name__ for d in out] == ["AgentStateChange", "Requeue", "LimitAction"]


def test_max_length_and_no_agents_actions() -> None:
    sup = QueueConfig("support", max_length=1, max_length_action=LimitSpec(LimitKind.CALLBACK),
                      no_agents_action=LimitSpec(LimitKind.QUEUE, "general"))
    r = Router([sup, QueueConfig("general")])
    out = r.enqueue("c0", "support", 0.0)  # nobody logged in to support
    assert of(out, LimitAction) == [LimitAction(call_id="c0", queue="support", reason="no_agents",
                                                action=LimitKind.QUEUE, target="general")]
    assert r.call("c0").queue == "general" and r.call("c0").state is CallState.WAITING
    r.agent_login("a", {}, 1.0, queues=["support"])  # logged in but not ready
    assert of(r.enqueue("c1", "support", 2.0), LimitAction) == []
    out = r.enqueue("c2", "support", 3.0)
    assert out == [LimitAction(call_id="c2", queue="support", reason="max_length", action=LimitKind.CALLBACK)]


def test_announcements_every_n_seconds_with_position_and_estimate() -> None:
    r = router(QueueConfig("support", announce_every_s=30))
    r.agent_login("a", {}, 0.0, queues=["support"])
    r.set_ready("a", 0.0)
    r.set_not_ready("a", "lunch", 0.0)
    r.enqueue("c1", "support", 1.0)
    r.enqueue("c2", "support", 2.0)
    # Nobody serves the queue yet: as if one agent came; no checked estimates: a +-50 % range.
    assert r.tick(31.0) == [Announce(call_id="c1", queue="support", position=1, ewt_s=180.0,
                                     ewt_low_s=90.0, ewt_high_s=270.0)]
    assert r.tick(32.0) == [Announce(call_id="c2", queue="support", position=2, ewt_s=360.0,
                                     ewt_low_s=180.0, ewt_high_s=540.0)]
    assert [d.call_id for d in r.tick(62.0) if isinstance(d, Announce)] == ["c1", "c2"]


def test_statistics_flow() -> None:
    r = router(QueueConfig("support", service_level_s=20, short_abandon_s=5))
    ready_agent(r, "a", {}, 0.0)
    r.enqueue("c1", "support", 0.0)
    r.offer_answered("c1", "a", 10.0)
    r.enqueue("c2", "support", 11.0)
    r.enqueue("c3", "support", 12.0)
    r.caller_hung_up("c3", 14.0)  # short abandon
    r.caller_hung_up("c2", 51.0)
    r.enqueue("c4", "support", 60.0)
    snap = r.queue_snapshot("support", 70.0)
    assert (snap.offered, snap.answered, snap.abandoned, snap.abandoned_short) == (4, 1, 2, 1)
    assert (snap.waiting, snap.connected, snap.longest_wait_s) == (1, 1, 10.0)
    assert snap.asa_s == 10.0 and snap.abandon_rate == 0.5
    assert snap.service_level == 0.5  # 1 within 20 s out of (1 answered + 2 abandoned - 1 short)
    r.call_ended("c1", 130.0)
    assert r.queue_snapshot("support", 130.0).avg_talk_s == 120.0


def test_errors() -> None:
    r = router()
    with pytest.raises(UnknownQueue):
        r.enqueue("c1", "nope", 0.0)
    r.agent_login("a", {"support": 3}, 0.0, queues=["support"], ready=True)
    with pytest.raises(IllegalTransition):
        r.set_ready("a", 1.0)
    with pytest.raises(InvalidRequest, match=r"skills\.support"):
        r.set_skills("a", {"support": 6}, 1.0)
    r.enqueue("c1", "support", 1.0)
    with pytest.raises(InvalidRequest):
        r.enqueue("c1", "support", 1.0)
    with pytest.raises(IllegalTransition):
        r.set_ready("a", 2.0)  # ringing (a logout is allowed then: test_routing_logout.py)
    with pytest.raises(StaleOffer):
        r.offer_answered("c1", "b", 2.0)
    with pytest.raises(InvalidRequest):
        r.call_ended("c1", 2.0)


def test_logout_and_login_again() -> None:
    r = router()
    ready_agent(r, "a", {}, 0.0)
    out = r.agent_logout("a", 1.0)
    assert changes(out) == [("a", "available", "logged_out", None)]
    assert offers(r.enqueue("c1", "support", 2.0)) == []
    assert offers(ready_agent(r, "a", {}, 3.0)) == [("c1", "a")]


def test_clock_stepping_back_is_clamped() -> None:
    r = router()
    ready_agent(r, "a", {}, 10.0)
    ready_agent(r, "b", {}, 9.0)  # the adapter's clock stepped back: b still counts as idle after a
    assert offers(r.enqueue("c1", "support", 11.0)) == [("c1", "a")]


def test_a_refused_call_does_not_lose_the_decisions_of_timers_that_ran_before_it() -> None:
    r = router(BILLING)
    ready_agent(r, "a", {"billing": 2}, 0.0, queues=["billing"])
    r.enqueue("c1", "billing", 0.0)
    with pytest.raises(IllegalTransition):
        r.set_ready("a", 31.0)  # step 1 fired at 30 and offered c1 to a; then a refused ready
    assert offers(r.tick(31.0)) == [("c1", "a")]


def test_next_due_tells_the_adapter_when_to_tick() -> None:
    r = router(BILLING)
    assert r.next_due() is None
    r.agent_login("a", {"billing": 2}, 0.0, queues=["billing"])
    r.enqueue("c1", "billing", 10.0)
    assert r.next_due() == 40.0  # step 1 of billing
    r.set_ready("a", 11.0)
    assert offers(r.tick(40.0)) == [("c1", "a")]


def test_first_need_is_the_first_step_with_the_calls_own_skills() -> None:
    """What an outbound dialer asks before counting an agent free for a campaign's calls."""
    r = Router([BILLING])
    assert r.first_need("billing", None) == (("billing", 4),)
    assert r.first_need("billing", {"billing": 2, "zh": 3}) == (("billing", 4), ("zh", 3))
    with pytest.raises(UnknownQueue):
        r.first_need("nowhere", {})


def test_held_offers_leave_calls_waiting_and_freed_agents_idle() -> None:
    """``hold_offers`` (an engine stopping, or fenced): no path offers a call any more -- a new call
    with an idle agent, the customer's last agent free, an agent freed from a call -- while
    hang-ups, agent states and wrap-ups go on."""
    r = router(QueueConfig("support", wrap_up_s=0))
    ready_agent(r, "1001", {}, 0.0)
    ready_agent(r, "1002", {}, 0.0)
    assert offers(r.enqueue("c1", "support", 1.0)) == [("c1", "1001")]
    r.offer_answered("c1", "1001", 2.0)
    r.hold_offers()
    assert offers(r.enqueue("c2", "support", 3.0)) == []  # 1002 idle
    assert offers(r.enqueue("c3", "support", 3.0, preferred_agent="1002")) == []
    assert r.waiting("support") == ["c2", "c3"]
    out = r.call_ended("c1", 4.0)  # 1001 free again, calls waiting
    assert offers(out) == [] and changes(out)[-1] == ("1001", "wrap_up", "available", None)
    assert offers(r.set_not_ready("1002", "break", 5.0) + r.set_ready("1002", 6.0)) == []
    assert of(r.caller_hung_up("c2", 7.0), Abandoned) and r.waiting("support") == ["c3"]
    assert offers(r.tick(100.0)) == []


def test_a_not_ready_pressed_during_a_call_is_announced_and_its_withdrawal_too() -> None:
    """The console showed nothing when the agent pressed not ready during a call: the router kept
    the reason for after the call and said nothing until then."""
    r = router()
    ready_agent(r, "a", {}, 0.0)
    r.enqueue("c1", "support", 1.0)
    r.offer_answered("c1", "a", 2.0)
    assert r.set_not_ready("a", "break", 3.0) == [NotReadyPending(agent_id="a", reason="break")]
    assert NotReadyPending(agent_id="a", reason=None) in r.set_ready("a", 4.0)
    assert r.agent("a").state is AgentState.ON_CALL and r.agent("a").not_ready_after_call is None


def test_a_change_of_phone_reachability_is_a_decision_and_state_changes_say_it() -> None:
    """The supervisor's agent time counts an available agent whose phone is unreachable apart: the
    router says when reachability changes (once per change) and whether the phone was reachable
    at each state change."""
    from acd.decisions import PhoneReachability

    r = router()
    out = r.agent_login("a", {"support": 3}, 0.0, queues=["support"], registered=False)
    assert [d.phone_reachable for d in of(out, AgentStateChange)] == [False]
    out = r.set_ready("a", 1.0)
    assert [(d.new, d.phone_reachable) for d in of(out, AgentStateChange)] == [(AgentState.AVAILABLE, False)]
    assert of(out, PhoneReachability) == []
    out = r.set_device_registered("a", True, 2.0)
    assert of(out, PhoneReachability) == [PhoneReachability(agent_id="a", reachable=True,
                                                            state=AgentState.AVAILABLE, reason=None, at=2.0)]
    assert of(r.set_device_registered("a", True, 3.0), PhoneReachability) == []  # no change, no decision
    r.agent_logout("a", 4.0)
    assert of(r.set_device_registered("a", False, 5.0), PhoneReachability) == []  # logged out: nothing counts
