"""Who receives an escalation alert at each level: the ``recipients:`` section of config/alerts.yaml.

    recipients:
      supervisor: {support: [sup1], billing: [sup2], default: [sup1]}   # per queue; default for the rest
      manager: [mgr1]                                                   # one list for every queue
      head_of_service: [admin]

An alert at level n goes to the people of levels 0..n (escalation adds people, nobody is dropped).
Administrators see every alert; with no ``recipients:`` section every supervisor sees every alert.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Recipients = Mapping[str, Mapping[str, tuple[str, ...]]]  # level -> queue (or "default") -> usernames
DEFAULT = "default"


def parse_recipients(data: Any, source: str, levels: set[str]) -> tuple[dict[str, dict[str, tuple[str, ...]]],
                                                                        list[str]]:
    """The recipients section, and one problem string per bad field."""
    if data is None:
        return {}, []
    if not isinstance(data, dict):
        return {}, [f"{source}: recipients: expected a mapping of level -> usernames"]
    out: dict[str, dict[str, tuple[str, ...]]] = {}
    problems: list[str] = []
    for level, spec in data.items():
        where = f"{source}: recipients.{level}"
        if level not in levels:
            problems.append(f"{where}: unknown level (the rules' levels are {', '.join(sorted(levels))})")
            continue
        per_queue = spec if isinstance(spec, dict) else {DEFAULT: spec}
        out[level] = {}
        for queue, names in per_queue.items():
            if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
                problems.append(f"{where}.{queue}: expected a list of usernames")
                continue
            out[level][str(queue)] = tuple(names)
    return out, problems


def recipients_for(recipients: Recipients, levels: Sequence[str], level: int, queue: str | None) -> tuple[str, ...]:
    """Everyone an alert at ``level`` (index into ``levels``) concerns, in level order."""
    names: list[str] = []
    for name in levels[: level + 1]:
        per_queue = recipients.get(name, {})
        for user in per_queue.get(queue or DEFAULT, per_queue.get(DEFAULT, ())):
            if user not in names:
                names.append(user)
    return tuple(names)


def may_see(alert: Mapping[str, Any], username: str, role: str) -> bool:
    """Administrators see every alert; others those addressed to them (or unaddressed ones)."""
    to = alert.get("to")
    return role == "admin" or not to or username in to
