"""Pure fold of one call's journey events into one interaction record with its segments.

The same set of events always gives the same record, whatever order they arrived in and however
often: events are de-duplicated on their wire form (``crm_core.event_keys``) and applied in (ts,
journey step) order. No I/O here; ``calllog`` owns the bus, the outbox and the database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from acd.events import AgentWrapUpEnded, ConsultationAnswered, ConsultationEnded
from crm_core.event_keys import event_key, mask_path
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
    CampaignAttemptEnded,
    FarEndResult,
    HoldEnded,
    HoldStarted,
    IvrFinished,
    QueueEntered,
    QueueLeft,
    RecordingStarted,
    SurveyAnswered,
    VoicemailLeft,
    WrapUpDone,
)

JOURNEY_EVENTS: tuple[type[Event], ...] = (
    CallArrived, IvrFinished, QueueEntered, AgentRinging, AgentRingNoAnswer, ConsultationAnswered,
    ConsultationEnded, CallConnected, RecordingStarted, HoldStarted, HoldEnded, CallTransferred, QueueLeft,
    VoicemailLeft, CallbackRequested, FarEndResult, CampaignAttemptEnded, SurveyAnswered, CallEnded, CallClosed,
    WrapUpDone,
    AgentWrapUpEnded,
)
# Tie-break for events stamped with the same time: the journey's own order.
_RANK = {cls: i for i, cls in enumerate(JOURNEY_EVENTS)}
TERMINAL_EVENTS = (CallEnded, CallClosed, WrapUpDone)

# IvrFinished.outcome -> interaction outcome when the IVR let go of the call without a queue.
IVR_OUTCOMES = {"voicemail": "voicemail", "callback": "callback_requested", "transfer": "abandoned_ivr",
                "hangup": "abandoned_ivr", "abandoned": "abandoned_ivr"}
# FarEndResult.result -> the outcome of an outbound call whose customer never answered ("cancelled":
# the agent hung up while it rang). The customer's answer leaves the outcome "answered".
FAR_END_OUTCOMES = {"no_answer": "no_answer", "cancelled": "no_answer", "busy": "busy",
                    "congestion": "failed", "unavailable": "failed"}


@dataclass
class FoldedSegment:
    kind: str
    started: float
    ended: float | None = None
    agent_id: str | None = None
    queue: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    disposition: str | None = None  # wrap-up segments: that agent's own wrap-up
    notes: str | None = None

    @property
    def duration(self) -> float:
        return max(0.0, self.ended - self.started) if self.ended is not None else 0.0


@dataclass
class Folded:
    """Interaction fields (times as epoch seconds) and its segments in time order."""

    linkedid: str
    fields: dict[str, Any]
    segments: list[FoldedSegment]


@dataclass
class _Handling:
    """One agent's turn on the call: their talk (None: a wrap-up from an agent never connected),
    their own wrap-up form, their wrap-up segment and when they left the wrap-up state."""

    agent_id: str
    talk: FoldedSegment | None
    wrap: WrapUpDone | None = None
    seg: FoldedSegment | None = None
    left: AgentWrapUpEnded | None = None


@dataclass
class _State:
    linkedid: str
    f: dict[str, Any] = field(default_factory=dict)
    segs: list[FoldedSegment] = field(default_factory=list)
    open: dict[tuple[str, str | None], FoldedSegment] = field(default_factory=dict)
    explicit_outcome: str | None = None
    entered_queue: bool = False
    queue_abandoned: bool = False
    queue_waited: float = 0.0  # waits known only from a QueueLeft (its QueueEntered never seen)
    queued: list[FoldedSegment] = field(default_factory=list)  # queue visits since the last answer
    handlings: list[_Handling] = field(default_factory=list)
    latest: dict[str, _Handling] = field(default_factory=dict)  # agent -> their latest turn
    current: str | None = None  # the agent on the call now (None: transferred away, or never)
    far_end: str | None = None  # the customer leg's result; "answered" once any leg answered
    closed: bool = False  # ended by the engine's CallClosed: a CallEnded (Asterisk's own end) replaces that end
    system_failure: bool = False  # cut by an Asterisk crash: its own outcome, never an abandon
    # Wrap-up state ends of agents without a turn on the call yet (a consulted agent), for the form
    # that may give them one.
    left_unturned: dict[str, AgentWrapUpEnded] = field(default_factory=dict)

    def opens(self, kind: str, ts: float, key: str | None = None, **kw: Any) -> FoldedSegment:
        self.closes(kind, ts, key)
        seg = FoldedSegment(kind, ts, **kw)
        self.segs.append(seg)
        self.open[(kind, key)] = seg
        return seg

    def closes(self, kind: str, ts: float, key: str | None = None, **detail: Any) -> FoldedSegment | None:
        seg = self.open.pop((kind, key), None)
        if seg is not None:
            seg.ended = max(ts, seg.started)
            seg.detail.update(detail)
        return seg

    def closes_kind(self, kind: str, ts: float, **detail: Any) -> None:
        for k in [k for k in self.open if k[0] == kind]:
            self.closes(kind, ts, k[1], **detail)


def fold(linkedid: str, events: Iterable[Event]) -> Folded:
    """Fold the events of call ``linkedid`` (any order, duplicates allowed) into one interaction."""
    return fold_keyed(linkedid, {event_key(ev): ev for ev in events})


def fold_keyed(linkedid: str, unique: Mapping[str, Event]) -> Folded:
    """``fold`` of events already de-duplicated by ``event_key`` (key -> event): the call logger
    keeps them so, and computing the keys again was a third of the fold's cost."""
    ordered = sorted(unique.items(), key=lambda kv: (kv[1].ts, _RANK.get(type(kv[1]), 99), kv[0]))
    st = _State(linkedid)
    st.f.update(direction="inbound", caller_number="", caller_name="", dialled_number="", started_at=None,
                answered_at=None, ended_at=None, customer_id=None, agent_id=None, queue=None, ivr_flow=None,
                ivr_outcome=None, ivr_path=[], language=None, priority=0, hold_count=0, transfer_count=0,
                disposition=None, notes="", recording_file=None, case_id=None, resolved_first_contact=False,
                hangup_cause=None, callback_number=None, voicemail_mailbox=None,
                csat=None, csat2=None, campaign_id=None, campaign_contact_id=None, callback_id=None)
    for _, ev in ordered:
        apply = _APPLY.get(type(ev))
        if apply is not None:
            apply(st, ev)
    return _finish(st, [ev for _, ev in ordered])


def _arrived(st: _State, ev: CallArrived) -> None:
    if st.f["started_at"] is not None and st.f.get("_arrived"):
        return
    st.f.update(_arrived=True, direction=ev.direction, caller_number=ev.caller_number,
                caller_name=ev.caller_name, dialled_number=ev.dnis, started_at=ev.ts, callback_id=ev.callback_id)
    if ev.agent_id:
        st.f["agent_id"] = ev.agent_id


def _ivr(st: _State, ev: IvrFinished) -> None:
    start = ev.started_at or st.f["started_at"] or ev.ts
    st.segs.append(FoldedSegment("ivr", min(start, ev.ts), ev.ts, detail={
        "flow": ev.flow, "outcome": ev.outcome, **({"transfer_to": ev.transfer_to} if ev.transfer_to else {})}))
    st.f.update(ivr_flow=ev.flow, ivr_outcome=ev.outcome, ivr_path=[dict(s) for s in mask_path(ev.path)],
                language=ev.language, priority=max(st.f["priority"], ev.priority))
    if ev.customer_id is not None:
        st.f["customer_id"] = ev.customer_id
    if ev.queue:
        st.f["queue"] = ev.queue
    if ev.caller_number and not st.f["caller_number"]:
        st.f["caller_number"] = ev.caller_number
    if ev.outcome in IVR_OUTCOMES:
        st.explicit_outcome = IVR_OUTCOMES[ev.outcome]


def _queue_entered(st: _State, ev: QueueEntered) -> None:
    if st.current is not None:
        # Back in a queue with an agent still on the call: its agent's softphone was lost and did
        # not come back (acd.reconnect). Their part ends here, their wrap-up starts (docs/kpis.md:
        # the wait after it is no talk). A transfer's CallTransferred ended its agent's part already.
        st.closes("hold", ev.ts, st.current)
        st.closes("talk", ev.ts, st.current)
        st.current = None
    st.closes_kind("queue", ev.ts)
    st.queued.append(st.opens("queue", ev.ts, queue=ev.queue))
    st.entered_queue = True
    st.f["queue"] = ev.queue
    st.f["priority"] = max(st.f["priority"], ev.priority)
    if ev.customer_id is not None and st.f["customer_id"] is None:
        st.f["customer_id"] = ev.customer_id


def _ringing(st: _State, ev: AgentRinging) -> None:
    st.opens("ringing", ev.ts, ev.agent_id, agent_id=ev.agent_id, queue=ev.queue)


def _no_answer(st: _State, ev: AgentRingNoAnswer) -> None:
    st.closes("ringing", ev.ts, ev.agent_id, result="no_answer")


def _connected(st: _State, ev: CallConnected) -> None:
    st.closes_kind("queue", ev.ts)
    st.queued.clear()
    st.closes("ringing", ev.ts, ev.agent_id, result="answered")
    st.closes_kind("ringing", ev.ts, result="cancelled")
    st.closes_kind("hold", ev.ts)
    st.closes_kind("talk", ev.ts)  # whoever was on the call before has left it
    st.closes("consult", ev.ts, ev.agent_id, ended_by="transferred")  # a consulted agent takes the call over
    if st.f["answered_at"] is None:
        st.f["answered_at"] = ev.ts
    queue = ev.queue or st.f["queue"]
    st.f.update(agent_id=ev.agent_id, queue=queue)
    talk = st.opens("talk", ev.ts, ev.agent_id, agent_id=ev.agent_id, queue=queue)
    st.latest[ev.agent_id] = _Handling(ev.agent_id, talk)
    st.handlings.append(st.latest[ev.agent_id])
    st.current = ev.agent_id


def _recording(st: _State, ev: RecordingStarted) -> None:
    if st.f["recording_file"] is None:
        st.f["recording_file"] = ev.file


def _survey(st: _State, ev: SurveyAnswered) -> None:
    """CSAT: the first question's answer is the call's score, the second (if any) kept beside it."""
    scores = [*ev.scores, None, None]
    st.f["csat"], st.f["csat2"] = scores[0], scores[1]


def _hold_started(st: _State, ev: HoldStarted) -> None:
    if ("hold", ev.agent_id) not in st.open:
        st.opens("hold", ev.ts, ev.agent_id, agent_id=ev.agent_id)
        st.f["hold_count"] += 1


def _hold_ended(st: _State, ev: HoldEnded) -> None:
    st.closes("hold", ev.ts, ev.agent_id)


# A consulted agent's consultation (docs/kpis.md, *Transferred calls*): their own segment, their talk
# in the per-agent parts (acd.agent_parts) but not the call's talk. The caller is on the
# transferring agent's hold meanwhile (their talk in a conference), which the call counts already.

def _consult_answered(st: _State, ev: ConsultationAnswered) -> None:
    if st.f["ended_at"] is not None:
        return  # answered as the caller left: no consultation of this call (CallEnded closed everything)
    st.opens("consult", ev.ts, ev.agent_id, agent_id=ev.agent_id, queue=ev.queue or st.f["queue"],
             detail={"from_agent": ev.from_agent})


def _consult_ended(st: _State, ev: ConsultationEnded) -> None:
    st.closes("consult", ev.ts, ev.agent_id, ended_by=ev.reason)


def _transferred(st: _State, ev: CallTransferred) -> None:
    st.segs.append(FoldedSegment("transfer", ev.ts, ev.ts, agent_id=ev.from_agent, detail={
        "target": ev.target, "target_kind": ev.target_kind, "kind": ev.kind}))
    st.f["transfer_count"] += 1
    # The transferring agent leaves the call here: at once for a blind transfer; an attended one is
    # published when the agent completes it (acd.delivery hangs up their leg), the consultation
    # being the hold just before. Their after-call work starts now.
    st.closes("hold", ev.ts, ev.from_agent)
    st.closes("talk", ev.ts, ev.from_agent)
    if st.current == ev.from_agent:
        st.current = None


def _queue_left(st: _State, ev: QueueLeft) -> None:
    # The visit this QueueLeft ends may be closed already: the ACD learns of an abandon from the
    # call model's CallEnded (so its QueueLeft comes later), and publishes an overflow's QueueLeft
    # and the next QueueEntered with one timestamp. Only a visit never seen adds ``waited_s``.
    left = [s for s in st.queued if "reason" not in s.detail]
    seg = next((s for s in reversed(left) if s.queue == ev.queue), left[-1] if left else None)
    detail = {"reason": ev.reason, **({"target": ev.target} if ev.target else {})}
    if seg is None:
        st.queue_waited += ev.waited_s
        st.f["queue"] = st.f["queue"] or ev.queue
    elif st.open.get(("queue", None)) is seg:
        st.closes("queue", ev.ts, **detail)
    else:
        seg.detail.update(detail)
    st.entered_queue = True
    st.closes_kind("ringing", ev.ts, result="cancelled")
    if ev.reason == "abandoned":
        st.queue_abandoned = True
    elif ev.reason == "virtual_hold":  # hung up to be called back at its turn: no abandon (docs/kpis.md)
        st.explicit_outcome = "callback_requested"


def _voicemail(st: _State, ev: VoicemailLeft) -> None:
    st.explicit_outcome = "voicemail"
    st.f["voicemail_mailbox"] = ev.mailbox


def _callback(st: _State, ev: CallbackRequested) -> None:
    st.explicit_outcome = "callback_requested"
    st.f["callback_number"] = ev.number
    if ev.customer_id is not None and st.f["customer_id"] is None:
        st.f["customer_id"] = ev.customer_id


def _far_end(st: _State, ev: FarEndResult) -> None:
    if st.far_end != "answered":
        st.far_end = ev.result


def _campaign(st: _State, ev: CampaignAttemptEnded) -> None:
    st.f.update(campaign_id=ev.campaign_id, campaign_contact_id=ev.contact_id)
    if ev.result in ("machine", "dropped"):  # the customer answered, but no agent talked with a human
        st.explicit_outcome = ev.result
    elif ev.result == "human":  # a person reached an agent, also on a call the ACD never connected
        st.explicit_outcome = "answered"  # (a preview Dial's call placed after Asterisk never answered)


def _closed(st: _State, ev: CallClosed) -> None:
    """The dialer's end of an attempt's call Asterisk never reported ended: its outcome is the attempt's."""
    if ev.outcome in ("no_answer", "busy", "failed", "machine", "dropped") and st.explicit_outcome is None:
        st.explicit_outcome = ev.outcome
    if st.f["ended_at"] is not None:
        return
    st.f["ended_at"] = ev.ts
    st.closed = True
    st.closes_kind("ringing", ev.ts, result="caller_hung_up")
    for kind, key in list(st.open):
        st.closes(kind, ev.ts, key)


def _ended(st: _State, ev: CallEnded) -> None:
    if st.closed:
        # Asterisk reported the end after the dialer closed the call (it made the call after all):
        # the real end and its cause. Segments the close ended stay so (the call had none open).
        st.closed = False
        st.f.update(ended_at=max(ev.ts, st.f["ended_at"]), hangup_cause=ev.cause)
        st.system_failure = ev.system_failure
        return
    if st.f["ended_at"] is not None:
        return
    st.f.update(ended_at=ev.ts, hangup_cause=ev.cause)
    st.system_failure = ev.system_failure
    st.closes_kind("ringing", ev.ts, result="caller_hung_up")
    for kind, key in list(st.open):
        st.closes(kind, ev.ts, key)
    last = _last_handler(st)
    if last is not None and last.wrap is None:  # the wrap-up the interaction waits for
        seg = _wrap_segment(st, last, ev.ts)
        if last.left is not None:
            _wrap_ends(seg, last.left)


# After-call work is the agent's time in the wrap-up state for the call (docs/kpis.md): from their
# own end of the call (their talk's end: the transfer away, or the hang-up) until they left that
# state (AgentWrapUpEnded: the timer, ready, not ready...) or sent the wrap-up form, whichever came
# first. A later form gives the disposition and notes, not more after-call work. WrapUpDone.wrapup_s
# (the desk's count of the same time) is not used: the events' own times say it, also for a form
# that never came.

def _wrap_segment(st: _State, turn: _Handling, ts: float) -> FoldedSegment:
    """The turn's wrap-up segment, opened at the agent's end of the call when not yet (``ts``: the
    event asking for it, the start when that end is not known)."""
    if turn.seg is None:
        if turn.talk is not None:
            start = turn.talk.ended if turn.talk.ended is not None else ts
        else:
            start = st.f["ended_at"] if st.f["ended_at"] is not None else ts
        turn.seg = FoldedSegment("wrapup", min(start, ts), agent_id=turn.agent_id)
        st.segs.append(turn.seg)
    return turn.seg


def _wrap_ends(seg: FoldedSegment, by: AgentWrapUpEnded | WrapUpDone) -> None:
    """End the wrap-up segment at ``by`` unless it ended earlier; the detail says when the state's
    end (not the form) ended it."""
    end = max(by.ts, seg.started)
    if seg.ended is not None and seg.ended <= end:
        return
    seg.ended = end
    if isinstance(by, AgentWrapUpEnded):
        seg.detail["ended_by"] = by.reason
    else:
        seg.detail.pop("ended_by", None)


def _wrap_left(st: _State, ev: AgentWrapUpEnded) -> None:
    turn = st.latest.get(ev.agent_id)
    if turn is None and (st.f["ended_at"] is None or ev.ts < st.f["ended_at"]):
        # No turn yet (a consulted agent) and the call went on: a consultation cancelled, no wrap-up
        # of this call unless a form makes one (kept for it).
        st.left_unturned.setdefault(ev.agent_id, ev)
        return
    if turn is None:  # a consulted agent the caller's hang-up sent into wrap-up: theirs, form or not
        turn = st.latest[ev.agent_id] = _Handling(ev.agent_id, None)
        st.handlings.append(turn)
    if turn.left is not None:
        return  # a turn's wrap-up state ends once
    turn.left = ev
    _wrap_ends(_wrap_segment(st, turn, ev.ts), ev)


def _wrapped(st: _State, ev: WrapUpDone) -> None:
    turn = st.latest.get(ev.agent_id)
    if turn is None:  # a wrap-up from an agent the call never connected to
        turn = st.latest[ev.agent_id] = _Handling(ev.agent_id, None, left=st.left_unturned.get(ev.agent_id))
        st.handlings.append(turn)
    if turn.wrap is not None:
        return  # the agent's first wrap-up of their turn counts
    turn.wrap = ev
    seg = _wrap_segment(st, turn, ev.ts)
    if turn.left is not None:
        _wrap_ends(seg, turn.left)
    _wrap_ends(seg, ev)
    seg.disposition, seg.notes = ev.disposition or None, ev.notes
    seg.detail.update(resolved_first_contact=ev.resolved_first_contact,
                      **({"case_id": ev.case_id} if ev.case_id is not None else {}))
    st.f["agent_id"] = st.f["agent_id"] or ev.agent_id


def _last_handler(st: _State) -> _Handling | None:
    """The agent on the call now, else the last one who was (a transfer away to a number)."""
    if st.current is not None:
        return st.latest[st.current]
    return st.handlings[-1] if st.handlings else None


_APPLY: dict[type[Event], Any] = {
    CallArrived: _arrived, IvrFinished: _ivr, QueueEntered: _queue_entered, AgentRinging: _ringing,
    AgentRingNoAnswer: _no_answer, CallConnected: _connected, RecordingStarted: _recording,
    HoldStarted: _hold_started, HoldEnded: _hold_ended, CallTransferred: _transferred,
    QueueLeft: _queue_left, VoicemailLeft: _voicemail, CallbackRequested: _callback, FarEndResult: _far_end,
    CallEnded: _ended, CallClosed: _closed, WrapUpDone: _wrapped, SurveyAnswered: _survey,
    CampaignAttemptEnded: _campaign, AgentWrapUpEnded: _wrap_left, ConsultationAnswered: _consult_answered,
    ConsultationEnded: _consult_ended,
}


def _total(segs: list[FoldedSegment], kind: str) -> float:
    return sum((s.duration for s in segs if s.kind == kind), 0.0)


def _held_in_talk(segs: list[FoldedSegment]) -> float:
    """Hold time inside talk segments (a hold is normally inside its agent's talk; this does not
    rely on it)."""
    talks = [(s.started, s.ended) for s in segs if s.kind == "talk" and s.ended is not None]
    holds = [(s.started, s.ended) for s in segs if s.kind == "hold" and s.ended is not None]
    return sum(max(0.0, min(te, he) - max(ts, hs)) for ts, te in talks for hs, he in holds)


def _finish(st: _State, events: list[Event]) -> Folded:
    f = st.f
    f.pop("_arrived", None)
    if f["started_at"] is None:
        f["started_at"] = min((ev.ts for ev in events), default=0.0)
    ended = f["ended_at"] is not None
    # An outbound call is "answered" from the agent's side at once; its customer may not be.
    far_end = FAR_END_OUTCOMES.get(st.far_end or "") if f["direction"] == "outbound" else None
    if st.system_failure:  # answered or waiting, the PBX cut it: not the caller's doing
        outcome: str | None = "system_failure"
    elif far_end is not None:
        outcome = far_end
    elif f["answered_at"] is not None:
        outcome = "answered"
    elif st.explicit_outcome is not None:
        outcome = st.explicit_outcome
    elif not ended:
        outcome = None
    elif st.entered_queue:
        outcome = "abandoned_queue"
    elif any(s.kind == "ivr" for s in st.segs):
        outcome = "abandoned_ivr"
    else:
        outcome = "failed"
    hold = _total(st.segs, "hold")
    talk = max(0.0, _total(st.segs, "talk") - _held_in_talk(st.segs))  # AHT adds hold apart
    acw = _total(st.segs, "wrapup")  # every agent's after-call work on this call
    wait = _total(st.segs, "queue") + st.queue_waited
    # The interaction is the last handler's: their wrap-up completes it and gives its disposition
    # and notes (each agent's own stay on their wrap-up segment). One who transferred away is the
    # last handler only once the call ended without another agent.
    last = _last_handler(st)
    final = last.wrap if last is not None and (st.current is not None or ended) else None
    if final is not None:
        f.update(disposition=final.disposition or None, notes=final.notes,
                 resolved_first_contact=final.resolved_first_contact)
    cases = [t.wrap.case_id for t in st.handlings if t.wrap is not None and t.wrap.case_id is not None]
    if final is not None and final.case_id is not None:
        f["case_id"] = final.case_id
    elif cases:
        f["case_id"] = cases[-1]
    complete = final is not None if last is not None else ended
    f.update(outcome=outcome, abandoned=outcome in ("abandoned_ivr", "abandoned_queue"),
             status="complete" if complete else ("ended" if ended else "open"),
             ivr_s=round(_total(st.segs, "ivr"), 3), wait_s=round(wait, 3), ring_s=round(_total(st.segs, "ringing"), 3),
             talk_s=round(talk, 3), hold_s=round(hold, 3), acw_s=round(acw, 3))
    segs = sorted(enumerate(st.segs), key=lambda p: (p[1].started, p[0]))
    return Folded(st.linkedid, f, [s for _, s in segs])
