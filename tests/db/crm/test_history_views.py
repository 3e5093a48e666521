"""A customer's history rows on both databases: agents' names and who may hear each recorded call
(the agents who handled it, a transfer's second agent too), in one query, and one more only when a
row was recorded (the screen pop reads this for every known caller)."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event

from crm_core.db import Database
from crm_core.models import Customer, Interaction, Segment
from crm_core.recordings import Recording
from crm_core.screenpop import customer_history
from crm_core.users import create_user

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


Rows = list[dict[str, Any]]


async def _counted(db: Database, read: Callable[[Any], Awaitable[Rows]]) -> tuple[Rows, int]:
    async with db.session() as s:
        statements: list[str] = []
        engine = s.bind.sync_engine  # type: ignore[union-attr]
        count = lambda *a: statements.append(a[2])  # noqa: E731
        event.listen(engine, "before_cursor_execute", count)
        try:
            rows = await read(s)
        finally:
            event.remove(engine, "before_cursor_execute", count)
    return rows, len(statements)


async def test_history_rows_name_agents_and_who_may_hear_them(db: Database) -> None:
    async with db.session() as s:
        await create_user(session=s, username="ann", password=secrets.token_urlsafe(12), display_name="Ann Li",
                          agent_id="2001", extension=None)
        await create_user(session=s, username="bob", password=secrets.token_urlsafe(12), display_name="",
                          agent_id="2004", extension=None)
        customer, other = Customer(name="Wu Fang"), Customer(name="Someone Else")
        s.add_all([customer, other])
        await s.flush()
        calls = [Interaction(linkedid=f"h-{n}", agent_id=agent, customer_id=customer.id,
                             started_at=T0 - timedelta(minutes=n))
                 for n, agent in enumerate(("2001", "2002", "2001", None, "2004"))]
        s.add_all([*calls, Interaction(linkedid="h-other", agent_id="2001", customer_id=other.id, started_at=T0)])
        await s.flush()
        s.add(Segment(interaction_id=calls[0].id, seq=1, kind="talk", started_at=T0, agent_id="2003"))
        for lid in ("h-0", "h-1", "h-1"):  # h-1 has two files: one row still
            s.add(Recording(linkedid=lid, path=f"x/{lid}-{len(s.new)}.wav", started_at=T0, pauses=[]))
        await s.commit()
        cid = customer.id

    rows, statements = await _counted(db, lambda s: customer_history(session=s, customer_id=cid, limit=10))
    assert [r["call_id"] for r in rows] == ["h-0", "h-1", "h-2", "h-3", "h-4"]  # the latest first
    assert [r["agent_name"] for r in rows] == ["Ann Li", None, "Ann Li", None, "bob"]  # 2002 is no user
    assert [r["listeners"] for r in rows] == [["2001", "2003"], ["2002"], None, None, None]
    assert statements == 2  # the rows with names and "recorded", then the recorded rows' segments

    rows, _ = await _counted(db, lambda s: customer_history(session=s, customer_id=cid, limit=2, leave_out="h-0"))
    assert [r["call_id"] for r in rows] == ["h-1", "h-2"]  # the pop leaves its own call out
    rows, statements = await _counted(db, lambda s: customer_history(session=s, customer_id=other.id))
    assert [(r["call_id"], r["listeners"]) for r in rows] == [("h-other", None)]
    assert statements == 1  # nothing recorded: no second query
