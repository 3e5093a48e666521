"""Validation of everything shipped in ``config/``: each package contributes a checker, and the
cross-checks (what one file names must exist in another) live here, above the packages."""

from __future__ import annotations

from collections.abc import Callable

from acd.alert_config import check_alerts
from acd.config import check_queues, load_queues, queues_path
from cti.errors import ConfigError
from cti.settings import Settings
from ivr import flow as f
from ivr.config import check_flows, flows_dir, load_flows

# Each takes Settings and returns problem strings that name the file and the field.
CHECKERS: tuple[Callable[[Settings], list[str]], ...] = (check_flows, check_queues, check_alerts)


def check_all(settings: Settings) -> list[str]:
    problems: list[str] = []
    templates = settings.config_dir / "asterisk"
    if not templates.is_dir():
        problems.append(f"{templates}: missing Asterisk configuration templates")
    for checker in CHECKERS:
        problems.extend(checker(settings))
    return problems + cross_check(settings)


def cross_check(settings: Settings) -> list[str]:
    """What one file names must exist in another: the IVR's queues and skills in config/queues.yaml."""
    try:
        acd = load_queues(settings)
        flows = load_flows(settings)
    except ConfigError:
        return []  # each file's own checker reports its problems
    queues, skills = {q.name for q in acd.queues}, set(acd.skills)
    problems: list[str] = []
    seen: set[int] = set()
    for flow in flows.values():
        if id(flow) in seen:
            continue
        seen.add(id(flow))
        where = f"{flows_dir(settings)} flow {flow.flow!r}"
        for lang, extra in flow.language_skills.items():
            for skill in set(extra) - skills:
                problems.append(f"{where}: language_skills.{lang}.{skill}: no such skill in {queues_path(settings)}")
        for node_id, node in flow.nodes.items():
            queue = getattr(node, "queue", None)
            if isinstance(node, f.Queue | f.Callback) and queue and queue not in queues:
                problems.append(f"{where}: node {node_id!r}: queue: {queue!r} is not a queue of "
                                f"{queues_path(settings)}")
            for skill in set(getattr(node, "skills", None) or {}) - skills:
                problems.append(f"{where}: node {node_id!r}: skills.{skill}: no such skill in {queues_path(settings)}")
    return problems
