"""``?callback_id=`` of the call log's list (crm_core.interactions): a virtual-hold callback's calls
carry the callback they serve (``interactions.callback_id``, migration 0022); an integrator joins
request -> callback -> call by it, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crm_core import interactions
from crm_core.db import Database
from crm_core.models import Interaction

T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)


async def test_the_calls_of_one_callback_and_no_other(db: Database) -> None:
    async with db.session() as s:
        s.add_all([
            Interaction(linkedid="first.1", started_at=T0, queue="support", agent_id="1001"),  # the caller's call
            Interaction(linkedid="cb.1", started_at=T0 + timedelta(minutes=5), queue="support", agent_id="1001",
                        direction="outbound", callback_id="first.1"),
            Interaction(linkedid="cb.2", started_at=T0 + timedelta(minutes=9), queue="support", agent_id="1002",
                        direction="outbound", callback_id="first.1"),  # a second attempt
            Interaction(linkedid="web.1", started_at=T0 + timedelta(minutes=7), queue="sales", agent_id="1002",
                        direction="outbound", callback_id="web-4f2a"),
        ])
    async with db.session() as s:
        items, total = await interactions.list_interactions(session=s, callback_id="first.1")
        assert (total, [i.linkedid for i in items]) == (2, ["cb.2", "cb.1"])
        items, total = await interactions.list_interactions(session=s, callback_id="web-4f2a", agent_id="1002")
        assert (total, [i.linkedid for i in items]) == (1, ["web.1"])
        _, total = await interactions.list_interactions(session=s, callback_id="first.1", queues={"sales"})
        assert total == 0  # a supervisor's queues still apply
        _, total = await interactions.list_interactions(session=s, callback_id="web-nope")
        assert total == 0
        _, total = await interactions.list_interactions(session=s)
        assert total == 4  # no filter: every call, those of no callback too
