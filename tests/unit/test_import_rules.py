"""The pure cores (routing, IVR stepping, KPIs, staffing, alerts) never reach I/O libraries, even
through the project's own modules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORES = ["acd.routing", "acd.model", "acd.decisions", "acd.stats", "acd.staffing", "acd.kpis", "acd.alerts",
         "acd.recipients", "acd.agent_index", "acd.waiting", "acd.timers",
         "ivr.stepper", "ivr.flow", "ivr.actions"]
FORBIDDEN = ("panoramisk", "asterisk", "fastapi", "starlette", "sqlalchemy", "redis", "uvicorn", "websockets",
             "httpx", "asyncio", "socket", "subprocess")
PROJECT = ("acd", "ivr", "cti", "crm_core", "agent_console")


def _imports(module: str) -> set[str]:
    path = ROOT / (module.replace(".", "/") + ".py")
    if not path.exists():
        path = ROOT / module.replace(".", "/") / "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _closure(module: str) -> dict[str, str]:
    """Every module reachable from ``module`` -> the project module that imports it."""
    seen: dict[str, str] = {}
    todo = [module]
    while todo:
        current = todo.pop()
        for name in _imports(current):
            if name in seen:
                continue
            seen[name] = current
            if name.split(".")[0] in PROJECT:
                todo.append(name)
    return seen


@pytest.mark.parametrize("core", CORES)
def test_pure_core_imports_no_io(core: str) -> None:
    bad = {name: via for name, via in _closure(core).items() if name.split(".")[0] in FORBIDDEN}
    assert not bad, f"{core} reaches I/O modules: {bad}"
