"""`cti db backup`: a consistent copy of the SQLite database taken while something writes to it
(every transaction whole or absent, integrity checked), one self-contained file of mode 0600 at
the Alembic head, never a partial file under the backup's name; PostgreSQL is pointed to pg_dump."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from typer.testing import CliRunner

from callcenter.cli import app
from crm_core.db import Database, alembic_config


async def test_a_backup_taken_during_writes_is_whole_and_private(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    live = tmp_path / "cti.db"
    db = Database(f"sqlite+aiosqlite:///{live}")
    await db.upgrade()
    await db.dispose()
    writer = sqlite3.connect(live, check_same_thread=False)
    assert writer.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # as the engine runs it
    writer.execute("CREATE TABLE pairs (n INTEGER)")
    writer.commit()
    stop = threading.Event()

    def write() -> None:  # two rows per transaction, as fast as it can, while the backup runs
        n = 0
        while not stop.is_set():
            with writer:
                writer.execute("INSERT INTO pairs VALUES (?)", (n,))
                writer.execute("INSERT INTO pairs VALUES (?)", (n,))
            n += 1

    thread = threading.Thread(target=write)
    thread.start()
    monkeypatch.setenv("CTI_DATABASE_URL", f"sqlite+aiosqlite:///{live}")
    runner = CliRunner()
    try:
        while writer.execute("SELECT count(*) FROM pairs").fetchone()[0] < 400:
            pass
        first = runner.invoke(app, ["db", "backup", str(tmp_path / "b1.db")])
        second = runner.invoke(app, ["db", "backup", str(tmp_path / "b1.db")])
        third = runner.invoke(app, ["db", "backup", str(tmp_path / "b1.db"), "--overwrite"])
    finally:
        stop.set()
        thread.join()
        writer.close()
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert first.exit_code == 0, first.output
    assert f"revision {head}" in first.output and "0 interactions" in first.output
    assert second.exit_code == 2 and "exists" in second.output, second.output
    assert third.exit_code == 0, third.output
    backup = tmp_path / "b1.db"
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert sorted(n for n in os.listdir(tmp_path) if n.startswith(("b1", ".b1"))) == ["b1.db"]  # no .part left
    copy = sqlite3.connect(backup)
    try:
        assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows, odd = copy.execute(
            "SELECT count(*), (SELECT count(*) FROM (SELECT n FROM pairs GROUP BY n HAVING count(*) != 2))"
            " FROM pairs").fetchone()
    finally:
        copy.close()
    assert rows >= 400 and rows % 2 == 0 and odd == 0, (rows, odd)  # no transaction torn in two
    restored = Database(f"sqlite+aiosqlite:///{backup}")
    try:
        assert await restored.current_revision() == head
    finally:
        await restored.dispose()


def test_postgresql_and_a_missing_database_are_refused_by_name(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    monkeypatch.setenv("CTI_DATABASE_URL", "postgresql+asyncpg://cti@db.example/cti")
    pg = runner.invoke(app, ["db", "backup", str(tmp_path / "x.db")])
    assert pg.exit_code == 2 and "pg_dump" in pg.output, pg.output
    monkeypatch.setenv("CTI_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'none.db'}")
    missing = runner.invoke(app, ["db", "backup", str(tmp_path / "x.db")])
    assert missing.exit_code == 2 and "no database there" in missing.output, missing.output
    assert not (tmp_path / "x.db").exists()


def test_a_url_with_a_query_backs_up_its_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    live = tmp_path / "cti.db"
    with sqlite3.connect(live) as conn:
        conn.execute("CREATE TABLE t (x INTEGER)")
    conn.close()
    monkeypatch.setenv("CTI_DATABASE_URL", f"sqlite+aiosqlite:///{live}?timeout=3")
    made = CliRunner().invoke(app, ["db", "backup", str(tmp_path / "copy.db")])
    assert made.exit_code == 0, made.output
    assert sqlite3.connect(tmp_path / "copy.db").execute("SELECT count(*) FROM t").fetchone() == (0,)
    monkeypatch.setenv("CTI_DATABASE_URL", "sqlite+aiosqlite:///:memory:")
    memory = CliRunner().invoke(app, ["db", "backup", str(tmp_path / "mem.db")])
    assert memory.exit_code == 2 and "names no SQLite file" in memory.output, memory.output


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_directory_or_an_unwritable_place_is_refused_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               overwrite: bool) -> None:
    """`cti db backup /backups` (a directory, as operators type it) said '/backups exists' and, with
    --overwrite, ended in an IsADirectoryError traceback; a place that cannot hold a file likewise."""
    live = tmp_path / "cti.db"
    with sqlite3.connect(live) as conn:
        conn.execute("CREATE TABLE t (x INTEGER)")
    conn.close()
    monkeypatch.setenv("CTI_DATABASE_URL", f"sqlite+aiosqlite:///{live}")
    backups = tmp_path / "backups"
    backups.mkdir()
    flag = ["--overwrite"] if overwrite else []
    into_dir = CliRunner().invoke(app, ["db", "backup", str(backups), *flag])
    assert into_dir.exit_code == 2, into_dir.output
    assert f"{backups} is a directory: name the backup file in it" in into_dir.output
    (tmp_path / "plain").write_text("x")
    under_file = CliRunner().invoke(app, ["db", "backup", str(tmp_path / "plain" / "b.db"), *flag])
    assert under_file.exit_code == 2, repr(under_file.exception)
    assert "error: cannot write the backup" in under_file.output
    assert list(backups.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backups", "cti.db", "plain"]
