"""Preview callbacks as supervisors work them, on SQLite and PostgreSQL: the wallboard's open counts
(overdue apart), the supervisors' list, cancelling, and a called claim never wrapped up going back to the list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm_core import callbacks
from crm_core.db import Database
from crm_core.errors import IllegalCallbackStep, NotFound
from crm_core.models import Callback

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


async def _called(db: Database, linkedid: str, **kw: object) -> int:
    cb_id = await _new(db, **kw)
    async with db.session() as s:
        await callbacks.claim(session=s, callback_id=cb_id, agent_id="1001", now=T0)
        await callbacks.start_call(session=s, callback_id=cb_id, agent_id="1001", now=T0)
        await callbacks.call_placed(session=s, callback_id=cb_id, linkedid=linkedid)
    return cb_id


async def test_a_call_never_wrapped_up_gives_the_callback_back(db: Database) -> None:
    stuck = await _called(db, "out-1")
    last_try = await _called(db, "out-2", number="13800138002", max_attempts=1)
    limit = callbacks.DEFAULT_CALL_TIMEOUT
    assert limit == timedelta(hours=2) and callbacks.Policy().call_timeout == limit
    async with db.session() as s:
        assert await callbacks.expire_claims(session=s, now=T0 + limit - timedelta(minutes=1),
                                             claim_timeout=timedelta(minutes=5)) == 0
    assert (await _get(db, stuck)).state == "claimed"  # a long call: still the claimer's
    async with db.session() as s:
        assert await callbacks.expire_claims(session=s, now=T0 + limit + timedelta(minutes=1),
                                             claim_timeout=timedelta(minutes=5)) == 2
    cb = await _get(db, stuck)
    assert (cb.state, cb.attempts, cb.claimed_by, cb.claimed_at, cb.called_at, cb.last_linkedid) == (
        "pending", 1, None, None, None, None)
    assert cb.due_at == T0  # due at once again
    assert ((await _get(db, last_try)).state, (await _get(db, last_try)).attempts) == ("failed", 1)
    async with db.session() as s:  # the lost call's wrap-up, late: it settles nothing
        assert await callbacks.finish_call(session=s, linkedid="out-1", reached=True, now=T0 + limit * 2,
                                           policy=callbacks.Policy()) is None
        cb = await callbacks.claim(session=s, callback_id=stuck, agent_id="1002", now=T0 + limit * 2)
        assert (cb.state, cb.claimed_by) == ("claimed", "1002")


async def test_the_call_timeout_is_a_parameter(db: Database) -> None:
    stuck = await _called(db, "out-1")
    async with db.session() as s:
        assert await callbacks.expire_claims(session=s, now=T0 + timedelta(minutes=31),
                                             claim_timeout=timedelta(minutes=5),
                                             call_timeout=timedelta(minutes=30)) == 1
    assert ((await _get(db, stuck)).state, (await _get(db, stuck)).attempts) == ("pending", 1)


async def _get(db: Database, cb_id: int) -> Callback:
    async with db.session() as s:
        return await callbacks.get_callback(session=s, callback_id=cb_id)
