"""What the call model publishes on the journey (cti.ami.callmodel): the end of a Dial() as the far
end's answer or as the end of the ACD's ring, a voicemail left, and a call's end with what the
engine knows of it. Pure: typed AMI events in, journey events out, no I/O."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from cti.ami import events as ev
from cti.ami.call_records import CallRecord
from cti.events import Event
from cti.journey import AgentDialEnded, CallEnded, FarEndResult, VoicemailLeft

# Dialplan contexts the engine runs its own short-lived Local channels in (config/asterisk/
# extensions.conf): nobody called, so such a channel never becomes a call on the journey.
HOUSEKEEPING_CONTEXTS = frozenset({"cti-phone-secret", "cti-desk-lock", "cti-away-db"})
# The context of the IVR's session, where the caller's own channel dials the agent's phone
# (acd.ringing: the hand-off's ring). No other Dial() runs there.
AGENT_DIAL_CONTEXT = "cti-inbound"


# DialEnd's DialStatus -> FarEndResult.result. Other statuses (DONTCALL, TORTURE, INVALIDARGS)
# are not a far end's answer and publish nothing.
_FAR_END = {"ANSWER": "answered", "NOANSWER": "no_answer", "BUSY": "busy", "CONGESTION": "congestion",
            "CHANUNAVAIL": "unavailable", "CANCEL": "cancelled"}


def dial_ended(e: ev.DialEnd, linkedid: str) -> Event | None:
    """The journey event of a Dial() that ended in call ``linkedid``, or None."""
    # An Originate's DialEnd has no calling channel: that leg is the agent's phone, not a far end.
    if not e.channel:
        return None
    status = e.dial_status.upper()
    if e.context == AGENT_DIAL_CONTEXT:  # the caller rang the agent's phone: the ACD's ring ended
        return AgentDialEnded(ts=e.ts, linkedid=linkedid, channel=e.channel, dest_channel=e.dest_channel,
                              result=_FAR_END.get(status, status.lower()))
    if result := _FAR_END.get(status):
        return FarEndResult(ts=e.ts, linkedid=linkedid, channel=e.channel, dest_channel=e.dest_channel,
                            result=result)
    return None


def voicemail_left(e: ev.VoicemailResult, linkedid: str) -> VoicemailLeft | None:
    """The message the caller of call ``linkedid`` left, or None when the dialplan reports none."""
    if e.status.upper() == "SUCCESS" and e.mailbox:
        return VoicemailLeft(ts=e.ts, linkedid=linkedid, mailbox=e.mailbox)
    return None


def call_ended(call: CallRecord, ts: float, cause: int, cause_text: str, *, system_failure: bool,
               queue_of: Callable[[str], str | None] | None,
               handling_of: Callable[[str], tuple[str | None, int | None]] | None) -> CallEnded:
    """The end of ``call`` (its last channel hung up), stamped with the queue, agent and customer the
    engine knows for it (``CallModel``'s ``queue_of`` and ``handling_of``)."""
    agent_id, customer_id = handling(handling_of, call.linkedid, call.merged)
    return CallEnded(ts=ts, linkedid=call.linkedid, cause=cause, cause_text=cause_text,
                     system_failure=system_failure, merged=tuple(call.merged),
                     queue=queue_of(call.linkedid) if queue_of else None,
                     agent_id=agent_id, customer_id=customer_id)


def handling(handling_of: Callable[[str], tuple[str | None, int | None]] | None, linkedid: str,
            merged: Iterable[str]) -> tuple[str | None, int | None]:
    """The agent and customer of an ending call: its own, else those of a call folded into it (a
    conference can move the caller, and so the customer, to the consultation's linkedid)."""
    agent_id: str | None = None
    customer_id: int | None = None
    if handling_of is None:
        return agent_id, customer_id
    for lid in (linkedid, *merged):
        agent, customer = handling_of(lid)
        agent_id = agent_id or agent
        customer_id = customer if customer_id is None else customer_id
    return agent_id, customer_id
