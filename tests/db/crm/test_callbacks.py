"""Preview callbacks on SQLite and PostgreSQL: the state machine, retries, claim races and expiry,
and the idempotent intake of ``CallbackRequested``."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from crm_core import callbacks, customers
from crm_core.callback_intake import CallbackIntake
from crm_core.callbacks import Policy
from crm_core.db import Database
from crm_core.errors import CallbackTaken, IllegalCallbackStep, InvalidField
from crm_core.models import Callback
from crm_core.schemas import CustomerIn, PhoneIn
from cti.bus import InProcessBus
from cti.journey import CallbackRequested

T0 = datetime(2030, 3, 1, 9, 0, tzinfo=UTC)
POLICY = Policy(retry_delay=timedelta(minutes=15), claim_timeout=timedelta(minutes=5), max_attempts=3)


async def _new(db: Database, **kw: object) -> int:
    async with db.session() as s:
        args: dict[str, object] = {"number": "138 0013 8001", "due_at": T0, "queue": "support"} | kw
        cb = await callbacks.create_callback(session=s, **args)  # type: ignore[arg-type]
        return cb.id


async def _get(db: Database, cb_id: int) -> Callback:
    async with db.session() as s:
        return await callbacks.get_callback(session=s, callback_id=cb_id)


async def test_pending_claimed_called_done(db: Database) -> None:
    cb_id = await _new(db)
    row = await _get(db, cb_id)
    assert (row.number, row.state, row.attempts, row.max_attempts) == ("+8613800138001", "pending", 0, 3)
    async with db.session() as s:
        with pytest.raises(IllegalCallbackStep, match="not due"):
            await callbacks.claim(session=s, callback_id=cb_id, agent_id="1001", now=T0 - timedelta(minutes=1))
    async with db.session() as s:
        cb = await callbacks.claim(session=s, callback_id=cb_id, agent_id="1001", now=T0)
        assert (cb.state, cb.claimed_by, cb.claimed_at) == ("claimed", "1001", T0)
    async with db.session() as s:
        with pytest.raises(IllegalCallbackStep, match="claimed by agent 1001"):
            await callbacks.start_call(session=s, callback_id=cb_id, agent_id="1002", now=T0)
    async with db.session() as s:
        await callbacks.start_call(session=s, callback_id=cb_id, agent_id="1001", now=T0)
        await callbacks.call_placed(session=s, callback_id=cb_id, linkedid="out-1")
    async with db.session() as s:
        assert await callbacks.finish_call(session=s, linkedid="other", reached=True, now=T0, policy=POLICY) is None
        cb = await callbacks.finish_call(session=s, linkedid="out-1", reached=True, now=T0, policy=POLICY)
        assert cb is not None and (cb.state, cb.attempts, cb.last_linkedid) == ("done", 1, "out-1")
    async with db.session() as s:
        with pytest.raises(IllegalCallbackStep, match="cannot claim a done callback"):
            await callbacks.claim(session=s, callback_id=cb_id, agent_id="1001", now=T0)
        with pytest.raises(IllegalCallbackStep):
            await callbacks.cancel(session=s, callback_id=cb_id, actor="sup1", now=T0)


async def test_no_answer_retries_later_then_fails(db: Database) -> None:
    cb_id = await _new(db, max_attempts=2)
    now = T0
    for attempt, expected in ((1, "pending"), (2, "failed")):
        async with db.session() as s:
            await callbacks.claim(session=s, callback_id=cb_id, agent_id="1001", now=now)
            await callbacks.start_call(session=s, callback_id=cb_id, agent_id="1001", now=now)
            await callbacks.call_placed(session=s, callback_id=cb_id, linkedid=f"out-{attempt}")
        async with db.session() as s:
            cb = await callbacks.finish_call(session=s, linkedid=f"out-{attempt}", reached=False, now=now,
                                             policy=POLICY)
            assert cb is not None and (cb.state, cb.attempts) == (expected, attempt)
        if expected == "pending":
            row = await _get(db, cb_id)
            assert row.due_at == now + timedelta(minutes=15) and row.claimed_by is None and row.called_at is None
            async with db.session() as s:  # not listed (nor claimable) before the retry delay
                assert await callbacks.due_callbacks(session=s, now=now, agent_id="1001", queues=["support"]) == []
            now += timedelta(minutes=15)
    async with db.session() as s:
        assert await callbacks.due_callbacks(session=s, now=now, agent_id=None, queues=None) == []


async def test_two_agents_claim_at_once_one_wins(db: Database) -> None:
    cb_id = await _new(db)

    async def claim(agent: str) -> str:
        async with db.session() as s:
            await callbacks.claim(session=s, callback_id=cb_id, agent_id=agent, now=T0)
            await asyncio.sleep(0.05)  # hold the transaction open while the other claims
        return agent

    results = await asyncio.gather(claim("1001"), claim("1002"), return_exceptions=True)
    winners = [r for r in results if isinstance(r, str)]
    losers = [r for r in results if isinstance(r, CallbackTaken)]
    assert len(winners) == 1 and len(losers) == 1, results
    assert (await _get(db, cb_id)).claimed_by == winners[0]
    assert "claimed by agent" in str(losers[0])


async def test_claim_not_called_in_time_returns_to_pending(db: Database) -> None:
    a, b = await _new(db), await _new(db, number="13800138002")
    async with db.session() as s:
        await callbacks.claim(session=s, callback_id=a, agent_id="1001", now=T0)
        await callbacks.claim(session=s, callback_id=b, agent_id="1001", now=T0)
        await callbacks.start_call(session=s, callback_id=b, agent_id="1001", now=T0)
    async with db.session() as s:
        timeout = POLICY.claim_timeout
        assert await callbacks.expire_claims(session=s, now=T0 + timedelta(minutes=4), claim_timeout=timeout) == 0
        assert await callbacks.expire_claims(session=s, now=T0 + timedelta(minutes=6), claim_timeout=timeout) == 1
    assert ((await _get(db, a)).state, (await _get(db, a)).claimed_by) == ("pending", None)
    assert (await _get(db, b)).state == "claimed"  # being called: never expires
    async with db.session() as s:  # another agent may take it now
        await callbacks.claim(session=s, callback_id=a, agent_id="1002", now=T0 + timedelta(minutes=6))
        await callbacks.release(session=s, callback_id=a, agent_id="1002", now=T0 + timedelta(minutes=7))
    assert (await _get(db, a)).state == "pending"


async def test_list_is_scoped_to_queues_personal_and_own_claims(db: Database) -> None:
    async with db.session() as s:
        c = await customers.create_customer(session=s, data=CustomerIn(
            name="王芳", phones=[PhoneIn(number="13800138009")]))
        cid = c.id
    sup = await _new(db, queue="support", customer_id=cid)
    bil = await _new(db, queue="billing")
    mine = await _new(db, queue=None, agent_id="1001")
    later = await _new(db, queue="support", due_at=T0 + timedelta(hours=1))
    claimed_other = await _new(db, queue="support")
    async with db.session() as s:
        await callbacks.claim(session=s, callback_id=claimed_other, agent_id="1002", now=T0)
    async with db.session() as s:
        rows = await callbacks.due_callbacks(session=s, now=T0, agent_id="1001", queues=["support"])
        assert [(cb.id, name) for cb, name in rows] == [(sup, "王芳"), (mine, None)]
        everyone = await callbacks.due_callbacks(session=s, now=T0, agent_id=None, queues=None)
        assert {cb.id for cb, _ in everyone} == {sup, bil, mine, claimed_other}
        assert later not in {cb.id for cb, _ in everyone}
        counts = await callbacks.open_counts(session=s, now=T0)
    assert counts["support"] == {"pending": 2, "due": 1, "claimed": 1}
    assert counts[""] == {"pending": 1, "due": 1, "claimed": 0}


async def test_bad_input_names_the_field_and_writes_nothing(db: Database) -> None:
    for kw, field in (({"number": "not a number"}, "number"), ({"number": ""}, "number"),
                      ({"max_attempts": 0}, "max_attempts"), ({"due_at": datetime(2030, 1, 1)}, "due_at")):
        with pytest.raises(InvalidField) as bad:
            await _new(db, **kw)
        assert bad.value.field == field
    with pytest.raises(InvalidField) as bad:
        await _new(db, number="12", number_field="callback_number")
    assert bad.value.field == "callback_number"
    async with db.session() as s:
        assert await s.scalar(select(func.count()).select_from(Callback)) == 0


async def test_callback_requested_twice_makes_one_callback(db: Database) -> None:
    bus = InProcessBus()
    intake = CallbackIntake(db, max_attempts=4)
    intake.subscribe(bus)
    await bus.start()
    try:
        ev = CallbackRequested(ts=T0.timestamp(), linkedid="in-77", number="+8613800138077", queue="billing")
        await bus.publish(ev)
        await bus.publish(ev)
        await bus.drain()
        # Two engine nodes handling the same request at once: the unique index keeps one.
        twice = CallbackRequested(ts=T0.timestamp(), linkedid="in-79", number="13800138079", queue="support")
        await asyncio.gather(intake.handle(twice), intake.handle(twice))
        await intake.handle(CallbackRequested(ts=T0.timestamp(), linkedid="in-78", number="anonymous"))
    finally:
        await bus.stop()
    async with db.session() as s:
        rows = list((await s.scalars(select(Callback))).all())
    assert [(r.origin_linkedid, r.number, r.queue, r.state, r.due_at, r.max_attempts) for r in rows] == [
        ("in-77", "+8613800138077", "billing", "pending", T0, 4),
        ("in-79", "+8613800138079", "support", "pending", T0, 4)]


async def test_the_claimer_skips_not_now_or_for_good(db: Database) -> None:
    later, wrong = await _new(db), await _new(db, number="13800138002")
    async with db.session() as s:
        for cb_id in (later, wrong):
            await callbacks.claim(session=s, callback_id=cb_id, agent_id="1001", now=T0)
    async with db.session() as s:
        with pytest.raises(IllegalCallbackStep, match="claimed by agent 1001"):
            await callbacks.skip(session=s, callback_id=later, agent_id="1002", reason="not_now", now=T0, policy=POLICY)
        with pytest.raises(InvalidField) as bad:
            await callbacks.skip(session=s, callback_id=later, agent_id="1001", reason="bored", now=T0, policy=POLICY)
        assert bad.value.field == "reason"
        await callbacks.skip(session=s, callback_id=later, agent_id="1001", reason="not_now", now=T0, policy=POLICY)
        await callbacks.skip(session=s, callback_id=wrong, agent_id="1001", reason="wrong_number", now=T0,
                             policy=POLICY)
    row = await _get(db, later)
    assert (row.state, row.attempts, row.claimed_by) == ("pending", 0, None)  # not an attempt
    assert row.due_at.replace(tzinfo=UTC) == T0 + POLICY.retry_delay
    assert row.note == "skipped by 1001: not_now"
    assert (await _get(db, wrong)).state == "cancelled"


async def test_a_cancel_and_a_call_at_once_never_both_succeed(db: Database) -> None:
    """A supervisor cancels the callback the agent is about to call: one of the two wins, the other
    is refused; an acknowledged cancel is never undone by the call's write (which read it claimed)."""
    for _ in range(5):
        cb_id = await _new(db)
        async with db.session() as s:
            await callbacks.claim(session=s, callback_id=cb_id, agent_id="1001", now=T0)

        async def cancel(cb_id: int = cb_id) -> None:
            async with db.session() as s:
                await callbacks.cancel(session=s, callback_id=cb_id, actor="sup1", now=T0)

        async def call(cb_id: int = cb_id) -> None:
            async with db.session() as s:
                await callbacks.start_call(session=s, callback_id=cb_id, agent_id="1001", now=T0)

        results = await asyncio.gather(cancel(), call(), return_exceptions=True)
        row = await _get(db, cb_id)
        won = [r is None for r in results]
        assert won in ([True, False], [False, True]), results
        assert all(isinstance(r, IllegalCallbackStep) for r in results if r is not None), results
        assert row.state == ("cancelled" if won[0] else "claimed"), (results, row.state)
