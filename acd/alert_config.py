"""The escalation-alert rules of ``config/alerts.yaml``: read, validated (every problem names the file,
the rule and the field) and checked against ``config/queues.yaml``; the rules are ``acd.alert_rules``,
the engine ``acd.alerts``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from acd.alert_rules import DEFAULT_LEVELS, AlertKind, AlertRule, Scope
from acd.errors import InvalidRequest
from acd.recipients import parse_recipients
from cti.errors import ConfigError
from cti.settings import Settings, load_yaml

_RULE_KEYS = {"id", "kind", "scope", "queue", "threshold", "ack_timeout_s", "levels", "min_offered"}
_DEFAULT_KEYS = {"ack_timeout_s", "levels"}


def parse_alert_rules(data: Any, source: str) -> tuple[list[AlertRule], list[str]]:
    """Rules from parsed YAML, and one problem string per bad field (naming file, rule and field)."""
    placed, problems = _parse(data, source)
    return [rule for _, rule in placed], problems


def _place(source: str, i: int, rule_id: object) -> str:
    return f"{source}: rules[{i}] ({rule_id})"


def _parse(data: Any, source: str) -> tuple[list[tuple[int, AlertRule]], list[str]]:
    """``parse_alert_rules`` with each rule's index in ``rules``, for problems found later."""
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
    rules: list[tuple[int, AlertRule]] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_rules):
        where = f"{source}: rules[{i}]"
        if not isinstance(raw, dict):
            problems.append(f"{where}: expected a mapping")
            continue
        where = _place(source, i, raw.get("id", "?"))
        for key in sorted(set(raw) - _RULE_KEYS):
            problems.append(f"{where}.{key}: unknown key")
        merged = {**{k: v for k, v in defaults.items() if k in _DEFAULT_KEYS}, **raw}
        try:
            rule = _rule_from(merged)
        except InvalidRequest as err:
            problems.append(f"{where}.{err.field}: {err.reason}")  # where names the rule: not err.about again
            continue
        if rule.id in seen:
            problems.append(f"{where}.id: duplicate rule id {rule.id!r}")
        seen.add(rule.id)
        rules.append((i, rule))
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
    data = load_yaml(path)
    recipients, problems = parse_recipients(data.get("recipients") if isinstance(data, dict) else None,
                                            str(path), {lv for r in rules for lv in r.levels})
    if problems:
        raise ConfigError("invalid alert recipients:\n" + "\n".join(f"  - {p}" for p in problems))
    return recipients


def load_alert_rules(path: Path) -> list[AlertRule]:
    """Read and validate an alerts file; ConfigError lists every problem."""
    try:
        data = load_yaml(path)
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
        data = load_yaml(path)
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
        data = load_yaml(path)
    except OSError as err:
        return [f"{path}: cannot read: {err.strerror}"]
    except yaml.YAMLError as err:
        return [f"{path}: not valid YAML: {err}"]
    placed, problems = _parse(data, str(path))
    if isinstance(data, dict):
        levels = {lv for _, r in placed for lv in r.levels}
        problems += parse_recipients(data.get("recipients"), str(path), levels)[1]
    known = _known_queues(settings)
    if known is not None:
        for i, r in placed:
            if r.queue is not None and r.queue not in known:
                problems.append(f"{_place(str(path), i, r.id)}.queue: {r.queue!r} is not a queue in queues.yaml")
    return problems
