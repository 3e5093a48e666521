"""An integration's live stream must not hold the engine's clean stop. Uvicorn's graceful
shutdown waits for every response to finish, and an event stream never finishes: with one feed
reader connected (an integrator's reader runs around the clock) ``cti run`` hung on Ctrl-C or
SIGTERM until the reader went away. The engine's web listener (callcenter.listeners) serves the
feed's router; the engine ends the streams first (``closing``), the reader sees its stream end and
resumes from its cursor on the next engine."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from pathlib import Path

import httpx
from fastapi import FastAPI
from pydantic import SecretStr

from acd.events import AgentStateChanged
from agent_console.feed_http import HEARTBEAT_S, build_feed_router
from agent_console.integrations import IntegrationTokens
from callcenter.listeners import HttpListener
from crm_core.db import Database
from crm_core.feed import EventFeed
from crm_core.sealed import SecretBox
from crm_core.webhooks import WebhookDispatcher
from cti.bus import InProcessBus
from tests.helpers import until

TOKEN = "integration-token-0123456789abcdef"


async def test_an_open_event_stream_does_not_hold_the_web_servers_stop(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'feed.db'}")
    await db.upgrade()
    bus = InProcessBus()
    feed = EventFeed(db, tmp_path / "state", poll_s=0.2)
    feed.subscribe(bus)
    await feed.start()
    await bus.start()
    hooks = WebhookDispatcher(db, feed, box=SecretBox(secrets.token_urlsafe(32)))
    closing = asyncio.Event()
    app = FastAPI()
    app.include_router(build_feed_router(feed, hooks, closing=closing))
    app.state.integrations = IntegrationTokens(None, [SecretStr(TOKEN)])  # as the engine sets it
    web = HttpListener(app, "web", "web.port (CTI_WEB__PORT)", host="127.0.0.1", port=0, lifespan="off")
    await web.start()
    got: list[str] = []

    async def read() -> None:
        async with httpx.AsyncClient(timeout=30) as http, http.stream(
                "GET", f"http://127.0.0.1:{web.port}/api/events/stream", params={"since": "0"},
                headers={"Authorization": f"Bearer {TOKEN}"}) as r:
            assert r.status_code == 200, await r.aread()
            async for line in r.aiter_lines():
                if line.startswith("id: "):
                    got.append(line[4:])

    reader = asyncio.create_task(read())
    try:
        await bus.publish(AgentStateChanged(ts=1.0, agent_id="a1", state="ready"))
        await until(lambda: got, timeout_s=5, what="the first event on the stream")
        started = time.monotonic()
        closing.set()  # what Engine.stop does first
        async with asyncio.timeout(HEARTBEAT_S + 3):
            await web.stop()
            await reader  # the stream ended cleanly: the reader resumes from got[-1] elsewhere
        assert time.monotonic() - started < HEARTBEAT_S + 3
        assert got == ["1"]
    finally:
        if not reader.done():
            reader.cancel()
            with contextlib.suppress(BaseException):
                await reader
        await web.stop()
        await bus.stop()
        await feed.stop()
        await db.dispose()
