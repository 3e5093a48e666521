"""What the stepper hears (events from the call) and what it says (actions, as data).

Both are frozen dataclasses; digits and PINs are kept out of their repr so they never reach a log.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ivr.directory import CallerIdentity


# -- events (what happened) -------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Started:
    vars: Mapping[str, str] = field(default_factory=dict)
    language: str | None = None


@dataclass(frozen=True, slots=True)
class Digits:
    digits: str = field(repr=False)  # may be a PIN: never in logs
    timed_out: bool = False


@dataclass(frozen=True, slots=True)
class PromptDone:
    pass


@dataclass(frozen=True, slots=True)
class LookupResult:
    identity: CallerIdentity | None
    # "" the CRM answered; "cached": it is away and this is a recently seen customer;
    # "unavailable": it is away and the caller goes on unidentified (the pop says why).
    crm: str = ""


@dataclass(frozen=True, slots=True)
class HungUp:
    pass


Event = Started | Digits | PromptDone | LookupResult | HungUp


# -- actions (what to do) ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Play:
    sounds: tuple[str, ...]
    interruptible: bool = False


@dataclass(frozen=True, slots=True)
class SayDigits:
    digits: str


@dataclass(frozen=True, slots=True)
class SayNumber:
    number: int


@dataclass(frozen=True, slots=True)
class SayDate:
    epoch: int
    timezone: str = "UTC"


@dataclass(frozen=True, slots=True)
class Collect:
    prompt: tuple[str, ...]
    min: int
    max: int
    timeout_ms: int
    terminator: str = "#"


@dataclass(frozen=True, slots=True)
class Lookup:
    kind: str  # caller_id | account
    value: str
    pin: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class SetVar:
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class Handoff:
    queue: str
    skills: Mapping[str, int]
    priority: int
    attributes: Mapping[str, str]
    language: str


@dataclass(frozen=True, slots=True)
class Voicemail:
    mailbox: str


@dataclass(frozen=True, slots=True)
class Callback:
    number: str
    queue: str | None = None


@dataclass(frozen=True, slots=True)
class Transfer:
    number: str


@dataclass(frozen=True, slots=True)
class Hangup:
    pass


Action = Play | SayDigits | SayNumber | SayDate | Collect | Lookup | SetVar | Handoff | Voicemail | Callback | \
    Transfer | Hangup
FINAL_ACTIONS = (Handoff, Voicemail, Callback, Transfer, Hangup)
