"""Validation of everything shipped in ``config/``: each package contributes a checker."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from cti.settings import Settings

# Each entry: "module:function" taking Settings and returning a list of problem strings that
# name the file and the field.
CHECKERS = [
    "ivr.config:check_flows",
    "acd.config:check_queues",
]


def check_all(settings: Settings) -> list[str]:
    problems: list[str] = []
    templates = settings.config_dir / "asterisk"
    if not templates.is_dir():
        problems.append(f"{templates}: missing Asterisk configuration templates")
    for spec in CHECKERS:
        module, func = spec.split(":")
        try:
            checker: Callable[[Settings], list[str]] = getattr(importlib.import_module(module), func)
        except (ModuleNotFoundError, AttributeError):
            continue  # that package does not ship configuration yet
        problems.extend(checker(settings))
    return problems
