"""Helpers shared by the tiers that run the real engine: polling, and an engine on a seeded database."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from crm_core.db import Database
from crm_core.seed import seed_demo
from cti.engine import Engine
from cti.pbx import ManagedPbx
from cti.settings import Settings


async def until(predicate: Callable[[], Any], timeout_s: float = 20.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout_s} s")
        await asyncio.sleep(0.05)


def engine_settings(pbx_settings: Settings, tmp_path: Path) -> Settings:
    """The test PBX's settings with a private database and state directory."""
    return pbx_settings.model_copy(update={
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'engine.db'}", "state_dir": tmp_path / "state"})


async def seed(settings: Settings) -> None:
    db = Database.from_settings(settings)
    try:
        await db.upgrade()
        await seed_demo(db, progress=lambda *_: None, config_dir=settings.config_dir)
    finally:
        await db.dispose()


@asynccontextmanager
async def running_engine(pbx: ManagedPbx, settings: Settings, *,
                         before_start: Callable[[Engine], None] | None = None, **options: Any) -> AsyncIterator[Engine]:
    """The whole engine on the real Asterisk, over the demo company; every call hung up afterwards.
    ``before_start`` may subscribe test recorders to the bus before anything is published."""
    await seed(settings)
    engine = Engine(settings, **options)
    if before_start is not None:
        before_start(engine)
    await engine.start()
    try:
        yield engine
    finally:
        pbx.cli("channel request hangup all")
        await asyncio.sleep(0.5)
        await engine.stop()
