"""A restarted engine gives its agents back longest idle first (SQLite and PostgreSQL): the first
agent made ready takes the first caller waiting, and the router's idle order (longest idle first)
follows the order they are made ready in, so recovery makes the agents who were available before
the restart ready in the order they became available (their rows' times; a change of their phone's
reachability alone is no new idle start), the others after them. Before, it went by each agent's
first row in the history (their login): an agent who had just finished a call took the caller from
one idle for an hour."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any, cast

import pytest

from acd.calls import LiveCall
from acd.delivery import AcdService
from acd.model import AgentState, QueueConfig
from acd.routing import Router
from callcenter.recovery import Recovery
from crm_core.agent_log import state_key, write_state_once
from crm_core.db import Database
from cti.ami.control import FakeCallControl
from cti.bus import InProcessBus

NOW = 1_800_000_000.0


@pytest.fixture
async def bus() -> AsyncIterator[InProcessBus]:
    b = InProcessBus()
    await b.start()
    yield b
    await b.stop()


async def _write(db: Database, rows: list[tuple[str, str, str | None, float, bool]]) -> None:
    async with db.session() as s:
        for agent_id, state, reason, at, reachable in rows:
            await write_state_once(s, state_key(agent_id, state, at, reachable),
                                   {"agent_id": agent_id, "state": state, "reason": reason, "at": at,
                                    "phone_reachable": reachable})
            await s.flush()
        await s.commit()


async def test_recovery_makes_the_longest_idle_agent_ready_first(db: Database, bus: InProcessBus) -> None:
    t = NOW - 4 * 3600
    await _write(db, [
        ("1001", "not_ready", "login", t, True),  # 1001 logged in first ...
        ("1002", "not_ready", "login", t + 60, True),
        ("1002", "available", None, t + 120, True),  # ... 1002 idle since t + 120 (its phone blinked since)
        ("1003", "not_ready", "login", t + 90, True),
        ("1003", "wrap_up", None, t + 100, True),  # wrapping up at the restart: ready from the restart on
        ("1002", "available", None, t + 3000, False), ("1002", "available", None, t + 3010, True),
        ("1001", "available", None, t + 3500, True),  # ... 1001 idle only since its last call
    ])
    acd = AcdService(Router([QueueConfig("support")]), FakeCallControl(), bus, clock=lambda: NOW)
    acd.subscribe()
    await acd.enqueue(LiveCall("W1", "PJSIP/carrier-1", "+8613900000001", "support"))  # waiting through the restart

    async def login(agent_id: str) -> None:
        await acd.agent_login(agent_id, {}, ["support"])

    model = SimpleNamespace(calls=lambda: [])
    recovery = Recovery(acd=acd, model=cast(Any, model), control=FakeCallControl(), db=db, bus=bus, login=login,
                        clock=lambda: NOW)
    report = await recovery.run()
    assert report.agents == {"1001": "available", "1002": "available", "1003": "available"}
    assert acd.calls["W1"].agent_id == "1002"  # was 1001 (the first logged in)
    # The idle order after it: 1001 (available before the restart) before 1003 (wrapping up then).
    await acd.enqueue(LiveCall("W2", "PJSIP/carrier-2", "+8613900000002", "support"))
    assert acd.calls["W2"].agent_id == "1001"
    assert acd.agent_state("1003") is AgentState.AVAILABLE
