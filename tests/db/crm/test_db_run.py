"""``Database.run`` / ``run_read``, the hot paths' unit of work (one synchronous function is the whole
transaction): commits what the function wrote, rolls everything back when it raises, and maps a
database that is away to ``DatabaseUnavailable`` like ``Database.session()``."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import Connection, event, func, insert, select, text
from sqlalchemy.exc import OperationalError, ProgrammingError

from crm_core.audit import AuditEntry
from crm_core.db import Database
from crm_core.errors import DatabaseUnavailable
from crm_core.models import utcnow

_AUDIT = AuditEntry.__table__


def _row(target: str) -> dict[str, object]:
    return {"at": utcnow(), "actor": "t", "actor_role": "agent", "action": "test.run", "target": target,
            "detail": {"n": "中文"}}


def _count(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(_AUDIT).where(_AUDIT.c.action == "test.run")).scalar_one())


async def test_run_commits_and_rolls_back_as_one_transaction(db: Database) -> None:
    await db.run(lambda conn: conn.execute(insert(_AUDIT), [_row("a"), _row("b")]))
    assert await db.run_read(_count) == 2

    def half_then_fail(conn: Connection) -> None:
        conn.execute(insert(_AUDIT), _row("c"))
        raise RuntimeError("the function fails after writing")

    with pytest.raises(RuntimeError):
        await db.run(half_then_fail)
    assert await db.run_read(_count) == 2  # nothing of the failed transaction stays
    async with db.session() as s:  # the session path sees the same rows, JSON as written
        details = (await s.execute(select(AuditEntry.detail).where(AuditEntry.action == "test.run"))).scalars().all()
    assert details == [{"n": "中文"}, {"n": "中文"}]


async def test_a_wrong_statement_is_not_an_outage(db: Database) -> None:
    with pytest.raises((OperationalError, ProgrammingError)) as err:
        await db.run(lambda conn: conn.execute(text("SELECT * FROM no_such_table")))
    assert not isinstance(err.value, DatabaseUnavailable)


async def test_a_locked_sqlite_file_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    db = Database(f"sqlite+aiosqlite:///{path}", busy_timeout_ms=50)
    try:
        await db.upgrade()
        assert db.sync_engine is not None  # a SQLite file: run goes through the database's thread
        blocker = sqlite3.connect(path, timeout=0.05, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            with pytest.raises(DatabaseUnavailable):
                await db.run(lambda conn: conn.execute(insert(_AUDIT), _row("x")))
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        await db.run(lambda conn: conn.execute(insert(_AUDIT), _row("y")))  # back: it writes again
        assert await db.run_read(_count) == 1
    finally:
        await db.dispose()


async def test_a_migration_run_logs_alembic_s_context_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Every start logged alembic's "Context impl" and "Will assume ... DDL" lines twice: once for the
    look-up of the current revision (a check before the upgrade), once for the upgrade itself."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}")
    try:
        with caplog.at_level(logging.INFO, logger="alembic"):
            await db.upgrade()
            await db.upgrade()  # at head already: the same two lines, once
    finally:
        await db.dispose()
    contexts = [r for r in caplog.records if r.getMessage().startswith("Context impl")]
    assert len(contexts) == 2, [r.getMessage() for r in caplog.records]
    assert any(r.getMessage().startswith("Running upgrade") for r in caplog.records)


async def test_each_database_thread_keeps_its_connection_between_transactions(tmp_path: Path) -> None:
    """A pool checkout and return per transaction was ~15 % of a hot write's CPU: the write thread and
    the read thread each hold one connection, closed when the database is disposed of."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'held.db'}")
    checkouts: list[object] = []
    checkins: list[object] = []
    try:
        await db.upgrade()
        assert db.sync_engine is not None
        event.listen(db.sync_engine.pool, "checkout", lambda *a: checkouts.append(a[0]))
        event.listen(db.sync_engine.pool, "checkin", lambda *a: checkins.append(a[0]))
        for i in range(5):
            await db.run(lambda conn, i=i: conn.execute(insert(_AUDIT), _row(f"held{i}")))  # type: ignore[misc]
            assert await db.run_read(_count) == i + 1
        assert len(checkouts) == 2 and checkins == []
    finally:
        await db.dispose()
    assert len(checkins) == 2


async def test_a_read_lets_its_snapshot_go_and_sees_the_next_write(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'snap.db'}")
    try:
        await db.upgrade()
        assert await db.run_read(_count) == 0
        await db.run(lambda conn: conn.execute(insert(_AUDIT), _row("after")))
        assert await db.run_read(_count) == 1
        async with db.session() as s:  # another connection writes: the held read connection sees it
            await s.execute(insert(AuditEntry), _row("other"))
        assert await db.run_read(_count) == 2
    finally:
        await db.dispose()


async def test_a_failed_transaction_leaves_the_next_one_a_working_connection(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'fail.db'}")
    try:
        await db.upgrade()

        def fails(conn: Connection) -> None:
            conn.execute(insert(_AUDIT), _row("gone"))
            raise RuntimeError("after writing")

        for _ in range(2):
            with pytest.raises(RuntimeError):
                await db.run(fails)
            with pytest.raises(OperationalError):
                await db.run_read(lambda conn: conn.execute(text("SELECT * FROM no_such_table")))
        await db.run(lambda conn: conn.execute(insert(_AUDIT), _row("kept")))
        assert await db.run_read(_count) == 1
    finally:
        await db.dispose()
