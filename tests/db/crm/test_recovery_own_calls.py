"""Which call on an agent's phone a restarted engine takes back as their own outbound call (SQLite and
PostgreSQL): only one whose interaction, opened by the engine that dialled, is that agent's outbound
call, with their leg and a customer's leg up. A call on their phone the CRM does not know as theirs
(a SIP phone's call of its own, placed while no engine ran; another agent's) is left alone: the
agent on "outbound" is only watched until their phone is free (``recovery_agents.restore``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from acd.delivery import AcdService
from acd.model import QueueConfig
from acd.recovery import ChannelFacts, RecoveryPlan
from acd.routing import Router
from callcenter.recovery_agents import LastState
from callcenter.recovery_own_calls import own_calls_of
from crm_core.db import Database
from crm_core.models import Interaction
from cti.ami.control import FakeCallControl
from cti.bus import InProcessBus

OUT = LastState("not_ready", "outbound", own_call=True, back_to="lunch")


@pytest.fixture
async def bus() -> AsyncIterator[InProcessBus]:
    b = InProcessBus()
    await b.start()
    yield b
    await b.stop()


def _call(lid: str, agent: str, *, up: bool = True) -> list[ChannelFacts]:
    """The agent's simulated phone's two halves and the customer's leg, bridged with the ;1 half."""
    return [ChannelFacts(f"Local/{agent}@cti-sim-phone-0000000{agent[-1]};1", lid, "cti-external", up, 1_000.0,
                         bridge_id="B-" + lid if up else None),
            ChannelFacts(f"Local/{agent}@cti-sim-phone-0000000{agent[-1]};2", lid, "cti-sim-phone", up, 1_000.0),
            ChannelFacts(f"PJSIP/carrier-{lid}", lid, "cti-external", up, 1_001.0,
                         bridge_id="B-" + lid if up else None)]


async def test_only_the_agents_own_outbound_call_is_taken_back(db: Database, bus: InProcessBus) -> None:
    at = datetime.fromtimestamp(1_000.0, UTC)
    async with db.session() as s:
        s.add_all([Interaction(linkedid="L-own", direction="outbound", agent_id="1002", dialled_number="8613800138000",
                               started_at=at, answered_at=at),
                   Interaction(linkedid="L-other", direction="outbound", agent_id="1009", started_at=at),
                   Interaction(linkedid="L-in", direction="inbound", agent_id="1004", started_at=at)])
        await s.commit()
    acd = AcdService(Router([QueueConfig("support")]), FakeCallControl(), bus)
    for agent in ("1002", "1003", "1004", "1005", "1006"):
        await acd.agent_login(agent, {}, ["support"])
    facts = [*_call("L-own", "1002"), *_call("L-other", "1003"), *_call("L-in", "1004"), *_call("L-none", "1005"),
             *_call("L-ringing", "1006", up=False)]
    last = {a: OUT for a in ("1002", "1003", "1004", "1005", "1006")}
    found = await own_calls_of(acd, db, last, facts, RecoveryPlan())
    assert found == {"1002": ("L-own", True), "1003": ("L-other", False), "1004": ("L-in", False),
                     "1005": ("L-none", False), "1006": ("L-ringing", False)}
    assert set(acd.calls) == {"L-own"}
    call = acd.calls["L-own"]
    assert (call.direction, call.agent_id, call.agent_channel, call.caller_channel, call.caller_number,
            call.answered_at) == ("outbound", "1002", "Local/1002@cti-sim-phone-00000002;1", "PJSIP/carrier-L-own",
                                  "8613800138000", 1_000.0)
