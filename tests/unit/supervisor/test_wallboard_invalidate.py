"""Records invalidated while the wallboard is reading them are read again at the next snapshot.

Found under three test workers: a test rewrote the CRM's rows and invalidated the wallboard's
records while the wallboard's own loop was half-way through a read; that read then marked the
records fresh, and the next snapshot showed the rows from before (0 calls offered instead of 4)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from acd.kpis import CallRecord
from agent_console.supervisor.records import RecordCache
from agent_console.supervisor.wallboard import Wallboard


async def test_an_invalidation_during_a_read_is_not_lost() -> None:
    reads: list[int] = []
    reading, release = asyncio.Event(), asyncio.Event()
    rows = [0]

    async def load(since: float) -> list[int]:
        seen = rows[0]  # what the database held when the read began
        reads.append(seen)
        reading.set()
        if len(reads) == 1:
            await release.wait()
        return [seen]

    def snapshot(now: float, records: Sequence[CallRecord]) -> dict[str, Any]:
        return {"records": list(records)}

    board = Wallboard(snapshot=snapshot, load=load, records_every_s=60.0, since_of=lambda now: 0.0,
                      clock=lambda: 1000.0)
    first = asyncio.create_task(board.refresh())
    await reading.wait()
    rows[0] = 4  # rows written, then the records invalidated, while the first read is under way
    board.invalidate_records()
    release.set()
    assert (await first)["records"] == [0]
    assert (await board.refresh())["records"] == [4]
    assert reads == [0, 4]


class _Result:
    def all(self) -> list[Any]:
        return []


class _Db:
    """A database whose reads find nothing and may be held half-way."""

    def __init__(self) -> None:
        self.gate: asyncio.Event | None = None
        self.reading = asyncio.Event()

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[_Db]:
        yield self

    async def execute(self, query: object) -> _Result:
        self.reading.set()
        if self.gate is not None:
            await self.gate.wait()
        return _Result()


async def test_the_record_cache_reads_everything_after_a_reset_during_a_read() -> None:
    db = _Db()
    cache = RecordCache(db, clock=lambda: 1000.0)  # type: ignore[arg-type]
    await cache.load(0.0)
    assert (cache.full_reads, cache.partial_reads) == (1, 0)
    db.gate = asyncio.Event()
    db.reading.clear()
    partial = asyncio.create_task(cache.load(0.0))
    await db.reading.wait()
    cache.reset()  # rows deleted while an incremental read is under way
    db.gate.set()
    await partial
    db.gate = None
    await cache.load(0.0)
    assert (cache.full_reads, cache.partial_reads) == (2, 1)  # the reset's full read happened
