"""Virtual hold, the pure part: when a waiting caller is offered to be called back, what a missed
callback leads to, the entry as it is saved and the port that saves it. No I/O; the time is passed in.

A virtual-hold entry is a waiting entry of the router (``Router.hold_virtually``): it keeps its
entry time and priority, hence its place. When an agent would reach it the router reserves that
agent with an ``Offer(callback=True)``; the adapter (``acd.virtual_hold_pbx``) calls the customer
and reports ``callback_answered`` or ``callback_missed`` with the retry time ``next_attempt`` gives.

    waiting -[key pressed / web request]-> virtual
    virtual -[agent reserved]-> calling -[answered (and confirmed)]-> connected (a caller on the line)
    calling -[no answer | busy | declined | failed]-> virtual (parked until the pause is over)
                                                    | failed (no attempts left)
    virtual -[cancelled]-> cancelled
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from acd.errors import IllegalTransition

KEYS = "0123456789*#"
# The dnis of the calls a virtual-hold entry places (the attempts and the callback call that reaches
# the agent): the CRM and the KPIs tell them by it (the callback call is handled, never offered).
CALLBACK_DNIS = "virtual_hold"
_SOUND = re.compile(r"^[A-Za-z0-9_/\-]{1,128}$")  # a sound file name: goes into the dialplan through AGI
# A channel language as Asterisk names its sound directories (zh, en_GB): set on the callback's leg.
_LANGUAGE = re.compile(r"[a-z]{2,3}(?:_[A-Z]{2})?")


class EntryState(StrEnum):
    VIRTUAL = "virtual"  # waiting for its turn, no caller on the line
    CALLING = "calling"  # its turn came: an agent is reserved, the customer's phone rings
    CONNECTED = "connected"  # answered: a caller on the line again, handed to the agent
    FAILED = "failed"  # no attempts left
    CANCELLED = "cancelled"


class EntryEvent(StrEnum):
    TURN = "turn"
    ANSWERED = "answered"
    MISSED = "missed"
    GAVE_UP = "gave_up"
    CANCEL = "cancel"


_S, _V = EntryState, EntryEvent
TRANSITIONS: dict[tuple[EntryState, EntryEvent], EntryState] = {
    (_S.VIRTUAL, _V.TURN): _S.CALLING,
    (_S.VIRTUAL, _V.CANCEL): _S.CANCELLED,
    (_S.CALLING, _V.ANSWERED): _S.CONNECTED,
    (_S.CALLING, _V.MISSED): _S.VIRTUAL,
    (_S.CALLING, _V.GAVE_UP): _S.FAILED,
    (_S.CALLING, _V.CANCEL): _S.CANCELLED,
}
OPEN_STATES = (EntryState.VIRTUAL, EntryState.CALLING)


def next_state(entry_id: str, state: EntryState, event: EntryEvent) -> EntryState:
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise IllegalTransition(f"virtual hold {entry_id}", state.value, event.value) from None


@dataclass(frozen=True, slots=True)
class VirtualHoldPolicy:
    """``virtual_hold:`` of a queue in config/queues.yaml (docs/callbacks.md)."""

    key: str = "*"  # what the waiting caller presses to be called back
    prompt: str = "cti/vhold_offer"  # "press star to hang up and keep your place"
    accepted_prompt: str = "cti/thanks"  # played before the caller is hung up
    offer_after_s: float | None = 60.0  # offered once the caller waited this long ...
    offer_ewt_s: float | None = 120.0  # ... or at once (after ``first_offer_s``) when the estimate is this long
    first_offer_s: float = 5.0  # never before the caller heard the queue for this long
    reoffer_every_s: float | None = 60.0  # offered again while it waits; None: once
    confirm: bool = False  # the answered callback asks "press 1" before the agent is rung
    confirm_prompt: str = "cti/vhold_confirm"
    confirm_timeout_s: float = 8.0
    max_attempts: int = 3  # callback calls placed before the entry is recorded as failed
    retry_pause_s: float = 120.0  # between a missed callback and the next one
    ring_s: float = 30.0  # how long the customer's phone rings
    caller_id: str | None = None  # presented on the callback; None: the trunk's default

    def __post_init__(self) -> None:
        if len(self.key) != 1 or self.key not in KEYS:
            raise ValueError(f"key: one of {KEYS}, not {self.key!r}")
        for name in ("prompt", "accepted_prompt", "confirm_prompt"):
            if not _SOUND.match(getattr(self, name)):
                raise ValueError(f"{name}: a sound name ([A-Za-z0-9_/-]), not {getattr(self, name)!r}")
        if self.max_attempts < 1:
            raise ValueError("max_attempts: at least 1")


def callback_language(channel_language: str | None) -> str | None:
    """The language the callback speaks: the caller's channel's when it was offered the key (the
    IVR's, ``agi_language``), if it is a sound directory's name; None leaves the callback's own."""
    return channel_language if channel_language and _LANGUAGE.fullmatch(channel_language) else None


def callback_allowance_s(policy: VirtualHoldPolicy) -> float:
    """How long an agent stays reserved for a callback before its own phone rings: the customer's
    ring, and with ``confirm`` the question asked twice (``QueueConfig.callback_ring_s``)."""
    return policy.ring_s + (2 * policy.confirm_timeout_s + 10.0 if policy.confirm else 0.0)


def offer_due(policy: VirtualHoldPolicy, *, waited_s: float, ewt_s: float | None, offers: int,
              last_offer_at: float | None, now: float) -> bool:
    """Whether a caller waiting ``waited_s`` (estimate ``ewt_s``) is offered the key now."""
    if waited_s < policy.first_offer_s:
        return False
    if offers and (policy.reoffer_every_s is None or last_offer_at is None
                   or now - last_offer_at < policy.reoffer_every_s):
        return False
    if policy.offer_after_s is not None and waited_s >= policy.offer_after_s:
        return True
    return policy.offer_ewt_s is not None and ewt_s is not None and ewt_s >= policy.offer_ewt_s


def next_attempt(policy: VirtualHoldPolicy, *, attempts: int, now: float) -> float | None:
    """When to call back again after ``attempts`` missed calls; None: give up (recorded as failed)."""
    if attempts >= policy.max_attempts:
        return None
    return now + policy.retry_pause_s


# Asterisk's originate reasons (cti.ami.control.OriginateResult): what a missed callback was.
_REASONS = {3: "no_answer", 5: "busy", 8: "congestion"}


def attempt_result(success: bool, reason: int | str, *, confirmed: bool | None = None) -> str:
    """The attempt's result as recorded: answered, declined (did not press 1), no_answer, busy,
    congestion, failed."""
    if success:
        return "declined" if confirmed is False else "answered"
    return _REASONS.get(reason, "failed") if isinstance(reason, int) else "failed"


@dataclass(slots=True)
class VirtualEntry:
    """A virtual-hold entry as saved: its place (``entered_at``, ``priority``), its stay in its queue
    and its attempts. The stay is what a restarted engine's live figures need (docs/callbacks.md):
    ``queue_entered_at``, its entry into ``queue`` when it was moved there after ``entered_at``;
    ``put_back_at``, when it was put back after an answer (its agent's softphone lost); ``moved_wait_s``,
    the waits of its stays before a supervisor's move (``Router.restore_waiting`` takes all three)."""

    entry_id: str  # the router's id: the queued call's linkedid, or web-<hex> for a web request
    number: str  # E.164
    queue: str
    entered_at: float
    priority: int = 0
    skills: dict[str, int] | None = None
    customer_id: int | None = None
    source: str = "queue"  # queue (the caller pressed the key) | web
    state: EntryState = EntryState.VIRTUAL
    attempts: list[dict[str, Any]] = field(default_factory=list)  # {at, result, linkedid, agent_id}
    connected_linkedid: str | None = None  # the callback call that reached the agent
    queue_entered_at: float | None = None
    put_back_at: float | None = None
    moved_wait_s: float = 0.0
    # The language its callback asks its question in (``callback_language``): the caller's channel's
    # when it pressed the key, the CRM customer's for a web request; None: the PBX's default. Saved
    # with the entry (the CRM's column, migration 0026), so a restarted engine's callback speaks it too.
    language: str | None = None


class VirtualHoldStore(Protocol):
    """Where entries are kept across restarts (the CRM's ``virtual_holds`` table in the engine)."""

    async def save(self, entry: VirtualEntry) -> None: ...

    async def open_entries(self) -> list[VirtualEntry]: ...


class MemoryVirtualHoldStore:
    """The in-memory fake of ``VirtualHoldStore``."""

    def __init__(self) -> None:
        self.rows: dict[str, VirtualEntry] = {}

    async def save(self, entry: VirtualEntry) -> None:
        self.rows[entry.entry_id] = dataclasses.replace(entry, attempts=list(entry.attempts))

    async def open_entries(self) -> list[VirtualEntry]:
        return [dataclasses.replace(e) for e in self.rows.values() if e.state in OPEN_STATES]
