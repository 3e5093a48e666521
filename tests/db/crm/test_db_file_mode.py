"""The SQLite database holds customers' data and password hashes: its file, and the -wal and -shm
files SQLite makes beside it, are readable by their owner only, whatever the process's umask."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from sqlalchemy import text

from crm_core.db import Database, sqlite_file


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_a_new_database_and_its_wal_are_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual umask, under which SQLite alone made them 0644
    try:
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'cti.db'}")
        try:
            await db.upgrade()
            await db.run(lambda c: c.execute(text("CREATE TABLE t (x INTEGER)")))
            files = sorted(os.listdir(tmp_path))
            assert {"cti.db", "cti.db-wal", "cti.db-shm"} <= set(files)
            assert {name: _mode(tmp_path / name) for name in files} == dict.fromkeys(files, 0o600)
        finally:
            await db.dispose()
    finally:
        os.umask(old)


async def test_an_existing_readable_database_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    path.touch()
    path.chmod(0o644)
    db = Database(f"sqlite+aiosqlite:///{path}")
    await db.dispose()
    assert _mode(path) == 0o600


async def test_a_url_with_a_query_names_the_same_file(tmp_path: Path) -> None:
    """``?timeout=3`` is a connection argument, not part of the file's name: both engines (the
    async one and the writer thread's) open the one file, which is owner-only, and the URL's query
    reaches the thread's engine too."""
    path = tmp_path / "q" / "cti.db"
    db = Database(f"sqlite+aiosqlite:///{path}?timeout=3")
    try:
        assert sqlite_file(db.url) == path
        assert db.sync_engine is not None and db.sync_engine.url.query == {"timeout": "3"}
        await db.run(lambda c: c.execute(text("CREATE TABLE t (x INTEGER)")))
        async with db.session() as session:
            assert (await session.execute(text("SELECT count(*) FROM t"))).scalar() == 0
        assert sorted(p.name for p in path.parent.iterdir()) == ["cti.db", "cti.db-shm", "cti.db-wal"]
        assert _mode(path) == 0o600
    finally:
        await db.dispose()


def test_only_a_sqlite_file_has_a_file() -> None:
    assert sqlite_file("sqlite+aiosqlite:///var/cti.db") == Path("var/cti.db")
    assert sqlite_file("sqlite+aiosqlite:////srv/cti/cti.db?timeout=3") == Path("/srv/cti/cti.db")
    for url in ("sqlite+aiosqlite://", "sqlite+aiosqlite:///:memory:",
                "sqlite+aiosqlite:///file:mem?mode=memory&cache=shared&uri=true",
                "postgresql+asyncpg://cti@db.example/cti"):
        assert sqlite_file(url) is None, url
