"""A consulted agent's consultation in the fold (docs/kpis.md, *Transferred calls*): from their answer
to the transferring agent (``acd.events.ConsultationAnswered``) until the consultation ends (the
transfer completed, the conference left to them, cancelled, or the caller gone) it is a ``consult``
segment of theirs: their talk on this caller's call, as the agent state history counts them on call.
The call's own talk and hold are unchanged: during a consultation the caller is on the transferring
agent's hold, during a conference on the transferring agent's talk, so those seconds count once in
the call's figures. Before, the consultation left no segment at all."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from acd.events import AgentWrapUpEnded, ConsultationAnswered, ConsultationEnded
from crm_core.fold import Folded, fold
from cti.events import Event
from cti.journey import (
    CallArrived,
    CallConnected,
    CallEnded,
    CallTransferred,
    HoldEnded,
    HoldStarted,
    QueueEntered,
    WrapUpDone,
)

L = "consult.1"


def _start() -> list[Event]:
    """a1 answers at 15 and puts the caller on hold at 60 to consult a2, who answers at 65."""
    return [CallArrived(ts=0.0, linkedid=L, channel="PJSIP/trunk-1", caller_number="13800138000"),
            QueueEntered(ts=10.0, linkedid=L, queue="support"),
            CallConnected(ts=15.0, linkedid=L, agent_id="a1", queue="support"),
            HoldStarted(ts=60.0, linkedid=L, agent_id="a1"),
            ConsultationAnswered(ts=65.0, linkedid=L, agent_id="a2", from_agent="a1", queue="support")]


def _ended(ts: float, reason: str) -> ConsultationEnded:
    return ConsultationEnded(ts=ts, linkedid=L, agent_id="a2", reason=reason)


def _completed() -> list[Event]:
    """a1 completes the transfer at 90; a2 talks with the caller until 200."""
    return [*_start(), HoldEnded(ts=90.0, linkedid=L, agent_id="a1"),
            CallTransferred(ts=90.0, linkedid=L, from_agent="a1", target="a2", target_kind="agent", kind="attended"),
            _ended(90.0, "transferred"), CallConnected(ts=90.0, linkedid=L, agent_id="a2", queue="support"),
            CallEnded(ts=200.0, linkedid=L),
            WrapUpDone(ts=95.0, linkedid=L, agent_id="a1", disposition="transferred"),
            WrapUpDone(ts=210.0, linkedid=L, agent_id="a2", disposition="resolved")]


def _conference() -> list[Event]:
    """A conference from 80 (the caller off hold, all three talk); a1 leaves it at 100, a2 keeps the
    call until 200."""
    return [*_start(), HoldEnded(ts=80.0, linkedid=L, agent_id="a1"),
            CallTransferred(ts=100.0, linkedid=L, from_agent="a1", target="a2", target_kind="agent",
                            kind="attended"),
            _ended(100.0, "transferred"), CallConnected(ts=100.0, linkedid=L, agent_id="a2", queue="support"),
            CallEnded(ts=200.0, linkedid=L)]


def _caller_left() -> list[Event]:
    """The caller hangs up at 90 during the consultation: a2 wraps up from there until 100."""
    return [*_start(), CallEnded(ts=90.0, linkedid=L), _ended(90.2, "caller_left"),
            AgentWrapUpEnded(ts=100.0, linkedid=L, agent_id="a2", reason="timer")]


def _cancelled() -> list[Event]:
    """a1 cancels the consultation at 75 and talks with the caller again until 120."""
    return [*_start(), _ended(75.0, "cancelled"), HoldEnded(ts=75.0, linkedid=L, agent_id="a1"),
            AgentWrapUpEnded(ts=75.0, linkedid=L, agent_id="a2", reason="ready"),
            CallEnded(ts=120.0, linkedid=L)]


def _segs(f: Folded, kind: str) -> list[tuple[str | None, float, float | None]]:
    return [(s.agent_id, s.started, s.ended) for s in f.segments if s.kind == kind]


def test_a_completed_transfer_gives_the_consulted_agent_their_consultation() -> None:
    folded = fold(L, _completed())
    (seg,) = [s for s in folded.segments if s.kind == "consult"]
    assert (seg.agent_id, seg.started, seg.ended, seg.queue) == ("a2", 65.0, 90.0, "support")
    assert (seg.detail["from_agent"], seg.detail["ended_by"]) == ("a1", "transferred")
    assert _segs(folded, "talk") == [("a1", 15.0, 90.0), ("a2", 90.0, 200.0)]
    f = folded.fields
    # The call's talk is the caller's: a1's 45 s (the consultation is a1's hold) and a2's 110 s.
    assert (f["talk_s"], f["hold_s"], f["agent_id"], f["disposition"]) == (155.0, 30.0, "a2", "resolved")


def test_a_conference_is_the_consulted_agents_talk_and_counts_once_for_the_call() -> None:
    folded = fold(L, _conference())
    assert _segs(folded, "consult") == [("a2", 65.0, 100.0)]
    f = folded.fields
    # The caller talked from 15 to 200 less a1's hold 60..80: 165 s, the conference once.
    assert (f["talk_s"], f["hold_s"]) == (165.0, 20.0)


def test_the_caller_leaving_during_the_consultation_ends_it_where_the_wrap_up_starts() -> None:
    folded = fold(L, _caller_left())
    assert _segs(folded, "consult") == [("a2", 65.0, 90.0)]
    assert _segs(folded, "wrapup") == [("a1", 90.0, None), ("a2", 90.0, 100.0)]
    assert (folded.fields["talk_s"], folded.fields["hold_s"]) == (45.0, 30.0)


def test_a_cancelled_consultation_is_the_consulted_agents_time_until_the_cancel() -> None:
    folded = fold(L, _cancelled())
    assert _segs(folded, "consult") == [("a2", 65.0, 75.0)]
    assert _segs(folded, "wrapup") == [("a1", 120.0, None)]  # a2 went ready at once: no wrap-up
    assert (folded.fields["talk_s"], folded.fields["hold_s"], folded.fields["agent_id"]) == (90.0, 15.0, "a1")


def test_a_consultation_answered_after_the_call_ended_opens_nothing() -> None:
    events = [CallArrived(ts=0.0, linkedid=L, channel="PJSIP/trunk-1", caller_number="13800138000"),
              CallConnected(ts=5.0, linkedid=L, agent_id="a1"), CallEnded(ts=50.0, linkedid=L),
              ConsultationAnswered(ts=51.0, linkedid=L, agent_id="a2", from_agent="a1")]
    assert _segs(fold(L, events), "consult") == []


@settings(max_examples=30, deadline=None)
@given(data=st.data(), journey=st.sampled_from([_completed, _conference, _caller_left, _cancelled]))
def test_consultation_folds_are_order_and_duplicate_independent(data: st.DataObject, journey: object) -> None:
    events: list[Event] = journey()  # type: ignore[operator]
    extra = data.draw(st.lists(st.sampled_from(events), max_size=len(events)))
    assert fold(L, data.draw(st.permutations(events + extra))) == fold(L, events)
