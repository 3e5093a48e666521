"""The router says when an agent leaves the wrap-up state of a call (``WrapUpEnded``): the call's
after-call work ends there (docs/kpis.md), however the state ends."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from acd.decisions import Decision, WrapUpEnded
from acd.model import QueueConfig
from acd.routing import Router

from .helpers import changes, ready_agent, router


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
