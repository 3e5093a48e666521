"""``Router.own_call_started``: the agent's own dial makes them not ready "outbound" from wherever
they are between calls, so that the call is handling time (docs/kpis.md); a break they dialled from,
or a reason chosen for after the call being wrapped up, is pending and their wrap-up ends in it."""

from __future__ import annotations

import pytest

from acd.decisions import NotReadyPending, WrapUpEnded
from acd.errors import IllegalTransition
from acd.model import AgentState

from .helpers import changes, of, ready_agent, router

OUT = "outbound"


def _pending(decisions: list) -> list[str | None]:  # type: ignore[type-arg]
    return [d.reason for d in of(decisions, NotReadyPending)]  # type: ignore[attr-defined]


def test_from_a_break_the_call_is_outbound_and_the_break_waits_for_its_wrap_up() -> None:
    r = router()
    r.agent_login("a", {}, 0.0, queues=["support"])
    r.set_not_ready("a", "break", 1.0)
    out = r.own_call_started("a", OUT, 2.0)
    assert changes(out) == [("a", "not_ready", "not_ready", OUT)] and _pending(out) == ["break"]
    assert r.agent("a").not_ready_after_call == "break"
    out = r.own_call_ended("a", "o.1", OUT, 60.0)
    assert changes(out) == [("a", "not_ready", "wrap_up", None)]
    assert (r.agent("a").state, r.agent("a").not_ready_after_call) == (AgentState.WRAP_UP, "break")
    out = r.set_not_ready("a", "break", 70.0)  # the console's wrap-up, with the pending reason
    assert changes(out) == [("a", "wrap_up", "not_ready", "break")]
    assert [(d.call_id, d.reason) for d in of(out, WrapUpEnded)] == [("o.1", "not_ready")]
    assert r.agent("a").not_ready_after_call is None


def test_ready_or_another_reason_during_the_call_takes_the_break_off() -> None:
    r = router()
    r.agent_login("a", {}, 0.0, queues=["support"])
    r.set_not_ready("a", "lunch", 1.0)
    r.own_call_started("a", OUT, 2.0)
    out = r.set_not_ready("a", OUT, 3.0)  # the console's Ready during an own call: ready after it
    assert _pending(out) == [None] and r.agent("a").not_ready_after_call is None
    r.own_call_ended("a", "o.1", OUT, 4.0)
    assert r.agent("a").not_ready_after_call is None  # its wrap-up ends in ready


def test_from_ready_nothing_is_pending_and_from_wrap_up_the_reason_chosen_is() -> None:
    r = router()
    ready_agent(r, "a", {}, 0.0)
    out = r.own_call_started("a", OUT, 1.0)
    assert changes(out) == [("a", "available", "not_ready", OUT)] and _pending(out) == []
    ready_agent(r, "b", {}, 0.0)
    r.enqueue("c1", "support", 1.0)
    r.offer_answered("c1", "b", 1.5)
    r.set_not_ready("b", "meeting", 2.0)  # pending for after the call
    r.call_ended("c1", 3.0)
    out = r.own_call_started("b", OUT, 4.0)
    assert changes(out) == [("b", "wrap_up", "not_ready", OUT)] and _pending(out) == ["meeting"]
    assert [(d.call_id, d.reason) for d in of(out, WrapUpEnded)] == [("c1", "not_ready")]
    assert r.tick(30.0) == [] and r.agent("b").reason == OUT  # the old wrap-up timer is void


def test_already_outbound_nothing_changes_and_a_call_ringing_or_talking_refuses() -> None:
    r = router()
    r.agent_login("a", {}, 0.0, queues=["support"])
    r.set_not_ready("a", OUT, 1.0)
    assert r.own_call_started("a", OUT, 2.0) == []
    ready_agent(r, "b", {}, 0.0)
    r.enqueue("c1", "support", 1.0)
    with pytest.raises(IllegalTransition):
        r.own_call_started("b", OUT, 2.0)  # ringing
    r.offer_answered("c1", "b", 3.0)
    with pytest.raises(IllegalTransition):
        r.own_call_started("b", OUT, 4.0)  # talking
