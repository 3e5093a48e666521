"""The console on fakes under a real uvicorn in the test's event loop; httpx and websockets clients."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from agent_console.demo import DEMO_PASSWORD, DemoConsole, build_demo, serve
from agent_console.security import LoginThrottle
from cti.settings import load_settings
from tests.servers import free_port


@dataclass
class Clock:
    now: float = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Console:
    demo: DemoConsole
    base: str
    http: httpx.AsyncClient
    clock: Clock
    sockets: list[ClientConnection] = field(default_factory=list)

    async def login(self, username: str, password: str = DEMO_PASSWORD) -> str:
        r = await self.http.post("/api/auth/login", json={"username": username, "password": password})
        assert r.status_code == 200, r.text
        return str(r.json()["token"])

    def auth(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    async def ws(self, token: str | None, **kw: Any) -> ClientConnection:
        url = self.base.replace("http", "ws") + "/ws/agent" + (f"?token={token}" if token else "")
        # close_timeout: a client the tests stopped reading cannot see the server's close frame;
        # closing it at teardown would wait websockets' default 10 s for nothing.
        conn = await websockets.connect(url, max_size=4 * 1024 * 1024, **{"close_timeout": 1.0, **kw})
        self.sockets.append(conn)
        return conn


async def recv(conn: ClientConnection, kind: str | None = None, within: float = 3.0) -> dict[str, Any]:
    """The next frame (of type ``kind`` when given, skipping others)."""
    async with asyncio.timeout(within):
        while True:
            frame = json.loads(await conn.recv())
            if kind is None or frame["type"] == kind:
                return frame


async def send(conn: ClientConnection, **msg: Any) -> None:
    await conn.send(json.dumps(msg))


@pytest.fixture
async def console() -> AsyncIterator[Console]:
    settings = load_settings(web={"session_secret": "test-secret-0123456789"})
    clock = Clock()
    throttle = LoginThrottle(free_attempts=3, base_delay_s=2.0, clock=clock)
    demo = build_demo(settings, answer_after_s=None, throttle=throttle)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with serve(demo.app, "127.0.0.1", port):
        async with httpx.AsyncClient(base_url=base) as http:
            c = Console(demo, base, http, clock)
            try:
                yield c
            finally:
                for s in c.sockets:
                    await s.close()
                await demo.desk.close()
