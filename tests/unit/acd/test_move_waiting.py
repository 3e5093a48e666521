"""A supervisor moves a waiting caller to another queue (``Router.move_waiting``): like an overflow,
the caller keeps its wait and place (its first entry), leaves the topic skill of the queue it left
behind (acd.model.moved_skills), and the new queue's timers count from the move. A call ringing an
agent, a virtual-hold entry, a connected or unknown call, an unknown queue or its own queue are
refused, and nothing changes."""

from __future__ import annotations

import pytest

from acd.decisions import Overflow
from acd.errors import CallNotMovable, CallNotWaiting, InvalidRequest, UnknownCall, UnknownQueue
from acd.model import CallState, QueueConfig
from acd.routing import Router

from .helpers import of, offers, ready_agent, steps


def _router() -> Router:
    return Router([QueueConfig("support", steps=steps((0, {"support": 3}))),
                   QueueConfig("general", steps=steps((0, {}), (300, {}, 0)), max_wait_s=100)])


def test_a_moved_caller_keeps_its_wait_and_is_offered_in_the_new_queue() -> None:
    r = _router()
    ready_agent(r, "s", {"support": 1}, 0.0, queues=["support"])  # too weak for support's calls
    r.enqueue("c1", "support", 10.0, skills={"support": 2, "zh": 1})
    assert [(w.queue, w.call_id) for w in r.waiting_calls(40.0)] == [("support", "c1")]
    out = r.move_waiting("c1", "general", 40.0)
    assert of(out, Overflow) == [Overflow(call_id="c1", from_queue="support", to_queue="general", wait_s=30.0,
                                          reason="moved", carried_s=30.0)]
    assert offers(out) == []  # general has nobody yet: the caller waits there
    call = r.call("c1")
    assert (call.queue, call.state, call.enqueued_at, call.entered_queue_at) == ("general", CallState.WAITING, 10.0,
                                                                                 40.0)
    assert call.need == (("zh", 1),)  # support's topic skill stayed behind; the caller's language did not
    assert [(w.queue, w.call_id, w.waited_s) for w in r.waiting_calls(50.0)] == [("general", "c1", 40.0)]
    left = r.queue_snapshot("support", 50.0)
    assert (left.overflowed, left.moved) == (0, 1)  # a supervisor's move, not the overflow rule
    assert r.queue_snapshot("general", 50.0).offered == 1
    out = ready_agent(r, "g", {"zh": 1}, 60.0, queues=["general"])
    assert offers(out) == [("c1", "g")]


def test_a_moved_caller_counts_once_in_the_queue_that_last_had_it_with_the_sum_of_its_waits() -> None:
    """docs/kpis.md, moved between queues: the queue it left does not count it in its service level or
    abandon rate (it is no overflow of that queue); the queue it went to counts its answer with the
    waits of both stays, as the reports do (one interaction, its last queue, the sum of its waits)."""
    r = _router()
    r.enqueue("c1", "support", 10.0)
    r.move_waiting("c1", "general", 25.0)  # 15 s in support
    ready_agent(r, "g", {}, 30.0, queues=["general"])
    r.offer_answered("c1", "g", 35.0)  # 10 s in general: 25 s in all, over general's T of 20 s
    left, went = r.queue_snapshot("support", 40.0), r.queue_snapshot("general", 40.0)
    assert (left.overflowed, left.moved, left.answered, left.abandoned) == (0, 1, 0, 0)
    assert (left.service_level, left.abandon_rate) == (None, None)  # no call of support's was closed
    assert (went.answered, went.answered_within_sl, went.service_level, went.asa_s) == (1, 0, 0.0, 25.0)


def test_a_caller_moved_who_hangs_up_is_judged_short_or_not_on_the_sum_of_its_waits() -> None:
    r = _router()
    r.enqueue("c1", "support", 0.0)
    r.move_waiting("c1", "general", 4.0)
    r.caller_hung_up("c1", 6.0)  # 2 s in general, 6 s in all: over the 5 s of a short abandon
    went = r.queue_snapshot("general", 7.0)
    assert (went.abandoned, went.abandoned_short, went.abandon_rate) == (1, 0, 1.0)


def test_an_overflow_after_a_move_closes_the_call_in_the_queue_it_overflowed_from() -> None:
    """The overflow rule still counts in the queue it fired in (per stay, docs/observability.md): the
    waits a move carried end there, the next queue counts its own stay."""
    r = Router([QueueConfig("support"), QueueConfig("general", overflow_to="sales", overflow_after_s=30.0),
                QueueConfig("sales")])
    r.enqueue("c1", "support", 0.0)
    r.move_waiting("c1", "general", 10.0)
    r.tick(40.0)  # 30 s in general: overflows to sales
    assert r.call("c1").queue == "sales"
    ready_agent(r, "s", {}, 41.0, queues=["sales"])
    r.offer_answered("c1", "s", 45.0)
    general, sales = r.queue_snapshot("general", 46.0), r.queue_snapshot("sales", 46.0)
    assert (general.overflowed, general.service_level) == (1, 0.0)
    assert (sales.answered, sales.asa_s) == (1, 5.0)


def test_the_new_queues_timers_count_from_the_move() -> None:
    r = _router()
    r.enqueue("c1", "support", 10.0)
    r.move_waiting("c1", "general", 90.0)
    assert r.tick(189.0) == [] and r.call("c1").queue == "general"  # general's max wait: 100 s from 90
    assert r.tick(190.0) != []


def test_an_ahead_caller_moved_goes_ahead_of_the_new_queues_later_callers() -> None:
    r = _router()
    r.enqueue("c1", "support", 10.0)
    r.enqueue("g1", "general", 20.0)
    r.move_waiting("c1", "general", 30.0)
    assert [w.call_id for w in r.waiting_calls(31.0) if w.queue == "general"] == ["c1", "g1"]


def test_a_call_waiting_for_a_named_agent_is_moved_to_the_queues_agents() -> None:
    r = _router()
    ready_agent(r, "s", {"support": 3}, 0.0, queues=["support"])
    r.set_not_ready("s", "break", 1.0)
    r.enqueue("t1", "support", 5.0, required_agent="s")  # a transfer to s, who is away
    assert r.call("t1").pinned
    ready_agent(r, "g", {}, 6.0, queues=["general"])
    out = r.move_waiting("t1", "general", 10.0)
    assert offers(out) == [("t1", "g")] and not r.call("t1").pinned


def _ringing(r: Router) -> None:
    ready_agent(r, "s", {"support": 3}, 0.0, queues=["support"])
    r.enqueue("c1", "support", 1.0)


def _connected(r: Router) -> None:
    _ringing(r)
    r.offer_answered("c1", "s", 2.0)


def _virtual(r: Router) -> None:
    r.enqueue("c1", "support", 1.0)
    r.hold_virtually("c1", 2.0)


def _waiting(r: Router) -> None:
    r.enqueue("c1", "support", 1.0)


def _nothing(r: Router) -> None:
    pass


# (how the call stands, the queue asked for) -> the error, and the field of an InvalidRequest
@pytest.mark.parametrize(("setup", "queue", "error"), [
    (_ringing, "general", CallNotMovable),  # 409: ringing an agent
    (_virtual, "general", CallNotMovable),  # 409: a virtual-hold entry, nobody on the line
    (_connected, "general", CallNotWaiting),  # 404: no longer waiting
    (_nothing, "general", UnknownCall),  # 404
    (_waiting, "nowhere", UnknownQueue),
    (_waiting, "support", InvalidRequest),  # 422 queue: it waits there already
])
def test_refused_moves_change_nothing(setup: object, queue: str, error: type[Exception]) -> None:
    r = _router()
    setup(r)  # type: ignore[operator]
    before = r.call("c1") if "c1" in {c.call_id for c in r.calls()} else None
    with pytest.raises(error) as info:
        r.move_waiting("c1", queue, 3.0)
    if isinstance(info.value, InvalidRequest):
        assert info.value.field == "queue"
    assert (r.call("c1") if before is not None else None) == before


def test_the_statuses_the_web_layer_answers() -> None:
    assert (CallNotMovable.http_status, CallNotWaiting.http_status) == (409, 404)
