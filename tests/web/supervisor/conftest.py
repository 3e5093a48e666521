"""A real Engine (not started: no PBX) with a migrated, seeded SQLite CRM, its console app served by
uvicorn in the test's loop; the supervisor side is installed by the Engine itself."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent_console.demo import serve
from agent_console.supervisor.install import install_supervisor
from agent_console.supervisor.service import SupervisorService
from callcenter.engine import Engine
from cti.ami.control import FakeCallControl, OriginateResult
from tests.web.engines import seeded_engine


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
    async with seeded_engine(tmp_path) as engine:
        assert engine.app is not None
        # idempotent: the Engine may have installed it already
        svc = install_supervisor(engine.app, engine.supervisor_parts())
        port = engine.settings.web.port
        async with serve(engine.app, "127.0.0.1", port):
            yield Site(engine, svc, f"http://127.0.0.1:{port}")


class RingingControl(FakeCallControl):
    """A PBX on which an agent's phone, once rung, rings on (the Originate never comes back)."""

    async def originate(self, channel: str, **kwargs: Any) -> OriginateResult:
        self._record("originate", channel=channel)
        await asyncio.Event().wait()
        raise AssertionError("unreachable")
