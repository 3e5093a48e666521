"""Preview callbacks as supervisors work them, on SQLite and PostgreSQL: the wallboard's open counts
(overdue apart), cancelling, and a called claim never wrapped up going back to the list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crm_core import callbacks
from crm_core.db import Database

T0 = datetime(2030, 3, 1, 9, 0, tzinfo=UTC)


async def _new(db: Database, **kw: object) -> int:
    async with db.session() as s:
        args: dict[str, object] = {"number": "138 0013 8001", "due_at": T0, "queue": "support"} | kw
        cb = await callbacks.create_callback(session=s, **args)  # type: ignore[arg-type]
        return cb.id


async def test_open_counts_tell_overdue_from_due(db: Database) -> None:
    now = T0 + timedelta(hours=1)
    await _new(db, due_at=now - timedelta(minutes=16))  # overdue
    await _new(db, due_at=now - timedelta(minutes=15))  # due exactly 15 min ago: overdue too
    await _new(db, due_at=now - timedelta(minutes=14))  # due, not overdue
    await _new(db, due_at=now + timedelta(minutes=5))   # pending, not due yet
    claimed = await _new(db, due_at=now - timedelta(hours=1))
    await _new(db, queue=None, agent_id="1001", due_at=now - timedelta(hours=2))
    done = await _new(db, queue="billing", due_at=now - timedelta(hours=2))
    async with db.session() as s:
        await callbacks.claim(session=s, callback_id=claimed, agent_id="1001", now=now)
        await callbacks.cancel(session=s, callback_id=done, actor="sup1", now=now)
    async with db.session() as s:
        counts = await callbacks.open_counts(session=s, now=now, overdue_after=callbacks.OVERDUE_AFTER)
        plain = await callbacks.open_counts(session=s, now=now)
    assert counts["support"] == {"pending": 4, "due": 3, "overdue": 2, "claimed": 1}
    assert counts[""] == {"pending": 1, "due": 1, "overdue": 1, "claimed": 0}
    assert "billing" not in counts  # cancelled: no longer open
    assert "overdue" not in plain["support"]
