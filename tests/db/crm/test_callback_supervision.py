"""Preview callbacks as supervisors work them, on SQLite and PostgreSQL: the wallboard's open counts
(overdue apart), the supervisors' list, cancelling, and a called claim never wrapped up going back to the list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm_core import callbacks
from crm_core.db import Database
from crm_core.errors import IllegalCallbackStep, NotFound

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


async def test_find_callbacks_by_state_and_queue(db: Database) -> None:
    a = await _new(db, due_at=T0 + timedelta(minutes=10))
    b = await _new(db, due_at=T0)
    c = await _new(db, queue="billing", due_at=T0 - timedelta(minutes=5))
    d = await _new(db, due_at=T0 - timedelta(minutes=1))
    async with db.session() as s:
        await callbacks.cancel(session=s, callback_id=d, actor="sup1", now=T0)
        await callbacks.claim(session=s, callback_id=b, agent_id="1001", now=T0)
    async with db.session() as s:
        ids = [cb.id for cb, _ in await callbacks.find_callbacks(session=s, states=callbacks.OPEN_STATES)]
        assert ids == [c, b, a]  # open: oldest due first
        ids = [cb.id for cb, _ in await callbacks.find_callbacks(session=s, states=callbacks.OPEN_STATES,
                                                                   queue="support", limit=1)]
        assert ids == [b]
        assert [cb.id for cb, _ in await callbacks.find_callbacks(session=s, states=["cancelled"])] == [d]
        assert len(await callbacks.find_callbacks(session=s)) == 4


async def test_cancel_pending_or_claimed_not_while_called(db: Database) -> None:
    pending, claimed, called = await _new(db), await _new(db), await _new(db)
    async with db.session() as s:
        await callbacks.claim(session=s, callback_id=claimed, agent_id="1001", now=T0)
        await callbacks.claim(session=s, callback_id=called, agent_id="1002", now=T0)
        await callbacks.start_call(session=s, callback_id=called, agent_id="1002", now=T0)
    async with db.session() as s:
        for cb_id in (pending, claimed):
            cb = await callbacks.cancel(session=s, callback_id=cb_id, actor="sup1", now=T0 + timedelta(minutes=1))
            assert (cb.state, cb.updated_at) == ("cancelled", T0 + timedelta(minutes=1))
        with pytest.raises(IllegalCallbackStep, match="being called"):
            await callbacks.cancel(session=s, callback_id=called, actor="sup1", now=T0)
        with pytest.raises(IllegalCallbackStep, match="cannot cancel a cancelled callback"):
            await callbacks.cancel(session=s, callback_id=pending, actor="sup1", now=T0)
        with pytest.raises(NotFound):
            await callbacks.cancel(session=s, callback_id=999999, actor="sup1", now=T0)
