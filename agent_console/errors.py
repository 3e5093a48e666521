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
        ├── TargetNoAnswer        a consulted number did not answer; caller back with the agent (409)
        ├── PhoneNoAnswer         a phone the engine rang first (agent's, supervisor's) did not answer (409)
        ├── InvalidInput          a field is wrong (names the field)                     (422)
        └── DeskUnavailable       telephony / ACD side is not reachable                  (503)
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import TypeVar

from acd.errors import PhoneDidNotAnswer
from acd.errors import TargetNoAnswer as AcdTargetNoAnswer
from cti.errors import AmiActionFailed, AmiNoReply, AmiUnavailable, CtiError, PbxError

T = TypeVar("T")
log = logging.getLogger(__name__)


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


class TargetNoAnswer(ConsoleError):
    """An attended transfer's number did not answer: the caller is back with the agent, nothing is
    wrong (the console says so as information). ``target``: the number as the agent named it."""

    code = "target_no_answer"
    http_status = 409

    def __init__(self, message: str, target: str) -> None:
        super().__init__(message)
        self.target = target


class PhoneNoAnswer(ConsoleError):
    """The phone the engine rang first did not answer (a click-to-dial's agent phone, a supervisor's
    phone for listen / whisper / barge): nobody else was called, nothing changed; the console and the
    wallboard say so as information."""

    code = "phone_no_answer"
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


ASTERISK_ERRORS = (AmiActionFailed, AmiUnavailable, PbxError)  # whose messages hold Asterisk's own words


def asterisk_refusal(err: CtiError, doing: str) -> IllegalAgentAction:
    """Asterisk refused ``doing`` (what the agent asked, e.g. "put the call on hold"), or could not be
    reached: the agent's message is ours, Asterisk's text (an AMI Response: Error's Message) goes to
    the engine's log only."""
    log.warning("console: could not %s: %s: %s", doing, err.code, err.message)
    why = ("did not answer in time" if isinstance(err, AmiNoReply)
           else "refused it" if isinstance(err, AmiActionFailed) else "is not reachable now")
    return IllegalAgentAction(f"could not {doing}: the phone system {why}; try again, or ask a supervisor "
                              "(the details are in the engine's log)")


def shown_message(err: CtiError, where: str) -> str:
    """``err``'s message as a client sees it: an AMI action Asterisk refused that no step wrapped
    (``asterisk_refusal``) says so in our words, and Asterisk's own text goes to the log, with
    ``where`` (the route, or the agent's action)."""
    if not isinstance(err, AmiActionFailed):
        return err.message
    log.warning("%s: the phone system refused: %s", where, err.message)
    return "the phone system refused this request (the details are in the engine's log)"


async def acd_step(work: Awaitable[T], doing: str) -> T:
    """Await an ACD or telephony step ``doing``: the ACD's refusals become the console's own
    (IllegalAgentAction) with their message, Asterisk's with ours (``asterisk_refusal``), a phone or
    consulted number that did not answer its own (PhoneNoAnswer, TargetNoAnswer: no fault); the
    console's pass through."""
    try:
        return await work
    except ConsoleError:
        raise
    except ASTERISK_ERRORS as err:
        raise asterisk_refusal(err, doing) from err
    except AcdTargetNoAnswer as err:  # no refusal: the world answered so, and the call is as it was
        raise TargetNoAnswer(err.message, err.target) from err
    except PhoneDidNotAnswer as err:
        raise PhoneNoAnswer(err.message) from err
    except CtiError as err:  # the ACD refused (its messages are ours)
        raise IllegalAgentAction(err.message) from err
