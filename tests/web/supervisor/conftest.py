"""A real Engine (not started: no PBX) with a migrated, seeded SQLite CRM, its console app served by
uvicorn in the test's loop; the supervisor side is installed by the Engine itself."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from agent_console.demo import serve
from agent_console.supervisor.install import install_supervisor
from agent_console.supervisor.service import SupervisorService
from callcenter.engine import Engine
from crm_core.db import Database
from crm_core.seed import seed_demo
from cti.settings import load_settings
from tests.servers import free_port

_SEEDED: dict[str, bytes] = {}


async def seeded_db(path: Path, config_dir: Path) -> None:
    """A migrated and seeded database file (seeded once per session, then copied: argon2 is slow)."""
    if "db" not in _SEEDED:
        db = Database(f"sqlite+aiosqlite:///{path}")
        await db.upgrade()
        await seed_demo(db, progress=lambda *_: None, config_dir=config_dir)
        await db.dispose()
        _SEEDED["db"] = await asyncio.to_thread(path.read_bytes)
    else:
        await asyncio.to_thread(path.write_bytes, _SEEDED["db"])


@dataclass
class Site:
    engine: Engine
    svc: SupervisorService
    base: str

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base, timeout=10)


async def login(client: httpx.AsyncClient, username: str, password: str) -> str:
    r = await client.post("/api/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return str(r.json()["token"]) if "token" in r.json() else ""


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    port = free_port()
    settings = load_settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}", state_dir=tmp_path / "state",
                             web={"port": port, "session_secret": secrets.token_urlsafe(32)})
    await seeded_db(tmp_path / "crm.db", settings.config_dir)
    engine = Engine(settings)
    assert engine.app is not None
    # idempotent: the Engine may have installed it already
    svc = install_supervisor(engine.app, engine.supervisor_parts())
    try:
        async with serve(engine.app, "127.0.0.1", port):
            yield Site(engine, svc, f"http://127.0.0.1:{port}")
    finally:
        await engine.db.dispose()  # after the server (and its wallboard loop) stopped
