"""The import rules: the pure cores (routing, IVR stepping, KPIs, staffing, alerts) never reach I/O
libraries, even through the project's own modules; the packages import only downwards; and the
ACD's modules import one another without a circle (type-only imports included)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORES = ["acd.routing", "acd.routing_state", "acd.routing_steps", "acd.routing_virtual", "acd.routing_agents",
         "acd.model", "acd.decisions", "acd.stats", "acd.staffing", "acd.kpis", "acd.agent_parts", "acd.alerts",
         "acd.alert_rules",
         "acd.recipients", "acd.agent_index", "acd.waiting", "acd.timers", "acd.recovery", "acd.virtual_hold",
         "acd.pacing",
         "ivr.stepper", "ivr.flow", "ivr.actions", "crm_core.fold", "crm_core.event_keys", "cti.journey", "cti.events",
         "cti.ami.callmodel", "cti.ami.call_records", "cti.ami.call_outcomes"]
FORBIDDEN = ("panoramisk", "asterisk", "fastapi", "starlette", "sqlalchemy", "redis", "uvicorn", "websockets",
             "httpx", "asyncio", "socket", "subprocess")
PROJECT = ("acd", "ivr", "cti", "crm_core", "agent_console")


def _imports(module: str, *, submodules: bool = False) -> set[str]:
    """The modules ``module`` imports; with ``submodules``, ``from acd import timers`` also names
    acd.timers (when that is a module of the tree)."""
    path = ROOT / (module.replace(".", "/") + ".py")
    if not path.exists():
        path = ROOT / module.replace(".", "/") / "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            if submodules:
                found.update(sub for alias in node.names
                             if (ROOT / ((sub := f"{node.module}.{alias.name}").replace(".", "/") + ".py")).exists())
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


# The packages' layers: a module may import its own package and the layers below, never above, and
# the two middle packages (ivr, acd) not each other. Lazy imports inside functions count too.
LAYERS = {"cti": 0, "ivr": 1, "acd": 1, "crm_core": 2, "agent_console": 3, "callcenter": 4}


def _all_modules() -> list[str]:
    found = []
    for package in LAYERS:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            found.append(".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"))
    return found


def _upward(module: str) -> list[str]:
    own = module.split(".")[0]
    bad = []
    for name in sorted(_imports(module)):
        top = name.split(".")[0]
        if top == own or top not in LAYERS:
            continue
        if LAYERS[top] >= LAYERS[own]:
            bad.append(name)
    return bad


def test_packages_import_only_downwards() -> None:
    problems = {m: bad for m in _all_modules() if (bad := _upward(m))}
    assert not problems, f"imports that run sideways or back up the layers {LAYERS}: {problems}"


def test_no_module_is_found_by_name_at_run_time() -> None:
    """importlib hides an import from the layering rules (and from readers)."""
    users = [m for m in _all_modules() if "importlib" in _imports(m) and m != "cti.agi.classic"]
    assert not users, f"importlib used by {users}"


def test_the_rule_sees_an_upward_import(tmp_path: Path) -> None:
    """The checker itself: an acd module importing the console is caught."""
    global ROOT
    saved = ROOT
    (tmp_path / "acd").mkdir()
    (tmp_path / "acd" / "bad.py").write_text("def f():\n    from agent_console.hub import Hub\n")
    ROOT = tmp_path
    try:
        assert _upward("acd.bad") == ["agent_console.hub"]
    finally:
        ROOT = saved


# Import circles: inside a package no module may reach itself again through the imports of others,
# ``if TYPE_CHECKING:`` and function-level imports included (a type-only circle still means modules
# that cannot be read, or changed, one without the other). Between packages the layers rule them out.
ACYCLIC = tuple(LAYERS)


def _project_imports(module: str) -> set[str]:
    """The project's modules that ``module`` imports: ``from acd import timers`` names acd.timers."""
    return {name for name in _imports(module, submodules=True) if name.split(".")[0] in LAYERS}


def _circles(package: str) -> list[list[str]]:
    """The import circles among ``package``'s modules: each a strongly connected set of modules
    (Tarjan), sorted, with more than one module or a module importing itself."""
    modules = [m for m in _all_modules() if m.split(".")[0] == package]
    graph = {m: sorted(n for n in _project_imports(m) if n in modules and n != package) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(m: str) -> None:
        index[m] = low[m] = len(index)
        stack.append(m)
        on_stack.add(m)
        for n in graph[m]:
            if n not in index:
                visit(n)
                low[m] = min(low[m], low[n])
            elif n in on_stack:
                low[m] = min(low[m], index[n])
        if low[m] == index[m]:
            component = []
            while True:
                n = stack.pop()
                on_stack.discard(n)
                component.append(n)
                if n == m:
                    break
            if len(component) > 1 or m in graph[m]:
                found.append(sorted(component))

    for m in modules:
        if m not in index:
            visit(m)
    return sorted(found)


@pytest.mark.parametrize("package", ACYCLIC)
def test_no_import_circle_inside_the_package(package: str) -> None:
    circles = _circles(package)
    assert not circles, f"import circles in {package} (type-only imports count): {circles}"


def test_the_rule_sees_a_type_only_circle(tmp_path: Path) -> None:
    """The checker itself: a module importing back, under TYPE_CHECKING, one that imports it is caught."""
    global ROOT
    saved = ROOT
    (tmp_path / "acd").mkdir()
    (tmp_path / "acd" / "__init__.py").write_text("")
    (tmp_path / "acd" / "service.py").write_text("from acd import part\nfrom acd.leaf import X\n")
    (tmp_path / "acd" / "part.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from acd.service import Service\n")
    (tmp_path / "acd" / "leaf.py").write_text("X = 1\n")
    ROOT = tmp_path
    try:
        assert _circles("acd") == [["acd.part", "acd.service"]]
    finally:
        ROOT = saved
