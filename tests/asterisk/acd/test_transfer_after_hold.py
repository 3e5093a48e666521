"""A blind transfer of a call that was on hold, on a real Asterisk 22. Hold parks the agent's leg in
cti-park-agent, whose loop ends the leg only once the held caller's channel is gone; a transfer
moves the caller on with the same channel, so that loop alone kept the agent's leg (their phone)
up, parked, for as long as the caller talked to the number -- and the agent's next dial was
refused: still on their phone (found in an agent's trial of the console)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from acd.model import AgentState, QueueConfig
from cti.journey import CallTransferred, HoldEnded, HoldStarted
from cti.pbx import ManagedPbx
from tests.helpers import channels, playing_music

from .test_delivery import until
from .test_transfers import Rig, _connected_call, _rig, _stop


@pytest.fixture
async def rig(pbx: ManagedPbx) -> AsyncIterator[Rig]:
    r = await _rig(pbx, [QueueConfig(name="support", wrap_up_s=2.0, ring_timeout_s=5.0),
                         QueueConfig(name="billing", wrap_up_s=2.0, ring_timeout_s=5.0)])
    try:
        yield r
    finally:
        await _stop(pbx, r)


def _up(pbx: ManagedPbx, name: str) -> bool:
    return any(c.name == name for c in channels(pbx))


async def _held(rig: Rig, pbx: ManagedPbx, number: str, *, resume: bool) -> tuple[str, str, str]:
    """Agent 1001 talks to a caller, holds it (the agent's leg parked, as the engine holds), and
    with ``resume`` takes it back off hold; returns the linkedid, the caller's and the agent's legs."""
    service, bridge, _ = rig
    linkedid, channel = await _connected_call(rig, number)
    agent_leg = service.calls[linkedid].agent_channel
    assert agent_leg
    await service.actions.hold(linkedid)
    await until(lambda: playing_music(pbx, channel), what="the caller on hold")
    await until(lambda: any(c.name == agent_leg and c.context == "cti-park-agent" for c in channels(pbx)),
                what="the agent's leg parked")
    if resume:
        await service.actions.resume(linkedid)
        await until(lambda: (p := bridge.model.bridged_peer(channel)) is not None and p.name == agent_leg,
                    what="the caller talking to the agent again")
    return linkedid, channel, agent_leg


@pytest.mark.parametrize("resume", [True, False], ids=["held-and-resumed", "still-held"])
async def test_a_blind_transfer_to_a_number_after_hold_ends_the_agents_leg(
        rig: Rig, pbx: ManagedPbx, resume: bool) -> None:
    service, bridge, rec = rig
    linkedid, channel, agent_leg = await _held(rig, pbx, "13200132071", resume=resume)
    await service.actions.transfer(linkedid, target_kind="number", target="86950001")
    await until(lambda: [e.target for e in rec.of(CallTransferred)] == ["86950001"], what="the transfer published")
    await until(lambda: (p := bridge.model.bridged_peer(channel)) is not None and "86950001" in p.name,
                what="the caller talking to the number")
    await until(lambda: not _up(pbx, agent_leg), timeout_s=4, what="the agent's leg hung up")
    await until(lambda: service.router.agent("1001").state is AgentState.WRAP_UP, what="1001 wrapping up")
    assert _up(pbx, channel), "the caller was hung up by the transfer"
    # The hold ended once, at the resume or else with the transfer, just before it was published.
    journey = [type(e).__name__ for e in rec.events if isinstance(e, (HoldStarted, HoldEnded, CallTransferred))
               and getattr(e, "linkedid", None) == linkedid]
    assert journey == ["HoldStarted", "HoldEnded", "CallTransferred"]


async def test_a_blind_transfer_to_a_queue_after_hold_ends_the_agents_leg(rig: Rig, pbx: ManagedPbx) -> None:
    service = rig[0]
    linkedid, channel, agent_leg = await _held(rig, pbx, "13200132072", resume=True)
    await service.actions.transfer(linkedid, target_kind="queue", target="billing")
    await until(lambda: linkedid in service.router.waiting("billing"), what="the caller waiting in billing")
    await until(lambda: not _up(pbx, agent_leg), timeout_s=4, what="the agent's leg hung up")
    assert _up(pbx, channel), "the caller was hung up by the transfer"
