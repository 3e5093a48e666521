"""`cti db backup`: a consistent copy of the SQLite database taken while something writes to it
(every transaction whole or absent, integrity checked), one self-contained file of mode 0600 at
the Alembic head, never a partial file under the backup's name; PostgreSQL is pointed to pg_dump."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from typer.testing import CliRunner

from callcenter.cli import app
from crm_core.db import Database
from crm_core.revisions import alembic_config


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


def test_a_destination_whose_directory_is_missing_is_refused_not_created(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """`cti db backup /backpus/cti.db` (mistyped) created /backpus with mode 0755 and wrote the
    customers there: a backup's directory is the operator's choice, made by them with its mode."""
    live = tmp_path / "cti.db"
    with sqlite3.connect(live) as conn:
        conn.execute("CREATE TABLE t (x INTEGER)")
    conn.close()
    monkeypatch.setenv("CTI_DATABASE_URL", f"sqlite+aiosqlite:///{live}")
    typo = tmp_path / "backpus" / "daily"
    made = CliRunner().invoke(app, ["db", "backup", str(typo / "cti.db")])
    assert made.exit_code == 2, made.output
    assert f"{typo} does not exist" in made.output, made.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cti.db"]


def _dnc(conn: sqlite3.Connection, *numbers: str) -> None:
    conn.executemany("INSERT INTO do_not_call (number, reason, created_at) VALUES (?, 'asked', '2026-12-05')",
                     [(n,) for n in numbers])


_CRASH = """
import os, sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA journal_mode=WAL")
conn.execute("PRAGMA wal_autocheckpoint=0")  # what was written since the backup stays in cti.db-wal
conn.execute("INSERT INTO do_not_call (number, reason, created_at) VALUES (?, 'asked', '2026-12-05')", (sys.argv[2],))
os._exit(0)  # the engine dies: cti.db-wal and cti.db-shm stay beside cti.db
"""


def _crash(live: Path, number: str) -> None:
    """An engine that adds a do-not-call number and dies."""
    subprocess.run([sys.executable, "-c", _CRASH, str(live), number], check=True)


async def test_restore_puts_the_backup_in_place_and_never_replays_the_old_wal(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The operator's restore after a crash, which the documented steps left to hand-moved files: a
    -wal left beside the restored file was replayed into it (the restore silently undone, or a mix
    of two databases). `cti db restore` moves the three files aside together, puts a checked copy of
    the backup in place (0600), and says what the backup lacks that a call center must not lose."""
    live = tmp_path / "var" / "cti.db"
    db = Database(f"sqlite+aiosqlite:///{live}")
    await db.upgrade()
    await db.dispose()
    with sqlite3.connect(live) as conn:
        _dnc(conn, "+33600000001")
        conn.executemany("INSERT INTO callbacks (number, due_at, state, attempts, max_attempts, note, created_at, "
                         "updated_at) VALUES (?, '2026-12-05', 'pending', 0, 3, '', '2026-12-05', '2026-12-05')",
                         [("+33611111111",), ("+33622222222",)])
    conn.close()
    monkeypatch.setenv("CTI_DATABASE_URL", f"sqlite+aiosqlite:///{live}")
    runner = CliRunner()
    backup = tmp_path / "backups" / "cti.db"
    backup.parent.mkdir()
    assert runner.invoke(app, ["db", "backup", str(backup)]).exit_code == 0
    with sqlite3.connect(live) as conn:
        _dnc(conn, "+33600000002")
        conn.execute("UPDATE callbacks SET state = 'done', attempts = 1 WHERE number = '+33611111111'")
    conn.close()
    await asyncio.to_thread(_crash, live, "+33600000003")
    assert (tmp_path / "var" / "cti.db-wal").stat().st_size > 0

    # The engine runs again (a pooled connection open): refused, nothing touched.
    running = Database(f"sqlite+aiosqlite:///{live}")
    try:
        assert await running.current_revision() is not None
        refused = runner.invoke(app, ["db", "restore", str(backup)])
    finally:
        await running.dispose()
    assert refused.exit_code == 2 and "is open (is the engine running?)" in refused.output, refused.output
    assert not [p.name for p in live.parent.iterdir() if "restore" in p.name]  # nothing moved, no copy left

    await asyncio.to_thread(_crash, live, "+33600000004")
    assert sorted(p.name for p in live.parent.iterdir()) == ["cti.db", "cti.db-shm", "cti.db-wal"]
    as_root = os.geteuid() == 0  # root restores for the engine's user: the file stays the engine user's
    if as_root:
        for p in live.parent.iterdir():
            os.chown(p, 54321, 54321)
    done = runner.invoke(app, ["db", "restore", str(backup)])
    assert done.exit_code == 0, done.output
    assert "1 do-not-call numbers)" in done.output  # what the backup holds
    assert "warning: 3 do-not-call numbers of the database moved aside are not in the backup" in done.output
    assert "warning: 1 callbacks are open again that the database moved aside had called or closed" in done.output
    names = sorted(p.name for p in live.parent.iterdir())
    assert names[0] == "cti.db" and len(names) == 2 and names[1].startswith("cti.db.before-restore-"), names
    assert stat.S_IMODE(live.stat().st_mode) == 0o600
    assert not as_root or (live.stat().st_uid, live.stat().st_gid) == (54321, 54321)
    restored = sqlite3.connect(live)
    try:
        assert [n for (n,) in restored.execute("SELECT number FROM do_not_call")] == ["+33600000001"]
        assert restored.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        restored.close()
    aside = sqlite3.connect(live.parent / names[1])  # whole on its own: the crashed engine's -wal folded in
    try:
        assert aside.execute("SELECT count(*) FROM do_not_call").fetchone() == (4,)
    finally:
        aside.close()
    engine = Database(f"sqlite+aiosqlite:///{live}")  # the engine starts on it
    try:
        await engine.upgrade()
        assert await engine.current_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()
    finally:
        await engine.dispose()


async def test_a_backup_from_an_older_release_is_restored_and_migrated(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    old = tmp_path / "old.db"
    db = Database(f"sqlite+aiosqlite:///{old}")
    await db.upgrade("0011")  # campaigns and the do-not-call list, before its unique index (0016)
    await db.dispose()
    with sqlite3.connect(old) as conn:
        _dnc(conn, "+33600000009")
    conn.close()
    live = tmp_path / "var" / "cti.db"
    monkeypatch.setenv("CTI_DATABASE_URL", f"sqlite+aiosqlite:///{live}")
    done = CliRunner().invoke(app, ["db", "restore", str(old)])
    assert done.exit_code == 0, done.output
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert f"the backup is at revision 0011_campaigns, this release at {head}" in done.output
    assert "moved aside" not in done.output  # there was no database
    assert sorted(p.name for p in live.parent.iterdir()) == ["cti.db"]
    engine = Database(f"sqlite+aiosqlite:///{live}")
    try:
        await engine.upgrade()
        assert await engine.current_revision() == head
    finally:
        await engine.dispose()
    with sqlite3.connect(live) as conn:
        assert conn.execute("SELECT number FROM do_not_call").fetchall() == [("+33600000009",)]
    conn.close()


def test_restore_refuses_what_is_not_a_backup_and_changes_nothing(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    live = tmp_path / "cti.db"
    with sqlite3.connect(live) as conn:
        conn.execute("CREATE TABLE t (x INTEGER)")
    conn.close()
    before = live.read_bytes()
    monkeypatch.setenv("CTI_DATABASE_URL", f"sqlite+aiosqlite:///{live}")
    (tmp_path / "notes.txt").write_text("not a database " * 100)
    with sqlite3.connect(tmp_path / "bare.db") as conn:
        conn.execute("CREATE TABLE t (x INTEGER)")
    conn.close()
    with sqlite3.connect(tmp_path / "newer.db") as conn:
        conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        conn.execute("INSERT INTO alembic_version VALUES ('0099_from_the_future')")
    conn.close()
    (tmp_path / "dir").mkdir()
    runner = CliRunner()
    for name, expected in [("none.db", "no backup there"), ("dir", "no backup there (a directory)"),
                           ("cti.db", "is the database itself"), ("notes.txt", "is not a readable SQLite database"),
                           ("bare.db", "has no migration revision"),
                           ("newer.db", "revision 0099_from_the_future, which this release does not know")]:
        out = runner.invoke(app, ["db", "restore", str(tmp_path / name)])
        assert out.exit_code == 2 and expected in out.output, (name, out.output)
        assert "nothing was changed" in out.output or name in ("none.db", "dir", "cti.db"), out.output
    assert live.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bare.db", "cti.db", "dir", "newer.db", "notes.txt"]
    monkeypatch.setenv("CTI_DATABASE_URL", "postgresql+asyncpg://cti@db.example/cti")
    pg = runner.invoke(app, ["db", "restore", str(tmp_path / "bare.db")])
    assert pg.exit_code == 2 and "pg_restore" in pg.output, pg.output


async def test_two_restores_in_one_second_keep_both_databases_they_replaced(tmp_path: Path) -> None:
    """The files moved aside are named by the second: a second restore at once (the wrong backup
    was restored first) replaced the first one's, the database from before both restores."""
    from datetime import UTC, datetime

    from crm_core.backup import restore_sqlite

    live = tmp_path / "cti.db"
    db = Database(f"sqlite+aiosqlite:///{live}")
    await db.upgrade()
    await db.dispose()
    backup = tmp_path / "b.db"
    shutil.copy(live, backup)
    with sqlite3.connect(live) as conn:
        _dnc(conn, "+33600000001")  # only the database from before the restores has it
    conn.close()
    now = datetime(2026, 12, 5, 20, 0, tzinfo=UTC)
    first = restore_sqlite(backup, live, now=now)
    second = restore_sqlite(backup, live, now=now)
    assert first.aside is not None and second.aside is not None and first.aside != second.aside
    assert first.replaced is not None and first.replaced.dnc == 1 and first.dnc_lost == 1
    with sqlite3.connect(first.aside) as conn:
        assert conn.execute("SELECT number FROM do_not_call").fetchall() == [("+33600000001",)]
    conn.close()
