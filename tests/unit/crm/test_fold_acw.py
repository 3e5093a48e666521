"""After-call work in the fold is the agent's time in the wrap-up state for the call (docs/kpis.md):
from the agent's end of the call until they left that state (``AgentWrapUpEnded``, published by
the ACD) or submitted the wrap-up form, whichever came first. A form submitted later still gives
the disposition and notes; a wrap-up never submitted still counts its state time."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acd.events import AgentWrapUpEnded
from crm_core.fold import Folded, fold
from cti.events import Event
from cti.journey import CallArrived, CallConnected, CallEnded, CallTransferred, QueueEntered, WrapUpDone

L = "acw.1"


def _answered() -> list[Event]:
    """agent a1 answers at 15; the caller hangs up at 60: a1's wrap-up state starts then."""
    return [CallArrived(ts=0.0, linkedid=L, channel="PJSIP/trunk-1", caller_number="13800138000"),
            QueueEntered(ts=1.0, linkedid=L, queue="q"),
            CallConnected(ts=15.0, linkedid=L, agent_id="a1", queue="q"),
            CallEnded(ts=60.0, linkedid=L)]


def _left(ts: float, reason: str, agent: str = "a1") -> AgentWrapUpEnded:
    return AgentWrapUpEnded(ts=ts, agent_id=agent, linkedid=L, reason=reason)


def _form(ts: float, agent: str = "a1", disposition: str = "resolved") -> WrapUpDone:
    return WrapUpDone(ts=ts, linkedid=L, agent_id=agent, disposition=disposition, notes="n", wrapup_s=ts - 15.0)


def _wraps(f: Folded) -> list[tuple[str | None, float, float | None, str | None]]:
    return [(s.agent_id, s.started, s.ended, s.disposition) for s in f.segments if s.kind == "wrapup"]


def test_a_wrap_up_never_submitted_counts_its_state_time() -> None:
    # The wrap-up timer made the agent ready 10 s after the hang-up; no form came.
    folded = fold(L, [*_answered(), _left(70.0, "timer")])
    assert folded.fields["acw_s"] == 10.0
    assert _wraps(folded) == [("a1", 60.0, 70.0, None)]
    assert folded.fields["status"] == "ended"  # no disposition yet: not complete
    (seg,) = [s for s in folded.segments if s.kind == "wrapup"]
    assert seg.detail["ended_by"] == "timer"


def test_a_form_submitted_after_the_timer_gives_the_disposition_not_more_acw() -> None:
    folded = fold(L, [*_answered(), _left(70.0, "timer"), _form(95.0)])
    f = folded.fields
    assert (f["acw_s"], f["status"], f["disposition"], f["notes"]) == (10.0, "complete", "resolved", "n")
    assert _wraps(folded) == [("a1", 60.0, 70.0, "resolved")]


def test_a_form_submitted_after_going_not_ready_counts_up_to_the_not_ready() -> None:
    folded = fold(L, [*_answered(), _left(64.5, "not_ready"), _form(80.0)])
    assert folded.fields["acw_s"] == 4.5


def test_a_form_submitted_in_wrap_up_ends_it_as_before() -> None:
    # The console publishes the wrap-up, then makes the agent ready: the state ends just after.
    folded = fold(L, [*_answered(), _form(66.0), _left(66.002, "ready")])
    assert folded.fields["acw_s"] == 6.0
    (seg,) = [s for s in folded.segments if s.kind == "wrapup"]
    assert (seg.ended, seg.disposition) == (66.0, "resolved")
    assert "ended_by" not in seg.detail  # the form ended it: the later state change adds nothing


def test_the_end_of_the_state_changes_nothing_once_the_form_closed_the_wrap_up() -> None:
    base = [*_answered(), _form(66.0)]
    assert fold(L, [*base, _left(66.002, "ready")]) == fold(L, base)


def test_a_state_end_stamped_before_the_hang_up_counts_no_acw() -> None:
    # Clocks: the ACD's end of the wrap-up (zero-length wrap-up) stamped before the call's end.
    folded = fold(L, [*_answered()[:-1], _left(59.9, "timer"), CallEnded(ts=60.0, linkedid=L), _form(70.0)])
    assert folded.fields["acw_s"] == 0.0
    assert [s.ended is not None for s in folded.segments if s.kind == "wrapup"] == [True]


def _blind() -> list[Event]:
    """a1 blind-transfers at 75 (their wrap-up starts); a2 answers at 83; the caller leaves at 203."""
    return [CallArrived(ts=0.0, linkedid=L, channel="PJSIP/trunk-1", caller_number="13800138000"),
            QueueEntered(ts=10.0, linkedid=L, queue="support"),
            CallConnected(ts=15.0, linkedid=L, agent_id="a1", queue="support"),
            CallTransferred(ts=75.0, linkedid=L, from_agent="a1", target="billing", target_kind="queue"),
            QueueEntered(ts=75.1, linkedid=L, queue="billing"),
            CallConnected(ts=83.0, linkedid=L, agent_id="a2", queue="billing"),
            CallEnded(ts=203.0, linkedid=L)]


def test_the_transferring_agents_wrap_up_counts_without_a_form() -> None:
    folded = fold(L, [*_blind(), _left(85.0, "timer"), _form(223.0, "a2"), _left(223.001, "ready", "a2")])
    f = folded.fields
    assert _wraps(folded) == [("a1", 75.0, 85.0, None), ("a2", 203.0, 223.0, "resolved")]
    assert (f["acw_s"], f["status"], f["agent_id"]) == (30.0, "complete", "a2")


def test_the_transferring_agents_late_form_stays_on_their_capped_segment() -> None:
    events = [*_blind(), _left(85.0, "timer"), _form(223.0, "a2"), _form(230.0, "a1", "transferred")]
    folded = fold(L, events)
    assert _wraps(folded) == [("a1", 75.0, 85.0, "transferred"), ("a2", 203.0, 223.0, "resolved")]
    assert folded.fields["disposition"] == "resolved"


def test_an_agent_who_takes_the_call_again_wraps_up_each_turn() -> None:
    # a1 transfers to a2, a2 sends the call back to a1, who ends it.
    events: list[Event] = [
        CallArrived(ts=0.0, linkedid=L, channel="PJSIP/trunk-1", caller_number="13800138000"),
        CallConnected(ts=10.0, linkedid=L, agent_id="a1", queue="q"),
        CallTransferred(ts=20.0, linkedid=L, from_agent="a1", target="2002", target_kind="agent"),
        _left(25.0, "timer"),
        CallConnected(ts=30.0, linkedid=L, agent_id="a2", queue="q"),
        CallTransferred(ts=40.0, linkedid=L, from_agent="a2", target="2001", target_kind="agent"),
        _left(42.0, "ready", "a2"),
        CallConnected(ts=50.0, linkedid=L, agent_id="a1", queue="q"),
        CallEnded(ts=60.0, linkedid=L),
        _left(67.0, "timer")]
    folded = fold(L, events)
    assert [(a, s, e) for a, s, e, _ in _wraps(folded)] == [("a1", 20.0, 25.0), ("a2", 40.0, 42.0),
                                                            ("a1", 60.0, 67.0)]
    assert folded.fields["acw_s"] == 14.0


def test_a_consulted_agents_wrap_up_without_a_turn_is_capped_at_their_state_end() -> None:
    # The caller left during an attended transfer: the consulted agent a2 (never connected to the
    # caller) wraps up; they went not ready at 70 and sent the form at 90.
    events: list[Event] = [*_answered(), _left(66.0, "ready"), _form(66.0), _left(70.0, "not_ready", "a2"),
                           _form(90.0, "a2", "consulted")]
    folded = fold(L, events)
    assert _wraps(folded) == [("a1", 60.0, 66.0, "resolved"), ("a2", 60.0, 70.0, "consulted")]


@pytest.mark.parametrize("tail", [
    [_left(70.0, "timer"), _form(95.0)],
    [_form(66.0), _left(66.002, "ready")],
    [_left(64.5, "not_ready")],
])
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_acw_is_order_and_duplicate_independent(tail: list[Event], data: st.DataObject) -> None:
    events = [*_answered(), *tail]
    extra = data.draw(st.lists(st.sampled_from(events), max_size=len(events)))
    assert fold(L, data.draw(st.permutations(events + extra))) == fold(L, events)


def test_a_put_back_ends_the_lost_agents_talk_and_starts_their_wrap_up() -> None:
    """The agent's softphone was lost and did not come back: the ACD ends their part (wrap-up) and
    puts the caller back in queue (a QueueEntered, no transfer); another agent answers. The first
    agent's talk ends at the put-back (the caller's wait after it is no talk, docs/kpis.md) and their
    wrap-up runs from there. Before, their talk ran on until the next answer and their wrap-up,
    ended by its timer before that, counted nothing."""
    events: list[Event] = [
        CallArrived(ts=0.0, linkedid=L, channel="PJSIP/trunk-1", caller_number="13800138000"),
        QueueEntered(ts=10.0, linkedid=L, queue="q"),
        CallConnected(ts=15.0, linkedid=L, agent_id="a1", queue="q"),
        QueueEntered(ts=75.0, linkedid=L, queue="q"),  # put back: a1 is in wrap-up from here
        _left(80.0, "timer"),
        CallConnected(ts=88.0, linkedid=L, agent_id="a2", queue="q"),
        CallEnded(ts=208.0, linkedid=L),
        _form(228.0, "a2", "info_given"), _left(228.0, "ready", "a2")]
    folded = fold(L, events)
    talks = [(s.agent_id, s.started, s.ended) for s in folded.segments if s.kind == "talk"]
    assert talks == [("a1", 15.0, 75.0), ("a2", 88.0, 208.0)]
    assert [(a, s, e) for a, s, e, _ in _wraps(folded)] == [("a1", 75.0, 80.0), ("a2", 208.0, 228.0)]
    f = folded.fields
    assert (f["talk_s"], f["acw_s"], f["wait_s"], f["agent_id"], f["transfer_count"]) == (180.0, 25.0, 18.0, "a2", 0)


def test_a_consulted_agents_wrap_up_without_a_form_counts_its_state_time() -> None:
    """The caller left during an attended transfer: the consulted agent a2 (never connected to the
    caller) is in wrap-up from the hang-up until its timer at 75, and sends no form. That time is
    their after-call work on the call, as any wrap-up never sent (docs/kpis.md). Before, with no
    form the fold kept no wrap-up of theirs at all. A consultation cancelled while the call goes on
    (its agent's wrap-up state ended before the call did) is no wrap-up of the call."""
    cancelled = _left(40.0, "ready", "a3")
    events = [*_answered(), cancelled, _left(66.0, "ready"), _form(66.0), _left(75.0, "timer", "a2")]
    folded = fold(L, events)
    assert _wraps(folded) == [("a1", 60.0, 66.0, "resolved"), ("a2", 60.0, 75.0, None)]
    assert folded.fields["acw_s"] == 21.0
    assert (folded.fields["agent_id"], folded.fields["disposition"]) == ("a1", "resolved")
