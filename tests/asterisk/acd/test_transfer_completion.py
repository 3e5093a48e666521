"""Completing an attended transfer to an agent on a real Asterisk 22 the very instant the consulted
agent answers: the caller ends up with the consulted agent, and Asterisk keeps none of the call's
channels once it ends."""

from __future__ import annotations

import asyncio

from acd.calls import AgentPhone, LiveCall
from acd.model import AgentState, QueueConfig
from cti.pbx import ManagedPbx
from tests.helpers import channels

from .test_delivery import until
from .test_transfers import Rig, _connected_call, _rig, _stop


def _ours(pbx: ManagedPbx, legs: set[str]) -> list[str]:
    """Asterisk's channels that belong to ``legs``: a Local channel's other half and a
    "Surrogate/<name>" Asterisk may leave behind when an AMI Bridge yanks a channel count too."""
    bases = {leg.rsplit(";", 1)[0] for leg in legs}
    return [c.name for c in channels(pbx) if any(base in c.name for base in bases)]


async def _round(pbx: ManagedPbx, r: Rig, i: int, completing: list[asyncio.Task[None]]) -> None:
    service, bridge, _ = r
    linkedid, channel = await _connected_call(r, f"132001321{i:02d}", login=i == 0)
    agent_leg = service.calls[linkedid].agent_channel
    assert agent_leg
    await service.set_ready("1002")  # not before: the caller would have gone to 1002
    await service.actions.transfer(linkedid, target_kind="agent", target="1002", kind="attended")
    await until(lambda: len(completing) == i + 1, what=f"round {i}: the consultation answered")
    await completing[i]  # the completion raised nothing
    target_leg = await until(lambda: (c := service.calls.get(linkedid)) is not None and c.agent_id == "1002"
                             and c.agent_channel, what=f"round {i}: 1002 holds the call")
    await until(lambda: (p := bridge.model.bridged_peer(channel)) is not None and p.name == target_leg,
                what=f"round {i}: the caller talks to 1002")
    await until(lambda: service.router.agent("1001").state is AgentState.AVAILABLE,
                what=f"round {i}: agent 1001 free again")
    await until(lambda: (ch := bridge.model.channel(agent_leg)) is None or ch.ended_at is not None,
                what=f"round {i}: the first agent's leg gone")
    await bridge.control.hangup(channel)
    legs = {channel, agent_leg, target_leg}
    try:
        await until(lambda: not _ours(pbx, legs), what=f"round {i}: none of the round's channels left")
    except AssertionError as err:
        raise AssertionError(f"{err}: {_ours(pbx, legs)} (legs {sorted(legs)})") from None
    await until(lambda: not [c for c in bridge.model.calls() if c.live], what=f"round {i}: no call left")
    await until(lambda: service.router.agent("1002").state is AgentState.AVAILABLE,
                what=f"round {i}: agent 1002 free again")
    await service.set_not_ready("1002", "break")


async def test_an_attended_transfer_to_an_agent_completed_the_instant_they_answer(pbx: ManagedPbx) -> None:
    """The transferring agent hangs up (completes the transfer) the instant the consulted agent's
    phone answers -- before cti-consult-connect's Bridge() may have joined the two agents -- 25
    times: each time the caller ends up talking to the consulted agent, who holds the call, and
    once the caller hangs up Asterisk has none of the round's channels left. (The completion's AMI
    Bridge used to yank the target's leg out of its own Bridge() while that pulled the agent's leg;
    about one round in 40, Asterisk then kept the caller's yanked original,
    "Surrogate/Local/s@cti-queue-...;2", for good.)"""
    r = await _rig(pbx, [QueueConfig(name="support", wrap_up_s=0.0, ring_timeout_s=5.0)])
    service = r[0]
    completing: list[asyncio.Task[None]] = []
    answered = service.consultations.answered

    async def answered_then_complete(consult: LiveCall, now: float) -> None:
        await answered(consult, now)
        # The console's Hang up, sent as the consulted agent's answer reaches the transferring one.
        completing.append(asyncio.create_task(service.actions.hangup(consult.linkedid)))

    service.consultations.answered = answered_then_complete  # type: ignore[method-assign]
    try:
        await service.agent_login("1002", {}, ["support"], phone=AgentPhone("1002", answer_after_s=0.0))
        for i in range(25):
            await _round(pbx, r, i, completing)
    finally:
        await _stop(pbx, r)
