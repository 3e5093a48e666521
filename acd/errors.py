"""Errors of the ACD, each with a stable code and the HTTP status the web layer maps it to.

    CtiError (cti.errors)
    └── AcdError
        ├── PhoneDidNotAnswer   a click-to-dial's first leg, the agent's phone, did not take the call
        ├── TargetNoAnswer      a consulted number did not answer: the caller is back with the agent
        ├── DialRefused         Asterisk refused a click-to-dial's Originate outright (no channel made)
        ├── IllegalTransition   an agent or call state step not in its transition table
        ├── UnknownAgent        no agent with that id is known to the router
        ├── UnknownCall         no call with that id is in the router
        ├── CallNotWaiting      the call is no longer waiting (connected to an agent)
        ├── CallNotMovable      the waiting call cannot be moved now (ringing an agent, a virtual-hold entry)
        ├── UnknownQueue        no queue with that name is configured
        ├── StaleOffer          answered/acted on an offer that is no longer ringing
        └── InvalidRequest      the arguments of a router call are inconsistent (names the field)
    AmiNoReply (cti.errors)
    └── DialUnconfirmed         Asterisk never answered a click-to-dial's Originate: its call may be placed
    AmiUnavailable (cti.errors)
    └── DialLost                a click-to-dial's Originate was written, then AMI was lost: the same

``unconfirmed_dial(err)``: the one of these two behind an error (itself or its cause), else None.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from cti.errors import AmiNoReply, AmiUnavailable, CtiError
from cti.events import Event

# What an unconfirmed dial publishes, for a time, once its call is seen (its CallArrived).
Placed = Callable[[float], Sequence[Event]]
# Makes an unconfirmed dial's call, once its agent's leg (the channel named) answered, the agent's
# live call as a confirmed dial's is (``acd.call_actions``; called by ``acd.dial_readiness``). Its
# result (the LiveCall) is not typed here: the pure cores import this module, never ``acd.calls``.
Adopt = Callable[[str], Awaitable[object]]


class AcdError(CtiError):
    """The ACD refused a step in the present state of a call or agent (its subclasses say which):
    a conflict, never the server's failure."""

    code = "acd_error"
    http_status = 409


class PhoneDidNotAnswer(AcdError):
    """A click-to-dial's first leg, the agent's phone, did not take the call: no one else was called."""

    code = "acd_phone_did_not_answer"
    http_status = 409


class TargetNoAnswer(AcdError):
    """An attended transfer's number rang out (or was busy): nobody was consulted, and the caller is
    back with the agent, as before the transfer. The world's answer, not a fault; ``target`` is the
    number as the agent named it."""

    code = "acd_target_no_answer"
    http_status = 409

    def __init__(self, target: str) -> None:
        super().__init__(f"transfer target {target} did not answer; the caller is back with the agent")
        self.target = target


class DialRefused(AcdError):
    """Asterisk refused a click-to-dial's Originate outright (Response: Error): no channel was made,
    no phone rang. A campaign counts it an attempt all the same (docs/outbound.md)."""

    code = "acd_dial_refused"
    http_status = 409


class IllegalTransition(AcdError):
    code = "acd_illegal_transition"
    http_status = 409

    def __init__(self, subject: str, state: str, event: str) -> None:
        super().__init__(f"{subject}: no transition from {state} on {event}")
        self.subject = subject
        self.state = state
        self.event = event


class UnknownAgent(AcdError):
    code = "acd_unknown_agent"
    http_status = 404


class UnknownCall(AcdError):
    code = "acd_unknown_call"
    http_status = 404


class CallNotWaiting(AcdError):
    code = "acd_call_not_waiting"
    http_status = 404


class CallNotMovable(AcdError):
    code = "acd_call_not_movable"
    http_status = 409


class UnknownQueue(AcdError):
    code = "acd_unknown_queue"
    http_status = 404


class StaleOffer(AcdError):
    code = "acd_stale_offer"
    http_status = 409


class InvalidRequest(AcdError):
    code = "acd_invalid_request"
    http_status = 422

    def __init__(self, field: str, reason: str, *, about: str | None = None) -> None:
        """``about``: what the field belongs to (``rule 'x'``), named after the field in the message;
        a caller that names the place itself takes ``reason`` alone."""
        super().__init__(f"{field}: {about}: {reason}" if about else f"{field}: {reason}")
        self.field, self.reason, self.about = field, reason, about


class DialUnconfirmed(AmiNoReply):
    """A click-to-dial's Originate was written and Asterisk never answered it: the call may have been
    placed all the same, as ``linkedid`` (the ChannelId the dial gave it). Still an ``AmiNoReply``
    for the web layer (409, "did not answer in time") and for what counts as an attempt. ``placed``
    builds, for a time, what the dial publishes once its call is seen; ``adopt`` makes its call the
    agent's live call once their leg of it answered (``acd.dial_readiness``)."""

    def __init__(self, message: str, linkedid: str, placed: Placed = lambda now: (),
                 adopt: Adopt | None = None) -> None:
        super().__init__(message)
        self.linkedid, self.placed, self.adopt = linkedid, placed, adopt


class DialLost(AmiUnavailable):
    """A click-to-dial's Originate was written, then the AMI connection was lost before Asterisk
    answered it: as ``DialUnconfirmed``, the call may have been placed as ``linkedid``. Still an
    ``AmiUnavailable`` for the web layer (the phone system "is not reachable now")."""

    def __init__(self, message: str, linkedid: str, placed: Placed = lambda now: (),
                 adopt: Adopt | None = None) -> None:
        super().__init__(message)
        self.linkedid, self.placed, self.adopt = linkedid, placed, adopt


def unconfirmed_dial(err: BaseException) -> DialUnconfirmed | DialLost | None:
    """The dial behind ``err`` (itself, or its cause: the console's ``acd_step`` wraps it) whose
    Originate was written and whose answer never came, so whose call may have been placed; None when
    it called no one for sure (never written: ``AmiNotSent``; refused; the agent's phone did not answer)."""
    return next((e for e in (err, err.__cause__) if isinstance(e, (DialUnconfirmed, DialLost))), None)
