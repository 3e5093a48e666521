"""Errors of the AMI adapter. Connection and action errors come from the shared tree in cti.errors:

    CtiError
    ├── UnsafeValue          a value bound for an AMI header holds CR/LF or a control character
    ├── AmiUnavailable       not connected, or the connection dropped while an action was pending
    ├── AmiActionFailed      Asterisk answered Response: Error (message kept)
    │   └── AmiNoReply       no answer in time: written, so Asterisk may have acted on it
    ├── MalformedEvent       an AMI event lacks a header its translation needs, or holds an
    │                        unreadable value (caught by the client: logged by name, dropped)
    └── IllegalTransition    the call model was asked for a channel step its table forbids
                             (caught inside CallModel.apply and logged: AMI can be out of order
                             around a reconnect, and the model must keep going)
"""

from __future__ import annotations

from cti.errors import AmiActionFailed, AmiNoReply, AmiUnavailable, CtiError, UnsafeValue

__all__ = ["AmiActionFailed", "AmiNoReply", "AmiUnavailable", "IllegalTransition", "MalformedEvent", "UnsafeValue"]


class IllegalTransition(CtiError):
    code = "illegal_transition"
    http_status = 500


class MalformedEvent(CtiError):
    """Names the event and the header, never the value: AMI values carry DTMF, caller numbers and
    variables that may hold secrets, and this message ends up in logs."""

    code = "ami_malformed_event"
    http_status = 502

    def __init__(self, event: str, header: str, reason: str) -> None:
        super().__init__(f"AMI {event} event: header {header!r} {reason}")
        self.event = event
        self.header = header
        self.reason = reason
