"""An agent's wrap-up during a database outage: nothing the agent wrote is lost, the agent is not
stuck, and the CRM writes (case, callback) are made exactly once when the database is back. And
the answer names the call's interaction when the database is up (it used to be always null)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from acd.calls import LiveCall
from acd.delivery import AcdService
from acd.model import QueueConfig
from acd.routing import Router
from agent_console.desk import EngineDesk
from agent_console.ports import WrapUpInput
from agent_console.protocol import CaseInput
from crm_core import catalog
from crm_core.db import Database
from crm_core.models import Callback, Case, Interaction
from crm_core.schemas import DispositionIn
from cti.ami.control import FakeCallControl
from cti.bus import InProcessBus
from cti.events import Event
from cti.journey import WrapUpDone
from tests.db.crm.pg import ControlledPostgres


def _ended(agent_id: str, linkedid: str) -> LiveCall:
    return LiveCall(linkedid=linkedid, caller_channel="PJSIP/trunk-1", caller_number="+8613800138000",
                    queue="support", status="ended", agent_id=agent_id, agent_channel="PJSIP/1001-1",
                    answered_at=1000.0)


async def _desk(db: Database, journal: Path) -> tuple[EngineDesk, list[Event]]:
    bus = InProcessBus()
    seen: list[Event] = []

    async def keep(e: Event) -> None:
        seen.append(e)

    bus.subscribe(WrapUpDone, keep, name="test")
    await bus.start()
    acd = AcdService(Router([QueueConfig(name="support")]), FakeCallControl(), bus)
    desk = EngineDesk(acd, db, bus, journal=journal)
    await desk.journal.start()
    return desk, seen


async def _count(db: Database, model: type) -> int:
    async with db.session() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def test_the_wrap_up_answer_names_the_calls_interaction(db: Database, tmp_path: Path) -> None:
    await db.upgrade()
    async with db.session() as s:
        await catalog.create_disposition(session=s, data=DispositionIn(code="resolved", label="Resolved"))
        s.add(Interaction(linkedid="L-int", direction="inbound", caller_number="+8613800138000",
                          started_at=datetime.now(UTC)))
    desk, _ = await _desk(db, tmp_path / "j.jsonl")
    desk.acd.wrapups[("1001", "L-int")] = _ended("1001", "L-int")
    result = await desk.wrap_up("1001", "L-int", WrapUpInput(disposition="resolved", notes="done"))
    async with db.session() as s:
        expected = await s.scalar(select(Interaction.id).where(Interaction.linkedid == "L-int"))
    assert expected is not None and result["interaction_id"] == expected
    await desk.journal.stop()


async def test_wrap_ups_during_a_database_outage_are_kept_and_written_once(tmp_path: Path) -> None:
    pg = ControlledPostgres()
    try:
        db = Database(pg.url)
        await db.upgrade()
        async with db.session() as s:
            await catalog.create_disposition(session=s, data=DispositionIn(code="resolved", label="Resolved"))
        journal = tmp_path / "wrapups.jsonl"
        desk, seen = await _desk(db, journal)
        desk.acd.wrapups[("1001", "L-ok")] = _ended("1001", "L-ok")
        await desk.wrap_up("1001", "L-ok", WrapUpInput(disposition="resolved", notes="read the catalog"))
        await asyncio.to_thread(pg.stop)
        try:
            desk.acd.wrapups[("1001", "L-down")] = _ended("1001", "L-down")
            due = datetime(2030, 1, 1, 9, 0, tzinfo=UTC).timestamp()
            result = await desk.wrap_up("1001", "L-down", WrapUpInput(
                disposition="resolved", notes="Customer asked for a refund", case=CaseInput(subject="Refund"),
                callback_at=due))
            assert result["pending"] is True
            # The agent is free and the notes travel to the call log (its own journal) as usual.
            assert ("1001", "L-down") not in desk.acd.wrapups
            for _ in range(50):
                await asyncio.sleep(0.02)  # the bus hands it to its subscribers
                if done := [e for e in seen if isinstance(e, WrapUpDone) and e.linkedid == "L-down"]:
                    break
            assert done and done[0].notes == "Customer asked for a refund"
            assert "Refund" in journal.read_text()
            # The engine restarts while the database is still away: the journal keeps the wrap-up.
            await desk.journal.stop()
            desk2, _ = await _desk(db, journal)
        finally:
            await asyncio.to_thread(pg.start)
        for _ in range(200):
            if not desk2.journal.waiting:
                break
            await asyncio.sleep(0.1)
        assert not desk2.journal.waiting
        async with db.session() as s:
            subjects = sorted((await s.scalars(select(Case.subject))).all())
            assert subjects.count("Refund") == 1
            callbacks = (await s.scalars(select(Callback))).all()
            assert len(callbacks) == 1 and callbacks[0].number == "+8613800138000"
        # Replayed again (a crash before the journal was emptied): nothing is written twice.
        await desk2.journal.submit("wrapup", "wrapup:1001:L-down", {
            "agent_id": "1001", "linkedid": "L-down", "customer_id": None, "queue": "support",
            "notes": "Customer asked for a refund", "case": {"id": None, "subject": "Refund", "status": None,
                                                            "priority": None, "note": ""},
            "callback": {"number": "+8613800138000", "due_at": due}, "reached": True, "at": 1.0})
        assert await _count(db, Callback) == 1
        async with db.session() as s:
            assert (await s.scalars(select(Case.subject))).all().count("Refund") == 1
        await desk2.journal.stop()
        await db.dispose()
    finally:
        pg.remove()
