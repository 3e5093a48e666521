"""Errors of the AMI adapter. Connection and action errors come from the shared tree in cti.errors:

    CtiError
    ├── UnsafeValue          a value bound for an AMI header holds CR/LF or a control character
    ├── AmiUnavailable       not connected, or the connection dropped while an action was pending
    ├── AmiActionFailed      Asterisk answered Response: Error (message kept), or no answer in time
    └── IllegalTransition    the call model was asked for a channel step its table forbids
                             (caught inside CallModel.apply and logged: AMI can be out of order
                             around a reconnect, and the model must keep going)
"""

from __future__ import annotations

from cti.errors import AmiActionFailed, AmiUnavailable, CtiError, UnsafeValue

__all__ = ["AmiActionFailed", "AmiUnavailable", "IllegalTransition", "UnsafeValue"]


class IllegalTransition(CtiError):
    code = "illegal_transition"
    http_status = 500
