"""A restarted engine still prefers the agent who last served a customer (SQLite and PostgreSQL): the
ACD's memory of it (``AcdService.remember_agent``, kept for ``preferred_window_s``: an hour) lives
in the engine only, so recovery fills it again from the interactions answered within that window.
Before, it started empty: a customer calling back a minute after the restart went to whichever
agent was idle longest, not to the one they had just talked to."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

import pytest

from acd.calls import LiveCall
from acd.delivery import AcdService
from acd.model import QueueConfig
from acd.routing import Router
from callcenter.recovery import Recovery
from crm_core.agent_log import state_key, write_state_once
from crm_core.db import Database
from crm_core.models import Customer, Interaction
from cti.ami.control import FakeCallControl
from cti.bus import InProcessBus

NOW = 1_800_000_000.0


@pytest.fixture
async def bus() -> AsyncIterator[InProcessBus]:
    b = InProcessBus()
    await b.start()
    yield b
    await b.stop()


def _at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)  # as the call logger writes times


async def test_the_agent_who_served_a_customer_last_is_preferred_after_a_restart(
        db: Database, bus: InProcessBus) -> None:
    async with db.session() as s:
        wang, li = Customer(name="Wang"), Customer(name="Li")
        s.add_all([wang, li])
        await s.flush()
        s.add_all([
            # Wang talked to 1002 ten minutes before the restart (and to 1001 before that).
            Interaction(linkedid="W-old", direction="inbound", customer_id=wang.id, agent_id="1001",
                        started_at=_at(NOW - 1500), answered_at=_at(NOW - 1490), ended_at=_at(NOW - 1400)),
            Interaction(linkedid="W-last", direction="inbound", customer_id=wang.id, agent_id="1002",
                        started_at=_at(NOW - 610), answered_at=_at(NOW - 600), ended_at=_at(NOW - 500)),
            # Li talked to 1002 two hours ago: past the window, no preference.
            Interaction(linkedid="L-old", direction="inbound", customer_id=li.id, agent_id="1002",
                        started_at=_at(NOW - 7210), answered_at=_at(NOW - 7200), ended_at=_at(NOW - 7100)),
            # 1002 dialled Li: an outbound call is no "served them" for inbound routing.
            Interaction(linkedid="L-out", direction="outbound", customer_id=li.id, agent_id="1002",
                        started_at=_at(NOW - 300), answered_at=_at(NOW - 290), ended_at=_at(NOW - 200)),
        ])
        for agent_id, at in (("1001", NOW - 3000), ("1002", NOW - 100)):  # 1001 idle longest
            await write_state_once(s, state_key(agent_id, "available", at),
                                   {"agent_id": agent_id, "state": "available", "reason": None, "at": at})
        await s.commit()
        wang_id, li_id = wang.id, li.id
    acd = AcdService(Router([QueueConfig("support")]), FakeCallControl(), bus, clock=lambda: NOW)
    acd.subscribe()

    async def login(agent_id: str) -> None:
        await acd.agent_login(agent_id, {}, ["support"])

    recovery = Recovery(acd=acd, model=cast(Any, SimpleNamespace(calls=lambda: [])), control=FakeCallControl(),
                        db=db, bus=bus, login=login, clock=lambda: NOW)
    await recovery.run()
    # Wang's last agent; none for Li (that answer is past the window, the later call was outbound).
    assert (acd._last_agent.get(wang_id, NOW), acd._last_agent.get(li_id, NOW)) == ("1002", None)
    await acd.enqueue(LiveCall("W1", "PJSIP/carrier-1", "+8613900000001", "support", customer_id=wang_id))
    assert acd.calls["W1"].agent_id == "1002"  # was 1001, idle longest
    await acd.enqueue(LiveCall("L1", "PJSIP/carrier-2", "+8613900000002", "support", customer_id=li_id))
    assert acd.calls["L1"].agent_id == "1001"
