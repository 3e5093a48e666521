"""The statement histogram (``agent_console.metrics``) on the engine's own database, SQLite and
PostgreSQL: every statement is timed under its kind, through the session and ``Database.run``, and
a statement the database refuses raises as it would without metrics."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from agent_console.metrics import EngineMetrics
from crm_core import customers
from crm_core.db import Database
from crm_core.schemas import CustomerIn, PhoneIn


def _counts(metrics: EngineMetrics) -> dict[str, float]:
    return {s.labels["op"]: s.value for fam in text_string_to_metric_families(metrics.render().decode())
            for s in fam.samples if s.name == "cti_db_statement_duration_seconds_count"}


async def test_statements_are_timed_by_kind_and_a_refused_one_raises_as_before(db: Database) -> None:
    metrics = EngineMetrics()
    metrics.watch_database(*db.statement_engines)
    async with db.session() as s:
        made = await customers.create_customer(session=s, data=CustomerIn(
            name="Timed Caller", phones=[PhoneIn(number="13800138000")]))
    before = _counts(metrics)
    assert before.get("insert", 0) >= 2  # the customer and its phone
    async with db.session() as s:
        names = (await s.execute(text("SELECT name FROM customers WHERE id = :id"), {"id": made.id})).scalars().all()
    assert names == ["Timed Caller"]
    assert await db.run(lambda c: c.execute(text("SELECT count(*) FROM customer_phones")).scalar()) == 1
    async with db.engine.connect() as conn:
        with pytest.raises(DBAPIError):
            await conn.execute(text("SELECT * FROM no_such_table"))
    after = _counts(metrics)
    assert after["select"] == before.get("select", 0) + 2  # the refused one is not timed
    assert after["insert"] == before["insert"]
