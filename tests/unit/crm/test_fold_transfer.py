"""Transfers in the fold: every agent who handled the call keeps their own wrap-up on their segment;
the interaction's disposition and notes are the last handler's, and only their wrap-up completes it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_core.fold import Folded, fold
from cti.events import Event
from cti.journey import (
    AgentRinging,
    CallArrived,
    CallConnected,
    CallEnded,
    CallTransferred,
    HoldEnded,
    HoldStarted,
    QueueEntered,
    WrapUpDone,
)

L = "t.1"


def _wrap(ts: float, agent: str, disposition: str, notes: str, wrapup_s: float = 0.0) -> WrapUpDone:
    return WrapUpDone(ts=ts, linkedid=L, agent_id=agent, disposition=disposition, notes=notes, wrapup_s=wrapup_s)


A_WRAP_EARLY = _wrap(80.0, "agentA", "transferred", "sent to billing")  # before agentB even answers
A_WRAP_LATE = _wrap(230.0, "agentA", "transferred", "sent to billing")  # after agentB's wrap-up
B_WRAP = _wrap(223.0, "agentB", "info_given", "explained the invoice")


def _blind() -> list[Event]:
    """agentA answers at 15, blind-transfers to the billing queue at 75; agentB answers at 83; the
    caller hangs up at 203."""
    return [CallArrived(ts=0.0, linkedid=L, channel="PJSIP/trunk-1", caller_number="13800138000"),
            QueueEntered(ts=10.0, linkedid=L, queue="support"),
            AgentRinging(ts=12.0, linkedid=L, agent_id="agentA", queue="support"),
            CallConnected(ts=15.0, linkedid=L, agent_id="agentA", queue="support"),
            CallTransferred(ts=75.0, linkedid=L, from_agent="agentA", target="billing", target_kind="queue"),
            QueueEntered(ts=75.1, linkedid=L, queue="billing"),
            AgentRinging(ts=80.0, linkedid=L, agent_id="agentB", queue="billing"),
            CallConnected(ts=83.0, linkedid=L, agent_id="agentB", queue="billing"),
            CallEnded(ts=203.0, linkedid=L)]


def _wrapups(f: Folded) -> list[tuple[str | None, str | None, str | None, float]]:
    return [(s.agent_id, s.disposition, s.notes, round(s.duration, 3)) for s in f.segments if s.kind == "wrapup"]


def _upto(events: list[Event], ts: float) -> list[Event]:
    return [e for e in events if e.ts <= ts]


def test_blind_transfer_first_agent_wraps_up_first() -> None:
    events = [*_blind(), A_WRAP_EARLY, B_WRAP]
    # agentA's wrap-up (at 80) while the caller waits for billing: the call is not complete.
    f = fold(L, _upto(events, 80.0)).fields
    assert (f["status"], f["disposition"], f["notes"]) == ("open", None, "")
    # The call ended, agentB has not wrapped up yet: still not complete, and not agentA's wrap-up.
    f = fold(L, _upto(events, 203.0)).fields
    assert (f["status"], f["disposition"], f["notes"]) == ("ended", None, "")
    folded = fold(L, events)
    f = folded.fields
    assert (f["status"], f["agent_id"], f["disposition"], f["notes"]) == (
        "complete", "agentB", "info_given", "explained the invoice")
    # ACW runs from each agent's own end of the call: agentA left at 75, agentB at 203.
    assert _wrapups(folded) == [("agentA", "transferred", "sent to billing", 5.0),
                                ("agentB", "info_given", "explained the invoice", 20.0)]
    assert f["acw_s"] == 25.0 and f["talk_s"] == 180.0 and f["transfer_count"] == 1


def test_blind_transfer_last_agent_wraps_up_first() -> None:
    events = [*_blind(), B_WRAP, A_WRAP_LATE]
    f = fold(L, _upto(events, 223.0)).fields
    assert (f["status"], f["disposition"], f["notes"]) == ("complete", "info_given", "explained the invoice")
    folded = fold(L, events)
    f = folded.fields
    # agentA's later wrap-up is kept on their segment and does not replace the final agent's.
    assert (f["status"], f["disposition"], f["notes"]) == ("complete", "info_given", "explained the invoice")
    assert _wrapups(folded) == [("agentA", "transferred", "sent to billing", 155.0),
                                ("agentB", "info_given", "explained the invoice", 20.0)]
    assert f["acw_s"] == 175.0


def test_blind_transfer_to_a_number_the_transferring_agent_is_the_last_handler() -> None:
    events: list[Event] = [
        CallArrived(ts=0.0, linkedid=L, channel="PJSIP/trunk-1", caller_number="13800138000"),
        CallConnected(ts=5.0, linkedid=L, agent_id="agentA", queue="support"),
        CallTransferred(ts=65.0, linkedid=L, from_agent="agentA", target="88001234", target_kind="number"),
        _wrap(70.0, "agentA", "transferred", "to the branch"),
        CallEnded(ts=300.0, linkedid=L)]
    # Wrapped up while the caller still talks to the number: complete only once the call ended.
    assert fold(L, events[:-1]).fields["status"] == "open"
    folded = fold(L, events)
    f = folded.fields
    assert (f["status"], f["disposition"], f["talk_s"], f["acw_s"]) == ("complete", "transferred", 60.0, 5.0)
    assert _wrapups(folded) == [("agentA", "transferred", "to the branch", 5.0)]


def _attended(*, target_connects: bool) -> list[Event]:
    """agentA consults agentB (caller on hold 60..90) and completes the transfer at 90."""
    evs: list[Event] = [
        CallArrived(ts=0.0, linkedid=L, channel="PJSIP/trunk-1", caller_number="13800138000"),
        QueueEntered(ts=10.0, linkedid=L, queue="support"),
        CallConnected(ts=15.0, linkedid=L, agent_id="agentA", queue="support"),
        HoldStarted(ts=60.0, linkedid=L, agent_id="agentA"),
        HoldEnded(ts=90.0, linkedid=L, agent_id="agentA"),
        CallTransferred(ts=90.0, linkedid=L, from_agent="agentA", target="1004", target_kind="agent",
                        kind="attended"),
        _wrap(95.0, "agentA", "transferred", "consulted 1004"),
        CallEnded(ts=200.0, linkedid=L)]
    if target_connects:
        evs += [CallConnected(ts=90.0, linkedid=L, agent_id="agentB"), B_WRAP]
    return evs


def test_attended_transfer_as_the_acd_publishes_it() -> None:
    """The ACD publishes no CallConnected for the consulted party: agentA is the last handler."""
    events = _attended(target_connects=False)
    f = fold(L, _upto(events, 95.0)).fields
    assert (f["status"], f["disposition"]) == ("open", None)  # the caller still talks to the target
    folded = fold(L, events)
    f = folded.fields
    # agentA left at 90: talk 15..90 less the 30 s consultation hold, ACW 90..95.
    assert (f["status"], f["disposition"], f["notes"]) == ("complete", "transferred", "consulted 1004")
    assert (f["talk_s"], f["hold_s"], f["hold_count"], f["acw_s"]) == (45.0, 30.0, 1, 5.0)
    assert _wrapups(folded) == [("agentA", "transferred", "consulted 1004", 5.0)]


def test_attended_transfer_to_an_agent_who_connects_and_wraps_up() -> None:
    events = _attended(target_connects=True)
    f = fold(L, _upto(events, 200.0)).fields
    assert (f["status"], f["disposition"], f["agent_id"]) == ("ended", None, "agentB")
    folded = fold(L, events)
    f = folded.fields
    assert (f["status"], f["agent_id"], f["disposition"], f["notes"]) == (
        "complete", "agentB", "info_given", "explained the invoice")
    assert (f["talk_s"], f["hold_s"], f["acw_s"]) == (45.0 + 110.0, 30.0, 5.0 + 23.0)
    assert _wrapups(folded) == [("agentA", "transferred", "consulted 1004", 5.0),
                                ("agentB", "info_given", "explained the invoice", 23.0)]
    talks = [(s.agent_id, s.started, s.ended) for s in folded.segments if s.kind == "talk"]
    assert talks == [("agentA", 15.0, 90.0), ("agentB", 90.0, 200.0)]


@pytest.mark.parametrize("a_wrap", [A_WRAP_EARLY, A_WRAP_LATE])
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_transfer_folds_are_order_and_duplicate_independent(a_wrap: WrapUpDone, data: st.DataObject) -> None:
    events = [*_blind(), a_wrap, B_WRAP]
    extra = data.draw(st.lists(st.sampled_from(events), max_size=len(events)))
    assert fold(L, data.draw(st.permutations(events + extra))) == fold(L, events)
