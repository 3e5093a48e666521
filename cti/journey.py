"""The call's journey as bus events: the contract between the IVR, the ACD, the console and the
CRM call logger. Every event names the call by ``linkedid`` (Asterisk's Linkedid of the caller's
channel, unique per call) and carries ``ts`` (event time, seconds since the epoch).

Order for an inbound call: CallArrived -> IvrFinished -> QueueEntered -> (AgentRinging ->
AgentRingNoAnswer)* -> AgentRinging -> CallConnected -> (HoldStarted/HoldEnded, CallTransferred)*
-> CallEnded -> WrapUpDone. Any step may be cut short by CallEnded (abandon).

The journey is the one vocabulary every package shares, so it lives in the bridge, below all of
them. Who publishes what:
- ``cti.ami.callmodel`` (the PBX's view): CallEnded, FarEndResult (an outbound dial to the customer
  ended), VoicemailLeft; and AgentDialEnded, the outcome of the ACD's ring (not a journey step).
- ``ivr.driver``: CallArrived (inbound), IvrFinished, CallbackRequested (the caller asked for one).
- ``acd.delivery``: QueueEntered, QueueLeft, AgentRinging, AgentRingNoAnswer, CallConnected,
  HoldStarted / HoldEnded, CallTransferred, CallArrived (outbound click-to-dial), CallbackRequested
  (a queue's callback limit).
- ``agent_console.desk_wrapups`` (the console's desk): WrapUpDone.
- ``crm_core.dialer`` (outbound campaigns): CallArrived (each attempt), CampaignAttemptEnded, and
  CallClosed for an attempt whose call's end Asterisk never reports (no channel was made, or its end
  was never seen).
``crm_core.calllog`` folds them all into one interaction per call, with events of the ACD's own
(``acd.events.AgentWrapUpEnded``: an agent left the wrap-up state of the call, which ends its
after-call work; ``ConsultationAnswered`` / ``ConsultationEnded``: a consulted agent's
consultation on the call); ``crm_core.seed`` replays them to make the demo's history.
"""

from __future__ import annotations

from typing import Any

from cti.events import Event, event


@event("call.arrived")
class CallArrived(Event):
    linkedid: str
    channel: str
    caller_number: str
    caller_name: str = ""
    dnis: str = ""
    direction: str = "inbound"  # inbound | outbound | internal
    agent_id: str | None = None  # outbound: the agent who placed it
    # A virtual-hold callback's call (an attempt, answered or not): the entry it calls back, a web
    # request's id (``web-...``, POST /api/callback-requests) or the caller's first call's linkedid.
    callback_id: str | None = None


@event("call.ivr_finished")
class IvrFinished(Event):
    """The IVR let go of the call. ``outcome``: queue, voicemail, callback, transfer, hangup
    (the flow ended it), abandoned (the caller hung up in the IVR)."""

    linkedid: str
    flow: str
    outcome: str
    channel: str = ""  # the caller's channel, parked in cti-queue when outcome is "queue"
    caller_number: str = ""
    path: tuple[dict[str, Any], ...] = ()  # [{"node": id, "at": ts, "input": masked, "choice": ...}]
    queue: str | None = None
    skills: dict[str, int] | None = None  # skill -> minimum proficiency
    priority: int = 0
    customer_id: int | None = None
    language: str = "en"
    attributes: dict[str, str] | None = None  # carried to the agent's screen pop
    transfer_to: str | None = None
    started_at: float = 0.0


@event("call.queue_entered")
class QueueEntered(Event):
    linkedid: str
    queue: str
    channel: str = ""
    priority: int = 0
    skills: dict[str, int] | None = None
    customer_id: int | None = None


@event("call.agent_ringing")
class AgentRinging(Event):
    linkedid: str
    agent_id: str
    queue: str


@event("call.agent_no_answer")
class AgentRingNoAnswer(Event):
    linkedid: str
    agent_id: str
    queue: str


@event("call.connected")
class CallConnected(Event):
    """Caller and agent are talking; ``customer_id``: the CRM's customer, when the call knows them."""

    linkedid: str
    agent_id: str
    queue: str | None = None
    customer_id: int | None = None


@event("call.queue_left")
class QueueLeft(Event):
    """The call left the queue without an agent. ``reason``: abandoned (caller hung up),
    overflow (to ``target`` queue), moved (a supervisor sent the waiting caller to ``target``),
    voicemail, callback, timeout (max wait action), system_failure (the PBX crashed under the
    waiting call), virtual_hold (hung up to be called back at its turn, keeping its place:
    docs/callbacks.md). ``actor`` / ``actor_role``: who moved it (reason moved: the supervisor's
    user name and role); None otherwise."""

    linkedid: str
    queue: str
    reason: str
    waited_s: float
    target: str | None = None
    actor: str | None = None
    actor_role: str | None = None


@event("call.hold_started")
class HoldStarted(Event):
    linkedid: str
    agent_id: str
    queue: str | None = None  # the call's queue (None: a call no queue had)


@event("call.hold_ended")
class HoldEnded(Event):
    linkedid: str
    agent_id: str
    queue: str | None = None  # the call's queue (None: a call no queue had)


@event("call.transferred")
class CallTransferred(Event):
    linkedid: str
    from_agent: str
    target: str  # agent id, queue name or number
    target_kind: str  # agent | queue | number
    kind: str = "blind"  # blind | attended


@event("call.voicemail")
class VoicemailLeft(Event):
    linkedid: str
    mailbox: str


@event("call.callback_requested")
class CallbackRequested(Event):
    linkedid: str
    number: str
    queue: str | None = None
    due_at: float | None = None
    customer_id: int | None = None


# FarEndResult.result values.
FAR_END_RESULTS = ("answered", "no_answer", "busy", "congestion", "unavailable", "cancelled")


@event("call.campaign_attempt")
class CampaignAttemptEnded(Event):
    """An outbound campaign's attempt came to its result (``crm_core.dialer``): ``human`` (reached
    an agent), ``machine`` (AMD), ``dropped`` (answered, no agent free: heard the drop message),
    ``no_answer``, ``busy``, ``failed``."""

    linkedid: str
    campaign_id: int
    contact_id: int
    result: str


@event("call.closed")
class CallClosed(Event):
    """The engine ended a call it published whose end Asterisk did not report (``crm_core.dialer``:
    a campaign attempt settled without its call's CallEnded: the Originate refused, not answered by
    Asterisk in time, lost with the AMI connection, or the call's end never seen). ``outcome``: the
    attempt's result (as CampaignAttemptEnded's). Published once per call, after the attempt's end;
    a CallEnded of the same call coming later (Asterisk had made the call after all) gives the call
    its real end instead (``crm_core.fold``); the public feed keeps the end it sent first
    (``crm_core.feed_events.OneEndPerCall``)."""

    linkedid: str
    outcome: str


@event("call.far_end")
class FarEndResult(Event):
    """A leg the call dialled from the dialplan (the customer of an outbound call, a transfer's
    number) stopped ringing: ``result`` is one of FAR_END_RESULTS; ``cancelled``: the calling side
    hung up first. Not published for the agent's own phone: an originated leg has no dialling
    channel, and the caller's dial of it is an AgentDialEnded."""

    linkedid: str
    channel: str  # the dialling channel (an outbound call: the agent's leg)
    dest_channel: str
    result: str


@event("call.agent_dial_ended")
class AgentDialEnded(Event):
    """The caller's channel dialled an agent's phone from its IVR session (the ACD's ring) and
    that dial ended: ``result`` as FarEndResult's (``answered`` comes at the answer), or Asterisk's
    DialStatus lower-cased. Published instead of FarEndResult for such dials. It is the ring's
    outcome for the ACD, not a step of the journey: the call logger and the event feed ignore it."""

    linkedid: str
    channel: str  # the caller's channel
    dest_channel: str  # the agent's leg
    result: str


@event("call.ended")
class CallEnded(Event):
    """The last channel of the call hung up (from the call model). ``system_failure``: the call
    was cut because Asterisk crashed or restarted, not by the caller or the agent (``ts`` is when
    the engine lost Asterisk, not when it noticed)."""

    linkedid: str
    cause: int = 16
    cause_text: str = ""
    system_failure: bool = False
    merged: tuple[str, ...] = ()  # calls folded into this one (their channels moved here): they end too
    queue: str | None = None  # the call's last queue, where the engine knows it (the ACD's)
    # Who handled the call and whom it was with, where the engine knows it (the ACD's call: its last
    # agent, the customer the IVR recognised or the agent dialled): the public feed's call.ended.
    agent_id: str | None = None
    customer_id: int | None = None


@event("call.wrapup_done")
class WrapUpDone(Event):
    linkedid: str
    agent_id: str
    disposition: str
    notes: str = ""
    resolved_first_contact: bool = False
    case_id: int | None = None
    wrapup_s: float = 0.0
    queue: str | None = None  # the call's queue (None: a call no queue had)


@event("call.recording")
class RecordingStarted(Event):
    linkedid: str
    file: str


@event("call.survey_answered")
class SurveyAnswered(Event):
    """The caller rated the call after the agent hung up (keys 1-5); ``scores`` holds one answer
    per question of the queue's survey, ``None`` for a question left unanswered."""

    linkedid: str
    queue: str
    scores: tuple[int | None, ...] = ()
