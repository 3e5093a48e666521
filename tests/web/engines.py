"""A real Engine (not started: no PBX) over a migrated, seeded SQLite CRM, for the web tests: the
console app is the Engine's own, its users log in with the seed's demo passwords."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

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


@asynccontextmanager
async def seeded_engine(tmp_path: Path, **settings: Any) -> AsyncIterator[Engine]:
    """An Engine on a seeded CRM in ``tmp_path``, its web port free (``engine.settings.web.port``),
    its session secret generated; ``settings`` are more settings. Disposed after."""
    loaded = load_settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}", state_dir=tmp_path / "state",
                           web={"port": free_port(), "session_secret": secrets.token_urlsafe(32)},
                           **settings)
    await seeded_db(tmp_path / "crm.db", loaded.config_dir)
    engine = Engine(loaded)
    assert engine.app is not None
    try:
        yield engine
    finally:
        await engine.db.dispose()  # after the server (and its wallboard loop) stopped
