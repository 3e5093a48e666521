"""The fold's duration figures, as docs/KPIS.md defines them: wait (queue time, entering the queue to
the answer or the abandon), talk (without hold), hold, after-call work (the agent's end of the call
to the wrap-up submission here; to the end of the agent's wrap-up state when that came first:
test_fold_acw.py), ring, IVR -- each with the events in the order their publishers send."""

from __future__ import annotations

from crm_core.fold import fold
from cti.events import Event
from cti.journey import (
    AgentRinging,
    AgentRingNoAnswer,
    CallArrived,
    CallConnected,
    CallEnded,
    HoldEnded,
    HoldStarted,
    IvrFinished,
    QueueEntered,
    QueueLeft,
    WrapUpDone,
)

L = "d.1"
ARRIVED = CallArrived(ts=0.0, linkedid=L, channel="PJSIP/trunk-1", caller_number="13800138000")


def test_acw_runs_from_the_agents_end_of_the_call_not_from_the_answer() -> None:
    # The console's wrapup_s counted from the answer (51 s here), as events stored before it was the
    # after-call work still say: the fold does not read it.
    # The agent's after-call work is the 5.3 s from the hang-up to the wrap-up submission.
    events = [ARRIVED, QueueEntered(ts=1.0, linkedid=L, queue="q"),
              CallConnected(ts=15.0, linkedid=L, agent_id="a1", queue="q"), CallEnded(ts=60.7, linkedid=L),
              WrapUpDone(ts=66.0, linkedid=L, agent_id="a1", disposition="resolved", wrapup_s=51.0)]
    folded = fold(L, events)
    f = folded.fields
    assert (f["acw_s"], f["talk_s"], f["wait_s"]) == (5.3, 45.7, 14.0)
    (wrapup,) = [s for s in folded.segments if s.kind == "wrapup"]
    assert (wrapup.started, wrapup.ended) == (60.7, 66.0)


def test_acw_of_a_wrap_up_without_a_known_end_of_call_is_not_taken_from_wrapup_s() -> None:
    # The call's end is not (yet) known: nothing to measure from, so no after-call work either.
    events = [ARRIVED, CallConnected(ts=15.0, linkedid=L, agent_id="a1"),
              WrapUpDone(ts=66.0, linkedid=L, agent_id="a1", disposition="resolved", wrapup_s=51.0)]
    assert fold(L, events).fields["acw_s"] == 0.0


def test_wait_of_a_call_abandoned_in_queue_counts_once() -> None:
    # The ACD learns of the abandon from the call model's CallEnded, so its QueueLeft comes after.
    events = [ARRIVED, QueueEntered(ts=2.0, linkedid=L, queue="sales"),
              CallEnded(ts=30.0, linkedid=L),
              QueueLeft(ts=30.004, linkedid=L, queue="sales", reason="abandoned", waited_s=28.0)]
    folded = fold(L, events)
    f = folded.fields
    assert (f["outcome"], f["wait_s"], f["status"]) == ("abandoned_queue", 28.0, "complete")
    (queue,) = [s for s in folded.segments if s.kind == "queue"]
    assert (queue.duration, queue.detail.get("reason")) == (28.0, "abandoned")


def test_wait_of_an_abandon_reported_only_by_queue_left() -> None:
    # No QueueEntered seen (e.g. a journal that lost it): the QueueLeft's own figure is the wait.
    events = [ARRIVED, QueueLeft(ts=30.0, linkedid=L, queue="sales", reason="abandoned", waited_s=28.0),
              CallEnded(ts=30.0, linkedid=L)]
    assert fold(L, events).fields["wait_s"] == 28.0


def test_wait_after_an_overflow_counts_both_queues() -> None:
    # The ACD publishes QueueLeft(overflow) then QueueEntered(target) with the same timestamp.
    events = [ARRIVED, QueueEntered(ts=0.0, linkedid=L, queue="sales"),
              QueueLeft(ts=20.0, linkedid=L, queue="sales", reason="overflow", waited_s=20.0, target="billing"),
              QueueEntered(ts=20.0, linkedid=L, queue="billing"),
              AgentRinging(ts=45.0, linkedid=L, agent_id="a1", queue="billing"),
              CallConnected(ts=50.0, linkedid=L, agent_id="a1", queue="billing"), CallEnded(ts=80.0, linkedid=L)]
    folded = fold(L, events)
    assert (folded.fields["wait_s"], folded.fields["ring_s"], folded.fields["queue"]) == (50.0, 5.0, "billing")
    queues = [(s.queue, s.started, s.ended, s.detail.get("reason")) for s in folded.segments if s.kind == "queue"]
    assert queues == [("sales", 0.0, 20.0, "overflow"), ("billing", 20.0, 50.0, None)]


def test_talk_hold_ring_and_ivr() -> None:
    events: list[Event] = [
        ARRIVED, IvrFinished(ts=12.0, linkedid=L, flow="main", outcome="queue", queue="q", started_at=0.5),
        QueueEntered(ts=12.0, linkedid=L, queue="q"),
        AgentRinging(ts=20.0, linkedid=L, agent_id="a1", queue="q"),
        AgentRingNoAnswer(ts=35.0, linkedid=L, agent_id="a1", queue="q"),
        AgentRinging(ts=35.5, linkedid=L, agent_id="a2", queue="q"),
        CallConnected(ts=40.0, linkedid=L, agent_id="a2", queue="q"),
        HoldStarted(ts=50.0, linkedid=L, agent_id="a2"), HoldEnded(ts=70.0, linkedid=L, agent_id="a2"),
        HoldStarted(ts=100.0, linkedid=L, agent_id="a2"), HoldEnded(ts=105.0, linkedid=L, agent_id="a2"),
        CallEnded(ts=140.0, linkedid=L),
        WrapUpDone(ts=150.0, linkedid=L, agent_id="a2", disposition="resolved", wrapup_s=110.0)]
    f = fold(L, events).fields
    # AHT parts: talk (100 s on the line) less 25 s held; hold apart; ACW 140..150.
    assert (f["ivr_s"], f["wait_s"], f["ring_s"]) == (11.5, 28.0, 19.5)
    assert (f["talk_s"], f["hold_s"], f["hold_count"], f["acw_s"]) == (75.0, 25.0, 2, 10.0)
