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
