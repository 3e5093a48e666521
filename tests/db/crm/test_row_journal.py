"""RowJournal: a row submitted while the journal is being emptied stays in the journal file until
it is in the database (a crash in between must not lose it)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from crm_core.db import Database
from crm_core.journal import RowJournal
from tests.helpers import until


async def test_a_row_submitted_while_the_journal_is_emptied_stays_journaled(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}")
    in_b, hold_b = asyncio.Event(), asyncio.Event()

    async def writer(_session: Any, key: str, _fields: dict[str, Any]) -> None:
        if key == "b":
            in_b.set()
            await hold_b.wait()

    path = tmp_path / "journal.jsonl"
    rows = RowJournal(db, path, {"row": writer})
    await rows.start()
    assert rows.outbox is not None
    compacting, go = asyncio.Event(), asyncio.Event()
    compact = rows.outbox.compact

    async def slow_compact(keep: Any) -> None:  # the journal is emptied after a few turns of the loop
        compacting.set()
        await go.wait()
        await compact(keep)

    rows.outbox.compact = slow_compact  # type: ignore[method-assign]
    try:
        first = asyncio.create_task(rows.submit("row", "a", {"n": 1}))
        await asyncio.wait_for(compacting.wait(), 5)  # "a" is written: the journal is being emptied
        second = asyncio.create_task(rows.submit("row", "b", {"n": 2}))
        for _ in range(20):
            await asyncio.sleep(0)
        go.set()
        assert await asyncio.wait_for(first, 5)
        await asyncio.wait_for(in_b.wait(), 5)
        # "b" is being written now: were the engine killed at this moment, the journal must hold it.
        assert '"key": "b"' in path.read_text(encoding="utf-8")
        hold_b.set()
        assert await asyncio.wait_for(second, 5)
        assert not rows.waiting
    finally:
        hold_b.set()
        go.set()
        await rows.stop()
        await db.dispose()


async def test_rows_submitted_together_share_one_flush_and_one_transaction(tmp_path: Path) -> None:
    """``submit_many``: the rows are journaled before any is written, written in one transaction,
    and a transaction that fails is retried whole (the writers are idempotent)."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}")
    sessions: list[int] = []
    written: list[str] = []
    fail = {"c"}

    async def writer(session: Any, key: str, _fields: dict[str, Any]) -> None:
        if not sessions or sessions[-1] != id(session):
            sessions.append(id(session))
        if key in fail:
            fail.discard(key)
            raise RuntimeError("the database refused")
        written.append(key)

    path = tmp_path / "journal.jsonl"
    rows = RowJournal(db, path, {"row": writer}, retry_delays_s=(0.01,))
    await rows.start()
    assert rows.outbox is not None
    syncs = 0
    sync = rows.outbox.sync

    async def counted_sync() -> None:
        nonlocal syncs
        syncs += 1
        await sync()

    rows.outbox.sync = counted_sync  # type: ignore[method-assign]
    try:
        assert await rows.submit_many("row", [("a", {"n": 1}), ("b", {"n": 2})])
        assert written == ["a", "b"] and len(sessions) == 1 and syncs == 1 and rows.written == 2
        assert not await rows.submit_many("row", [("c", {"n": 3}), ("d", {"n": 4})])  # refused: journaled
        assert '"key": "d"' in path.read_text(encoding="utf-8")
        for _ in range(200):
            if not rows.waiting:
                break
            await asyncio.sleep(0.01)
        assert written[2:] == ["c", "d"] and not rows.waiting  # retried, in order
    finally:
        await rows.stop()
        await db.dispose()


async def test_only_a_refused_row_is_set_aside_and_its_fields_stay_out_of_the_log(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A row the database refuses at every try (a constraint) is set aside after a few tries and the
    next rows are written; a row that waits for a database away is never set aside, however long."""
    from sqlalchemy.exc import IntegrityError

    from crm_core.errors import DatabaseUnavailable
    from crm_core.journal import REFUSALS_TO_SET_ASIDE

    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}")
    tries: dict[str, int] = {}
    away = True

    async def writer(_session: Any, key: str, _fields: dict[str, Any]) -> None:
        tries[key] = tries.get(key, 0) + 1
        if key == "refused":
            raise IntegrityError("INSERT INTO t VALUES (?)", ("+33612345678",),
                                 Exception("FOREIGN KEY constraint failed"))
        if key == "away" and away:
            raise DatabaseUnavailable("the database is away")

    path = tmp_path / "rows.jsonl"
    rows = RowJournal(db, path, {"row": writer}, retry_delays_s=(0.01,))
    try:
        assert not await rows.submit("row", "away", {"n": 0})
        # Past the tries that set a refused row aside (a fixed half second was not always enough
        # for them on a loaded machine), the row waiting for the database is still waiting.
        await until(lambda: tries["away"] > REFUSALS_TO_SET_ASIDE, 10, "more tries than set a refused row aside")
        assert list(rows.waiting) == ["away"] and rows.set_aside == 0
        away = False
        for _ in range(100):
            if not rows.waiting:
                break
            await asyncio.sleep(0.01)
        assert not await rows.submit("row", "refused", {"number": "+33612345678"})
        assert await rows.submit("row", "after", {"n": 2}) is False  # journaled behind it, written by the retries
        for _ in range(200):
            if not rows.waiting:
                break
            await asyncio.sleep(0.01)
        assert not rows.waiting and rows.set_aside == 1 and tries["after"] == 1
    finally:
        await rows.stop()
        await db.dispose()
    kept = path.with_name("rows.rejected.jsonl").read_text(encoding="utf-8")
    assert '"key": "refused"' in kept and "FOREIGN KEY constraint failed" in kept
    assert "+33612345678" not in caplog.text and kept.count("+33612345678") == 1  # the fields only
