"""What Asterisk tells us, as typed frozen events (published on the bus as ``ami.*``).

Channel events carry the channel name, its Uniqueid and the call's Linkedid. ``ts`` is Asterisk's
own event time when manager.conf has ``timestampevents = yes``, else the time we read it.
Resync items (``*Snapshot``) come between ResyncStarted and ResyncFinished after every
(re)connect; they describe what exists now, not what happened.
"""

from __future__ import annotations

from cti.events import Event, event


@event("ami.newchannel")
class Newchannel(Event):
    channel: str
    uniqueid: str
    linkedid: str
    state: int
    caller_num: str = ""
    caller_name: str = ""
    context: str = ""
    exten: str = ""


@event("ami.newstate")
class Newstate(Event):
    channel: str
    uniqueid: str
    linkedid: str
    state: int
    caller_num: str = ""
    caller_name: str = ""
    connected_num: str = ""
    connected_name: str = ""


@event("ami.hangup")
class Hangup(Event):
    channel: str
    uniqueid: str
    linkedid: str
    cause: int = 0
    cause_text: str = ""


@event("ami.dial_end")
class DialEnd(Event):
    channel: str  # the caller; empty for an Originate (no calling channel)
    uniqueid: str
    dest_channel: str
    dest_uniqueid: str
    linkedid: str
    dial_status: str = ""
    context: str = ""  # the caller's dialplan context (empty for an Originate)


@event("ami.voicemail_result")
class VoicemailResult(Event):
    """The dialplan's ``UserEvent(CtiVoicemail)`` when a caller leaves cti-voicemail; ``status`` is
    VoiceMail()'s VMSTATUS (SUCCESS when a message was left)."""

    channel: str
    uniqueid: str
    linkedid: str
    mailbox: str
    status: str = ""


@event("ami.ivr_lost")
class IvrLost(Event):
    """The dialplan's ``UserEvent(CtiIvrLost)``: a caller whose IVR was lost (no engine, or one
    that died under the call) waits in ``queue``'s music (``cti-ivr-lost``); ``CTI_ACD`` is set."""

    channel: str
    uniqueid: str
    linkedid: str
    queue: str
    caller_num: str = ""
    dnis: str = ""


@event("ami.conference_left")
class ConferenceLeft(Event):
    """The dialplan's ``UserEvent(CtiConferenceLeft)``: ``channel`` hung up while in a three-way
    conference (``cti-conference``; not when the caller's leaving ended it)."""

    channel: str
    uniqueid: str
    linkedid: str


@event("ami.consult_left")
class ConsultLeft(Event):
    """The dialplan's ``UserEvent(CtiConsultLeft)``: ``channel``, an attended transfer's consultation
    leg (``cti-consult-connect``), hung up: its own end (the consulted phone, the number's far end)
    or the engine did, not the agent's leg leaving it."""

    channel: str
    uniqueid: str
    linkedid: str


@event("ami.consult_alone")
class ConsultAlone(Event):
    """The dialplan's ``UserEvent(CtiConsultAlone)``: ``channel``, an attended transfer's consultation
    leg (``cti-consult-connect``), is up but the agent's leg left its Bridge(): the agent's own phone
    hung up, or the engine took the agent back to the caller. It waits in ``cti-consult-alone``."""

    channel: str
    uniqueid: str
    linkedid: str


@event("ami.parked_left")
class ParkedLeft(Event):
    """The dialplan's ``UserEvent(CtiParkedLeft)``: ``channel``, an agent's leg parked in
    ``cti-park-agent`` while its caller is on hold, hung up by its own end (the agent's phone)."""

    channel: str
    uniqueid: str
    linkedid: str


@event("ami.bridge_enter")
class BridgeEnter(Event):
    bridge_id: str
    channel: str
    uniqueid: str
    linkedid: str


@event("ami.bridge_leave")
class BridgeLeave(Event):
    bridge_id: str
    channel: str
    uniqueid: str
    linkedid: str


@event("ami.local_bridge")
class LocalBridge(Event):
    """The two halves (``;1`` and ``;2``) of one Local channel were joined."""

    one_channel: str
    one_uniqueid: str
    two_channel: str
    two_uniqueid: str
    linkedid: str


@event("ami.hold")
class Hold(Event):
    channel: str
    uniqueid: str
    linkedid: str


@event("ami.unhold")
class Unhold(Event):
    channel: str
    uniqueid: str
    linkedid: str


@event("ami.originate_response")
class OriginateResponse(Event):
    """Reason: 0 failed, 1 hung up, 3 ringing timeout (no answer), 4 answered, 5 busy, 8 congested."""

    action_id: str
    success: bool
    reason: int
    channel: str
    uniqueid: str = ""
    context: str = ""
    exten: str = ""


@event("ami.blind_transfer")
class BlindTransfer(Event):
    success: bool
    transferer_channel: str
    transferer_uniqueid: str
    transferee_channel: str
    transferee_uniqueid: str
    linkedid: str
    bridge_id: str = ""
    context: str = ""
    exten: str = ""


@event("ami.attended_transfer")
class AttendedTransfer(Event):
    success: bool
    transferer_channel: str
    transferer_uniqueid: str
    transferee_channel: str
    transferee_uniqueid: str
    target_channel: str
    target_uniqueid: str
    linkedid: str
    dest_type: str = ""


@event("ami.device_state")
class DeviceStateChange(Event):
    device: str  # e.g. PJSIP/1001
    state: str  # NOT_INUSE, INUSE, RINGING, UNAVAILABLE, ...


@event("ami.contact_status")
class ContactStatus(Event):
    endpoint: str
    aor: str
    uri: str
    status: str  # Created, Reachable, Unreachable, Removed, ...


@event("ami.fully_booted")
class FullyBooted(Event):
    pass


@event("ami.security_failure")
class SecurityFailure(Event):
    """Asterisk refused someone (AMI class ``security``): an unknown account, a wrong password or
    digest response, or an address its ACL denies."""

    kind: str  # InvalidAccountID, InvalidPassword, ChallengeResponseFailed, FailedACL
    service: str  # PJSIP, AMI, ...
    account: str
    remote_address: str  # the address only (Asterisk's IPV4/UDP/1.2.3.4/5060 without the rest)
    remote_port: int = 0


# -- resync --------------------------------------------------------------------------------------

@event("ami.resync_started")
class ResyncStarted(Event):
    """``pbx_restarted``: Asterisk itself restarted while we were away (its start time changed),
    so every channel we knew died with it at ``lost_at`` (when our connection dropped)."""

    pbx_restarted: bool = False
    lost_at: float | None = None


@event("ami.channel_snapshot")
class ChannelSnapshot(Event):
    channel: str
    uniqueid: str
    linkedid: str
    state: int
    caller_num: str = ""
    caller_name: str = ""
    connected_num: str = ""
    connected_name: str = ""
    context: str = ""
    exten: str = ""
    application: str = ""
    bridge_id: str = ""
    duration_s: int = 0


@event("ami.bridge_snapshot")
class BridgeSnapshot(Event):
    bridge_id: str
    bridge_type: str = ""
    uniqueids: tuple[str, ...] = ()


@event("ami.resync_finished")
class ResyncFinished(Event):
    channels: int = 0
    bridges: int = 0
