"""An outbound call's outcome follows its customer's leg (FarEndResult), not the agent's answer."""

from __future__ import annotations

import pytest

from crm_core.fold import fold
from cti.events import Event
from cti.journey import (
    CallArrived,
    CallClosed,
    CallConnected,
    CallEnded,
    CampaignAttemptEnded,
    FarEndResult,
    WrapUpDone,
)


def _outbound(*far_end: str, direction: str = "outbound") -> list[Event]:
    evs: list[Event] = [CallArrived(ts=1.0, linkedid="o1", channel="Local/1001@cti-sim-phone-1;1",
                                    caller_number="86990001", dnis="86990001", direction=direction, agent_id="1001"),
                        CallConnected(ts=1.0, linkedid="o1", agent_id="1001")]
    evs += [FarEndResult(ts=2.0 + i, linkedid="o1", channel="Local/1001@cti-sim-phone-1;1",
                         dest_channel=f"Local/86990001@cti-sim-customer-{i};1", result=r)
            for i, r in enumerate(far_end)]
    return [*evs, CallEnded(ts=40.0, linkedid="o1"),
            WrapUpDone(ts=45.0, linkedid="o1", agent_id="1001", disposition="no_contact")]


@pytest.mark.parametrize(("results", "outcome"), [
    ((), "answered"), (("answered",), "answered"), (("no_answer",), "no_answer"), (("cancelled",), "no_answer"),
    (("busy",), "busy"), (("congestion",), "failed"), (("unavailable",), "failed"),
    (("busy", "answered"), "answered"), (("answered", "no_answer"), "answered")])
def test_outbound_outcome_follows_the_far_end(results: tuple[str, ...], outcome: str) -> None:
    folded = fold("o1", _outbound(*results))
    assert folded.fields["outcome"] == outcome
    assert folded.fields["status"] == "complete" and folded.fields["agent_id"] == "1001"


def test_an_inbound_calls_transfer_to_a_number_that_does_not_answer_stays_answered() -> None:
    assert fold("o1", _outbound("no_answer", direction="inbound")).fields["outcome"] == "answered"


def test_the_far_end_result_is_order_and_duplicate_independent() -> None:
    evs = _outbound("no_answer")
    assert fold("o1", list(reversed(evs)) + evs).fields == fold("o1", evs).fields


def _attempt(result: str, far_end: str = "answered") -> list[Event]:
    """A campaign's attempt: dialled, the customer's leg ended or answered, the dialer's verdict."""
    return [CallArrived(ts=1.0, linkedid="cmp1-a", channel="", caller_number="869612340001", dnis="869612340001",
                        direction="outbound"),
            FarEndResult(ts=4.0, linkedid="cmp1-a", channel="Local/869612340001@cti-external-1;2",
                         dest_channel="Local/869612340001@cti-sim-customer-1;1", result=far_end),
            CampaignAttemptEnded(ts=7.0, linkedid="cmp1-a", campaign_id=3, contact_id=42, result=result),
            CallEnded(ts=9.0, linkedid="cmp1-a")]


@pytest.mark.parametrize(("result", "far_end", "outcome"), [
    ("machine", "answered", "machine"), ("dropped", "answered", "dropped"), ("busy", "busy", "busy"),
    ("no_answer", "no_answer", "no_answer"), ("failed", "congestion", "failed")])
def test_a_campaign_attempt_names_its_campaign_contact_and_result(result: str, far_end: str, outcome: str) -> None:
    fields = fold("cmp1-a", _attempt(result, far_end)).fields
    assert (fields["outcome"], fields["campaign_id"], fields["campaign_contact_id"], fields["direction"]) == (
        outcome, 3, 42, "outbound")


def _closed_attempt(*, asterisk_end: float | None) -> list[Event]:
    """An attempt the dialer settled ``failed`` with no end of its call seen, and closed at 50.0."""
    evs: list[Event] = [
        CallArrived(ts=1.0, linkedid="cmp1-b", channel="", caller_number="869612340002", dnis="869612340002",
                    direction="outbound"),
        CampaignAttemptEnded(ts=50.0, linkedid="cmp1-b", campaign_id=3, contact_id=43, result="failed"),
        CallClosed(ts=50.0, linkedid="cmp1-b", outcome="failed")]
    if asterisk_end is not None:
        evs.append(CallEnded(ts=asterisk_end, linkedid="cmp1-b", cause=19))
    return evs


@pytest.mark.parametrize(("asterisk_end", "ended_at", "cause"), [
    (None, 50.0, None),  # no channel was made: the dialer's close is the end
    (30.0, 30.0, 19),  # Asterisk's end came first: the close changes nothing
    (50.0, 50.0, 19),  # at the same instant: Asterisk's
    (80.0, 80.0, 19)])  # Asterisk's end after the close (it had made the call after all): the real end
def test_a_closed_attempt_has_one_end_asterisks_when_it_came(asterisk_end: float | None, ended_at: float,
                                                             cause: int | None) -> None:
    events = _closed_attempt(asterisk_end=asterisk_end)
    for order in (events, events[::-1]):
        f = fold("cmp1-b", order).fields
        assert (f["outcome"], f["status"], f["ended_at"], f["hangup_cause"], f["campaign_contact_id"]) == (
            "failed", "complete", ended_at, cause, 43)


def test_a_preview_attempts_late_call_a_person_answered_is_answered() -> None:
    """A preview Dial Asterisk never answered, whose call it placed all the same: the dialer published
    the call, the customer answered and the call ended; the ACD never connected it (no CallConnected).
    The attempt is ``human`` (a person reached the agent who dialled); the interaction said ``failed``."""
    evs: list[Event] = [
        CallArrived(ts=1.0, linkedid="pv1-a", channel="", caller_number="869612340002", dnis="869612340002",
                    direction="outbound", agent_id="1001"),
        FarEndResult(ts=4.0, linkedid="pv1-a", channel="Local/1001@cti-sim-phone-1;1",
                     dest_channel="Local/869612340002@cti-sim-customer-1;1", result="answered"),
        CallEnded(ts=20.0, linkedid="pv1-a", cause=16),
        CampaignAttemptEnded(ts=20.1, linkedid="pv1-a", campaign_id=1, contact_id=7, result="human")]
    for order in (evs, evs[::-1]):
        f = fold("pv1-a", order).fields
        assert (f["outcome"], f["status"], f["agent_id"], f["ended_at"], f["hangup_cause"]) == (
            "answered", "complete", "1001", 20.0, 16)
