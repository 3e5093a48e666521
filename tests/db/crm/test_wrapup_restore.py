"""Wrap-ups journaled while the database was away, replayed into a database restored from a
backup: one that names a case the backup lacks (opened after it) can never be written. It used to
be retried forever, in order, holding every later wrap-up in the journal behind it (none reached
the database, and each restart tried again). It is set aside, kept whole in a file beside the
journal and logged, and the ones after it are written."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest
from sqlalchemy import func, select

from acd.delivery import AcdService
from acd.model import QueueConfig
from acd.routing import Router
from agent_console.desk import EngineDesk
from crm_core.audit import AuditEntry
from crm_core.db import Database
from crm_core.models import Case
from crm_core.wrapups import APPLIED
from cti.ami.control import FakeCallControl
from cti.bus import InProcessBus


def _wrap(linkedid: str, case: dict[str, object] | None) -> dict[str, object]:
    return {"agent_id": "1001", "linkedid": linkedid, "customer_id": None, "queue": "support", "notes": "n",
            "case": case, "callback": None, "reached": True, "at": 1_800_000_000.0}


async def test_a_wrap_up_the_restored_database_cannot_take_does_not_hold_the_others(
        db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    journal = tmp_path / "wrapup-journal.jsonl"
    lines = [{"kind": "wrapup", "key": "wrapup:1001:L-1",
              "fields": _wrap("L-1", {"id": 4242, "subject": None, "status": "resolved", "priority": None})},
             {"kind": "wrapup", "key": "wrapup:1001:L-3",  # a customer the backup lacks either
              "fields": {**_wrap("L-3", {"id": None, "subject": "Refund", "status": None, "priority": None}),
                         "customer_id": 777, "notes": "card ends 4417"}},
             {"kind": "wrapup", "key": "wrapup:1001:L-2",
              "fields": _wrap("L-2", {"id": None, "subject": "Broken router", "status": None, "priority": "high"})}]
    journal.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    bus = InProcessBus()
    desk = EngineDesk(AcdService(Router([QueueConfig(name="support")]), FakeCallControl(), bus), db, bus,
                      journal=journal)
    desk.journal.retry_delays_s = (0.01,)
    caplog.set_level(logging.ERROR, logger="crm_core.journal")
    await desk.journal.start()
    try:
        for _ in range(500):
            if not desk.journal.waiting:
                break
            await asyncio.sleep(0.01)
        async with db.session() as s:
            subjects = list(await s.scalars(select(Case.subject)))
            applied = list(await s.scalars(select(AuditEntry.target).where(AuditEntry.action == APPLIED)))
    finally:
        await desk.journal.stop()
    assert subjects == ["Broken router"] and applied == ["wrapup:1001:L-2"]
    assert journal.read_text(encoding="utf-8") == ""
    set_aside = journal.with_name("wrapup-journal.rejected.jsonl")
    rejected = [json.loads(line) for line in set_aside.read_text(encoding="utf-8").splitlines()]
    assert [r["key"] for r in rejected] == ["wrapup:1001:L-1", "wrapup:1001:L-3"]
    assert [r["fields"] for r in rejected] == [lines[0]["fields"], lines[1]["fields"]]
    assert "4242" in rejected[0]["error"]
    assert "wrapup:1001:L-1" in caplog.text and "wrapup-journal.rejected.jsonl" in caplog.text
    assert "4417" not in caplog.text and "4417" not in "".join(r["error"] for r in rejected)  # no row data
    assert oct(set_aside.stat().st_mode & 0o777) == "0o600"
    async with db.session() as s:
        assert await s.scalar(select(func.count()).select_from(Case)) == 1
