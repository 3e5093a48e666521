"""The CRM's locked desk phones (migration 0021), on SQLite and PostgreSQL: adding a lock twice, or
from two writers at once (two nodes, a start's sync beside an administrator's change), keeps one."""

from __future__ import annotations

import asyncio

from crm_core import desk_locks
from crm_core.db import Database


async def _add(db: Database, *endpoints: str) -> None:
    async with db.session() as s:
        await desk_locks.add(session=s, endpoints=endpoints)


async def test_locks_are_added_once_and_released_one_by_one(db: Database) -> None:
    await _add(db, "1001", "1002")
    await asyncio.gather(*(_add(db, "1002", "1003") for _ in range(4)))
    await _add(db)
    async with db.session() as s:
        assert await desk_locks.locked(session=s) == {"1001", "1002", "1003"}
        await desk_locks.release(session=s, endpoint="1002")
        await desk_locks.release(session=s, endpoint="1999")  # none: nothing to do
    async with db.session() as s:
        assert await desk_locks.locked(session=s) == {"1001", "1003"}
