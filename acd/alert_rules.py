"""The alert rules of ``config/alerts.yaml`` and what they read: each rule's kind, scope and threshold,
the live snapshot the rules look at, and which subjects breach a rule now (``breaches``), with the
message that says so. Pure: the snapshot and the time come in. ``acd.alerts`` runs an alert's life
(raised, escalated, acknowledged, cleared); ``acd.alert_config`` reads the rules from YAML.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Iterable, Sequence
from typing import Protocol

from acd.errors import InvalidRequest

DEFAULT_LEVELS: tuple[str, ...] = ("supervisor", "manager", "head_of_service")


class AlertKind(enum.StrEnum):
    SL_BELOW = "sl_below"  # threshold: a fraction (0.8)
    LONGEST_WAIT_ABOVE = "longest_wait_above"  # seconds
    WAITING_ABOVE = "waiting_above"  # calls
    AGENT_NOT_READY_ABOVE = "agent_not_ready_above"  # seconds in not-ready
    CASE_OVERDUE = "case_overdue"  # seconds past the due time (0 = as soon as it is due)
    ABANDON_RATE_ABOVE = "abandon_rate_above"  # threshold: a fraction (0.1) of the window's offered calls


class Scope(enum.StrEnum):
    QUEUE = "queue"
    GLOBAL = "global"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AlertRule:
    id: str
    kind: AlertKind
    scope: Scope
    threshold: float
    queue: str | None = None  # required with scope queue, absent with scope global
    ack_timeout_s: float = 120.0
    levels: tuple[str, ...] = DEFAULT_LEVELS
    min_offered: int = 0  # sl_below, abandon_rate_above: ignore the rate until the window offered this many

    def __post_init__(self) -> None:
        where = f"rule {self.id!r}"
        if not self.id:
            raise InvalidRequest("id", "a rule needs an id")
        if (self.scope is Scope.QUEUE) != bool(self.queue):
            raise InvalidRequest("queue", "required with scope queue, not allowed with scope global", about=where)
        if not math.isfinite(self.threshold) or self.threshold < 0:
            raise InvalidRequest("threshold", "must be a number >= 0", about=where)
        if self.kind is AlertKind.SL_BELOW and not 0 < self.threshold <= 1:
            raise InvalidRequest("threshold", "a service-level target is a fraction in (0, 1]", about=where)
        if self.kind is AlertKind.ABANDON_RATE_ABOVE and not 0 <= self.threshold < 1:
            raise InvalidRequest("threshold", "an abandon rate is a fraction in [0, 1) (0.1 = 10 %)", about=where)
        if not math.isfinite(self.ack_timeout_s) or self.ack_timeout_s <= 0:
            raise InvalidRequest("ack_timeout_s", "must be > 0 seconds", about=where)
        if not self.levels or len(set(self.levels)) != len(self.levels) or not all(self.levels):
            raise InvalidRequest("levels", "a non-empty list of distinct role names", about=where)
        if self.min_offered < 0:
            raise InvalidRequest("min_offered", "must be >= 0", about=where)


# -- the snapshot the rules look at --------------------------------------------------------------

class QueueFigures(Protocol):
    """What the rules read of a queue (``acd.stats.QueueSnapshot`` fits)."""

    @property
    def queue(self) -> str: ...
    @property
    def waiting(self) -> int: ...
    @property
    def longest_wait_s(self) -> float: ...
    @property
    def service_level(self) -> float | None: ...
    @property
    def offered(self) -> int: ...
    @property
    def abandon_rate(self) -> float | None: ...


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class QueueStatus:
    queue: str
    waiting: int = 0
    longest_wait_s: float = 0.0
    service_level: float | None = None
    offered: int = 0
    abandon_rate: float | None = None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AgentStatus:
    agent_id: str
    state: str  # an acd.model.AgentState value
    since: float  # when the agent entered that state
    queues: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CaseStatus:
    case_id: str
    due_at: float
    queue: str | None = None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """Live figures; ``service_level``/``abandon_rate``/``offered`` are the all-queue totals for the
    global SL and abandon-rate rules."""

    queues: Sequence[QueueFigures] = ()
    agents: Sequence[AgentStatus] = ()
    open_cases: Sequence[CaseStatus] = ()
    service_level: float | None = None
    offered: int = 0
    abandon_rate: float | None = None


def message(rule: AlertRule, subject: str, value: float) -> str:
    """What the alert says, in one line."""
    where = subject.split(":", 1)[-1]
    if rule.kind is AlertKind.SL_BELOW:
        return f"{where}: service level {value:.0%} below {rule.threshold:.0%}"
    if rule.kind is AlertKind.ABANDON_RATE_ABOVE:
        return f"{where}: abandon rate {value:.0%} above {rule.threshold:.0%}"
    if rule.kind is AlertKind.LONGEST_WAIT_ABOVE:
        return f"{where}: longest wait {value:.0f} s above {rule.threshold:g} s"
    if rule.kind is AlertKind.WAITING_ABOVE:
        return f"{where}: {value:.0f} calls waiting, above {rule.threshold:g}"
    if rule.kind is AlertKind.AGENT_NOT_READY_ABOVE:
        return f"agent {where}: not ready for {value:.0f} s, above {rule.threshold:g} s"
    return f"case {where}: {value:.0f} s past its due time"


def breaches(rule: AlertRule, snap: Snapshot, now: float, not_ready: Iterable[str] = ("not_ready",)
             ) -> dict[str, float]:
    """Subject -> current value, for every subject breaching ``rule`` now; ``not_ready``: the agent
    states the not-ready rules count."""
    queues = [q for q in snap.queues if rule.scope is Scope.GLOBAL or q.queue == rule.queue]
    subject = "global" if rule.scope is Scope.GLOBAL else f"queue:{rule.queue}"
    out: dict[str, float] = {}
    if rule.kind in (AlertKind.SL_BELOW, AlertKind.ABANDON_RATE_ABOVE):
        # The rolling window's figure, once the window has offered ``min_offered`` calls (its
        # ``offered_counted``: short abandons excluded, as the figure itself counts them, docs/kpis.md).
        sl_rule = rule.kind is AlertKind.SL_BELOW
        if rule.scope is Scope.GLOBAL:
            rate, offered = (snap.service_level if sl_rule else snap.abandon_rate), snap.offered
        elif queues:
            rate, offered = (queues[0].service_level if sl_rule else queues[0].abandon_rate), queues[0].offered
        else:
            rate, offered = None, 0
        if rate is not None and offered >= rule.min_offered and (
                rate < rule.threshold if sl_rule else rate > rule.threshold):
            out[subject] = rate
    elif rule.kind is AlertKind.LONGEST_WAIT_ABOVE:
        wait = max((q.longest_wait_s for q in queues), default=0.0)
        if wait > rule.threshold:
            out[subject] = wait
    elif rule.kind is AlertKind.WAITING_ABOVE:
        waiting = sum(q.waiting for q in queues)
        if waiting > rule.threshold:
            out[subject] = float(waiting)
    elif rule.kind is AlertKind.AGENT_NOT_READY_ABOVE:
        states = frozenset(not_ready)
        for a in snap.agents:
            if a.state in states and (rule.scope is Scope.GLOBAL or rule.queue in a.queues):
                if now - a.since > rule.threshold:
                    out[f"agent:{a.agent_id}"] = now - a.since
    else:
        for c in snap.open_cases:
            if (rule.scope is Scope.GLOBAL or c.queue == rule.queue) and now - c.due_at > rule.threshold:
                out[f"case:{c.case_id}"] = now - c.due_at
    return out
