"""The SQLite database holds customers' data and password hashes: its file, and the -wal and -shm
files SQLite makes beside it, are readable by their owner only, whatever the process's umask."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from sqlalchemy import text

from crm_core.db import Database


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
