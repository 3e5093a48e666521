"""Actions waiting for their answers, matched by ActionID whichever AMI session brings them.

Each action says what it expects: one response, a list ending with ``...Complete`` (items carry
our ActionID and arrive interleaved with unrelated events), or an Async Originate's
``OriginateResponse`` event (on the event session, while the Response came on the session the
Originate went out on).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Literal

from cti.errors import AmiActionFailed

Expect = Literal["response", "list", "originate"]


@dataclass(frozen=True)
class AmiReply:
    """What Asterisk answered to one action (headers stay inside cti.ami)."""

    response: dict[str, str]
    items: tuple[dict[str, str], ...] = ()
    final: dict[str, str] | None = None  # the ...Complete event, or the OriginateResponse


@dataclass(eq=False)
class Pending:
    action: str
    expect: Expect
    future: asyncio.Future[AmiReply]
    response: dict[str, str] | None = None
    items: list[dict[str, str]] = field(default_factory=list)

    def resolve(self, final: dict[str, str] | None = None) -> None:
        if not self.future.done():
            self.future.set_result(AmiReply(self.response or {}, tuple(self.items), final))

    def fail(self, err: Exception) -> None:
        if not self.future.done():
            self.future.set_exception(err)

    def route(self, m: dict[str, str]) -> None:
        """One message carrying this action's ActionID."""
        event = m.get("Event")
        if event is None:  # the Response
            if m.get("Response") == "Error":
                self.fail(AmiActionFailed(f"{self.action}: {m.get('Message', 'error')}"))
                return
            self.response = m
            if self.expect == "response" or (self.expect == "list" and m.get("EventList") != "start"):
                self.resolve()
        elif self.expect == "originate":
            if event == "OriginateResponse":
                self.resolve(m)
        elif self.expect == "list":
            if m.get("EventList") == "Complete" or event.endswith("Complete"):
                self.resolve(m)
            else:
                self.items.append(m)
