"""Every migration, down and up again, keeps the rows the schema of each step still has.

On SQLite, alembic's batch mode re-creates a table (copy, DROP, rename) to drop or change a
column; with ``PRAGMA foreign_keys=ON`` (crm_core.db) the DROP first deletes every row, and
ON DELETE CASCADE / SET NULL reach the children: a downgrade that re-created ``interactions``
deleted every call's segments and unlinked its recordings, one of ``customers`` deleted their
phone numbers and unlinked their calls, cases and callbacks, one of ``users`` ended their session
cut-offs, one of ``webhook_subscribers`` deleted the dead letters. Walked step by step from head
to the first revision and back, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import inspect, text

from crm_core.db import Database
from crm_core.models import Callback, Case, Customer, CustomerPhone, Interaction, Segment, User
from crm_core.recordings import Recording
from crm_core.revisions import alembic_config
from crm_core.users import SessionCutoff
from crm_core.webhooks import WebhookDeadLetter, WebhookSubscriber

T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)

# (table, columns read back): each row as the test wrote it, for as long as its table and columns exist.
WATCHED: dict[str, tuple[str, ...]] = {
    "users": ("id", "username"),
    "session_cutoffs": ("user_id",),
    "customers": ("id", "name"),
    "customer_phones": ("customer_id", "e164"),
    "cases": ("id", "customer_id", "owner_id"),
    "interactions": ("id", "linkedid", "customer_id", "case_id"),
    "interaction_segments": ("interaction_id", "seq"),
    "recordings": ("interaction_id", "path"),
    "callbacks": ("customer_id", "case_id"),
    "webhook_subscribers": ("id", "name"),
    "webhook_dead_letters": ("subscriber_id", "cursor"),
}


async def _write(db: Database) -> None:
    async with db.session() as s:
        user = User(username="agent9", password_hash="x", agent_id="1099")
        customer = Customer(name="张伟", account_number="AC-1")
        sub = WebhookSubscriber(name="erp", url="https://erp.example/hook", secret="s", created_by="admin",
                                created_at=1.0)
        s.add_all([user, customer, sub])
        await s.flush()
        case = Case(subject="invoice", customer_id=customer.id, owner_id=user.id)
        s.add_all([case, SessionCutoff(user_id=user.id, valid_after=1.0),
                   CustomerPhone(customer_id=customer.id, e164="+8613800138000"),
                   WebhookDeadLetter(subscriber_id=sub.id, cursor=7, type="call.ended", body="{}", attempts=3,
                                     last_error="503", failed_at=2.0)])
        await s.flush()
        call = Interaction(linkedid="1790000000.1", started_at=T0, customer_id=customer.id, case_id=case.id,
                           agent_id="1099", queue="support")
        s.add(call)
        await s.flush()
        s.add_all([Segment(interaction_id=call.id, seq=0, kind="queue", started_at=T0),
                   Segment(interaction_id=call.id, seq=1, kind="talk", started_at=T0, agent_id="1099"),
                   Recording(linkedid=call.linkedid, interaction_id=call.id, path="2026/03/01/a.wav", started_at=T0)])
        s.add(Callback(customer_id=customer.id, case_id=case.id, number="+8613800138000", due_at=T0))


def _read(conn: Any) -> dict[str, list[tuple[Any, ...]]]:
    found = inspect(conn)
    tables = set(found.get_table_names())
    rows: dict[str, list[tuple[Any, ...]]] = {}
    for table, wanted in WATCHED.items():
        if table not in tables:
            continue
        have = {c["name"] for c in found.get_columns(table)}
        cols = [c for c in wanted if c in have]
        listed = ", ".join(cols)
        rows[table] = [tuple(r) for r in conn.execute(text(f"SELECT {listed} FROM {table} ORDER BY {listed}"))]
    return rows


def _revisions() -> list[str]:
    from alembic.script import ScriptDirectory

    return [r.revision for r in ScriptDirectory.from_config(alembic_config()).walk_revisions()]  # head first


async def test_every_step_down_and_up_keeps_the_rows(db: Database) -> None:
    from alembic import command

    await _write(db)
    async with db.engine.connect() as conn:
        at_head = await conn.run_sync(_read)
    assert all(at_head[t] for t in WATCHED), at_head  # the test wrote a row in every table it watches
    revisions = _revisions()

    dropped: set[str] = set()  # tables a downgrade dropped: their rows are gone by design

    def expected(now: dict[str, list[tuple[Any, ...]]]) -> dict[str, list[tuple[Any, ...]]]:
        dropped.update(t for t in WATCHED if t not in now)
        return {t: [] if t in dropped else [r[:len(now[t][0])] if now[t] else r for r in at_head[t]] for t in now}

    steps = [(command.downgrade, r) for r in revisions[1:]] + [(command.upgrade, r) for r in revisions[-2::-1]]
    for step, target in steps:  # down to the first revision, one at a time, then up again to head
        async with db.engine.begin() as conn:
            await conn.run_sync(lambda c, step=step, target=target: step(alembic_config(c), target))
        async with db.engine.connect() as conn:
            now = await conn.run_sync(_read)
        assert now == expected(now), (step.__name__, target)
