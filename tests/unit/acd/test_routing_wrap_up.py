"""The router says when an agent leaves the wrap-up state of a call (``WrapUpEnded``): the call's
after-call work ends there (docs/kpis.md), however the state ends."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from acd.decisions import CancelOffer, Decision, Requeue, WrapUpEnded
from acd.model import QueueConfig
from acd.routing import Router

from .helpers import changes, offers, ready_agent, router


def _ends(decisions: Sequence[Decision]) -> list[tuple[str, str, str, float]]:
    return [(d.agent_id, d.call_id, d.reason, d.at) for d in decisions if isinstance(d, WrapUpEnded)]


def _wrapping(wrap_up_s: float = 20.0) -> Router:
    """Agent a talked on c1 from 2 to 10: wrap-up from 10 (for ``wrap_up_s``)."""
    r = router(QueueConfig("support", wrap_up_s=wrap_up_s))
    ready_agent(r, "a", {}, 0.0)
    r.enqueue("c1", "support", 1.0)
    r.offer_answered("c1", "a", 2.0)
    out = r.call_ended("c1", 10.0)
    assert changes(out) == [("a", "on_call", "wrap_up", None)] or wrap_up_s <= 0
    assert _ends(out) == ([] if wrap_up_s > 0 else [("a", "c1", "timer", 10.0)])
    return r


def test_the_wrap_up_timer_ends_the_calls_wrap_up() -> None:
    r = _wrapping()
    assert _ends(r.tick(29.9)) == []
    assert _ends(r.tick(30.0)) == [("a", "c1", "timer", 30.0)]
    assert _ends(r.tick(60.0)) == []  # once


def test_the_timer_with_a_not_ready_pending_ends_it_by_the_timer() -> None:
    r = _wrapping()
    r.not_ready_after_call("a", 11.0, reason="break")
    out = r.tick(30.0)
    assert changes(out) == [("a", "wrap_up", "not_ready", "break")]
    assert _ends(out) == [("a", "c1", "timer", 30.0)]


@pytest.mark.parametrize(("step", "reason"), [
    (lambda r: r.set_ready("a", 14.0), "ready"),  # the agent (or the wrap-up form) made them ready
    (lambda r: r.set_not_ready("a", "lunch", 14.0), "not_ready"),
])
def test_leaving_wrap_up_early_ends_the_calls_wrap_up(step: object, reason: str) -> None:
    r = _wrapping()
    out = step(r)  # type: ignore[operator]
    assert _ends(out) == [("a", "c1", reason, 14.0)]
    assert _ends(r.tick(30.0)) == []  # the cancelled timer ends nothing more


def test_a_zero_wrap_up_time_ends_it_at_once() -> None:
    _wrapping(wrap_up_s=0.0)


def test_leaving_a_state_that_is_not_wrap_up_ends_no_wrap_up() -> None:
    r = router()
    ready_agent(r, "a", {}, 0.0)
    assert _ends(r.set_not_ready("a", "lunch", 1.0)) == []
    assert _ends(r.set_ready("a", 2.0)) == []
    r.enqueue("c1", "support", 3.0)
    assert _ends(r.caller_hung_up("c1", 4.0)) == []  # an offer withdrawn: no call, no wrap-up


def test_a_call_ending_while_the_agent_is_on_another_has_no_wrap_up_state() -> None:
    r = router()
    ready_agent(r, "a", {}, 0.0, capacity=2)
    r.enqueue("c1", "support", 1.0)
    r.offer_answered("c1", "a", 2.0)
    r.enqueue("c2", "support", 3.0)
    r.offer_answered("c2", "a", 4.0)
    assert _ends(r.call_ended("c1", 10.0)) == [("a", "c1", "other_call", 10.0)]
    r.call_ended("c2", 20.0)
    assert _ends(r.set_ready("a", 25.0)) == [("a", "c2", "ready", 25.0)]


def test_a_connected_consultation_withdrawn_wraps_up_under_its_own_id() -> None:
    r = router()
    ready_agent(r, "b", {}, 0.0)
    r.enqueue("L#consult", "support", 1.0, required_agent="b", counted=False)
    r.offer_answered("L#consult", "b", 2.0)
    r.withdraw("L#consult", 5.0)
    assert _ends(r.set_ready("b", 7.0)) == [("b", "L#consult", "ready", 7.0)]


def _ringing_after_its_call(pending: str | None = None) -> tuple[Router, list[Decision]]:
    """Capacity 2: c2 rings agent a from the answer of c1 (at 2); c1 ends at 10 while it only rings,
    ``pending`` chosen during c1. Returns the router and the decisions at c1's end."""
    r = router(QueueConfig("support", wrap_up_s=30.0, ring_timeout_s=20.0))
    ready_agent(r, "a", {}, 0.0, capacity=2)
    r.enqueue("c1", "support", 1.0)
    r.enqueue("c2", "support", 1.5)
    assert offers(r.offer_answered("c1", "a", 2.0)) == [("c2", "a")]
    if pending is not None:
        r.set_not_ready("a", pending, 5.0)
    return r, r.call_ended("c1", 10.0)


@pytest.mark.parametrize(("pending", "state", "reason"), [(None, "available", None), ("break", "not_ready", "break")])
def test_a_call_ending_while_the_next_offer_only_rings_has_its_own_wrap_up(
        pending: str | None, state: str, reason: str | None) -> None:
    """The agent is on no other call: c1 gets its wrap-up (its after-call work runs to the timer),
    not an end "other_call" of 0 s. An agent in wrap-up is offered nothing (the router's rule for
    offers), so c2's ringing offer is withdrawn without blaming the agent and c2 waits again at its
    place; the agent, once out of wrap-up, may take it."""
    r, out = _ringing_after_its_call(pending)
    assert changes(out) == [("a", "on_call", "wrap_up", None)]
    assert _ends(out) == []
    assert [(d.call_id, d.agent_id, d.reason) for d in out if isinstance(d, CancelOffer)] == [("c2", "a", "wrap_up")]
    assert [(d.call_id, d.reason) for d in out if isinstance(d, Requeue)] == [("c2", "agent_wrap_up")]
    assert offers(out) == []
    view = r.agent("a")
    assert (view.state.value, view.calls, view.offers) == ("wrap_up", (), ())
    assert r.call("c2").state.value == "waiting"
    end = r.tick(40.0)
    assert _ends(end) == [("a", "c1", "timer", 40.0)]
    assert next((new, why) for _, _, new, why in changes(end)) == (state, reason)
    assert offers(end) == ([("c2", "a")] if pending is None else [])


def test_the_withdrawn_offer_goes_to_another_free_agent_at_once() -> None:
    r = router(QueueConfig("support", wrap_up_s=30.0, ring_timeout_s=20.0))
    ready_agent(r, "a", {}, 0.0, capacity=2)
    r.enqueue("c1", "support", 1.0)
    r.enqueue("c2", "support", 1.5)
    assert offers(r.offer_answered("c1", "a", 2.0)) == [("c2", "a")]
    ready_agent(r, "b", {}, 5.0)
    out = r.call_ended("c1", 10.0)
    assert offers(out) == [("c2", "b")]
    assert r.agent("a").state.value == "wrap_up"


def test_a_call_ending_while_the_agent_is_on_another_keeps_the_ringing_offer() -> None:
    """Capacity 3: on c2 (connected) with c3 ringing when c1 ends: c1 has no wrap-up state of its own
    (the agent is on another call) and c3 rings on."""
    r = router(QueueConfig("support", wrap_up_s=30.0, ring_timeout_s=20.0))
    ready_agent(r, "a", {}, 0.0, capacity=3)
    r.enqueue("c1", "support", 1.0)
    r.offer_answered("c1", "a", 2.0)
    r.enqueue("c2", "support", 3.0)
    r.offer_answered("c2", "a", 4.0)
    r.enqueue("c3", "support", 5.0)
    assert r.agent("a").offers == ("c3",)
    out = r.call_ended("c1", 10.0)
    assert _ends(out) == [("a", "c1", "other_call", 10.0)]
    assert not [d for d in out if isinstance(d, CancelOffer)]
    assert (r.agent("a").state.value, r.agent("a").offers) == ("on_call", ("c3",))


@pytest.mark.parametrize(("pending", "state", "reason"), [(None, "available", None), ("break", "not_ready", "break")])
def test_a_connected_consultation_withdrawn_without_wrap_up_goes_straight_on(
        pending: str | None, state: str, reason: str | None) -> None:
    """A consulted agent hung up on during the consultation (their console, their phone, or Back to
    caller) has nothing to wrap up: no wrap_up state at all (it used to be published, then left at
    once, a near-zero wrap-up in their state history), straight to available, or to the not ready
    they chose meanwhile; available, they are offered the next call at once."""
    r = router()
    ready_agent(r, "b", {}, 0.0)
    r.enqueue("L#consult", "support", 1.0, required_agent="b", counted=False)
    r.offer_answered("L#consult", "b", 2.0)
    if pending is not None:
        r.set_not_ready("b", pending, 3.0)
    r.enqueue("c2", "support", 4.0)
    out = r.withdraw("L#consult", 5.0, wrap_up=False)
    offered = [("b", "available", "reserved", None)] if pending is None else []
    assert changes(out) == [("b", "on_call", state, reason), *offered]
    assert _ends(out) == []
    assert offers(out) == ([("c2", "b")] if pending is None else [])
