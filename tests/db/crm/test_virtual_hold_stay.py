"""A virtual-hold entry's stay outlives an engine restart (SQLite and PostgreSQL, docs/callbacks.md):
callers an overflow moved, a supervisor moved, or an earlier engine put back after an answer (their
agent's softphone lost) press the key; an engine restarted from the ``virtual_holds`` table shows the
same live figures for them as the engine that kept running: the wallboard's list of the waiting
callers (position, since when, how long), the next agent's pop (*Waited*, ``Offer.waiting_since``) and
what each queue's statistics count once their callbacks reach the agent. The table kept only the
first queue entry: the restarted engine counted the put-back caller's wait from its first entry and
its answer a second time, and the overflowed caller's wait from its first queue."""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect

from acd.calls import LiveCall
from acd.decisions import Offer
from acd.delivery import AcdService
from acd.model import QueueConfig
from acd.routing import Router
from acd.stats import QueueSnapshot
from acd.virtual_hold import VirtualEntry, VirtualHoldPolicy
from acd.virtual_hold_pbx import VirtualHold
from crm_core.db import Database
from crm_core.revisions import alembic_config
from crm_core.virtual_holds import SqlVirtualHoldStore, entry_row, open_entries, save_entry
from cti.ami.control import FakeCallControl
from cti.bus import InProcessBus
from tests.db.crm.test_virtual_holds import Clock

QUEUES = (QueueConfig("support", overflow_after_s=30.0, overflow_to="billing"), QueueConfig("billing"),
          QueueConfig("sales"))
POLICIES = {q.name: VirtualHoldPolicy() for q in QUEUES}
AGENT = "1001"
RESTART = 1_050.0


def _engine(db: Database, bus: InProcessBus, clock: Clock) -> tuple[AcdService, VirtualHold]:
    acd = AcdService(Router(QUEUES), FakeCallControl(), bus, clock=clock)
    return acd, VirtualHold(acd, POLICIES, SqlVirtualHoldStore(db))


async def _first_engine(db: Database, bus: InProcessBus, clock: Clock) -> AcdService:
    """Three callers wait while the agent is not ready, each reaches its last queue its own way and
    presses the key there."""
    acd, vh = _engine(db, bus, clock)
    await acd.agent_login(AGENT, {}, [q.name for q in QUEUES])  # not ready: everyone waits
    await acd.enqueue(LiveCall("over", "PJSIP/x-1", "+8613900000001", "support"))  # overflows at 1030
    clock.now = 1_003.0
    await acd.enqueue(LiveCall("moved", "PJSIP/x-2", "+8613900000002", "support"))
    clock.now = 1_010.0
    await acd.decide(lambda now: acd.router.move_waiting("moved", "sales", now, actor="sup1"))
    # Put back at 1020 after an answer (an earlier engine's acd.reconnect), taken back by acd.recovery.
    clock.now = 1_025.0
    await acd.restore_waiting(LiveCall("back", "PJSIP/x-3", "+8613900000003", "billing", queued_at=1_002.0,
                                       put_back_at=1_020.0))
    clock.now = 1_035.0
    await acd.decide(lambda now: acd.router.tick(now))
    assert acd.router.call("over").queue == "billing"
    clock.now = 1_040.0
    for linkedid in ("over", "moved", "back"):
        assert await vh.accept(linkedid)
    return acd


# What a queue's statistics count (the wallboard's figures are made of them).
COUNTS = ("offered", "answered", "abandoned", "abandoned_short", "answered_within_sl", "overflowed", "limit_exits",
          "moved", "system_failures", "answered_wait_s", "ewt_samples", "waiting", "ringing", "connected",
          "virtual_waiting")


def _counts(s: QueueSnapshot) -> dict[str, Any]:
    return {k: getattr(s, k) for k in COUNTS}


def _serve(router: Router, now: float) -> tuple[list[tuple[str, str, float | None]], dict[str, dict[str, Any]]]:
    """The agent takes the three callbacks one after the other: each is answered by the customer
    and by the agent, talked over and ended. What each offer told the agent's pop, and what each
    queue's figures counted meanwhile."""
    before = {s.queue: _counts(s) for s in router.queue_snapshots(now)}
    offers: list[tuple[str, str, float | None]] = []
    decisions = router.set_ready(AGENT, now)
    for _ in range(3):
        offer = next(d for d in decisions if isinstance(d, Offer))
        offers.append((offer.call_id, offer.queue, offer.waiting_since))
        now += 5.0
        router.callback_answered(offer.call_id, AGENT, now, new_id=f"{offer.call_id}.cb")
        now += 2.0
        router.offer_answered(f"{offer.call_id}.cb", AGENT, now)
        now += 60.0
        router.call_ended(f"{offer.call_id}.cb", now)
        now += 1.0
        decisions = router.set_ready(AGENT, now)
    after = {s.queue: _counts(s) for s in router.queue_snapshots(now)}
    return offers, {q: {k: after[q][k] - before[q][k] for k in COUNTS} for q in after}


def _listed(acd: AcdService, now: float) -> list[tuple[Any, ...]]:
    return [(w.call_id, w.queue, w.position, w.since, w.waited_s, w.virtual, w.caller_number)
            for w in acd.waiting_calls(now)]


async def test_a_restarted_engine_shows_the_same_figures_for_moved_and_put_back_entries(
        db: Database, bus: InProcessBus) -> None:
    clock = Clock()
    kept = await _first_engine(db, bus, clock)
    clock.now = RESTART
    before = _listed(kept, RESTART)
    assert [(w[0], w[3]) for w in before] == [("over", 1_000.0), ("back", 1_020.0), ("moved", 1_003.0)]
    async with db.session() as s:
        rows = {r: await entry_row(r, session=s) for r in ("over", "moved", "back")}
    assert {r: (row.queue, row.entered_at, row.queue_entered_at, row.put_back_at, row.moved_wait_s)
            for r, row in rows.items() if row is not None} == {
        "over": ("billing", 1_000.0, 1_030.0, None, 0.0),  # overflowed when due, in the step at 1035
        "moved": ("sales", 1_003.0, 1_010.0, None, 7.0),
        "back": ("billing", 1_002.0, 1_020.0, 1_020.0, 0.0)}

    # The engine restarts on the same database; the other one goes on as if nothing happened.
    acd2, vh2 = _engine(db, bus, clock)
    await acd2.agent_login(AGENT, {}, [q.name for q in QUEUES])
    assert await vh2.recover() == 3
    assert _listed(acd2, RESTART) == before
    for linkedid in ("over", "moved", "back"):
        kept_view, restored = kept.router.call(linkedid), acd2.router.call(linkedid)
        assert restored == kept_view, linkedid

    offers, figures = _serve(kept.router, RESTART)
    assert [o[:2] for o in offers] == [("over", "billing"), ("back", "billing"), ("moved", "sales")]
    assert _serve(acd2.router, RESTART) == (offers, figures)


async def _columns(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        return {c["name"] for c in await conn.run_sync(lambda c: inspect(c).get_columns("virtual_holds"))}


async def test_the_migration_adds_the_stay_and_its_downgrade_drops_it_keeping_the_entries(db: Database) -> None:
    from alembic import command

    async with db.session() as s:
        await save_entry(VirtualEntry("back", "+8613900000003", "billing", 1_002.0, queue_entered_at=1_020.0,
                                      put_back_at=1_020.0, moved_wait_s=7.5), session=s)
    stay = {"queue_entered_at", "put_back_at", "moved_wait_s"}
    assert stay <= await _columns(db)
    async with db.engine.begin() as conn:
        await conn.run_sync(lambda c: command.downgrade(alembic_config(c), "0023_callback_index"))
    assert not stay & await _columns(db)
    await db.upgrade()
    async with db.session() as s:  # the entry is kept; its stay is unknown again: since its first entry
        entries = await open_entries(session=s)
    assert [(e.entry_id, e.entered_at, e.queue_entered_at, e.put_back_at, e.moved_wait_s) for e in entries] == [
        ("back", 1_002.0, None, None, 0.0)]
