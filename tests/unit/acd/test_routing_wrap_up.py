"""The router says when an agent leaves the wrap-up state of a call (``WrapUpEnded``): the call's
after-call work ends there (docs/kpis.md), however the state ends."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from acd.decisions import Decision, WrapUpEnded
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


def _ringing_after_its_call(pending: str | None = None) -> Router:
    """Capacity 2: c2 rings agent a from the answer of c1 (at 2); c1 ends at 10 while it rings (no
    wrap-up state of its own, the agent is busy with c2's offer), ``pending`` chosen during c1."""
    r = router(QueueConfig("support", wrap_up_s=30.0, ring_timeout_s=20.0))
    ready_agent(r, "a", {}, 0.0, capacity=2)
    r.enqueue("c1", "support", 1.0)
    r.enqueue("c2", "support", 1.5)
    assert offers(r.offer_answered("c1", "a", 2.0)) == [("c2", "a")]
    if pending is not None:
        r.set_not_ready("a", pending, 5.0)
    assert _ends(r.call_ended("c1", 10.0)) == [("a", "c1", "other_call", 10.0)]
    return r


@pytest.mark.parametrize(("end_offer", "pending", "state", "reason"), [
    (lambda r: r.caller_hung_up("c2", 12.0), None, "available", None),
    (lambda r: r.caller_hung_up("c2", 12.0), "break", "not_ready", "break"),
    (lambda r: r.withdraw("c2", 12.0), None, "available", None),
    (lambda r: r.offer_no_answer("c2", "a", 12.0), None, "not_ready", "missed"),
])
def test_an_offer_ending_unanswered_as_the_agents_last_work_leaves_no_wrap_up(
        end_offer: object, pending: str | None, state: str, reason: str | None) -> None:
    """Wrap-up follows a conversation. When the agent's last work was an offer that never connected
    (its caller hung up, it was withdrawn, it rang out), they go where an agent who only had
    that offer goes: available (not ready with a reason chosen meanwhile; not ready "missed" for a
    ring-out), not into a wrap-up of no call, which occupancy counted as handling and no interaction's
    after-call work did."""
    r = _ringing_after_its_call(pending)
    out = end_offer(r)  # type: ignore[operator]
    assert [(new, why) for _, _, new, why in changes(out)] == [(state, reason)]
    assert _ends(out) == []
    view = r.agent("a")
    assert (view.state.value, view.reason, view.calls, view.offers) == (state, reason, (), ())
    assert _ends(r.tick(100.0)) == [] and r.agent("a").state.value == state  # no wrap-up timer left behind
    # The agent's work (c1 from its answer at 2) ended with the offer: the queue's handle time says so,
    # and the next call's starts afresh.
    assert r.queue_snapshot("support", 100.0).avg_handle_s == 10.0


def test_an_offer_failing_as_the_agents_last_work_leaves_them_available_not_on_call() -> None:
    """The PBX could not carry out the offer: the agent (not to blame) is available and offered the
    call again, as an agent who only had that offer is; they stayed on call with no call at all."""
    r = _ringing_after_its_call()
    out = r.offer_failed("c2", "a", 12.0)
    assert [(new, why) for _, _, new, why in changes(out)] == [("available", None), ("reserved", None)]
    assert offers(out) == [("c2", "a")] and _ends(out) == []
    assert (r.agent("a").calls, r.agent("a").offers) == ((), ("c2",))


@pytest.mark.parametrize(("pending", "after", "reason"), [(None, "available", None), ("break", "not_ready", "break")])
def test_an_engine_that_stops_ends_every_wrap_up_there(pending: str | None, after: str, reason: str | None) -> None:
    """A clean stop ends the wrap-ups it holds (the call's after-call work ends with reason
    "stopped"), as their timer would (available, or not ready with the reason pending): the call log
    and the agent state history both end the wrap-up at the stop; no engine would say so later."""
    r = _wrapping(wrap_up_s=600.0)
    if pending is not None:
        r.not_ready_after_call("a", 12.0, reason=pending)
    r.enqueue("c2", "support", 13.0)  # waits: a is wrapping up
    r.hold_offers()  # the engine stops: no more offers
    out = r.end_wrap_ups(15.0)
    assert _ends(out) == [("a", "c1", "stopped", 15.0)]
    assert [(new, why) for _, _, new, why in changes(out)] == [(after, reason)]
    assert offers(out) == []  # the stopping engine offers the waiting call to no one
    assert _ends(r.tick(700.0)) == [] and _ends(r.end_wrap_ups(701.0)) == []  # once
