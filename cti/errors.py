"""Errors of the CTI bridge, each with a stable code and the HTTP status the web layer maps it to.

    CtiError
    ├── ConfigError            settings or shipped configuration is invalid (names file and field)
    ├── UnsafeValue            a value bound for AMI/AGI holds CR/LF or another control character
    ├── PbxError               the managed Asterisk could not be provisioned, started or reached
    ├── AmiUnavailable         AMI is not connected (or dropped while an action was pending)
    │   └── AmiNotSent         AMI was not connected: the action was never written (Asterisk got nothing)
    ├── AmiActionFailed        Asterisk answered an action with Response: Error
    │   └── AmiNoReply         written, and no answer from Asterisk in time (it may have acted on it)
    └── AgiHangup              the caller hung up during an AGI session
"""

from __future__ import annotations


class CtiError(Exception):
    """Base of every error the engine raises on purpose."""

    code = "cti_error"
    http_status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(CtiError):
    code = "config_invalid"
    http_status = 500


class UnsafeValue(CtiError):
    code = "unsafe_value"
    http_status = 422

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field


class PbxError(CtiError):
    code = "pbx_error"
    http_status = 503


class AmiUnavailable(CtiError):
    code = "ami_unavailable"
    http_status = 503


class AmiNotSent(AmiUnavailable):
    """Raised before anything was written: unlike a connection lost with an action pending, the
    caller knows Asterisk never saw the action (an Originate dialled no one)."""


class AmiActionFailed(CtiError):
    code = "ami_action_failed"
    http_status = 502


class AmiNoReply(AmiActionFailed):
    """The action was written and Asterisk did not answer within its time: unlike a refusal
    (Response: Error), Asterisk may have acted on it (an Originate may have placed its call). Its
    code stays ``ami_action_failed``: for a client both are the phone system failing the step."""


class AgiHangup(CtiError):
    code = "agi_hangup"
    http_status = 410
