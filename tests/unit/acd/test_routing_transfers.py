"""Router rules behind agents' transfers: a call sent to a named agent waits for that agent only,
the customer's last agent is preferred even without a waiting window, and an offer the PBX could
not carry out is withdrawn without blaming the agent."""

from __future__ import annotations

import pytest

from acd.decisions import CancelOffer, Requeue
from acd.errors import InvalidRequest
from acd.model import AgentState, CallState, QueueConfig

from .helpers import of, offers, ready_agent, router


def test_a_call_for_a_named_agent_waits_for_them_not_for_anyone() -> None:
    r = router(QueueConfig("support", preferred_agent_s=0, wrap_up_s=0))
    ready_agent(r, "busy", {}, 0.0)
    r.enqueue("x", "support", 1.0)
    r.offer_answered("x", "busy", 2.0)
    ready_agent(r, "idle", {}, 3.0)
    assert offers(r.enqueue("c1", "support", 4.0, required_agent="busy")) == []
    assert r.call("c1").state is CallState.WAITING and r.call("c1").pinned
    assert offers(r.tick(4000.0)) == []  # no window runs out: still waiting for "busy"
    assert offers(r.call_ended("x", 4001.0)) == [("c1", "busy")]
    assert r.agent("busy").state is AgentState.RESERVED
    assert r.agent("idle").state is AgentState.AVAILABLE


def test_a_named_agent_gets_the_call_whatever_the_queue_needs() -> None:
    r = router(QueueConfig("support"), QueueConfig("sales"))
    ready_agent(r, "a", {}, 0.0, queues=("sales",))
    assert offers(r.enqueue("c1", "support", 1.0, skills={"billing": 5}, required_agent="a")) == [("c1", "a")]


def test_a_call_for_a_logged_out_agent_is_refused() -> None:
    r = router()
    ready_agent(r, "a", {}, 0.0)
    r.agent_logout("a", 1.0)
    with pytest.raises(InvalidRequest, match="not logged in"):
        r.enqueue("c1", "support", 2.0, required_agent="a")
    with pytest.raises(InvalidRequest, match="not logged in"):
        r.enqueue("c2", "support", 2.0, required_agent="nobody")


def test_when_the_named_agent_logs_out_the_call_goes_to_the_queue() -> None:
    r = router()
    r.agent_login("a", {}, 0.0, queues=["support"])  # not ready
    ready_agent(r, "b", {}, 0.0)
    r.enqueue("x", "support", 0.5)  # b is busy with x
    r.offer_answered("x", "b", 0.6)
    r.enqueue("c1", "support", 1.0, required_agent="a")
    r.call_ended("x", 2.0)  # b wraps up (10 s); c1 still waits for a
    out = r.agent_logout("a", 3.0)
    assert [(d.call_id, d.reason) for d in of(out, Requeue)] == [("c1", "target_logged_out")]
    assert not r.call("c1").pinned
    assert offers(r.tick(13.0)) == [("c1", "b")]


def test_the_customers_last_agent_is_preferred_without_a_window_when_free() -> None:
    r = router(QueueConfig("support", preferred_agent_s=0))
    ready_agent(r, "longest_idle", {}, 0.0)
    ready_agent(r, "last", {}, 1.0)
    assert offers(r.enqueue("c1", "support", 5.0, preferred_agent="last")) == [("c1", "last")]
    # busy: no window, so the call goes to anyone at once
    assert offers(r.enqueue("c2", "support", 6.0, preferred_agent="last")) == [("c2", "longest_idle")]


def test_an_offer_the_pbx_failed_is_withdrawn_without_blaming_the_agent() -> None:
    r = router(QueueConfig("support", ring_timeout_s=10))
    ready_agent(r, "a", {}, 0.0)
    r.enqueue("c0", "support", 0.5)  # c0 rings a
    r.enqueue("c1", "support", 1.0)  # waits behind c0
    out = r.offer_failed("c0", "a", 2.0)
    assert [d.reason for d in of(out, CancelOffer)] == ["error"]
    assert r.agent("a").reason != "missed"
    assert offers(out) == [("c0", "a")]  # c0 is at the head again, before c1
    r.tick(16.0)  # the ring backstop of the failed offer (due 15.5) never fires against the agent
    assert r.agent("a").state is AgentState.RESERVED and r.call("c0").agent_id == "a"


def test_withdrawing_a_ringing_call_frees_the_agent_without_an_abandon() -> None:
    r = router()
    ready_agent(r, "a", {}, 0.0)
    r.enqueue("c1", "support", 1.0, required_agent="a")
    out = r.withdraw("c1", 2.0)
    assert [d.reason for d in of(out, CancelOffer)] == ["withdrawn"]
    assert r.agent("a").state is AgentState.AVAILABLE
    assert r.queue_snapshot("support", 2.0).abandoned == 0


def test_a_consultation_between_agents_is_routed_but_not_counted() -> None:
    r = router(QueueConfig("support", wrap_up_s=0))
    ready_agent(r, "a", {}, 0.0)
    assert offers(r.enqueue("c1#consult", "support", 1.0, required_agent="a", counted=False)) == [("c1#consult", "a")]
    assert r.agent("a").state is AgentState.RESERVED
    r.offer_answered("c1#consult", "a", 2.0)
    r.call_ended("c1#consult", 30.0)
    snap = r.queue_snapshot("support", 30.0)
    assert (snap.offered, snap.answered, snap.avg_talk_s, snap.avg_handle_s) == (0, 0, None, None)


def test_a_consultation_that_becomes_the_call_is_counted_from_then_on() -> None:
    r = router(QueueConfig("support", wrap_up_s=0))
    ready_agent(r, "a", {}, 0.0)
    r.enqueue("c1#consult", "support", 1.0, required_agent="a", counted=False)
    r.offer_answered("c1#consult", "a", 2.0)
    r.take_over("c1#consult", 10.0)
    r.call_ended("c1#consult", 30.0)
    snap = r.queue_snapshot("support", 30.0)
    assert snap.avg_talk_s == 28.0 and snap.avg_handle_s == 28.0 and snap.offered == 0
