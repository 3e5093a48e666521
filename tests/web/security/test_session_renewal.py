"""``POST /api/auth/renew`` on the real app and database: a live session gets a later token without
the password; an expired, logged-out, deactivated or reset one does not; nothing reaches past the
absolute maximum; the cookie follows the cookie's CSRF rules; an open agent socket handed the renewed
token stays open past the first token's expiry."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import websockets
from sqlalchemy import update

from agent_console.demo import serve
from agent_console.security import COOKIE_NAME, ConsoleAuth
from crm_core.models import User
from tests.web.security.conftest import Site, password_of


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def _limits(site: Site, idle_s: float, max_s: float) -> tuple[ConsoleAuth, Clock]:
    auth: ConsoleAuth = site.app.state.console_auth
    clock = Clock()
    auth.signer.clock, auth.signer.ttl_s, auth.signer.max_s = clock, idle_s, max_s
    return auth, clock


async def _bearer(site: Site, username: str) -> tuple[httpx.AsyncClient, dict[str, object]]:
    c = site.client()
    r = await c.post("/api/auth/login", json={"username": username, "password": password_of(username)})
    assert r.status_code == 200, r.text
    c.cookies.clear()
    c.headers["Authorization"] = f"Bearer {r.json()['token']}"
    return c, r.json()


async def test_a_bearer_client_renews_its_session_before_it_expires(site: Site) -> None:
    _, clock = _limits(site, idle_s=600, max_s=3600)
    c, login = await _bearer(site, "agent1")
    assert login["expires_at"] == clock.now + 600 and login["session_ends_at"] == clock.now + 3600
    assert login["idle_timeout_s"] == 600
    start = clock.now
    clock.now += 500
    r = await c.post("/api/auth/renew")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["expires_at"] == start + 1100 and body["session_ends_at"] == start + 3600
    assert "set-cookie" not in r.headers  # a bearer client gets its token in the body only
    clock.now += 200  # past the first token's expiry
    assert (await c.get("/api/me")).status_code == 401
    c.headers["Authorization"] = f"Bearer {body['token']}"
    assert (await c.get("/api/me")).status_code == 200
    state = (await c.get("/api/auth/session")).json()
    assert state["expires_at"] == start + 1100 and state["session_ends_at"] == start + 3600


async def test_an_expired_token_cannot_be_renewed(site: Site) -> None:
    _, clock = _limits(site, idle_s=600, max_s=3600)
    c, _ = await _bearer(site, "agent1")
    clock.now += 600
    r = await c.post("/api/auth/renew")
    assert r.status_code == 401 and r.json()["detail"] == {"code": "not_authenticated", "message": "session expired"}


async def test_renewals_never_pass_the_absolute_maximum(site: Site) -> None:
    _, clock = _limits(site, idle_s=600, max_s=1000)
    c, login = await _bearer(site, "agent1")
    ends = login["session_ends_at"]
    clock.now += 500
    r = await c.post("/api/auth/renew")
    assert r.json()["expires_at"] == ends  # capped: 400 s left, not 600
    c.headers["Authorization"] = f"Bearer {r.json()['token']}"
    clock.now += 499
    again = await c.post("/api/auth/renew")
    assert again.status_code == 200 and again.json()["expires_at"] == ends
    clock.now += 1
    r = await c.post("/api/auth/renew")
    assert r.status_code == 401 and r.json()["detail"]["message"] == "session expired"
    assert (await c.get("/api/me")).status_code == 401


async def test_a_logged_out_deactivated_or_reset_session_cannot_be_renewed(site: Site) -> None:
    _limits(site, idle_s=600, max_s=3600)
    out, _ = await _bearer(site, "agent1")
    assert (await out.post("/api/auth/logout")).status_code == 200
    assert (await out.post("/api/auth/renew")).status_code == 401

    gone, _ = await _bearer(site, "agent2")
    async with site.engine.db.session() as s:  # as an administrator's tool on another node would
        await s.execute(update(User).where(User.username == "agent2").values(active=False))
    r = await gone.post("/api/auth/renew")
    assert r.status_code == 401 and r.json()["detail"]["message"] == "user deactivated"

    reset, _ = await _bearer(site, "agent3")
    renewed = await reset.post("/api/auth/renew")  # a renewed token is still the same session...
    admin = await site.login("admin")
    user_id = next(u["id"] for u in (await admin.get("/api/admin/users")).json() if u["username"] == "agent3")
    assert (await admin.post(f"/api/admin/users/{user_id}/password",
                             json={"password": "copper-lantern-58"})).status_code == 204
    for token in (reset.headers["Authorization"], f"Bearer {renewed.json()['token']}"):
        r = await reset.post("/api/auth/renew", headers={"Authorization": token})
        assert r.status_code == 401, token  # ...which the reset ended


async def test_the_cookie_is_renewed_and_follows_the_cookie_origin_rules(site: Site) -> None:
    _, clock = _limits(site, idle_s=600, max_s=3600)
    c = site.client()
    r = await c.post("/api/auth/login", json={"username": "agent1", "password": password_of("agent1")})
    first = c.cookies[COOKIE_NAME]
    assert "Max-Age=600" in r.headers["set-cookie"]
    evil = await c.post("/api/auth/renew", headers={"Origin": "https://evil.example"})
    assert evil.status_code == 403 and evil.json()["detail"]["field"] == "Origin"
    assert c.cookies[COOKIE_NAME] == first
    clock.now += 300
    r = await c.post("/api/auth/renew", headers={"Origin": f"http://127.0.0.1:{site.port}"})
    assert r.status_code == 200
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age=600" in cookie
    assert c.cookies[COOKIE_NAME] == r.json()["token"] != first
    clock.now += 400  # the login's cookie token has expired; the renewed one works
    assert (await c.get("/api/me")).status_code == 200


async def _pong(ws: websockets.ClientConnection, within: float = 3.0) -> dict[str, object]:
    await ws.send(json.dumps({"type": "ping", "ref": "p"}))
    async with asyncio.timeout(within):
        while True:
            frame = json.loads(await ws.recv())
            if frame.get("ref") == "p":
                return frame  # type: ignore[no-any-return]


async def test_an_agent_socket_handed_the_renewed_token_outlives_the_first_one(site: Site) -> None:
    """The socket was opened with the login's token; the session renewed over HTTP (maybe on
    another node) and the client passed the new token on: it stays open past the first token's
    expiry, through the periodic re-checks too, and closes at the new one's."""
    auth: ConsoleAuth = site.app.state.console_auth
    auth.recheck_s = 0.2
    auth.signer.ttl_s = 5.0  # real time: the hub's expiry timer runs on the loop's clock
    async with serve(site.app, "127.0.0.1", site.port):
        c, login = await _bearer(site, "agent1")
        ws = await websockets.connect(f"ws://127.0.0.1:{site.port}/ws/agent?token={login['token']}")
        await asyncio.sleep(max(0.0, float(login["expires_at"]) - 2.5 - time.time()))  # renewed 2.5 s before
        r = await c.post("/api/auth/renew")
        assert r.status_code == 200, r.text
        renewed = r.json()
        await ws.send(json.dumps({"type": "reauth", "token": renewed["token"], "ref": "r"}))
        async with asyncio.timeout(3):
            while (ack := json.loads(await ws.recv())).get("ref") != "r":
                pass
        assert ack["type"] == "ack" and ack["result"]["expires_at"] == renewed["expires_at"]
        await asyncio.sleep(max(0.0, float(login["expires_at"]) + 0.6 - time.time()))  # past the first expiry
        assert (await _pong(ws))["type"] == "pong"
        other, _ = await _bearer(site, "agent2")  # another user's token is refused; the socket goes on
        token = other.headers["Authorization"].removeprefix("Bearer ")
        await ws.send(json.dumps({"type": "reauth", "token": token, "ref": "x"}))
        async with asyncio.timeout(3):
            while (err := json.loads(await ws.recv())).get("ref") != "x":
                pass
        assert err["type"] == "error" and err["code"] == "not_authenticated" and err["field"] == "token"
        async with asyncio.timeout(8):  # and it ends at the renewed token's expiry
            try:
                while True:
                    frame = json.loads(await ws.recv())
            except websockets.ConnectionClosed as closed:
                assert closed.rcvd is not None and closed.rcvd.code == 4001
        assert frame["type"] == "bye"  # session_expired (or logged_out, when a re-check saw it first)
        assert time.time() >= float(renewed["expires_at"]) - 0.1
