"""The agent state history keeps whether the agent's phone was reachable (migration 0016), on
SQLite and PostgreSQL: a reachability change is a row of its own, and a row journaled before the
column existed reads as reachable."""

from __future__ import annotations

from crm_core.agent_log import state_key, states_between, write_state_once
from crm_core.db import Database


async def test_phone_reachability_rows_are_kept_apart_and_default_to_reachable(db: Database) -> None:
    rows = [("available", 100.0, True), ("available", 200.0, False), ("available", 200.0, False),
            ("available", 300.0, True)]
    async with db.session() as s:
        for state, at, reachable in rows:
            await write_state_once(s, state_key("1001", state, at, reachable),
                                   {"agent_id": "1001", "state": state, "reason": None, "at": at,
                                    "phone_reachable": reachable})
            await s.flush()
        # journaled by an engine that did not record reachability yet: no such field
        await write_state_once(s, state_key("1001", "not_ready", 400.0),
                               {"agent_id": "1001", "state": "not_ready", "reason": "break", "at": 400.0})
        await s.commit()
    async with db.session() as s:
        got = [(r.state, r.at, r.phone_reachable) for r in await states_between(session=s, since=0, until=1000)]
    assert got == [("available", 100.0, True), ("available", 200.0, False), ("available", 300.0, True),
                   ("not_ready", 400.0, True)]
    assert state_key("1001", "available", 200.0, False) != state_key("1001", "available", 200.0)
