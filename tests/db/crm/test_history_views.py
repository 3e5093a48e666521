"""A customer's history rows on both databases: agents' names and who may hear each recorded call
(the agents who handled it, a transfer's second agent too), in a fixed number of queries."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import event

from crm_core.db import Database
from crm_core.models import Interaction, Segment
from crm_core.recordings import Recording
from crm_core.screenpop import history_views
from crm_core.users import create_user

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


async def test_history_rows_name_agents_and_who_may_hear_them(db: Database) -> None:
    async with db.session() as s:
        await create_user(session=s, username="ann", password="ann-pass-123", display_name="Ann Li",
                          agent_id="2001", extension=None)
        calls = [Interaction(linkedid=f"h-{n}", agent_id=agent, started_at=T0) for n, agent in
                 enumerate(("2001", "2002", "2001", None))]
        s.add_all(calls)
        await s.flush()
        s.add(Segment(interaction_id=calls[0].id, seq=1, kind="talk", started_at=T0, agent_id="2003"))
        for lid in ("h-0", "h-1", "h-1"):  # h-1 has two files: one row still
            s.add(Recording(linkedid=lid, path=f"x/{lid}-{len(s.new)}.wav", started_at=T0, pauses=[]))
        await s.commit()
    async with db.session() as s:
        statements: list[str] = []
        engine = s.bind.sync_engine  # type: ignore[union-attr]
        count = lambda *a: statements.append(a[2])  # noqa: E731
        event.listen(engine, "before_cursor_execute", count)
        try:
            rows = await history_views(session=s, calls=calls)
        finally:
            event.remove(engine, "before_cursor_execute", count)
    assert [r["agent_name"] for r in rows] == ["Ann Li", None, "Ann Li", None]  # 2002 is no user
    assert [r["listeners"] for r in rows] == [["2001", "2003"], ["2002"], None, None]
    assert [r["call_id"] for r in rows] == ["h-0", "h-1", "h-2", "h-3"]
    assert len(statements) == 3, statements  # names, recorded calls, their segments: not per row
