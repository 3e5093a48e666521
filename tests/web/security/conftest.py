"""The real console app (an Engine, not started: no PBX) on a migrated, seeded SQLite CRM, driven
in-process through httpx; ``serve`` it with uvicorn for websocket tests. One client per role."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from callcenter.engine import Engine
from cti.settings import Settings
from tests.web.engines import seeded_engine

PASSWORDS = {"admin": "admin-demo-1", "sup1": "sup1-demo-1", "mgr1": "mgr1-demo-1"}


def password_of(username: str) -> str:
    return PASSWORDS.get(username, f"{username}-demo")


@dataclass
class Site:
    engine: Engine
    app: FastAPI
    port: int
    settings: Settings

    def client(self, app: FastAPI | None = None, **kw: object) -> httpx.AsyncClient:
        """An in-process client of ``app`` (default: this site's), 5xx answered rather than raised."""
        transport = httpx.ASGITransport(app=app or self.app, raise_app_exceptions=False)
        return httpx.AsyncClient(transport=transport, base_url=f"http://127.0.0.1:{self.port}", timeout=10, **kw)

    async def login(self, username: str) -> httpx.AsyncClient:
        """A client holding ``username``'s session as a bearer token."""
        c = self.client()
        r = await c.post("/api/auth/login", json={"username": username, "password": password_of(username)})
        assert r.status_code == 200, r.text
        c.headers["Authorization"] = f"Bearer {r.json()['token']}"
        return c


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async with seeded_engine(tmp_path) as engine:
        assert engine.app is not None
        yield Site(engine, engine.app, engine.settings.web.port, engine.settings)
