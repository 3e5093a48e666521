"""Requests the app must refuse before doing the work: cross-site writes with the cookie, bodies
over the route's cap, logins over the per-address or global budget; X-Forwarded-For believed only
from configured proxies; argon2 off the event loop."""

from __future__ import annotations

import threading

import httpx
import pytest

from agent_console.security import COOKIE_NAME, LoginThrottle, client_address
from tests.web.security.conftest import Site, password_of


async def _cookie_client(site: Site, username: str):  # type: ignore[no-untyped-def]
    c = site.client()
    r = await c.post("/api/auth/login", json={"username": username, "password": password_of(username)})
    assert r.status_code == 200 and COOKIE_NAME in c.cookies
    return c


async def test_cross_site_form_post_with_the_cookie_is_403(site: Site) -> None:
    c = await _cookie_client(site, "sup1")
    evil = {"Origin": "https://evil.example", "Content-Type": "application/x-www-form-urlencoded"}
    for method, path in (("PATCH", "/api/crm/customers/1"), ("POST", "/api/auth/logout"),
                         ("POST", "/api/supervisor/agents/1001/not-ready"), ("POST", "/api/crm/cases")):
        r = await c.request(method, path, content=b"tier=gold", headers=evil)
        assert r.status_code == 403, (path, r.text)
        assert r.json()["detail"]["field"] == "Origin"
    r = await c.post("/api/crm/cases", json={"subject": "x"}, headers={"Referer": "https://evil.example/page"})
    assert r.status_code == 403
    assert (await c.get("/api/me", headers={"Origin": "https://evil.example"})).status_code == 200  # reads: fine
    same = {"Origin": f"http://127.0.0.1:{site.port}"}
    assert (await c.post("/api/crm/cases", json={"subject": "ok"}, headers=same)).status_code == 201
    r = await site.client().post("/api/auth/login", json={"username": "sup1", "password": password_of("sup1")},
                                 headers={"Origin": "https://evil.example"})
    assert r.status_code == 403  # login CSRF


async def test_bearer_requests_are_not_origin_checked(site: Site) -> None:
    c = await site.login("sup1")
    c.cookies.clear()
    r = await c.post("/api/crm/cases", json={"subject": "api"}, headers={"Origin": "https://tool.example"})
    assert r.status_code == 201


async def test_body_caps_are_413(site: Site) -> None:
    c = site.client()
    big = b'{"username": "a", "password": "' + b"x" * (1024 * 1024) + b'"}'
    r = await c.post("/api/auth/login", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    sup = await site.login("sup1")
    r = await sup.post("/api/crm/cases", json={"subject": "s", "description": "d" * 100_000})
    assert r.status_code == 413
    admin = await site.login("admin")
    r = await admin.post("/api/crm/articles", json={"title": "long", "body": "b" * 200_000})
    assert r.status_code != 413  # articles may be long


async def test_per_address_login_budget_is_429_with_retry_after(site: Site) -> None:
    site.app.state.console_auth.throttle = LoginThrottle(per_address_per_min=5, global_per_min=1000)
    c = site.client()
    for i in range(5):  # five different usernames: the per-user throttle never kicks in
        r = await c.post("/api/auth/login", json={"username": f"nobody{i}", "password": "wrong"})
        assert r.status_code == 401
    r = await c.post("/api/auth/login", json={"username": "sup1", "password": password_of("sup1")})
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1


async def test_one_ipv6_network_is_one_address_for_the_login_throttle(site: Site) -> None:
    """A host picks any address of its /64 at will: per (username, address) and per address it must
    not get a fresh budget with each, or a password is guessed at the global rate (1,200 a minute)."""
    async def attempt(n: int, username: str, password: str) -> int:
        transport = httpx.ASGITransport(app=site.app, client=(f"2001:db8:5:6::{n:x}", 50000 + n),
                                        raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url=f"http://127.0.0.1:{site.port}") as c:
            r = await c.post("/api/auth/login", json={"username": username, "password": password})
            return r.status_code

    statuses = [await attempt(n, "sup1", "wrong") for n in range(1, 6)]
    assert statuses[:3] == [401, 401, 401] and 429 in statuses[3:], statuses  # the per-user delay holds
    assert await attempt(99, "agent1", password_of("agent1")) == 200  # another user from that network


def test_global_login_budget() -> None:
    now = [1000.0]
    t = LoginThrottle(per_address_per_min=100, global_per_min=3, clock=lambda: now[0])
    for i in range(3):
        t.check(f"u{i}", f"10.0.0.{i}")
    with pytest.raises(Exception) as err:
        t.check("u9", "10.0.0.9")
    assert err.value.code == "login_throttled"  # type: ignore[attr-defined]
    now[0] += 20.0  # a token back after 60/3 s
    t.check("u9", "10.0.0.9")


async def test_x_forwarded_for_is_believed_only_from_trusted_proxies(site: Site) -> None:
    from starlette.requests import Request

    def request(peer: str, xff: str) -> Request:
        return Request({"type": "http", "app": site.app, "client": (peer, 1234), "method": "GET", "path": "/",
                        "headers": [(b"x-forwarded-for", xff.encode())]})

    assert client_address(request("203.0.113.9", "10.1.1.1")) == "203.0.113.9"  # default: no proxy trusted
    site.app.state.console_auth.trusted_proxies = frozenset({"10.0.0.2"})
    assert client_address(request("10.0.0.2", "198.51.100.7, 10.0.0.2")) == "198.51.100.7"
    assert client_address(request("203.0.113.9", "198.51.100.7")) == "203.0.113.9"


async def test_password_checks_run_off_the_event_loop(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    import crm_core.users as users

    threads: list[threading.Thread] = []
    real = users.verify_secret

    def spy(stored: str | None, secret: str) -> bool:
        threads.append(threading.current_thread())
        return real(stored, secret)

    monkeypatch.setattr(users, "verify_secret", spy)
    c = site.client()
    for name, pw in (("sup1", password_of("sup1")), ("sup1", "wrong"), ("nobody", "x")):
        await c.post("/api/auth/login", json={"username": name, "password": pw})
    assert len(threads) == 3 and threading.main_thread() not in threads
