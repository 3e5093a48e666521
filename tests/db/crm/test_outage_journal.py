"""A PostgreSQL outage of the supervisor's writes and the console's reads: agent state history
and audit rows made while the database is down are journaled and written exactly once when it is
back (also after a restart of the engine in between); screen pops show the recent card or an
unknown caller with a clear marker; users who logged in recently still log in."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from agent_console.crm_adapters import SqlUserStore
from agent_console.supervisor.audit import AuditLog
from crm_core import customers, users
from crm_core.agent_log import AgentStateRow, state_key, write_state_once
from crm_core.audit import AuditEntry
from crm_core.db import Database
from crm_core.errors import DatabaseUnavailable
from crm_core.journal import RowJournal
from crm_core.schemas import CustomerIn, PhoneIn
from crm_core.screenpop import SqlPopSource
from tests.db.crm.pg import ControlledPostgres


async def _until(pred, timeout_s: float = 20.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not (value := await pred()):
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)
    return value


async def test_outage_loses_no_agent_state_or_audit_row(tmp_path: Path) -> None:
    pg = ControlledPostgres()
    try:
        db = Database(pg.url)
        await db.upgrade()
        async with db.session() as s:
            await customers.create_customer(session=s, data=CustomerIn(
                name="Li Wei", phones=[PhoneIn(number="13800138000")]))
        journal = tmp_path / "supervisor-journal.jsonl"
        rows = RowJournal(db, journal, {"agent_state": write_state_once}, retry_delays_s=(0.2, 0.5))
        audit = AuditLog(db, rows=rows)
        await rows.start()
        await asyncio.to_thread(pg.stop)
        t0 = time.time()
        states = [("1001", "available"), ("1001", "on_call"), ("1002", "not_ready"), ("1001", "wrap_up")]
        for n, (agent, state) in enumerate(states):
            at = t0 + n
            assert not await rows.submit("agent_state", state_key(agent, state, at),
                                         {"agent_id": agent, "state": state, "reason": None, "at": at})
        entry = await audit.append(actor="sup", actor_role="supervisor", action="agent.force_not_ready",
                                   target="agent:1001", detail={"reason": "outage test"}, at=t0)
        assert entry["pending"] and entry["id"] is None

        # The engine stops during the outage and starts again: the journal carries the rows over.
        await rows.stop()
        assert journal.stat().st_size > 0
        rows = RowJournal(db, journal, {"agent_state": write_state_once}, retry_delays_s=(0.2, 0.5))
        AuditLog(db, rows=rows)  # registers the audit writer on the new journal
        await rows.start()
        await asyncio.sleep(1.0)  # a few failed retries while the database is still down
        await asyncio.to_thread(pg.start)

        async def history() -> int:
            try:
                async with db.session() as s:
                    return int(await s.scalar(select(func.count()).select_from(AgentStateRow)) or 0)
            except DatabaseUnavailable:
                return 0

        await _until(history)
        # Everything written, then the journal emptied (compacted in the journal's own thread).
        await _until(lambda: asyncio.sleep(0, not rows.waiting and journal.stat().st_size == 0))
        # Written exactly once, even when the journal is replayed again (a second restart).
        again = RowJournal(db, None, {"agent_state": write_state_once})
        AuditLog(db, rows=again)
        for line in journal.read_text().splitlines():
            raise AssertionError(f"the journal should be empty once written: {line}")
        for n, (agent, state) in enumerate(states):
            assert await again.submit("agent_state", state_key(agent, state, t0 + n),
                                      {"agent_id": agent, "state": state, "reason": None, "at": t0 + n})
        await again.stop()
        async with db.session() as s:
            got = [(r.agent_id, r.state) for r in await s.scalars(select(AgentStateRow).order_by(AgentStateRow.at))]
            audits = list(await s.scalars(select(AuditEntry).where(AuditEntry.action == "agent.force_not_ready")))
        assert got == states
        assert len(audits) == 1 and audits[0].detail["reason"] == "outage test"
        await rows.stop()
        await db.dispose()
    finally:
        pg.remove()


async def test_outage_pops_recent_cards_or_unknown_and_logs_recent_users_in() -> None:
    pg = ControlledPostgres()
    try:
        db = Database(pg.url)
        await db.upgrade()
        async with db.session() as s:
            c = await customers.create_customer(session=s, data=CustomerIn(
                name="Li Wei", phones=[PhoneIn(number="13800138000")]))
            await users.create_user(session=s, username="alice", password="correct horse", role="agent",
                                    agent_id="1001")
        store = SqlUserStore(db)
        assert await store.authenticate("alice", "correct horse") is not None
        pops = SqlPopSource(db)
        known = await pops.build_pop("L1", "1001", {"caller_number": "+8613800138000", "customer_id": c.id})
        assert known["customer"]["name"] == "Li Wei" and known.get("source", "crm") == "crm"
        await asyncio.to_thread(pg.stop)
        # Pops: the recent caller keeps their card, anyone else is an unknown caller, both marked.
        cached = await pops.build_pop("L2", "1001", {"caller_number": "+8613800138000", "queue": "support"})
        assert cached["customer"]["name"] == "Li Wei" and cached["source"] == "cache"
        unknown = await pops.build_pop("L3", "1001", {"caller_number": "+8613700000000"})
        assert unknown["customer"] is None and unknown["source"] == "unavailable"
        # Logins: the recent user (right password only); nobody else gets in.
        who = await store.authenticate("alice", "correct horse")
        assert who is not None and who.agent_id == "1001"
        assert await store.authenticate("alice", "wrong") is None
        with pytest.raises(DatabaseUnavailable):
            await store.authenticate("bob", "whatever")

        await db.dispose()
    finally:
        pg.remove()
