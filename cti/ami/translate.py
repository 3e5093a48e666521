"""AMI header dicts become typed events here, and nowhere else.

``translate(msg, now)`` looks the event name up in one table of small functions (the hot path:
no regex, no case folding; Asterisk spells its headers consistently). Messages we do not model
return None. ``WANTED`` is the set of event names worth parsing at all (see codec).

A modelled event that lacks a header its class needs, or carries an unreadable Timestamp, raises
``MalformedEvent`` naming the event and the header (never the value); the client logs and drops it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from cti.ami import events as ev
from cti.ami.errors import MalformedEvent
from cti.events import Event

Msg = dict[str, str]


def _ts(m: Msg, now: float) -> float:
    raw = m.get("Timestamp")
    if not raw:
        return now
    try:
        ts = float(raw)
    except ValueError:
        raise MalformedEvent(m.get("Event", "?"), "Timestamp", "is not a number") from None
    if not math.isfinite(ts):
        raise MalformedEvent(m.get("Event", "?"), "Timestamp", "is not a finite number")
    return ts


def _int(raw: str | None, default: int = 0) -> int:
    try:
        return int(raw) if raw else default
    except ValueError:
        return default


def _cid(raw: str) -> str:
    return "" if raw == "<unknown>" else raw


def _newchannel(m: Msg, now: float) -> Event:
    return ev.Newchannel(
        ts=_ts(m, now), channel=m["Channel"], uniqueid=m["Uniqueid"], linkedid=m.get("Linkedid", m["Uniqueid"]),
        state=_int(m.get("ChannelState")), caller_num=_cid(m.get("CallerIDNum", "")),
        caller_name=_cid(m.get("CallerIDName", "")), context=m.get("Context", ""), exten=m.get("Exten", ""),
    )


def _newstate(m: Msg, now: float) -> Event:
    return ev.Newstate(
        ts=_ts(m, now), channel=m["Channel"], uniqueid=m["Uniqueid"], linkedid=m.get("Linkedid", m["Uniqueid"]),
        state=_int(m.get("ChannelState")), caller_num=_cid(m.get("CallerIDNum", "")),
        caller_name=_cid(m.get("CallerIDName", "")), connected_num=_cid(m.get("ConnectedLineNum", "")),
        connected_name=_cid(m.get("ConnectedLineName", "")),
    )


def _hangup(m: Msg, now: float) -> Event:
    return ev.Hangup(
        ts=_ts(m, now), channel=m["Channel"], uniqueid=m["Uniqueid"], linkedid=m.get("Linkedid", m["Uniqueid"]),
        cause=_int(m.get("Cause")), cause_text=m.get("Cause-txt", ""),
    )


def _dial_end(m: Msg, now: float) -> Event:
    return ev.DialEnd(
        ts=_ts(m, now), channel=m.get("Channel", ""), uniqueid=m.get("Uniqueid", ""),
        dest_channel=m.get("DestChannel", ""), dest_uniqueid=m.get("DestUniqueid", ""),
        linkedid=m.get("DestLinkedid", m.get("Linkedid", "")), dial_status=m.get("DialStatus", ""),
        context=m.get("Context", ""),
    )


def _bridge_enter(m: Msg, now: float) -> Event:
    return ev.BridgeEnter(ts=_ts(m, now), bridge_id=m["BridgeUniqueid"], channel=m["Channel"],
                          uniqueid=m["Uniqueid"], linkedid=m.get("Linkedid", m["Uniqueid"]))


def _bridge_leave(m: Msg, now: float) -> Event:
    return ev.BridgeLeave(ts=_ts(m, now), bridge_id=m["BridgeUniqueid"], channel=m["Channel"],
                          uniqueid=m["Uniqueid"], linkedid=m.get("Linkedid", m["Uniqueid"]))


def _local_bridge(m: Msg, now: float) -> Event:
    return ev.LocalBridge(
        ts=_ts(m, now), one_channel=m["LocalOneChannel"], one_uniqueid=m["LocalOneUniqueid"],
        two_channel=m["LocalTwoChannel"], two_uniqueid=m["LocalTwoUniqueid"],
        linkedid=m.get("LocalOneLinkedid", m["LocalOneUniqueid"]),
    )


def _chan_args(m: Msg, now: float) -> dict[str, object]:
    return {"ts": _ts(m, now), "channel": m["Channel"], "uniqueid": m["Uniqueid"],
            "linkedid": m.get("Linkedid", m["Uniqueid"])}


def _hold(m: Msg, now: float) -> Event:
    return ev.Hold(**_chan_args(m, now))  # type: ignore[arg-type]


def _unhold(m: Msg, now: float) -> Event:
    return ev.Unhold(**_chan_args(m, now))  # type: ignore[arg-type]


def _originate_response(m: Msg, now: float) -> Event:
    uniqueid = m.get("Uniqueid", "")
    return ev.OriginateResponse(
        ts=_ts(m, now), action_id=m.get("ActionID", ""), success=m.get("Response") == "Success",
        reason=_int(m.get("Reason")), channel=m.get("Channel", ""),
        uniqueid="" if uniqueid == "<unknown>" else uniqueid, context=m.get("Context", ""),
        exten=m.get("Exten", ""),
    )


def _blind_transfer(m: Msg, now: float) -> Event:
    return ev.BlindTransfer(
        ts=_ts(m, now), success=m.get("Result") == "Success",
        transferer_channel=m.get("TransfererChannel", ""), transferer_uniqueid=m.get("TransfererUniqueid", ""),
        transferee_channel=m.get("TransfereeChannel", ""), transferee_uniqueid=m.get("TransfereeUniqueid", ""),
        linkedid=m.get("TransfereeLinkedid", m.get("TransfererLinkedid", "")),
        bridge_id=m.get("BridgeUniqueid", ""), context=m.get("Context", ""), exten=m.get("Extension", ""),
    )


def _attended_transfer(m: Msg, now: float) -> Event:
    return ev.AttendedTransfer(
        ts=_ts(m, now), success=m.get("Result") == "Success",
        transferer_channel=m.get("OrigTransfererChannel", ""),
        transferer_uniqueid=m.get("OrigTransfererUniqueid", ""),
        transferee_channel=m.get("TransfereeChannel", ""), transferee_uniqueid=m.get("TransfereeUniqueid", ""),
        target_channel=m.get("TransferTargetChannel", m.get("SecondTransfererChannel", "")),
        target_uniqueid=m.get("TransferTargetUniqueid", m.get("SecondTransfererUniqueid", "")),
        linkedid=m.get("TransfereeLinkedid", m.get("OrigTransfererLinkedid", "")),
        dest_type=m.get("DestType", ""),
    )


def _device_state(m: Msg, now: float) -> Event:
    return ev.DeviceStateChange(ts=_ts(m, now), device=m.get("Device", ""), state=m.get("State", ""))


def _contact_status(m: Msg, now: float) -> Event:
    return ev.ContactStatus(ts=_ts(m, now), endpoint=m.get("EndpointName", ""), aor=m.get("AOR", ""),
                            uri=m.get("URI", ""), status=m.get("ContactStatus", ""))


def _fully_booted(m: Msg, now: float) -> Event:
    return ev.FullyBooted(ts=now)


def _core_show_channel(m: Msg, now: float) -> Event:
    return ev.ChannelSnapshot(
        ts=now, channel=m["Channel"], uniqueid=m["Uniqueid"], linkedid=m.get("Linkedid", m["Uniqueid"]),
        state=_int(m.get("ChannelState")), caller_num=_cid(m.get("CallerIDNum", "")),
        caller_name=_cid(m.get("CallerIDName", "")), connected_num=_cid(m.get("ConnectedLineNum", "")),
        connected_name=_cid(m.get("ConnectedLineName", "")), context=m.get("Context", ""),
        exten=m.get("Exten", ""), application=m.get("Application", ""), bridge_id=m.get("BridgeId", ""),
        duration_s=_duration(m.get("Duration", "")),
    )


def _duration(raw: str) -> int:
    """CoreShowChannel's Duration is HH:MM:SS."""
    parts = raw.split(":")
    if len(parts) != 3:
        return 0
    return _int(parts[0]) * 3600 + _int(parts[1]) * 60 + _int(parts[2])


# The dialplan's reports of one leg of a transfer or hold ending by its own side (config/asterisk/extensions.conf).
_LEG_EVENTS: dict[str, type[ev.ConferenceLeft | ev.ConsultLeft | ev.ConsultAlone | ev.ParkedLeft]] = {
    "CtiConferenceLeft": ev.ConferenceLeft, "CtiConsultLeft": ev.ConsultLeft, "CtiConsultAlone": ev.ConsultAlone,
    "CtiParkedLeft": ev.ParkedLeft}


def _user_event(m: Msg, now: float) -> Event | None:
    name = m.get("UserEvent")
    if name == "CtiIvrLost":
        return ev.IvrLost(ts=_ts(m, now), channel=m.get("Channel", ""), uniqueid=m.get("Uniqueid", ""),
                          linkedid=m.get("Linkedid", m.get("Uniqueid", "")), queue=m.get("Queue", ""),
                          caller_num=_cid(m.get("CallerIDNum", "")), dnis=m.get("Dnis", ""))
    if (leg := _LEG_EVENTS.get(name or "")) is not None:
        return leg(ts=_ts(m, now), channel=m.get("Channel", ""), uniqueid=m.get("Uniqueid", ""),
                   linkedid=m.get("Linkedid", m.get("Uniqueid", "")))
    if name != "CtiVoicemail":
        return None  # somebody else's
    return ev.VoicemailResult(
        ts=_ts(m, now), channel=m.get("Channel", ""), uniqueid=m.get("Uniqueid", ""),
        linkedid=m.get("Linkedid", m.get("Uniqueid", "")), mailbox=m.get("Mailbox", ""), status=m.get("Status", ""))


def _security_failure(m: Msg, now: float) -> Event:
    # RemoteAddress: "IPV4/UDP/192.0.2.7/5099" (IPV6/TCP/..., for AMI IPV4/TCP/...).
    parts = m.get("RemoteAddress", "").split("/")
    address = parts[2] if len(parts) >= 3 else m.get("RemoteAddress", "")
    return ev.SecurityFailure(ts=_ts(m, now), kind=m["Event"], service=m.get("Service", ""),
                              account=m.get("AccountID", ""), remote_address=address,
                              remote_port=_int(parts[3]) if len(parts) >= 4 else 0)


_LIVE: dict[str, Callable[[Msg, float], Event | None]] = {
    "Newchannel": _newchannel,
    "Newstate": _newstate,
    "Hangup": _hangup,
    "DialEnd": _dial_end,
    "BridgeEnter": _bridge_enter,
    "BridgeLeave": _bridge_leave,
    "LocalBridge": _local_bridge,
    "Hold": _hold,
    "Unhold": _unhold,
    "OriginateResponse": _originate_response,
    "BlindTransfer": _blind_transfer,
    "AttendedTransfer": _attended_transfer,
    "DeviceStateChange": _device_state,
    "ContactStatus": _contact_status,
    "FullyBooted": _fully_booted,
    "UserEvent": _user_event,
    # Security class: the failures only (not ChallengeSent or SuccessfulAuth).
    "InvalidAccountID": _security_failure,
    "InvalidPassword": _security_failure,
    "ChallengeResponseFailed": _security_failure,
    "FailedACL": _security_failure,
}
# List items answer our resync actions (they carry its ActionID; the client routes them).
_LIST_ITEMS: dict[str, Callable[[Msg, float], Event]] = {
    "CoreShowChannel": _core_show_channel,
    "DeviceStateChange": _device_state,
}

# Events worth parsing at all; Shutdown matters to the connection, not to the model. Exactly what
# manager.conf's event filters send the engine's user. Not modelled, so not sent: DTMFEnd (the IVR
# reads keys over FastAGI), MusicOnHoldStart/Stop, DialBegin (DialEnd says how a dial ended) and
# BridgeCreate/Destroy (the call model learns bridges from BridgeEnter/BridgeLeave); tools that
# watch them log in as the observer user (ami.observer_username).
WANTED: frozenset[str] = frozenset(_LIVE) | {"Shutdown"}


def translate(m: Msg, now: float) -> Event | None:
    """The typed event for a live AMI event, or None when we do not model it."""
    fn = _LIVE.get(m.get("Event", ""))
    if fn is None:
        return None
    try:  # inline, not via _call: this is the ingest hot path
        return fn(m, now)
    except KeyError as err:  # the handlers index only the headers an event cannot do without
        raise MalformedEvent(m.get("Event", "?"), str(err.args[0]), "is missing") from None


def translate_list_item(m: Msg, now: float) -> Event | None:
    fn = _LIST_ITEMS.get(m.get("Event", ""))
    return _call(fn, m, now) if fn is not None else None


def _call(fn: Callable[[Msg, float], Event | None], m: Msg, now: float) -> Event | None:
    try:
        return fn(m, now)
    except KeyError as err:  # the handlers index only the headers an event cannot do without
        raise MalformedEvent(m.get("Event", "?"), str(err.args[0]), "is missing") from None


def bridge_member_uniqueids(items: list[Msg]) -> tuple[str, ...]:
    """BridgeInfoChannel items do not repeat the bridge id; the caller knows which bridge it asked for."""
    return tuple(m["Uniqueid"] for m in items if m.get("Event") == "BridgeInfoChannel" and "Uniqueid" in m)
