"""The public event feed's vocabulary: internal bus events -> one versioned JSON envelope.

This is the one place that decides what integrators see (docs/event-feed.md,
docs/event-feed.schema.json). Only the fields listed here leave the engine: never DTMF, the IVR's
path or attributes, PINs, channel names or an agent's free-text notes. Pure: no I/O.

    {"v": 1, "cursor": "42", "type": "call.answered", "ts": 1.8e9, "call_id": "...",
     "agent_id": "a7", "queue": "support", "data": {...}}

``cursor`` is added by the store when the event is kept (it is the row's id).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import orjson

from acd.alerts import AlertAcknowledged, AlertCleared, AlertEscalated, AlertRaised
from acd.events import AgentPhoneReachability, AgentStateChanged, SupervisorIntervention
from crm_core.events import CaseChanged
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
    VoicemailLeft,
    WrapUpDone,
)

SCHEMA_VERSION = 1
Public = dict[str, Any]


def _env(ev: Event, type_: str, *, call_id: str | None = None, agent_id: str | None = None,
         queue: str | None = None, **data: Any) -> Public:
    return {"v": SCHEMA_VERSION, "type": type_, "ts": ev.ts, "call_id": call_id, "agent_id": agent_id,
            "queue": queue, "data": data}


def _arrived(e: CallArrived) -> Public:
    # callback_id: the virtual-hold entry (a web callback request's id) a callback's call serves.
    return _env(e, "call.arrived", call_id=e.linkedid, agent_id=e.agent_id, direction=e.direction,
                caller_number=e.caller_number, caller_name=e.caller_name, dnis=e.dnis, callback_id=e.callback_id)


def _ivr(e: IvrFinished) -> Public:
    # path (every key pressed) and attributes (whatever the flow collected) stay inside.
    return _env(e, "call.ivr_finished", call_id=e.linkedid, queue=e.queue, flow=e.flow, outcome=e.outcome,
                language=e.language, customer_id=e.customer_id, priority=e.priority,
                transfer_to=e.transfer_to, ivr_s=round(e.ts - e.started_at, 3) if e.started_at else None)


def _queued(e: QueueEntered) -> Public:
    return _env(e, "call.queued", call_id=e.linkedid, queue=e.queue, priority=e.priority,
                skills=dict(e.skills) if e.skills else None, customer_id=e.customer_id)


def _queue_left(e: QueueLeft) -> Public:
    # actor, actor_role: the supervisor who moved the caller (reason moved), as supervisor.intervention names them.
    return _env(e, "call.queue_left", call_id=e.linkedid, queue=e.queue, reason=e.reason, waited_s=e.waited_s,
                target=e.target, actor=e.actor, actor_role=e.actor_role)


def _offered(e: AgentRinging) -> Public:
    return _env(e, "call.offered", call_id=e.linkedid, agent_id=e.agent_id, queue=e.queue)


def _missed(e: AgentRingNoAnswer) -> Public:
    return _env(e, "call.offer_missed", call_id=e.linkedid, agent_id=e.agent_id, queue=e.queue)


def _answered(e: CallConnected) -> Public:
    return _env(e, "call.answered", call_id=e.linkedid, agent_id=e.agent_id, queue=e.queue, customer_id=e.customer_id)


def _held(e: HoldStarted) -> Public:
    return _env(e, "call.held", call_id=e.linkedid, agent_id=e.agent_id, queue=e.queue)


def _resumed(e: HoldEnded) -> Public:
    return _env(e, "call.resumed", call_id=e.linkedid, agent_id=e.agent_id, queue=e.queue)


def _transferred(e: CallTransferred) -> Public:
    return _env(e, "call.transferred", call_id=e.linkedid, agent_id=e.from_agent, target=e.target,
                target_kind=e.target_kind, kind=e.kind)


def _voicemail(e: VoicemailLeft) -> Public:
    return _env(e, "call.voicemail", call_id=e.linkedid, mailbox=e.mailbox)


def _ended(e: CallEnded) -> Public:
    # agent_id: who handled the call last; customer_id: whom it was with (either null when unknown).
    return _env(e, "call.ended", call_id=e.linkedid, agent_id=e.agent_id, queue=e.queue, cause=e.cause,
                cause_text=e.cause_text, merged_into=None, customer_id=e.customer_id)


def _closed(e: CallClosed) -> Public:
    # The engine's end of a campaign call Asterisk never reported ended (cti.journey.CallClosed): the
    # same call.ended, with no hangup cause (0) and the attempt's outcome in words.
    return _env(e, "call.ended", call_id=e.linkedid, agent_id=None, queue=None, cause=0,
                cause_text=f"closed by the engine: {e.outcome}", merged_into=None, customer_id=None)


def _wrapped(e: WrapUpDone) -> Public:
    # notes are the agent's free text about the customer: not for every integrator.
    return _env(e, "call.wrapped_up", call_id=e.linkedid, agent_id=e.agent_id, queue=e.queue, disposition=e.disposition,
                resolved_first_contact=e.resolved_first_contact, case_id=e.case_id, wrapup_s=e.wrapup_s)


def _callback(e: CallbackRequested) -> Public:
    return _env(e, "callback.requested", call_id=e.linkedid, queue=e.queue, number=e.number, due_at=e.due_at,
                customer_id=e.customer_id)


def _agent_state(e: AgentStateChanged) -> Public:
    return _env(e, "agent.state_changed", agent_id=e.agent_id, state=e.state, reason=e.reason, since=e.since,
                queues=list(e.queues), phone_reachable=e.phone_reachable)


def _reachability(e: AgentPhoneReachability) -> Public:
    # The agent's state is unchanged (``state``, ``reason`` as they were): only the phone's reachability.
    return _env(e, "agent.phone_reachability", agent_id=e.agent_id, reachable=e.reachable, state=e.state,
                reason=e.reason, since=e.since)


def _intervention(e: SupervisorIntervention) -> Public:
    # The detail's phone and spy channel stay inside (channel names never leave the engine).
    detail = e.detail or {}
    return _env(e, "supervisor.intervention", call_id=e.linkedid, agent_id=e.agent_id, action=e.action,
                actor=e.actor, actor_role=e.actor_role, reason=detail.get("reason"),
                from_state=detail.get("from"), skills=detail.get("after") if e.action == "agent.set_skills" else None)


def _case(e: CaseChanged) -> Public:
    # A note's text and an escalation's reason are free text about the customer: not here.
    return _env(e, "case.changed", case_id=e.case_id, event_id=e.event_id, action=e.action, actor=e.actor,
                customer_id=e.customer_id, status=e.status, previous_status=e.previous_status,
                fields=list(e.fields) or None, owner_id=e.owner_id, priority=e.priority,
                escalation_level=e.escalation_level)


def _alert(type_: str) -> Callable[[Any], Public]:
    def build(e: Any) -> Public:
        data = {k: getattr(e, k) for k in ("alert_id", "rule_id", "kind", "subject", "value", "threshold",
                                           "role", "level", "previous_role", "message", "by", "acknowledged")
                if hasattr(e, k)}
        agent = e.subject.split(":", 1)[1] if e.subject.startswith("agent:") else None
        return _env(e, type_, agent_id=agent, queue=e.queue, **data)

    return build


MAPPERS: dict[type[Event], Callable[[Any], Public]] = {
    CallArrived: _arrived, IvrFinished: _ivr, QueueEntered: _queued, QueueLeft: _queue_left,
    AgentRinging: _offered, AgentRingNoAnswer: _missed, CallConnected: _answered, HoldStarted: _held,
    HoldEnded: _resumed, CallTransferred: _transferred, VoicemailLeft: _voicemail, CallEnded: _ended,
    CallClosed: _closed,
    WrapUpDone: _wrapped, CallbackRequested: _callback, AgentStateChanged: _agent_state,
    AgentPhoneReachability: _reachability, SupervisorIntervention: _intervention, CaseChanged: _case,
    AlertRaised: _alert("alert.raised"), AlertEscalated: _alert("alert.escalated"),
    AlertAcknowledged: _alert("alert.acknowledged"), AlertCleared: _alert("alert.cleared"),
}
EVENT_TYPES: tuple[str, ...] = (
    "call.arrived", "call.ivr_finished", "call.queued", "call.queue_left", "call.offered", "call.offer_missed",
    "call.answered", "call.held", "call.resumed", "call.transferred", "call.voicemail", "call.ended",
    "call.wrapped_up", "callback.requested", "agent.state_changed", "agent.phone_reachability",
    "supervisor.intervention", "case.changed",
    "alert.raised", "alert.escalated", "alert.acknowledged", "alert.cleared",
)
SOURCES: tuple[type[Event], ...] = tuple(MAPPERS)


_std_dumps: Callable[[Any], str] = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def encode(public: Public) -> str:
    """``encode_bytes`` as text."""
    return encode_bytes(public).decode()


def encode_bytes(public: Public) -> bytes:
    """The envelope as compact JSON text (UTF-8 characters as they are), written once per event: the
    journal, the store and every reader share it. orjson: ~1 us per envelope against ~7 us for the
    standard library's encoder (bench/RESULTS.md, issue 19 sixth round), the same JSON values (a
    NaN or infinity, which no mapper produces, becomes null instead of the invalid ``NaN``); an
    integer past 64 bits, which orjson refuses, goes through the standard library."""
    try:
        return orjson.dumps(public)
    except orjson.JSONEncodeError:
        return _std_dumps(public).encode()


def to_public(ev: Event) -> Public | None:
    """The public envelope of ``ev`` (without its cursor), or None when integrators never see it."""
    build = MAPPERS.get(type(ev))
    return None if build is None else build(ev)


def public_events(ev: Event) -> list[Public]:
    """Every envelope ``ev`` puts in the feed, in order: none, its own, and after the end of a call
    into which Asterisk folded others (a three-way conference can move the caller's channel to the
    consultation's linkedid) a ``call.ended`` for each folded call, naming the survivor in
    ``merged_into``: an integrator following the caller's ``call_id`` sees it end (as the call
    log's interaction does, ``crm_core.calllog``)."""
    public = to_public(ev)
    if public is None:
        return []
    if not (isinstance(ev, CallEnded) and ev.merged):
        return [public]
    return [public] + [{**public, "call_id": other, "data": {**public["data"], "merged_into": ev.linkedid}}
                       for other in dict.fromkeys(ev.merged) if other != ev.linkedid]


class OneEndPerCall:
    """``public_events`` with one end per call between the engine's ``CallClosed`` and Asterisk's
    ``CallEnded``: the first published stands. A campaign call the dialer closed (Asterisk had not
    reported its end) whose end Asterisk reports later (it had made the call after all) is not ended
    a second time: the feed cannot take back the end it sent (the call log's interaction, which can,
    takes Asterisk's end and cause: ``crm_core.fold``). Nor is a close that raced an end already out.
    It remembers the calls the engine closed (few: each waits for a late end as long as ``closed``
    newer closes allow) and the last ``recent`` ends. Pure, no I/O."""

    def __init__(self, *, closed: int = 10_000, recent: int = 10_000) -> None:
        # call -> the end that went out, (event class, ts): the same event again (a publish retried
        # after its write failed) is not a second end.
        self._closed: OrderedDict[str, tuple[type, float]] = OrderedDict()  # ended by CallClosed
        self._ended: OrderedDict[str, tuple[type, float]] = OrderedDict()  # ended by CallEnded, lately
        self._max_closed, self._max_recent = closed, recent

    def public_events(self, ev: Event) -> list[Public]:
        publics = public_events(ev)
        end = (type(ev), ev.ts)
        if isinstance(ev, CallClosed):
            if self._ended.get(ev.linkedid, end) != end:
                return []  # Asterisk's end is out already
            _remember(self._closed, ev.linkedid, end, self._max_closed)
        elif isinstance(ev, CallEnded):
            if self._closed:
                publics = [p for p in publics if self._closed.get(p["call_id"], end) == end]
            for public in publics:
                _remember(self._ended, public["call_id"], end, self._max_recent)
        return publics


def _remember(seen: OrderedDict[str, tuple[type, float]], key: str, end: tuple[type, float], most: int) -> None:
    seen[key] = end
    if len(seen) > most:
        seen.popitem(last=False)
