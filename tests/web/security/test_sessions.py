"""Sessions end everywhere: logout and deactivation are shared through the database, checked on
every request and websocket frame, and close that user's sockets (at once here, at the next
re-check on another node)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import websockets
from sqlalchemy import update

from agent_console.demo import serve
from callcenter.engine import Engine
from crm_core.models import User
from tests.web.security.conftest import Site, password_of


async def _token(site: Site, username: str) -> str:
    c = site.client()
    r = await c.post("/api/auth/login", json={"username": username, "password": password_of(username)})
    return str(r.json()["token"])


async def _deactivate(site: Site, username: str) -> None:
    """As an administrator's tool on another node would: only the users row changes."""
    async with site.engine.db.session() as s:
        await s.execute(update(User).where(User.username == username).values(active=False))


async def test_logout_on_one_node_ends_the_session_on_another(site: Site) -> None:
    other = Engine(site.settings)  # a second process on the same database
    assert other.app is not None
    token = await _token(site, "agent1")
    a, b = site.client(), site.client(other.app)
    auth = {"Authorization": f"Bearer {token}"}
    assert (await b.get("/api/me", headers=auth)).status_code == 200
    assert (await a.post("/api/auth/logout", headers=auth)).status_code == 200
    r = await b.get("/api/me", headers=auth)
    assert r.status_code == 401 and r.json()["detail"]["code"] == "not_authenticated"
    assert (await a.get("/api/me", headers=auth)).status_code == 401
    fresh = await _token(site, "agent1")  # logging in again works
    assert (await b.get("/api/me", headers={"Authorization": f"Bearer {fresh}"})).status_code == 200
    await other.db.dispose()


async def test_a_deactivated_user_is_refused_at_the_next_request(site: Site) -> None:
    token = await _token(site, "agent2")
    c = site.client(headers={"Authorization": f"Bearer {token}"})
    assert (await c.get("/api/me")).status_code == 200
    await _deactivate(site, "agent2")
    r = await c.get("/api/me")
    assert r.status_code == 401
    bad = await site.client().post("/api/auth/login", json={"username": "agent2", "password": password_of("agent2")})
    assert bad.status_code == 401


@asynccontextmanager
async def _served(site: Site) -> AsyncIterator[str]:
    async with serve(site.app, "127.0.0.1", site.port):
        yield f"ws://127.0.0.1:{site.port}"


async def _pong(ws: websockets.ClientConnection) -> None:
    """A ping answered: the socket is past its set-up (registered and watched)."""
    await ws.send(json.dumps({"type": "ping"}))
    async with asyncio.timeout(5):
        while json.loads(await ws.recv()).get("type") != "pong":
            pass


async def _closed(ws: websockets.ClientConnection, within: float = 3.0) -> int | None:
    async with asyncio.timeout(within):
        try:
            while True:
                await ws.recv()
        except websockets.ConnectionClosed as err:
            return err.rcvd.code if err.rcvd else None


async def test_supervisor_websocket_closes_on_logout(site: Site) -> None:
    async with _served(site) as base:
        token = await _token(site, "sup1")
        ws = await websockets.connect(f"{base}/ws/supervisor?token={token}")
        await ws.send(json.dumps({"type": "ping"}))
        await site.client().post("/api/auth/logout", headers={"Authorization": f"Bearer {token}"})
        assert await _closed(ws) == 4001


async def test_sockets_close_when_the_user_is_deactivated_elsewhere(site: Site) -> None:
    auth = site.app.state.console_auth
    auth.recheck_s = 0.2
    asked: list[int] = []  # how many sessions each database query answered
    ask = auth.sessions.session_problems

    async def counted(checks: list[tuple[int, float]]) -> list[str | None]:
        asked.append(len(checks))
        return await ask(checks)

    auth.sessions.session_problems = counted
    async with _served(site) as base:
        sup, agent = await _token(site, "sup1"), await _token(site, "agent3")
        sws = await websockets.connect(f"{base}/ws/supervisor?token={sup}")
        aws = await websockets.connect(f"{base}/ws/agent?token={agent}")
        # Both watched before the users go: deactivated while the agent's socket was still being set
        # up, the sweeps each found one socket (seen under load: asked [1, 1, 1, 1]).
        for ws in (sws, aws):
            await _pong(ws)
        await _deactivate(site, "sup1")
        await _deactivate(site, "agent3")
        assert await _closed(sws) == 4001
        assert await _closed(aws) == 4001
    assert 2 in asked  # the periodic re-check asks for both sockets in one query


async def test_supervisor_websocket_answers_a_binary_frame_with_an_error(site: Site) -> None:
    async with _served(site) as base:
        token = await _token(site, "sup1")
        ws = await websockets.connect(f"{base}/ws/supervisor?token={token}")
        await ws.send(b"\x00\x01binary")
        async with asyncio.timeout(3):
            while True:
                frame = json.loads(await ws.recv())
                if frame.get("type") == "error":
                    break
        assert frame["code"] == "invalid_input" and frame["field"] == "frame"
        await ws.send(json.dumps({"type": "ping"}))  # still open
        async with asyncio.timeout(3):
            while json.loads(await ws.recv()).get("type") != "pong":
                pass
        await ws.close()
