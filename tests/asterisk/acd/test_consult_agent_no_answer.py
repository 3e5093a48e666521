"""An attended transfer to an agent whose phone rings out, on a real Asterisk 22: the ACD takes the
caller back to the transferring agent (their same leg, talking again), and the update that does so
says why (``detail.consult_ended``: no_answer, the agent consulted), so that the console tells the
agent calmly instead of showing them Talking with no word (tests/browser/console/test_error_language.py
shows the console's side)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from acd.calls import AgentPhone
from acd.events import AgentCallUpdate
from acd.model import AgentState, QueueConfig
from cti.journey import AgentRingNoAnswer, CallTransferred
from cti.pbx import ManagedPbx

from .test_delivery import until
from .test_transfers import Rig, _connected_call, _rig, _stop


@pytest.fixture
async def rig(pbx: ManagedPbx) -> AsyncIterator[Rig]:
    r = await _rig(pbx, [QueueConfig(name="support", wrap_up_s=2.0, ring_timeout_s=3.0)])
    try:
        yield r
    finally:
        await _stop(pbx, r)


async def test_a_consulted_agent_who_does_not_answer_sends_the_caller_back_saying_so(rig: Rig) -> None:
    service, bridge, rec = rig
    linkedid, channel = await _connected_call(rig, "13200132081")
    agent_leg = service.calls[linkedid].agent_channel
    assert agent_leg
    # 1002's simulated phone would answer after 30 s: the 3 s ring gives up first.
    await service.agent_login("1002", {}, ["support"], phone=AgentPhone("1002", answer_after_s=30.0), ready=True)
    await service.actions.transfer(linkedid, target_kind="agent", target="1002", kind="attended")
    assert service.calls[linkedid].status == "consulting"
    await until(lambda: [e for e in rec.of(AgentRingNoAnswer) if e.agent_id == "1002"], what="1002's ring given up")
    back = await until(lambda: [e for e in rec.of(AgentCallUpdate)
                                if e.agent_id == "1001" and e.linkedid == linkedid and e.status == "talking"
                                and (e.detail or {}).get("consult_ended")], what="1001's call talking again")
    assert back[0].detail["consult_ended"] == {"reason": "no_answer", "target_kind": "agent", "target": "1002"}
    # The engine and Asterisk agree: the caller talks with the agent's same leg again; nothing was transferred.
    await until(lambda: (p := bridge.model.bridged_peer(channel)) is not None and p.name == agent_leg,
                what="the caller bridged with 1001's leg again")
    call = service.calls[linkedid]
    assert (call.status, call.agent_id, call.consult, call.consult_target) == ("talking", "1001", None, None)
    assert service.router.agent("1001").state is AgentState.ON_CALL
    assert not rec.of(CallTransferred)
