"""Errors of the agent console, each with a stable code; the web layer maps them in one table (app.py).

    CtiError
    └── ConsoleError
        ├── NotAuthenticated      no token / bad signature / expired / revoked          (401)
        ├── InvalidCredentials    unknown user or wrong password                         (401)
        ├── LoginThrottled        too many failed logins for this username + address     (429)
        ├── RequestThrottled      too many web callback requests (address or number)     (429)
        ├── Forbidden             the role may not do this                               (403)
        ├── NotYourCall           the call belongs to another agent                      (403)
        ├── CallNotFound          no such call (or it already ended)                     (404)
        ├── TargetNotFound        transfer target / customer / case does not exist       (404)
        ├── IllegalAgentAction    not allowed in the agent's current state               (409)
        ├── InvalidInput          a field is wrong (names the field)                     (422)
        └── DeskUnavailable       telephony / ACD side is not reachable                  (503)
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from cti.errors import CtiError

T = TypeVar("T")


class ConsoleError(CtiError):
    code = "console_error"
    http_status = 500


class NotAuthenticated(ConsoleError):
    code = "not_authenticated"
    http_status = 401


class InvalidCredentials(ConsoleError):
    code = "invalid_credentials"
    http_status = 401


class LoginThrottled(ConsoleError):
    code = "login_throttled"
    http_status = 429

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"too many failed logins; retry in {retry_after_s:.0f} s")
        self.retry_after_s = retry_after_s


class RequestThrottled(ConsoleError):
    code = "request_throttled"
    http_status = 429

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Forbidden(ConsoleError):
    code = "forbidden"
    http_status = 403


class NotYourCall(ConsoleError):
    code = "not_your_call"
    http_status = 403


class CallNotFound(ConsoleError):
    code = "call_not_found"
    http_status = 404


class TargetNotFound(ConsoleError):
    code = "target_not_found"
    http_status = 404


class IllegalAgentAction(ConsoleError):
    code = "illegal_agent_action"
    http_status = 409


class InvalidInput(ConsoleError):
    code = "invalid_input"
    http_status = 422

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field


class DeskUnavailable(ConsoleError):
    code = "desk_unavailable"
    http_status = 503


async def acd_step(work: Awaitable[T]) -> T:
    """Await an ACD or telephony step: its errors become the console's own (IllegalAgentAction),
    with their message; the console's pass through."""
    try:
        return await work
    except ConsoleError:
        raise
    except CtiError as err:  # the ACD refused, or Asterisk did
        raise IllegalAgentAction(err.message) from err
