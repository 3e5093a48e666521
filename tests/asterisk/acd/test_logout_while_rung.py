"""An agent whose phone rings with a queue call logs out, on a real Asterisk 22: the ringing stops
at their phone, the offer is withdrawn (not a miss) and the caller, still on the line, goes to the
next agent, who answers. It was refused before (409: no transition from reserved on logout)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from acd.calls import AgentPhone, LiveCall
from acd.events import AgentOfferWithdrawn
from acd.model import AgentState, QueueConfig
from cti.ami.bridge import AmiBridge
from cti.journey import AgentRingNoAnswer, CallConnected, QueueLeft
from cti.pbx import ManagedPbx

from .test_delivery import place_caller, until
from .test_transfers import Rig, _rig, _stop


@pytest.fixture
async def rig(pbx: ManagedPbx) -> AsyncIterator[Rig]:
    r = await _rig(pbx, [QueueConfig(name="support", wrap_up_s=2.0, ring_timeout_s=20.0)])
    try:
        yield r
    finally:
        await _stop(pbx, r)


def _rings(bridge: AmiBridge, agent: str) -> bool:
    return any(c.name.startswith(f"Local/{agent}@cti-sim-phone-") for call in bridge.model.calls() for c in call.live)


async def test_an_agent_who_logs_out_while_rung_passes_the_caller_to_the_next_agent(rig: Rig) -> None:
    service, bridge, rec = rig
    # 1001's simulated phone would answer after 30 s: it rings meanwhile.
    await service.agent_login("1001", {}, ["support"], phone=AgentPhone("1001", answer_after_s=30.0), ready=True)
    channel = await place_caller(bridge, "13200132090")
    linkedid = bridge.model.channel(channel).linkedid  # type: ignore[union-attr]
    await service.enqueue(LiveCall(linkedid=linkedid, caller_channel=channel, caller_number="13200132090",
                                   queue="support"))
    await until(lambda: service.router.agent("1001").state is AgentState.RESERVED, what="1001 rung")
    await until(lambda: _rings(bridge, "1001"), what="1001's phone ringing")
    await service.agent_logout("1001")
    assert service.agent_state("1001") is AgentState.LOGGED_OUT
    await until(lambda: not _rings(bridge, "1001"), what="1001's phone no longer ringing")
    withdrawn = await until(lambda: [e for e in rec.of(AgentOfferWithdrawn) if e.agent_id == "1001"])
    assert [(e.linkedid, e.reason) for e in withdrawn] == [(linkedid, "withdrawn")]
    assert not rec.of(AgentRingNoAnswer)  # not a miss
    assert linkedid in service.router.waiting("support")  # the caller waits again, on the line
    assert bridge.model.channel(channel) is not None
    await service.agent_login("1002", {}, ["support"], phone=AgentPhone("1002", answer_after_s=0.3), ready=True)
    connected = await until(lambda: [e for e in rec.of(CallConnected) if e.linkedid == linkedid])
    assert [e.agent_id for e in connected] == ["1002"]
    await until(lambda: (p := bridge.model.bridged_peer(channel)) is not None
                and p.name.startswith("Local/1002@cti-sim-phone-"), what="the caller bridged with 1002")
    assert not [e for e in rec.of(QueueLeft) if e.linkedid == linkedid and e.reason == "abandoned"]
