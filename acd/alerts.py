"""Escalation alerts (预警): rules over a live snapshot, raised once per episode, escalated level by level.

Pure and synchronous: the snapshot and the time come in, ``alert.*`` events go out. An alert goes
first to ``levels[0]`` (the queue's supervisor); while nobody acknowledges it, every
``ack_timeout_s`` it moves to the next level (manager, then head of service) and stays at the top.
It clears when its condition recovers, acknowledged or not; a new breach after that is a new alert.

    raised -[escalate]-> escalated -[escalate]-> escalated
    raised | escalated -[acknowledge]-> acknowledged
    raised | escalated | acknowledged -[clear]-> cleared
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import math
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import yaml

from acd.errors import AcdError, InvalidRequest
from cti.errors import ConfigError
from cti.events import Event
from cti.settings import Settings

if TYPE_CHECKING:
    from typing import dataclass_transform

    _E = TypeVar("_E", bound=Event)

    # cti.events.event returns Any, which hides the fields from mypy; this stub says what it makes.
    @dataclass_transform(frozen_default=True, kw_only_default=True)
    def event(name: str) -> Callable[[type[_E]], type[_E]]: ...
else:
    from cti.events import event

log = logging.getLogger("acd.alerts")

DEFAULT_LEVELS: tuple[str, ...] = ("supervisor", "manager", "head_of_service")


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


class AlertKind(enum.StrEnum):
    SL_BELOW = "sl_below"  # threshold: a fraction (0.8)
    LONGEST_WAIT_ABOVE = "longest_wait_above"  # seconds
    WAITING_ABOVE = "waiting_above"  # calls
    AGENT_NOT_READY_ABOVE = "agent_not_ready_above"  # seconds in not-ready
    CASE_OVERDUE = "case_overdue"  # seconds past the due time (0 = as soon as it is due)


class Scope(enum.StrEnum):
    QUEUE = "queue"
    GLOBAL = "global"


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


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AlertRule:
    id: str
    kind: AlertKind
    scope: Scope
    threshold: float
    queue: str | None = None  # required with scope queue, absent with scope global
    ack_timeout_s: float = 120.0
    levels: tuple[str, ...] = DEFAULT_LEVELS
    min_offered: int = 0  # sl_below: ignore the SL until this many calls were offered

    def __post_init__(self) -> None:
        where = f"rule {self.id!r}"
        if not self.id:
            raise InvalidRequest("id", "a rule needs an id")
        if (self.scope is Scope.QUEUE) != bool(self.queue):
            raise InvalidRequest("queue", f"{where}: required with scope queue, not allowed with scope global")
        if not math.isfinite(self.threshold) or self.threshold < 0:
            raise InvalidRequest("threshold", f"{where}: must be a number >= 0")
        if self.kind is AlertKind.SL_BELOW and not 0 < self.threshold <= 1:
            raise InvalidRequest("threshold", f"{where}: a service-level target is a fraction in (0, 1]")
        if not math.isfinite(self.ack_timeout_s) or self.ack_timeout_s <= 0:
            raise InvalidRequest("ack_timeout_s", f"{where}: must be > 0 seconds")
        if not self.levels or len(set(self.levels)) != len(self.levels) or not all(self.levels):
            raise InvalidRequest("levels", f"{where}: a non-empty list of distinct role names")
        if self.min_offered < 0:
            raise InvalidRequest("min_offered", f"{where}: must be >= 0")


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


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class QueueStatus:
    queue: str
    waiting: int = 0
    longest_wait_s: float = 0.0
    service_level: float | None = None
    offered: int = 0


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
    """Live figures; ``service_level``/``offered`` are the all-queue totals for global SL rules."""

    queues: Sequence[QueueFigures] = ()
    agents: Sequence[AgentStatus] = ()
    open_cases: Sequence[CaseStatus] = ()
    service_level: float | None = None
    offered: int = 0


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


def _message(rule: AlertRule, subject: str, value: float) -> str:
    where = subject.split(":", 1)[-1]
    if rule.kind is AlertKind.SL_BELOW:
        return f"{where}: service level {value:.0%} below {rule.threshold:.0%}"
    if rule.kind is AlertKind.LONGEST_WAIT_ABOVE:
        return f"{where}: longest wait {value:.0f} s above {rule.threshold:g} s"
    if rule.kind is AlertKind.WAITING_ABOVE:
        return f"{where}: {value:.0f} calls waiting, above {rule.threshold:g}"
    if rule.kind is AlertKind.AGENT_NOT_READY_ABOVE:
        return f"agent {where}: not ready for {value:.0f} s, above {rule.threshold:g} s"
    return f"case {where}: {value:.0f} s past its due time"


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

    def _breaches(self, rule: AlertRule, snap: Snapshot, now: float) -> dict[str, float]:
        """Subject -> current value, for every subject breaching ``rule`` now."""
        queues = [q for q in snap.queues if rule.scope is Scope.GLOBAL or q.queue == rule.queue]
        subject = "global" if rule.scope is Scope.GLOBAL else f"queue:{rule.queue}"
        out: dict[str, float] = {}
        if rule.kind is AlertKind.SL_BELOW:
            if rule.scope is Scope.GLOBAL:
                sl, offered = snap.service_level, snap.offered
            else:
                sl, offered = (queues[0].service_level, queues[0].offered) if queues else (None, 0)
            if sl is not None and offered >= rule.min_offered and sl < rule.threshold:
                out[subject] = sl
        elif rule.kind is AlertKind.LONGEST_WAIT_ABOVE:
            wait = max((q.longest_wait_s for q in queues), default=0.0)
            if wait > rule.threshold:
                out[subject] = wait
        elif rule.kind is AlertKind.WAITING_ABOVE:
            waiting = sum(q.waiting for q in queues)
            if waiting > rule.threshold:
                out[subject] = float(waiting)
        elif rule.kind is AlertKind.AGENT_NOT_READY_ABOVE:
            for a in snap.agents:
                if a.state in self._not_ready and (rule.scope is Scope.GLOBAL or rule.queue in a.queues):
                    if now - a.since > rule.threshold:
                        out[f"agent:{a.agent_id}"] = now - a.since
        else:
            for c in snap.open_cases:
                if (rule.scope is Scope.GLOBAL or c.queue == rule.queue) and now - c.due_at > rule.threshold:
                    out[f"case:{c.case_id}"] = now - c.due_at
        return out

    def evaluate(self, snapshot: Snapshot, now: float) -> list[AlertEvent]:
        """Raise alerts for new breaches and clear those whose condition recovered."""
        events: list[AlertEvent] = []
        breaching: set[tuple[str, str]] = set()
        for rule in self._rules:
            for subject, value in self._breaches(rule, snapshot, now).items():
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
                    threshold=rule.threshold, role=alert.role, level=0, message=_message(rule, subject, value)))
        for key in [k for k in self._active if k not in breaching]:
            alert = self._active.pop(key)
            acknowledged = alert.state is AlertState.ACKNOWLEDGED
            alert.step(AlertAction.CLEAR)
            alert.cleared_at = now
            self._remember_cleared(alert.alert_id)
            events.append(AlertCleared(
                ts=now, alert_id=alert.alert_id, rule_id=alert.rule.id, kind=alert.rule.kind.value,
                queue=alert.rule.queue, subject=alert.subject, role=alert.role, level=alert.level,
                acknowledged=acknowledged))
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
                    message=_message(rule, alert.subject, alert.value)))
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


# -- configuration (config/alerts.yaml) --------------------------------------------------------

_RULE_KEYS = {"id", "kind", "scope", "queue", "threshold", "ack_timeout_s", "levels", "min_offered"}
_DEFAULT_KEYS = {"ack_timeout_s", "levels"}


def parse_alert_rules(data: Any, source: str) -> tuple[list[AlertRule], list[str]]:
    """Rules from parsed YAML, and one problem string per bad field (naming file, rule and field)."""
    problems: list[str] = []
    if not isinstance(data, dict):
        return [], [f"{source}: expected a mapping with 'rules' (and optional 'defaults')"]
    for key in sorted(set(data) - {"defaults", "rules", "recipients"}):
        problems.append(f"{source}: unknown top-level key {key!r}")
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        problems.append(f"{source}: defaults: expected a mapping")
        defaults = {}
    for key in sorted(set(defaults) - _DEFAULT_KEYS):
        problems.append(f"{source}: defaults.{key}: unknown key")
    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        return [], [*problems, f"{source}: rules: expected a non-empty list"]
    rules: list[AlertRule] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_rules):
        where = f"{source}: rules[{i}]"
        if not isinstance(raw, dict):
            problems.append(f"{where}: expected a mapping")
            continue
        where = f"{source}: rules[{i}] ({raw.get('id', '?')})"
        for key in sorted(set(raw) - _RULE_KEYS):
            problems.append(f"{where}.{key}: unknown key")
        merged = {**{k: v for k, v in defaults.items() if k in _DEFAULT_KEYS}, **raw}
        try:
            rule = _rule_from(merged)
        except InvalidRequest as err:
            problems.append(f"{where}.{err.field}: {err.message.split(': ', 1)[-1]}")
            continue
        if rule.id in seen:
            problems.append(f"{where}.id: duplicate rule id {rule.id!r}")
        seen.add(rule.id)
        rules.append(rule)
    return rules, problems


def _rule_from(raw: dict[str, Any]) -> AlertRule:
    def number(field: str, default: float | None = None) -> float:
        value = raw.get(field, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidRequest(field, f"expected a number (got {value!r})")
        return float(value)

    rule_id = raw.get("id")
    if not isinstance(rule_id, str) or not rule_id:
        raise InvalidRequest("id", "expected a non-empty string")
    kinds = {k.value: k for k in AlertKind}
    scopes = {s.value: s for s in Scope}
    kind, scope = kinds.get(str(raw.get("kind"))), scopes.get(str(raw.get("scope")))
    if kind is None:
        raise InvalidRequest("kind", f"one of {', '.join(kinds)} (got {raw.get('kind')!r})")
    if scope is None:
        raise InvalidRequest("scope", f"queue or global (got {raw.get('scope')!r})")
    queue = raw.get("queue")
    if queue is not None and not isinstance(queue, str):
        raise InvalidRequest("queue", f"expected a queue name (got {queue!r})")
    levels = raw.get("levels", list(DEFAULT_LEVELS))
    if not isinstance(levels, list) or not all(isinstance(x, str) for x in levels):
        raise InvalidRequest("levels", "expected a list of role names")
    min_offered = raw.get("min_offered", 0)
    if isinstance(min_offered, bool) or not isinstance(min_offered, int):
        raise InvalidRequest("min_offered", f"expected a whole number (got {min_offered!r})")
    return AlertRule(id=rule_id, kind=kind, scope=scope, queue=queue, threshold=number("threshold"),
                     ack_timeout_s=number("ack_timeout_s", 120.0), levels=tuple(levels), min_offered=min_offered)


def alerts_file(settings: Settings) -> Path:
    return settings.config_dir / "alerts.yaml"


def load_alert_recipients(path: Path, rules: Sequence[AlertRule]) -> dict[str, dict[str, tuple[str, ...]]]:
    """The ``recipients:`` section (see ``acd.recipients``); ConfigError on problems."""
    from acd.recipients import parse_recipients

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    recipients, problems = parse_recipients(data.get("recipients") if isinstance(data, dict) else None,
                                            str(path), {lv for r in rules for lv in r.levels})
    if problems:
        raise ConfigError("invalid alert recipients:\n" + "\n".join(f"  - {p}" for p in problems))
    return recipients


def load_alert_rules(path: Path) -> list[AlertRule]:
    """Read and validate an alerts file; ConfigError lists every problem."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"{path}: cannot read: {err.strerror}") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    rules, problems = parse_alert_rules(data, str(path))
    if problems:
        raise ConfigError("invalid alert rules:\n" + "\n".join(f"  - {p}" for p in problems))
    return rules


def _known_queues(settings: Settings) -> set[str] | None:
    """Queue names from config/queues.yaml when it exists (a mapping or a list of {name: ...})."""
    path = settings.config_dir / "queues.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None  # that file's own checker reports it
    queues = data.get("queues") if isinstance(data, dict) else None
    if isinstance(queues, dict):
        return {str(k) for k in queues}
    if isinstance(queues, list):
        return {str(q.get("name")) for q in queues if isinstance(q, dict) and q.get("name")}
    return None


def check_alerts(settings: Settings) -> list[str]:
    """Problems in config/alerts.yaml, each naming the file, the rule and the field."""
    path = alerts_file(settings)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        return [f"{path}: cannot read: {err.strerror}"]
    except yaml.YAMLError as err:
        return [f"{path}: not valid YAML: {err}"]
    rules, problems = parse_alert_rules(data, str(path))
    if isinstance(data, dict):
        from acd.recipients import parse_recipients

        problems += parse_recipients(data.get("recipients"), str(path), {lv for r in rules for lv in r.levels})[1]
    known = _known_queues(settings)
    if known is not None:
        for r in rules:
            if r.queue is not None and r.queue not in known:
                problems.append(f"{path}: rule {r.id!r}.queue: {r.queue!r} is not a queue in queues.yaml")
    return problems
