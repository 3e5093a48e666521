"""Bad input on the surfaces added since the last audit (transfers and consultations, spy, click-to-
dial, callbacks, integration tokens, desk phones, webhooks, the feed, recordings, phones): every
value a 4xx naming the field (or a 404/409 for what is not there), never a 500. Table-driven over
the real app (an unstarted Engine, seeded SQLite CRM).

One site and one logged-in client per role serve the whole module: each case only sends its
requests (building a site and logging in per case took most of the module's time). The cases that
change a user (``USER_CHANGES``: a new password ends that user's sessions, queues and extensions
change what a supervisor may do) each get a site of their own instead, so no case sees what another
changed; a logged-in client answered 401 means a case changed what the shared clients rely on, and
fails the case rather than letting the rest pass on 401s."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.web.engines import seeded_engine
from tests.web.security.conftest import Site

pytestmark = pytest.mark.web
ROLES = ("agent1", "sup1", "admin")

HUGE = "9" * 100_000
NASTY = ["", " ", "\u0000", "a\r\nb", "\U0001f600", "\u0661\u0662\u0663", "\uff11\uff12\uff13", "${SHELL(id)}",
         "../../etc/passwd", "1001&PJSIP/1002", "1,2", "1|2", "x" * 5000, "-1", "0"]
JUNK: list[Any] = [None, 0, -1, 2**63, 1.5, True, [], {}, "x" * 5000, "\u0000"]

# (who, method, path, body): the body's value under test is put in place of "@".
CASES: list[tuple[str | None, str, str, dict[str, Any]]] = [
    ("agent1", "POST", "/api/calls/c1/transfer", {"target_kind": "number", "target": "@"}),
    ("agent1", "POST", "/api/calls/c1/transfer", {"target_kind": "agent", "target": "@"}),
    ("agent1", "POST", "/api/calls/c1/transfer", {"target_kind": "queue", "target": "@"}),
    ("agent1", "POST", "/api/calls/c1/transfer", {"kind": "@", "target_kind": "number", "target": "123"}),
    ("agent1", "POST", "/api/calls/c1/transfer", {"kind": "attended", "target_kind": "@", "target": "1"}),
    ("agent1", "POST", "/api/calls/c1/transfer", {"target_kind": "number", "target": "123", "note": "@"}),
    ("agent1", "POST", "/api/calls/dial", {"number": "@"}),
    ("agent1", "POST", "/api/calls/dial", {"number": "123", "customer_id": "@"}),
    ("agent1", "POST", "/api/calls/c1/dtmf", {"digits": "@"}),
    ("agent1", "POST", "/api/calls/c1/wrap-up", {"disposition": "info_given", "callback_number": "@"}),
    ("agent1", "POST", "/api/calls/c1/wrap-up", {"disposition": "info_given", "callback_at": "@"}),
    ("agent1", "POST", "/api/calls/c1/wrap-up", {"disposition": "info_given", "case": {"id": "@"}}),
    ("agent1", "POST", "/api/preview/next", {"source": "@"}),
    ("sup1", "POST", "/api/supervisor/agents/1001/spy", {"mode": "@"}),
    ("sup1", "POST", "/api/supervisor/agents/1001/spy", {"mode": "listen", "phone": "@"}),
    ("sup1", "POST", "/api/supervisor/calls/L1/move", {"queue": "@"}),
    ("sup1", "POST", "/api/supervisor/agents/1001/not-ready", {"reason": "@"}),
    ("sup1", "PUT", "/api/supervisor/agents/1001/skills", {"skills": "@"}),
    ("sup1", "PUT", "/api/supervisor/agents/1001/skills", {"skills": {"billing": "@"}}),
    ("sup1", "POST", "/api/supervisor/callbacks/1/cancel", {"reason": "@"}),
    ("admin", "POST", "/api/admin/integration-tokens", {"name": "@"}),
    ("admin", "POST", "/api/admin/integration-tokens", {"name": "warehouse", "grants": "@"}),
    ("admin", "POST", "/api/admin/integration-tokens", {"name": "warehouse", "audio": "@"}),
    ("admin", "POST", "/api/webhooks", {"name": "hook", "url": "@"}),
    ("admin", "POST", "/api/webhooks", {"name": "hook", "url": "https://example.com/x", "types": ["@"]}),
    ("admin", "POST", "/api/campaigns/dnc", {"numbers": ["@"]}),
    ("sup1", "POST", "/api/campaigns", {"name": "c", "queue": "support", "caller_id": "@"}),
    (None, "POST", "/api/callback-requests", {"number": "@", "queue": "support"}),
    (None, "POST", "/api/callback-requests", {"number": "+8613800000001", "queue": "@"}),
]
# Cases whose accepted values change a user (sup1 is user 2, agent1 is agent 1001): each on a fresh site.
USER_CHANGES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("admin", "POST", "/api/admin/users/2/password", {"password": "@"}),
    ("admin", "POST", "/api/admin/users/2/desk-password", {"password": "@"}),
    ("admin", "PATCH", "/api/admin/users/2", {"queues": "@"}),
    ("admin", "PATCH", "/api/admin/users/2", {"extension": "@"}),
    ("admin", "PATCH", "/api/admin/users/2", {"phone_kind": "@"}),
    ("admin", "PUT", "/api/admin/agents/1001/phone", {"kind": "@"}),
]
PATHS: list[tuple[str, str, str]] = [
    ("admin", "GET", "/api/events?since=@"),
    ("admin", "GET", "/api/events?types=@"),
    ("admin", "GET", "/api/events?limit=@"),
    ("admin", "GET", "/api/admin/agents/@/phone"),
    ("admin", "PUT", "/api/admin/agents/@/phone"),
    ("admin", "DELETE", "/api/admin/integration-tokens/@"),
    ("admin", "DELETE", "/api/webhooks/@"),
    ("admin", "GET", "/api/webhooks/@/dead-letters"),
    ("sup1", "GET", "/api/calls/@/recording"),
    ("sup1", "POST", "/api/calls/@/recording/pause"),
    ("sup1", "POST", "/api/calls/L1/recording/@"),
    ("agent1", "GET", "/api/calls/@/recording"),
    ("sup1", "POST", "/api/supervisor/agents/@/spy"),
    ("sup1", "POST", "/api/supervisor/calls/@/move"),
    ("sup1", "GET", "/api/recordings?number=@"),
    ("sup1", "GET", "/api/recordings?start=@"),
    ("sup1", "GET", "/api/recordings?end=@"),
    ("sup1", "GET", "/api/recordings?queue=@"),
    ("sup1", "GET", "/api/supervisor/callbacks?queue=@"),
    ("agent1", "POST", "/api/preview/@/1/dial"),
    ("agent1", "POST", "/api/preview/campaign/@/skip"),
    ("agent1", "POST", "/api/callbacks/@/claim"),
    ("agent1", "POST", "/api/campaigns/@/preview"),
]


def _put(body: Any, value: Any) -> Any:
    if body == "@":
        return value
    if isinstance(body, dict):
        return {k: _put(v, value) for k, v in body.items()}
    if isinstance(body, list):
        return [_put(v, value) for v in body]
    return body


def _ok(r: Any, what: str) -> None:
    assert r.status_code < 500 or r.status_code in (502, 503), (what, r.status_code, r.text[:300])
    if r.status_code in (400, 422):
        detail = r.json()["detail"]
        assert detail.get("field"), (what, detail)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def clients(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str | None, httpx.AsyncClient]]:
    """The module's site: a client per role, logged in once, and an anonymous one (key None)."""
    async with seeded_engine(tmp_path_factory.mktemp("inputs")) as engine:
        assert engine.app is not None
        site = Site(engine, engine.app, engine.settings.web.port, engine.settings)
        by_role: dict[str | None, httpx.AsyncClient] = {who: await site.login(who) for who in ROLES}
        by_role[None] = site.client()
        yield by_role
        for c in by_role.values():
            await c.aclose()


async def _send_bodies(c: httpx.AsyncClient, method: str, path: str, body: dict[str, Any], *, shared: bool) -> None:
    for value in [*NASTY, *JUNK]:
        r = await c.request(method, path, json=_put(body, value))
        what = f"{method} {path} {value!r:.40}"
        if shared and "Authorization" in c.headers:
            assert r.status_code != 401, (what, "the shared session ended: a case changed what the others rely on")
        _ok(r, what)


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize(("who", "method", "path", "body"), CASES, ids=[f"{c[1]} {c[2]} {c[3]}" for c in CASES])
async def test_bad_bodies_are_4xx_naming_the_field(clients: dict[str | None, httpx.AsyncClient], who: str | None,
                                                   method: str, path: str, body: dict[str, Any]) -> None:
    await _send_bodies(clients[who], method, path, body, shared=True)


@pytest.mark.parametrize(("who", "method", "path", "body"), USER_CHANGES,
                         ids=[f"{c[1]} {c[2]} {c[3]}" for c in USER_CHANGES])
async def test_bad_bodies_that_change_a_user_are_4xx_naming_the_field(site: Site, who: str, method: str, path: str,
                                                                      body: dict[str, Any]) -> None:
    await _send_bodies(await site.login(who), method, path, body, shared=False)


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize(("who", "method", "path"), PATHS, ids=[f"{p[1]} {p[2]}" for p in PATHS])
async def test_bad_path_and_query_values_are_4xx(clients: dict[str | None, httpx.AsyncClient], who: str, method: str,
                                                 path: str) -> None:
    c = clients[who]
    for value in ["-1", "0", str(2**63), "1e9", "%00", "%0d%0a", "%E2%80%AE", "..", "x" * 3000, "%F0%9F%98%80",
                  "${x}", "a%2Cb", "nan", "-inf", "1e300", "9223372036854775807", "%C2%B2"]:
        r = await c.request(method, path.replace("@", value), json={} if method in ("PUT", "POST") else None)
        what = f"{method} {path} {value:.40}"
        assert r.status_code != 401, (what, "the shared session ended: a case changed what the others rely on")
        _ok(r, what)
