"""RowJournal: a row submitted while the journal is being emptied stays in the journal file until
it is in the database (a crash in between must not lose it)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from crm_core.db import Database
from crm_core.journal import RowJournal


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
