"""An agent may always log out between calls, also while a call rings them: the offer is withdrawn
without blaming them (no "missed"), its call waits again at its place and goes to the next agent;
a consultation ringing them (pinned to them) is not given to anyone else: it is handed back
(``Requeue`` reason target_logged_out) for the ACD to end (``detail.consult_ended`` unavailable)."""

from __future__ import annotations

import pytest

from acd.decisions import CancelOffer, Offer, Requeue
from acd.errors import AcdError, IllegalTransition
from acd.model import AgentState, CallState, QueueConfig

from .helpers import changes, of, offers, ready_agent, router


def test_an_agent_being_rung_logs_out_and_the_call_goes_to_the_next_agent() -> None:
    r = router(QueueConfig("support", ring_timeout_s=15))
    ready_agent(r, "a", {}, 0.0)
    assert offers(r.enqueue("c1", "support", 1.0)) == [("c1", "a")]
    ready_agent(r, "b", {}, 2.0)  # free after the offer: idle, nothing to do yet
    out = r.agent_logout("a", 3.0)
    assert [(d.call_id, d.agent_id, d.reason) for d in of(out, CancelOffer)] == [("c1", "a", "logout")]
    assert changes(out) == [("a", "reserved", "logged_out", None), ("b", "available", "reserved", None)]
    assert [(d.call_id, d.reason) for d in of(out, Requeue)] == [("c1", "agent_logged_out")]
    assert offers(out) == [("c1", "b")]
    assert r.agent("a").state is AgentState.LOGGED_OUT


def test_with_nobody_else_the_call_waits_again_at_its_place() -> None:
    r = router()
    ready_agent(r, "a", {}, 0.0)
    r.enqueue("c1", "support", 1.0)
    r.enqueue("c2", "support", 2.0)
    out = r.agent_logout("a", 3.0)
    assert offers(out) == [] and r.call("c1").state is CallState.WAITING
    assert [w.call_id for w in r.waiting_calls(4.0)] == ["c1", "c2"]  # c1 still first
    assert offers(ready_agent(r, "b", {}, 5.0)) == [("c1", "b")]
    assert offers(ready_agent(r, "a", {}, 6.0)) == [("c2", "a")]  # a is back: the next caller is theirs


def test_a_consultation_ringing_the_agent_is_handed_back_not_given_to_another_agent() -> None:
    r = router()
    ready_agent(r, "a", {}, 0.0)
    ready_agent(r, "b", {}, 0.5)  # idle longer than nobody: would take a queue call
    out = r.enqueue("c.1#consult", "support", 1.0, required_agent="a", counted=False)
    assert offers(out) == [("c.1#consult", "a")]
    out = r.agent_logout("a", 2.0)
    assert [(d.call_id, d.reason) for d in of(out, CancelOffer)] == [("c.1#consult", "logout")]
    assert [(d.call_id, d.reason) for d in of(out, Requeue)] == [("c.1#consult", "target_logged_out")]
    assert offers(out) == [] and r.agent("b").state is AgentState.AVAILABLE
    r.withdraw("c.1#consult", 2.1)  # what the ACD does with it: the caller goes back to its agent


def test_a_consultation_waiting_for_the_agent_is_not_given_to_another_agent_either() -> None:
    r = router()
    r.agent_login("a", {}, 0.0, queues=["support"])  # not ready: the consultation waits for them
    ready_agent(r, "b", {}, 0.5)
    assert offers(r.enqueue("c.1#consult", "support", 1.0, required_agent="a", counted=False)) == []
    out = r.agent_logout("a", 2.0)
    assert [(d.call_id, d.reason) for d in of(out, Requeue)] == [("c.1#consult", "target_logged_out")]
    assert offers(out) == [] and r.agent("b").state is AgentState.AVAILABLE


def test_an_agent_on_a_call_still_cannot_log_out() -> None:
    r = router()
    ready_agent(r, "a", {}, 0.0)
    r.enqueue("c1", "support", 1.0)
    r.offer_answered("c1", "a", 2.0)
    with pytest.raises(IllegalTransition):
        r.agent_logout("a", 3.0)


def test_a_logout_while_a_virtual_hold_callback_calls_the_customer_for_the_agent_is_refused() -> None:
    """The customer's phone is being called for this agent: withdrawing the reservation would let
    another agent's turn call them a second time. Refused, saying why; allowed once it rings them."""
    r = router()
    r.enqueue("c1", "support", 0.0)
    r.hold_virtually("c1", 1.0)
    out = ready_agent(r, "a", {}, 2.0)
    assert [(d.call_id, d.callback) for d in of(out, Offer)] == [("c1", True)]
    with pytest.raises(AcdError, match="virtual-hold callback"):
        r.agent_logout("a", 3.0)
    assert r.agent("a").state is AgentState.RESERVED
    r.callback_answered("c1", "a", 4.0, new_id="cb.1")  # the customer answered: it rings the agent now
    out = r.agent_logout("a", 5.0)
    assert [(d.call_id, d.reason) for d in of(out, Requeue)] == [("cb.1", "agent_logged_out")]
