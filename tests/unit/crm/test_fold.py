"""The pure fold of journey events into one interaction: recorded journeys, order and duplicate
independence (property), outcome rules, masking."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_core.event_keys import event_key, mask_path, masked
from crm_core.fold import fold, fold_keyed
from cti.journey import (
    AgentRinging,
    CallArrived,
    CallbackRequested,
    CallConnected,
    CallEnded,
    HoldEnded,
    HoldStarted,
    IvrFinished,
    QueueEntered,
    QueueLeft,
)
from tests.unit.crm.recorded import ALL_NAMES, EXPECTED, load_journey


@pytest.mark.parametrize("name", ALL_NAMES)
def test_recorded_journeys(name: str) -> None:
    events = load_journey(name)
    folded = fold(events[0].linkedid, events)  # type: ignore[attr-defined]
    fields, kinds = EXPECTED[name]
    for key, value in fields.items():
        if key in ("answered_at",):
            continue
        assert folded.fields[key] == (pytest.approx(value) if isinstance(value, float) else value), key
    assert [s.kind for s in folded.segments] == kinds


def test_answered_call_ring_results_and_wrapup() -> None:
    f = fold("1790000000.101", load_journey("answered"))
    rings = [(s.agent_id, s.detail.get("result"), s.duration) for s in f.segments if s.kind == "ringing"]
    assert rings == [("agent1", "no_answer", 15.0), ("agent2", "answered", 4.0)]
    talk = next(s for s in f.segments if s.kind == "talk")
    assert (talk.agent_id, talk.queue, talk.duration) == ("agent2", "billing", 180.0)
    assert f.fields["answered_at"] == 1790000049.2 and f.fields["ended_at"] == 1790000229.2


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(ALL_NAMES), data=st.data())
def test_any_order_and_duplicates_give_the_same_interaction(name: str, data: st.DataObject) -> None:
    events = load_journey(name)
    extra = data.draw(st.lists(st.sampled_from(events), max_size=len(events)))
    shuffled = data.draw(st.permutations(events + extra))
    assert fold("x", shuffled) == fold("x", events)


@pytest.mark.parametrize(("ivr_outcome", "expected"), [
    ("abandoned", "abandoned_ivr"), ("hangup", "abandoned_ivr"), ("transfer", "abandoned_ivr"),
    ("voicemail", "voicemail"), ("callback", "callback_requested")])
def test_ivr_outcomes(ivr_outcome: str, expected: str) -> None:
    events = [CallArrived(ts=1.0, linkedid="a", channel="c", caller_number="1"),
              IvrFinished(ts=5.0, linkedid="a", flow="main", outcome=ivr_outcome), CallEnded(ts=6.0, linkedid="a")]
    f = fold("a", events)
    assert (f.fields["outcome"], f.fields["status"]) == (expected, "complete")


def test_outcomes_without_ivr_and_in_progress() -> None:
    arrived = CallArrived(ts=1.0, linkedid="a", channel="c", caller_number="1001", direction="outbound",
                          dnis="13800138000", agent_id="1001")
    assert fold("a", [arrived]).fields["outcome"] is None
    assert fold("a", [arrived]).fields["status"] == "open"
    failed = fold("a", [arrived, CallEnded(ts=20.0, linkedid="a", cause=19)])
    f = failed.fields
    assert (f["outcome"], f["hangup_cause"], f["agent_id"]) == ("failed", 19, "1001")
    answered = fold("a", [arrived, CallConnected(ts=5.0, linkedid="a", agent_id="1001"),
                          CallEnded(ts=65.0, linkedid="a")])
    f = answered.fields
    assert (f["outcome"], f["status"], f["talk_s"]) == ("answered", "ended", 60.0)
    assert [s.kind for s in answered.segments] == ["talk", "wrapup"] and answered.segments[-1].ended is None


def test_callback_from_queue_and_hold_inside_talk() -> None:
    evs = [CallArrived(ts=0.0, linkedid="b", channel="c", caller_number="2"),
           QueueEntered(ts=1.0, linkedid="b", queue="sales"),
           QueueLeft(ts=61.0, linkedid="b", queue="sales", reason="callback", waited_s=60.0),
           CallbackRequested(ts=70.0, linkedid="b", number="13800138000"), CallEnded(ts=71.0, linkedid="b")]
    f = fold("b", evs)
    assert (f.fields["outcome"], f.fields["wait_s"], f.fields["callback_number"]) == ("callback_requested", 60.0,
                                                                                      "13800138000")
    evs = [CallArrived(ts=0.0, linkedid="c", channel="c", caller_number="2"),
           QueueEntered(ts=0.0, linkedid="c", queue="q"), AgentRinging(ts=10.0, linkedid="c", agent_id="a", queue="q"),
           CallConnected(ts=12.0, linkedid="c", agent_id="a", queue="q"),
           HoldStarted(ts=20.0, linkedid="c", agent_id="a"), HoldStarted(ts=21.0, linkedid="c", agent_id="a"),
           HoldEnded(ts=50.0, linkedid="c", agent_id="a"), HoldStarted(ts=60.0, linkedid="c", agent_id="a"),
           CallEnded(ts=112.0, linkedid="c")]  # hung up while on hold: the hold closes at the end
    f = fold("c", evs)
    assert (f.fields["hold_s"], f.fields["hold_count"], f.fields["talk_s"], f.fields["wait_s"]) == (82.0, 2, 18.0, 12.0)


def test_ivr_path_masking() -> None:
    path = ({"node": "ask_pin", "input": "1234"}, {"node": "menu", "input": "2"},
            {"node": "account", "input": "100001", "secret": True}, {"node": "pin", "input": "****"})
    assert [s["input"] for s in mask_path(path)] == ["****", "2", "******", "****"]
    ev = IvrFinished(ts=1.0, linkedid="m", flow="f", outcome="queue", path=path)
    f = fold("m", [ev])
    assert "1234" not in str(f.fields["ivr_path"]) and "100001" not in str(f.fields["ivr_path"])
    assert dataclasses.asdict(ev)["path"][0]["input"] == "1234"  # the event itself is not mutated


def test_masked_copies_only_events_with_a_secret_to_hide() -> None:
    plain = IvrFinished(ts=1.0, linkedid="m", flow="f", outcome="queue", path=({"node": "menu", "input": "2"},))
    assert masked(plain) is plain  # nothing to hide: no copy (the call logger masks every IVR event)
    secret = IvrFinished(ts=1.0, linkedid="m", flow="f", outcome="queue", path=({"node": "pin", "input": "12"},))
    assert masked(secret).path[0]["input"] == "**"  # type: ignore[attr-defined]
    assert masked(masked(secret)) == masked(secret)


@pytest.mark.parametrize("name", ALL_NAMES)
def test_fold_keyed_is_fold(name: str) -> None:
    events = load_journey(name)
    linkedid = events[0].linkedid  # type: ignore[attr-defined]
    assert fold_keyed(linkedid, {event_key(e): e for e in events}) == fold(linkedid, events + events[:2])


def test_survey_answer_is_the_interactions_csat() -> None:
    from cti.journey import SurveyAnswered

    events = [CallArrived(ts=1.0, linkedid="s1", channel="Local/x;2", caller_number="+8613800000000"),
              CallConnected(ts=5.0, linkedid="s1", agent_id="1001", queue="billing"),
              SurveyAnswered(ts=20.0, linkedid="s1", queue="billing", scores=(4, None)),
              CallEnded(ts=30.0, linkedid="s1")]
    folded = fold("s1", events)
    assert folded.fields["csat"] == 4 and folded.fields["csat2"] is None
    assert fold("s1", events[:2] + events[3:]).fields["csat"] is None


def test_calls_cut_by_a_pbx_crash_are_system_failures_not_abandons() -> None:
    arrived = CallArrived(ts=1.0, linkedid="a", channel="c", caller_number="13800138000")
    queued = QueueEntered(ts=2.0, linkedid="a", queue="support", channel="c")
    cut = CallEnded(ts=30.0, linkedid="a", cause=0, system_failure=True)
    # The ACD learns of the end at the reconnect, later than the crash the call model dates it to.
    left = QueueLeft(ts=45.0, linkedid="a", queue="support", reason="system_failure", waited_s=43.0)
    waiting = fold("a", [arrived, queued, cut, left]).fields
    assert (waiting["outcome"], waiting["abandoned"], waiting["ended_at"], waiting["wait_s"]) == (
        "system_failure", False, 30.0, 28.0)
    talking = fold("a", [arrived, queued, CallConnected(ts=5.0, linkedid="a", agent_id="1001"), cut]).fields
    assert (talking["outcome"], talking["abandoned"], talking["talk_s"]) == ("system_failure", False, 25.0)


@given(st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12),
       st.integers(min_value=-(2 ** 63), max_value=2 ** 63 - 1))
@settings(max_examples=200, deadline=None)
def test_an_event_key_survives_its_way_through_the_journal_and_the_table(x: float, text: str, n: int) -> None:
    """The call logger compares the keys of events in memory with the keys of events read back from
    its journal and the interactions table: the key of an event read back from its key is the same
    key (floats in exponent form included), and common events keep ``json``'s text."""
    import json

    from cti.events import from_wire

    ev = IvrFinished(ts=1_790_000_000.25, linkedid="L", flow=text, outcome="queue", started_at=x, priority=n,
                     path=({"node": text, "at": x, "input": "1"},), skills={"b": 2, "a": 1})
    key = event_key(ev)
    assert event_key(from_wire(json.dumps(json.loads(key)))) == key
    plain = CallEnded(ts=1_790_000_000.5, linkedid="L-1", cause=16)
    assert event_key(plain) == json.dumps({"type": plain.name, "data": dataclasses.asdict(plain)}, sort_keys=True,
                                          separators=(",", ":"), ensure_ascii=False)
