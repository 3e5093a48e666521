"""Escalation alerts (预警): rules over a live snapshot, raised once per episode, escalated level by level.

Pure and synchronous: the snapshot and the time come in, ``alert.*`` events go out. What a rule is
and which subjects breach it now is ``acd.alert_rules`` (its names are re-exported here); this
module is an alert's life. An alert goes
first to ``levels[0]`` (the queue's supervisor); while nobody acknowledges it, every
``ack_timeout_s`` it moves to the next level (manager, then head of service) and stays at the top.
It clears when its condition recovers, acknowledged or not; a new breach after that is a new alert.
After a restart ``restore`` takes back the alerts the previous run left open (as its records tell
them), so they go on under the same ids instead of being raised again.

    raised -[escalate]-> escalated -[escalate]-> escalated
    raised | escalated -[acknowledge]-> acknowledged
    raised | escalated | acknowledged -[clear]-> cleared
"""

from __future__ import annotations

import dataclasses
import enum
import logging
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, TypeVar

from acd.alert_rules import (
    DEFAULT_LEVELS,
    AgentStatus,
    AlertKind,
    AlertRule,
    CaseStatus,
    QueueFigures,
    QueueStatus,
    Scope,
    Snapshot,
    breaches,
    message,
)
from acd.errors import AcdError, InvalidRequest
from cti.events import Event

if TYPE_CHECKING:
    from typing import dataclass_transform

    _E = TypeVar("_E", bound=Event)

    # cti.events.event returns Any, which hides the fields from mypy; this stub says what it makes.
    @dataclass_transform(frozen_default=True, kw_only_default=True)
    def event(name: str) -> Callable[[type[_E]], type[_E]]: ...
else:
    from cti.events import event

__all__ = [  # the rules' names, for the modules that import them from here
    "DEFAULT_LEVELS", "AgentStatus", "AlertAcknowledged", "AlertCleared", "AlertEngine", "AlertEscalated",
    "AlertEvent", "AlertKind", "AlertRaised", "AlertRule", "AlertState", "AlertView", "CaseStatus",
    "IllegalAlertTransition", "QueueFigures", "QueueStatus", "Scope", "Snapshot", "UnknownAlert",
]

log = logging.getLogger("acd.alerts")


class IllegalAlertTransition(AcdError):
    code = "acd_illegal_alert_transition"
    http_status = 409

    def __init__(self, alert_id: str, state: str, action: str) -> None:
        super().__init__(f"alert {alert_id}: no transition from {state} on {action}")
        self.alert_id = alert_id
        self.state = state
        self.action = action


class UnknownAlert(AcdError):
    code = "acd_unknown_alert"
    http_status = 404


class AlertState(enum.StrEnum):
    RAISED = "raised"
    ESCALATED = "escalated"
    ACKNOWLEDGED = "acknowledged"
    CLEARED = "cleared"


class AlertAction(enum.StrEnum):
    ESCALATE = "escalate"
    ACKNOWLEDGE = "acknowledge"
    CLEAR = "clear"


TRANSITIONS: dict[tuple[AlertState, AlertAction], AlertState] = {
    (AlertState.RAISED, AlertAction.ESCALATE): AlertState.ESCALATED,
    (AlertState.ESCALATED, AlertAction.ESCALATE): AlertState.ESCALATED,
    (AlertState.RAISED, AlertAction.ACKNOWLEDGE): AlertState.ACKNOWLEDGED,
    (AlertState.ESCALATED, AlertAction.ACKNOWLEDGE): AlertState.ACKNOWLEDGED,
    (AlertState.RAISED, AlertAction.CLEAR): AlertState.CLEARED,
    (AlertState.ESCALATED, AlertAction.CLEAR): AlertState.CLEARED,
    (AlertState.ACKNOWLEDGED, AlertAction.CLEAR): AlertState.CLEARED,
}


# -- events ----------------------------------------------------------------------------------

@event("alert.raised")
class AlertRaised(Event):
    alert_id: str
    rule_id: str
    kind: str
    scope: str
    queue: str | None
    subject: str  # "queue:support", "global", "agent:a7", "case:C-12"
    value: float
    threshold: float
    role: str  # who is notified now
    level: int  # index of role in the rule's levels
    message: str


@event("alert.escalated")
class AlertEscalated(Event):
    alert_id: str
    rule_id: str
    kind: str
    queue: str | None
    subject: str
    value: float
    threshold: float
    role: str
    level: int
    previous_role: str
    message: str


@event("alert.acknowledged")
class AlertAcknowledged(Event):
    alert_id: str
    rule_id: str
    queue: str | None
    subject: str
    by: str
    role: str  # the level the alert had reached
    level: int


@event("alert.cleared")
class AlertCleared(Event):
    alert_id: str
    rule_id: str
    kind: str
    queue: str | None
    subject: str
    role: str
    level: int
    acknowledged: bool


AlertEvent = AlertRaised | AlertEscalated | AlertAcknowledged | AlertCleared


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AlertView:
    """An alert as the wallboard and the recorder see it."""

    alert_id: str
    rule_id: str
    kind: AlertKind
    queue: str | None
    subject: str
    state: AlertState
    level: int
    role: str
    value: float
    threshold: float
    raised_at: float
    level_since: float
    acknowledged_by: str | None
    acknowledged_at: float | None
    cleared_at: float | None


@dataclasses.dataclass(slots=True)
class _Alert:
    alert_id: str
    rule: AlertRule
    subject: str
    value: float
    raised_at: float
    state: AlertState = AlertState.RAISED
    level: int = 0
    level_since: float = 0.0
    acknowledged_by: str | None = None
    acknowledged_at: float | None = None
    cleared_at: float | None = None

    @property
    def role(self) -> str:
        return self.rule.levels[self.level]

    def step(self, action: AlertAction) -> None:
        new = TRANSITIONS.get((self.state, action))
        if new is None:
            raise IllegalAlertTransition(self.alert_id, self.state.value, action.value)
        log.info("alert %s: %s -[%s]-> %s (%s)", self.alert_id, self.state.value, action.value, new.value,
                 self.role)
        self.state = new

    def view(self) -> AlertView:
        r = self.rule
        return AlertView(alert_id=self.alert_id, rule_id=r.id, kind=r.kind, queue=r.queue, subject=self.subject,
                         state=self.state, level=self.level, role=self.role, value=self.value,
                         threshold=r.threshold, raised_at=self.raised_at, level_since=self.level_since,
                         acknowledged_by=self.acknowledged_by, acknowledged_at=self.acknowledged_at,
                         cleared_at=self.cleared_at)


def _seq_of(alert_id: str) -> int:
    """The sequence number ending an id this engine made (``rule:subject:seq``); 0 for any other."""
    tail = alert_id.rsplit(":", 1)[-1]
    return int(tail) if tail.isdecimal() else 0


class AlertEngine:
    """Evaluates rules against snapshots and escalates unacknowledged alerts; time is passed in."""

    def __init__(self, rules: Sequence[AlertRule], *, not_ready_states: Iterable[str] = ("not_ready",),
                 history_size: int = 1000) -> None:
        ids = [r.id for r in rules]
        if len(set(ids)) != len(ids):
            raise InvalidRequest("rules", "rule ids must be unique")
        self._rules = tuple(rules)
        self._not_ready = frozenset(not_ready_states)
        self._active: dict[tuple[str, str], _Alert] = {}
        self._by_id: dict[str, _Alert] = {}
        self._cleared: deque[str] = deque()
        self._history_size = history_size
        self._seq = 0

    @property
    def rules(self) -> tuple[AlertRule, ...]:
        return self._rules

    def evaluate(self, snapshot: Snapshot, now: float) -> list[AlertEvent]:
        """Raise alerts for new breaches and clear those whose condition recovered."""
        events: list[AlertEvent] = []
        breaching: set[tuple[str, str]] = set()
        for rule in self._rules:
            for subject, value in breaches(rule, snapshot, now, self._not_ready).items():
                key = (rule.id, subject)
                breaching.add(key)
                current = self._active.get(key)
                if current is not None:
                    current.value = value  # the same episode goes on: no new event
                    continue
                self._seq += 1
                alert = _Alert(f"{rule.id}:{subject}:{self._seq}", rule, subject, value, now, level_since=now)
                log.info("alert %s: raised to %s", alert.alert_id, alert.role)
                self._active[key] = self._by_id[alert.alert_id] = alert
                events.append(AlertRaised(
                    ts=now, alert_id=alert.alert_id, rule_id=rule.id, kind=rule.kind.value,
                    scope=rule.scope.value, queue=rule.queue, subject=subject, value=value,
                    threshold=rule.threshold, role=alert.role, level=0, message=message(rule, subject, value)))
        for key in [k for k in self._active if k not in breaching]:
            events.append(self._clear(self._active.pop(key), now))
        return events

    def _clear(self, alert: _Alert, now: float) -> AlertCleared:
        acknowledged = alert.state is AlertState.ACKNOWLEDGED
        alert.step(AlertAction.CLEAR)
        alert.cleared_at = now
        self._remember_cleared(alert.alert_id)
        return AlertCleared(ts=now, alert_id=alert.alert_id, rule_id=alert.rule.id, kind=alert.rule.kind.value,
                            queue=alert.rule.queue, subject=alert.subject, role=alert.role, level=alert.level,
                            acknowledged=acknowledged)

    def restore(self, alerts: Iterable[AlertView], now: float, *, issued: Iterable[str] = ()) -> list[AlertEvent]:
        """Take back the alerts a previous run left open, before the first ``evaluate``.

        Each keeps its id, state, level (and the time it reached it), value, raise time and who
        acknowledged it: the next ``evaluate`` does not raise it again and clears it if its condition
        went away meanwhile; ``tick`` escalates it on from its level. ``issued``: other ids the previous
        run gave out, so that no new alert takes one of them again. Returned: ``AlertCleared`` for the
        alerts that cannot go on, those whose rule is no longer configured and, of two open alerts for
        the same rule and subject, the older.
        """
        rules = {r.id: r for r in self._rules}
        events: list[AlertEvent] = []
        for alert_id in issued:
            self._seq = max(self._seq, _seq_of(alert_id))
        for v in sorted(alerts, key=lambda v: v.raised_at):
            self._seq = max(self._seq, _seq_of(v.alert_id))
            if v.state is AlertState.CLEARED or v.alert_id in self._by_id:
                continue
            rule = rules.get(v.rule_id)
            if rule is None:
                log.info("alert %s: %s -[clear]-> cleared (rule %s is gone)", v.alert_id, v.state.value, v.rule_id)
                events.append(AlertCleared(
                    ts=now, alert_id=v.alert_id, rule_id=v.rule_id, kind=v.kind.value, queue=v.queue,
                    subject=v.subject, role=v.role, level=v.level, acknowledged=v.state is AlertState.ACKNOWLEDGED))
                continue
            alert = _Alert(v.alert_id, rule, v.subject, v.value, v.raised_at, state=v.state,
                           level=min(v.level, len(rule.levels) - 1), level_since=v.level_since,
                           acknowledged_by=v.acknowledged_by, acknowledged_at=v.acknowledged_at)
            log.info("alert %s: restored %s at %s", alert.alert_id, alert.state.value, alert.role)
            self._by_id[alert.alert_id] = alert
            key = (rule.id, v.subject)
            other = self._active.get(key)
            if other is not None and other.raised_at > alert.raised_at:
                events.append(self._clear(alert, now))
                continue
            if other is not None:
                events.append(self._clear(other, now))
            self._active[key] = alert
        return events

    def tick(self, now: float) -> list[AlertEvent]:
        """Escalate every unacknowledged alert whose level has waited ``ack_timeout_s``."""
        events: list[AlertEvent] = []
        for alert in list(self._active.values()):
            rule = alert.rule
            while (alert.state in (AlertState.RAISED, AlertState.ESCALATED)
                   and alert.level + 1 < len(rule.levels) and now - alert.level_since >= rule.ack_timeout_s):
                previous = alert.role
                alert.step(AlertAction.ESCALATE)
                alert.level += 1
                # The next level's clock starts when this one ran out, not when tick() happened to run.
                alert.level_since += rule.ack_timeout_s
                events.append(AlertEscalated(
                    ts=now, alert_id=alert.alert_id, rule_id=rule.id, kind=rule.kind.value, queue=rule.queue,
                    subject=alert.subject, value=alert.value, threshold=rule.threshold, role=alert.role,
                    level=alert.level, previous_role=previous,
                    message=message(rule, alert.subject, alert.value)))
        return events

    def acknowledge(self, alert_id: str, by: str, now: float) -> AlertAcknowledged:
        """Someone acts on the alert: escalation stops (it stays shown until it clears)."""
        if not by.strip():
            raise InvalidRequest("by", "who acknowledges must be named")
        alert = self._by_id.get(alert_id)
        if alert is None:
            raise UnknownAlert(f"no alert {alert_id!r}")
        alert.step(AlertAction.ACKNOWLEDGE)
        alert.acknowledged_by, alert.acknowledged_at = by, now
        return AlertAcknowledged(ts=now, alert_id=alert_id, rule_id=alert.rule.id, queue=alert.rule.queue,
                                 subject=alert.subject, by=by, role=alert.role, level=alert.level)

    def get(self, alert_id: str) -> AlertView:
        alert = self._by_id.get(alert_id)
        if alert is None:
            raise UnknownAlert(f"no alert {alert_id!r}")
        return alert.view()

    def active(self) -> list[AlertView]:
        """Alerts not yet cleared, oldest first."""
        return sorted((a.view() for a in self._active.values()), key=lambda v: v.raised_at)

    def recent_cleared(self) -> list[AlertView]:
        """The last ``history_size`` cleared alerts, oldest first (the durable record is the events)."""
        return [self._by_id[i].view() for i in self._cleared]

    def _remember_cleared(self, alert_id: str) -> None:
        self._cleared.append(alert_id)
        while len(self._cleared) > self._history_size:
            self._by_id.pop(self._cleared.popleft(), None)
