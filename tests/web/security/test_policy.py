"""The one access policy: every route of the real app has an entry and goes through ``policy.enforce``;
per role, what each may do (status 403 for what it may not); the row rules (own calls' pops, notes);
the table of docs/security.md agrees with ``policy.ACTIONS``."""

from __future__ import annotations

from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIWebSocketRoute, iter_route_contexts
from pydantic import SecretStr
from starlette.routing import Mount

from agent_console import policy
from tests.web.security.conftest import Site


def _calls(dep: Dependant) -> list[Any]:
    return [dep.call, *(c for sub in dep.dependencies for c in _calls(sub))]


def _routes(app: Any) -> list[tuple[str, str, Any]]:
    """(method, path, what runs): the effective route (with the app's and routers' dependencies)."""
    out = []
    for ctx in iter_route_contexts(app.routes):
        route = ctx.original_route
        path = getattr(ctx, "path", None) or route.path  # type: ignore[attr-defined]
        if getattr(ctx, "dependant", None) is not None:
            route = ctx
        if isinstance(ctx.original_route, APIWebSocketRoute):
            out.append(("WS", path, route))
        elif isinstance(ctx.original_route, Mount):
            out.append(("GET", path, route))
        else:
            for method in sorted(getattr(ctx, "methods", None) or route.methods or ()):  # type: ignore[attr-defined]
                if method != "HEAD":
                    out.append((method, path, route))
    return out


def test_every_route_of_the_real_app_has_a_policy_entry_and_is_enforced(site: Site) -> None:
    routes = _routes(site.app)
    assert len(routes) > 70 and any(m == "WS" for m, _, _ in routes)
    missing = [f"{m} {p}" for m, p, _ in routes if policy.action_of(m, p) is None]
    assert missing == [], f"routes without an access policy entry (add them to agent_console.policy.ROUTES): {missing}"
    unenforced = [f"{m} {p}" for m, p, r in routes
                  if getattr(r, "dependant", None) is not None and policy.enforce not in _calls(r.dependant)]
    assert sum(getattr(r, "dependant", None) is not None for _, _, r in routes) > 70
    assert unenforced == [], f"routes that do not depend on policy.enforce: {unenforced}"
    unknown = {a for a in policy.ROUTES.values() if a not in policy.ACTIONS}
    assert unknown == set()


def test_with_metrics_on_every_route_still_has_an_entry(site: Site) -> None:
    from callcenter.engine import Engine

    settings = site.settings.model_copy(update={"metrics": site.settings.metrics.model_copy(
        update={"token": SecretStr("m" * 32)})})
    app = Engine(settings).app
    routes = _routes(app)
    assert ("GET", "/metrics") in [(m, p) for m, p, _ in routes]
    assert [f"{m} {p}" for m, p, _ in routes if policy.action_of(m, p) is None] == []


def test_a_new_route_without_an_entry_is_refused_and_reported(site: Site) -> None:
    @site.app.get("/api/brand-new")
    async def brand_new() -> dict[str, str]:
        return {"ok": "yes"}

    assert policy.action_of("GET", "/api/brand-new") is None  # the walk above would name it


async def test_a_route_without_an_entry_is_refused_to_everyone(site: Site) -> None:
    @site.app.get("/api/brand-new")
    async def brand_new() -> dict[str, str]:
        return {"ok": "yes"}

    admin = await site.login("admin")
    r = await admin.get("/api/brand-new")
    assert r.status_code == 403 and "no access policy" in r.json()["detail"]["message"]


def test_the_policy_table_itself() -> None:
    assert policy.allows("agent", "agent.desk") and not policy.allows("agent", "supervisor.board")
    assert policy.allows("manager", "supervisor.reports") and not policy.allows("manager", "supervisor.intervene")
    assert policy.allows("supervisor", "customers.identity") and not policy.allows("agent", "customers.identity")
    assert policy.allows("admin", "catalog.manage") and not policy.allows("supervisor", "catalog.manage")
    assert not policy.allows("admin", "no.such.action")


def test_the_table_in_docs_security_md_is_the_policy() -> None:
    """docs/security.md's "What each role may do" renders ACTIONS: every action has a row, and a
    role's cell says "no" exactly where the policy refuses it."""
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[3] / "docs" / "security.md").read_text(encoding="utf-8")
    section = doc.split("### What each role may do", 1)[1]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    roles = ("agent", "supervisor", "manager", "admin", "integration")
    # Refused by the route's row rule though the action is the role's: a manager controls no live
    # call's recording (policy.controls_live_calls). An integration token hears recordings only when
    # given it (policy.GRANTABLE): its cell says "opt-in per token".
    by_row_rule = {("recordings.control", "manager"), ("recordings.audio", "integration")}
    seen: set[str] = set()
    wrong = []
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        actions = [a for a in cells[0].split("`") if a and a.strip(", ")]
        seen.update(actions)
        for action in actions:
            assert action in policy.ACTIONS, f"docs/security.md names an unknown action {action!r}"
            for role, cell in zip(roles, cells[-5:], strict=True):
                if (cell == "no") == policy.allows(role, action) and (action, role) not in by_row_rule:
                    wrong.append(f"{action} for {role}: the doc says {cell!r}")
    assert wrong == []
    assert sorted(set(policy.ACTIONS) - seen) == [], "actions without a row in docs/security.md"
