"""The feed's HTTP API on the demo console (fakes) under a real uvicorn, with a real migrated SQLite
database, the real in-process bus, and loopback webhook receivers."""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from agent_console.demo import DEMO_PASSWORD, DemoConsole, build_demo, serve
from agent_console.feed_http import build_feed_router
from agent_console.integrations import IntegrationTokens
from crm_core.db import Database
from crm_core.feed import EventFeed
from crm_core.sealed import SecretBox
from crm_core.webhooks import WebhookDispatcher
from cti.settings import load_settings
from tests.servers import free_port

INTEGRATION_TOKEN = "integration-token-0123456789abcdef"


@dataclass
class FeedApp:
    demo: DemoConsole
    feed: EventFeed
    hooks: WebhookDispatcher
    base: str
    http: httpx.AsyncClient

    async def token(self, username: str) -> str:
        r = await self.http.post("/api/auth/login", json={"username": username, "password": DEMO_PASSWORD})
        assert r.status_code == 200, r.text
        return str(r.json()["token"])

    async def headers(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.token(username)}"}


@pytest.fixture
async def feed_app(tmp_path: Path) -> AsyncIterator[FeedApp]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'feed.db'}")
    await db.upgrade()
    settings = load_settings(web={"session_secret": "test-secret-0123456789"})
    demo = build_demo(settings, answer_after_s=None)
    demo.users.add("ada", DEMO_PASSWORD, role="admin", display_name="Ada Admin")
    feed = EventFeed(db, tmp_path / "state", poll_s=0.2)
    hooks = WebhookDispatcher(db, feed, box=SecretBox(secrets.token_urlsafe(32)), max_attempts=3, backoff_s=0.02,
                              backoff_max_s=0.2, timeout_s=2.0, save_every_s=0.1)
    demo.app.include_router(build_feed_router(feed, hooks))
    demo.app.state.integrations = IntegrationTokens(db, [SecretStr(INTEGRATION_TOKEN)])  # as the engine sets it
    feed.subscribe(demo.bus)
    await feed.start()
    await hooks.start()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    try:
        async with serve(demo.app, "127.0.0.1", port), httpx.AsyncClient(base_url=base, timeout=10) as http:
            yield FeedApp(demo, feed, hooks, base, http)
            await hooks.stop()
    finally:
        await feed.stop()
        await demo.desk.close()
        await db.dispose()


@dataclass
class Receiver:
    """A webhook receiver on loopback; ``fail(n)`` says whether the n-th request (from 1) gets a 500."""

    fail: Callable[[int], bool]
    url: str = ""
    requests: int = 0
    accepted: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for body, _ in self.accepted]


@contextlib.asynccontextmanager
async def receiving(fail: Callable[[int], bool]) -> AsyncIterator[Receiver]:
    """A loopback receiver for as long as the block runs."""
    rec = Receiver(fail)

    async def hook(request: Request) -> Response:
        rec.requests += 1
        body = await request.body()
        if rec.fail(rec.requests):
            return Response("nope", status_code=500)
        rec.accepted.append((body, dict(request.headers)))
        return Response(status_code=204)

    port = free_port()
    rec.url = f"http://127.0.0.1:{port}/hook"
    async with serve(Starlette(routes=[Route("/hook", hook, methods=["POST"])]), "127.0.0.1", port):
        yield rec
