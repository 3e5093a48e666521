"""The public feed's mapping: every source event becomes an envelope the documented JSON Schema
describes exactly, and nothing private (IVR keys, flow attributes, agents' notes, channels) leaks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from acd.alerts import AlertAcknowledged, AlertCleared, AlertEscalated, AlertRaised
from acd.events import AgentOffer, AgentPhoneReachability, AgentStateChanged, SupervisorIntervention
from crm_core.events import CaseChanged
from crm_core.feed_events import EVENT_TYPES, MAPPERS, public_events, to_public
from cti.events import Event
from cti.journey import (
    AgentRinging,
    AgentRingNoAnswer,
    CallArrived,
    CallbackRequested,
    CallClosed,
    CallConnected,
    CallEnded,
    CallTransferred,
    HoldEnded,
    HoldStarted,
    IvrFinished,
    QueueEntered,
    QueueLeft,
    RecordingStarted,
    VoicemailLeft,
    WrapUpDone,
)

SCHEMA = json.loads((Path(__file__).resolve().parents[3] / "docs" / "event-feed.schema.json").read_text())
_ALERT = {"alert_id": "al1", "rule_id": "r1", "queue": "support", "subject": "agent:a7", "role": "supervisor",
          "level": 0}
SAMPLES: list[Event] = [
    CallArrived(ts=1, linkedid="L1", channel="PJSIP/secret-chan-1", caller_number="+33100000000"),
    IvrFinished(ts=2, linkedid="L1", flow="main", outcome="queue", channel="PJSIP/secret-chan-1", queue="support",
                path=({"node": "pin", "input": "86420"},), attributes={"pin": "86420"}, started_at=1.5),
    QueueEntered(ts=3, linkedid="L1", queue="support", skills={"fr": 2}),
    QueueLeft(ts=3.5, linkedid="L2", queue="support", reason="abandoned", waited_s=12.0),
    AgentRinging(ts=4, linkedid="L1", agent_id="a7", queue="support"),
    AgentRingNoAnswer(ts=4.5, linkedid="L1", agent_id="a7", queue="support"),
    CallConnected(ts=5, linkedid="L1", agent_id="a7", queue="support"),
    HoldStarted(ts=6, linkedid="L1", agent_id="a7", queue="support"),
    HoldEnded(ts=7, linkedid="L1", agent_id="a7", queue="support"),
    CallTransferred(ts=8, linkedid="L1", from_agent="a7", target="billing", target_kind="queue"),
    VoicemailLeft(ts=8.5, linkedid="L3", mailbox="100"),
    CallEnded(ts=9, linkedid="L1", queue="support", agent_id="a7", customer_id=3),
    CallClosed(ts=9.2, linkedid="L5", outcome="failed"),  # a campaign call Asterisk never reported ended
    WrapUpDone(ts=10, linkedid="L1", agent_id="a7", disposition="solved", notes="card 4970 1234 86420",
               queue="support"),
    CallbackRequested(ts=11, linkedid="L4", number="+33100000001", queue="support", due_at=20.0),
    AgentStateChanged(ts=12, agent_id="a7", state="not_ready", reason="lunch", queues=("support",)),
    AgentPhoneReachability(ts=12.2, agent_id="a7", reachable=False, state="available", since=12.2),
    SupervisorIntervention(ts=12.5, actor="sue", actor_role="supervisor", action="spy.whisper", agent_id="a7",
                           linkedid="L1", detail={"phone": "2001", "phone_kind": "webrtc",
                                                  "spy_channel": "PJSIP/secret-chan-2"}),
    CaseChanged(ts=12.7, event_id=41, case_id=7, action="status", actor="agent:a7", customer_id=3,
                status="resolved", previous_status="open"),
    AlertRaised(ts=13, kind="agent_state_duration", scope="agent", value=900.0, threshold=600.0, message="long",
                **_ALERT),
    AlertEscalated(ts=14, kind="agent_state_duration", value=900.0, threshold=600.0, previous_role="supervisor",
                   message="long", **_ALERT),
    AlertAcknowledged(ts=15, by="sue", **_ALERT),
    AlertCleared(ts=16, kind="agent_state_duration", acknowledged=True, **_ALERT),
]


def _check(value: Any, spec: dict[str, Any]) -> bool:
    """The few JSON Schema keywords the feed's schema uses."""
    if "const" in spec:
        return bool(value == spec["const"])
    if "enum" in spec:
        return value in spec["enum"]
    kinds = spec.get("type")
    kinds = [kinds] if isinstance(kinds, str) else kinds or []
    py = {"string": str, "integer": int, "number": (int, float), "boolean": bool, "object": dict,
          "array": (list, tuple), "null": type(None)}
    return not kinds or any(isinstance(value, py[k]) and not (k in ("integer", "number") and isinstance(value, bool))
                            for k in kinds)


def test_every_mapped_source_is_sampled_and_every_type_documented() -> None:
    assert {type(e) for e in SAMPLES} == set(MAPPERS)
    assert sorted({to_public(e)["type"] for e in SAMPLES}) == sorted(EVENT_TYPES)  # type: ignore[index]
    assert SCHEMA["properties"]["type"]["enum"] == list(EVENT_TYPES)
    assert set(SCHEMA["$defs"]) == set(EVENT_TYPES)


@pytest.mark.parametrize("ev", SAMPLES, ids=lambda e: e.name)
def test_envelope_matches_the_schema(ev: Event) -> None:
    pub = to_public(ev)
    assert pub is not None
    envelope = {**pub, "cursor": "1"}
    assert set(envelope) == set(SCHEMA["required"])
    for key, spec in SCHEMA["properties"].items():
        assert _check(envelope[key], spec), key
    data_spec = SCHEMA["$defs"][pub["type"]]
    assert set(pub["data"]) == set(data_spec["properties"])
    for key, spec in data_spec["properties"].items():
        assert _check(pub["data"][key], spec), (pub["type"], key)
    json.dumps(envelope)  # JSON-serialisable as it is


def test_nothing_private_leaks() -> None:
    text = json.dumps([to_public(e) for e in SAMPLES])
    for private in ("86420", "secret-chan", "4970", "path", "attributes", "notes"):
        assert private not in text, private
    ivr = to_public(SAMPLES[1])
    assert ivr is not None and ivr["data"]["ivr_s"] == 0.5


def test_an_intervention_says_what_was_done_to_whom_and_by_whom() -> None:
    skills = to_public(SupervisorIntervention(ts=1, actor="sue", actor_role="supervisor", action="agent.set_skills",
                                              agent_id="a7", detail={"before": {"fr": 1}, "after": {"fr": 3}}))
    assert skills is not None and skills["agent_id"] == "a7" and skills["call_id"] is None
    assert skills["data"] == {"action": "agent.set_skills", "actor": "sue", "actor_role": "supervisor",
                              "reason": None, "from_state": None, "skills": {"fr": 3}}
    forced = to_public(SupervisorIntervention(ts=1, actor="sue", actor_role="supervisor",
                                              action="agent.force_not_ready", agent_id="a7",
                                              detail={"reason": "coaching", "from": "on_call", "after_call": True}))
    assert forced is not None
    assert (forced["data"]["reason"], forced["data"]["from_state"], forced["data"]["skills"]) == ("coaching", "on_call",
                                                                                                 None)
    spy = to_public(next(e for e in SAMPLES if isinstance(e, SupervisorIntervention)))
    assert spy is not None and spy["call_id"] == "L1" and "2001" not in json.dumps(spy)  # nor the phone


def test_internal_only_events_stay_inside() -> None:
    assert to_public(RecordingStarted(ts=1, linkedid="L1", file="/var/spool/x.wav")) is None
    assert to_public(AgentOffer(ts=1, agent_id="a7", linkedid="L1")) is None  # call.offered comes from AgentRinging


def test_a_call_folded_into_another_ends_with_it_under_its_own_call_id() -> None:
    # A three-way conference moved the caller's call (L1) and an earlier fold (L0) into L2.
    ended = CallEnded(ts=9, linkedid="L2", cause=16, cause_text="Normal Clearing", merged=("L1", "L0", "L1"))
    out = public_events(ended)
    assert [(p["call_id"], p["data"]["merged_into"]) for p in out] == [("L2", None), ("L1", "L2"), ("L0", "L2")]
    assert all(p["type"] == "call.ended" and p["ts"] == 9 and p["data"]["cause"] == 16 for p in out)
    spec = SCHEMA["$defs"]["call.ended"]["properties"]
    assert all(_check(p["data"]["merged_into"], spec["merged_into"]) for p in out)
    assert public_events(CallEnded(ts=9, linkedid="L1")) == [to_public(CallEnded(ts=9, linkedid="L1"))]
    assert public_events(RecordingStarted(ts=1, linkedid="L1", file="x.wav")) == []


def test_a_calls_end_names_its_agent_and_customer() -> None:
    """call.ended had agent_id null and no customer: a warehouse could not join a call's end to who
    handled it without keeping every call.answered. Folded calls end with the same people."""
    ended = to_public(next(e for e in SAMPLES if isinstance(e, CallEnded)))
    assert ended is not None and ended["agent_id"] == "a7" and ended["data"]["customer_id"] == 3
    out = public_events(CallEnded(ts=9, linkedid="L2", merged=("L1",), agent_id="a7", customer_id=3))
    assert [(p["call_id"], p["agent_id"], p["data"]["customer_id"]) for p in out] == [("L2", "a7", 3), ("L1", "a7", 3)]
    unknown = to_public(CallEnded(ts=9, linkedid="L9"))
    assert unknown is not None and unknown["agent_id"] is None and unknown["data"]["customer_id"] is None


def test_a_calls_later_events_carry_its_queue() -> None:
    """call.held, call.resumed, call.ended and call.wrapped_up said queue: null for a queued call:
    an integrator counting a queue's holds or wrap-ups had to remember each call's queue itself."""
    for ev in SAMPLES:
        if isinstance(ev, HoldStarted | HoldEnded | CallEnded | WrapUpDone):
            pub = to_public(ev)
            assert pub is not None and pub["queue"] == "support", pub
    assert to_public(CallEnded(ts=9, linkedid="L9"))["queue"] is None  # type: ignore[index]  # never queued


def test_agent_phone_reachability_is_exported_as_its_own_event_and_in_state_changes() -> None:
    lost = to_public(AgentPhoneReachability(ts=5, agent_id="a7", reachable=False, state="available", since=4.5))
    assert lost is not None and (lost["type"], lost["agent_id"], lost["call_id"]) == ("agent.phone_reachability",
                                                                                      "a7", None)
    assert lost["data"] == {"reachable": False, "state": "available", "reason": None, "since": 4.5}
    changed = to_public(AgentStateChanged(ts=6, agent_id="a7", state="available", phone_reachable=False))
    assert changed is not None and changed["data"]["phone_reachable"] is False


@pytest.mark.parametrize("reason", ["abandoned", "overflow", "moved", "voicemail", "callback", "timeout",
                                    "system_failure", "virtual_hold"])
def test_every_reason_a_call_leaves_a_queue_for_is_in_the_schema(reason: str) -> None:
    """QueueLeft's reasons (cti.journey) all reach the feed: the schema refused system_failure (a PBX
    crash under a waiting call) and virtual_hold (the caller keeps their place off the line)."""
    pub = to_public(QueueLeft(ts=1, linkedid="L1", queue="support", reason=reason, waited_s=3.0))
    assert pub is not None
    spec = SCHEMA["$defs"]["call.queue_left"]["properties"]["reason"]
    assert _check(pub["data"]["reason"], spec)


def test_a_move_names_who_made_it_and_other_exits_name_no_one() -> None:
    moved = to_public(QueueLeft(ts=1, linkedid="L1", queue="support", reason="moved", waited_s=3.0, target="billing",
                                actor="sue", actor_role="supervisor"))
    assert moved is not None
    assert moved["data"] == {"reason": "moved", "waited_s": 3.0, "target": "billing", "actor": "sue",
                             "actor_role": "supervisor"}
    left = to_public(QueueLeft(ts=1, linkedid="L1", queue="support", reason="abandoned", waited_s=3.0))
    assert left is not None and (left["data"]["actor"], left["data"]["actor_role"]) == (None, None)


def test_a_call_the_engine_closed_ends_as_any_call() -> None:
    """A campaign attempt's call published as arrived and ended by the dialer (no end from Asterisk):
    the integrator sees its call.ended, with no hangup cause and the attempt's outcome in words."""
    pub = to_public(CallClosed(ts=3, linkedid="cmp1-x", outcome="failed"))
    assert pub is not None and (pub["type"], pub["call_id"]) == ("call.ended", "cmp1-x")
    assert pub["data"] == {"cause": 0, "cause_text": "closed by the engine: failed", "merged_into": None,
                           "customer_id": None}


def test_a_call_ends_once_in_the_feed_whichever_end_comes_second() -> None:
    """The dialer closed a campaign call Asterisk had not reported ended (CallClosed); Asterisk had
    made it after all and reported its end later: the feed carried two call.ended for one call. The
    first end stands (the feed cannot take it back; the call log's interaction takes Asterisk's).
    The same the other way round, a close racing an end already out; the same event published
    again (a retried publish) is still its call's one end; other calls and events pass."""
    from crm_core.feed_events import OneEndPerCall

    ends = OneEndPerCall(closed=2, recent=2)
    closed = CallClosed(ts=50, linkedid="cmp1-b", outcome="failed")
    assert [p["data"]["cause"] for p in ends.public_events(closed)] == [0]
    assert ends.public_events(CallEnded(ts=80, linkedid="cmp1-b", cause=19)) == []
    assert len(ends.public_events(closed)) == 1  # retried: the same end
    ended = CallEnded(ts=9, linkedid="cmp1-c", cause=16)
    assert len(ends.public_events(ended)) == 1
    assert ends.public_events(CallClosed(ts=9.1, linkedid="cmp1-c", outcome="no_answer")) == []
    assert len(ends.public_events(ended)) == 1
    # A fold of a closed call into another: the survivor ends, the closed one not again.
    assert len(ends.public_events(CallClosed(ts=9.5, linkedid="L1", outcome="failed"))) == 1
    fold = CallEnded(ts=10, linkedid="L2", merged=("L1",))
    assert [p["call_id"] for p in ends.public_events(fold)] == ["L2"]
    arrived = CallArrived(ts=1, linkedid="cmp1-b", channel="", caller_number="8613912345678")
    assert ends.public_events(arrived) == public_events(arrived)
    # Bounded: the oldest remembered ends are forgotten.
    for i in range(2):
        ends.public_events(CallClosed(ts=60 + i, linkedid=f"cmp1-x{i}", outcome="failed"))
    assert len(ends.public_events(CallEnded(ts=90, linkedid="cmp1-b"))) == 1
