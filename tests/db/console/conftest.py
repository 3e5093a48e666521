"""The conformance suite's desks: the fake and the real one, each on its own bus (desk_worlds.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from acd.delivery import AcdService
from acd.model import QueueConfig
from acd.routing import Router
from agent_console.desk import EngineDesk
from agent_console.fakecrm import FakeCrm
from agent_console.fakes import DISPOSITIONS, FakeDesk
from crm_core import catalog
from crm_core.db import Database
from crm_core.models import User
from crm_core.schemas import DispositionIn
from cti.bus import InProcessBus
from tests.db.console.desk_worlds import QUEUES, SKILLS, FakeWorld, Pbx, RealWorld, World, console_hub


@pytest.fixture(scope="module")
def crm_template(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A migrated CRM with the agents and the disposition catalog the fake desk knows (once a module)."""
    path = tmp_path_factory.mktemp("conformance") / "crm.db"

    async def make() -> None:
        db = Database(f"sqlite+aiosqlite:///{path}")
        try:
            await db.upgrade()
            async with db.session() as s:
                for agent_id, skills in SKILLS.items():
                    s.add(User(username=f"agent{agent_id}", password_hash="!", agent_id=agent_id, skills=skills))
                for d in DISPOSITIONS:
                    await catalog.create_disposition(session=s, data=DispositionIn(
                        code=d.code, label=d.label, resolves=d.resolves))
        finally:
            await db.dispose()

    asyncio.run(make())
    return path.read_bytes()


@pytest.fixture
async def worlds(crm_template: bytes, tmp_path: Path) -> AsyncIterator[dict[str, World]]:
    fake_bus, real_bus = InProcessBus(), InProcessBus()
    fake = FakeDesk(fake_bus, FakeCrm(), queues=QUEUES, answer_after_s=None,
                    agent_skills={a: dict(s) for a, s in SKILLS.items()})
    (tmp_path / "crm.db").write_bytes(crm_template)
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}")
    acd = AcdService(Router([QueueConfig(name=q) for q in QUEUES]), Pbx(), real_bus)
    acd.subscribe()  # no acd.start(): no ticker, so no timer (wrap-up, ring) moves an agent on its own
    real = EngineDesk(acd, db, real_bus, journal=tmp_path / "wrapups.jsonl")
    both: dict[str, World] = {"fake": FakeWorld(fake, console_hub(fake, fake_bus), fake_bus),
                              "real": RealWorld(real, console_hub(real, real_bus), real_bus, db)}
    for bus in (fake_bus, real_bus):
        await bus.start()
    try:
        yield both
    finally:
        await fake.close()
        await acd.stop()
        for w in both.values():
            await w.hub.shutdown()
        for bus in (fake_bus, real_bus):
            await bus.stop()
        await db.dispose()
