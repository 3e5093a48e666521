"""The ends nobody clicks, on a real Asterisk 22: during an attended transfer or the conference made
from it, a party's own phone (or the far end of a number) hangs up instead of anyone using the
console. The ACD notices and does what the console's buttons would have done."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator

import pytest

from acd.calls import AgentPhone
from acd.errors import AcdError
from acd.events import AgentCallUpdate, AgentOffer, AgentStateChanged, ConsultationAnswered, ConsultationEnded
from acd.model import AgentState, QueueConfig
from cti.journey import CallConnected, CallTransferred, HoldEnded
from cti.pbx import ManagedPbx
from tests.helpers import channels

from .test_delivery import until
from .test_transfers import Rig, _connected_call, _rig, _stop, _together


@pytest.fixture
async def rig(pbx: ManagedPbx) -> AsyncIterator[Rig]:
    r = await _rig(pbx, [QueueConfig(name="support", wrap_up_s=2.0, ring_timeout_s=5.0)])
    try:
        yield r
    finally:
        await _stop(pbx, r)


def _other_half(leg: str) -> str:
    """The far half of a Local channel: the simulated phone (or the number's dial) its ;1 half rings."""
    return leg.removesuffix(";1") + ";2"


def _alive(rig: Rig, name: str) -> bool:
    ch = rig[1].model.channel(name)
    return ch is not None and ch.ended_at is None


def _context(pbx: ManagedPbx, channel: str) -> str | None:
    """The dialplan context ``channel`` runs in now, as Asterisk lists it."""
    return next((c.context for c in channels(pbx) if c.name == channel), None)


def _wrapped_up(rig: Rig, agent: str) -> bool:
    return any(isinstance(e, AgentStateChanged) and e.agent_id == agent and e.state == "wrap_up"
               for e in rig[2].events)


async def _consulting_a_number(rig: Rig, number: str, target: str) -> tuple[str, str, str, str]:
    """Agent 1001 talks to a caller, then consults ``target`` (a number that answers): returns the
    linkedid and the caller's, the agent's and the consultation's legs, the two agents' legs bridged."""
    service, bridge, _ = rig
    linkedid, channel = await _connected_call(rig, number)
    agent_leg = service.calls[linkedid].agent_channel
    assert agent_leg
    await service.actions.transfer(linkedid, target_kind="number", target=target, kind="attended")
    target_leg = service.calls[linkedid].consult_channel
    assert target_leg
    await until(lambda: (p := bridge.model.bridged_peer(agent_leg)) and p.name == target_leg,
                what="the agent talking to the third party")
    return linkedid, channel, agent_leg, target_leg


async def _consulting_an_agent(rig: Rig, number: str) -> tuple[str, str, str, str]:
    """As ``_consulting_a_number``, the consulted party agent 1002 (a simulated phone)."""
    service, bridge, rec = rig
    linkedid, channel = await _connected_call(rig, number)
    agent_leg = service.calls[linkedid].agent_channel
    assert agent_leg
    await service.agent_login("1002", {}, ["support"], phone=AgentPhone("1002", answer_after_s=0.5), ready=True)
    await service.actions.transfer(linkedid, target_kind="agent", target="1002", kind="attended")
    target_leg = await until(lambda: service.calls[linkedid].consult_channel, what="1002 answering")
    await until(lambda: (p := bridge.model.bridged_peer(agent_leg)) and p.name == target_leg,
                what="the two agents talking")
    await until(lambda: [e.agent_id for e in rec.of(ConsultationAnswered)] == ["1002"])
    return linkedid, channel, agent_leg, target_leg


async def _back_with_the_caller(rig: Rig, linkedid: str, channel: str, agent_leg: str) -> None:
    """The caller talks to the transferring agent again, on the agent's same leg, and their console
    was told (a ``talking`` update after the ``consulting`` one)."""
    service, bridge, rec = rig
    await until(lambda: (p := bridge.model.bridged_peer(channel)) is not None and p.name == agent_leg,
                what="the caller bridged with the agent's leg again")
    assert _alive(rig, agent_leg)
    call = service.calls[linkedid]
    assert (call.status, call.agent_id, call.consult_channel, call.consult) == ("talking", "1001", None, None)
    updates = [e.status for e in rec.of(AgentCallUpdate) if e.agent_id == "1001" and e.linkedid == linkedid]
    assert updates[-2:] == ["consulting", "talking"]
    assert service.router.agent("1001").state is AgentState.ON_CALL


async def test_a_third_party_hanging_up_during_the_consultation_puts_the_caller_back_with_the_agent(
        rig: Rig) -> None:
    """The number consulted hangs up (its far end: the phone that was called): the agent is back
    with the caller without clicking Back to caller. It used to stay ``consulting``, the caller on
    hold and the agent's leg parked in silence, until the agent clicked."""
    linkedid, channel, agent_leg, target_leg = await _consulting_a_number(rig, "13200132040", "8610560")
    await rig[1].control.hangup(_other_half(target_leg))
    await _back_with_the_caller(rig, linkedid, channel, agent_leg)
    await until(lambda: not _alive(rig, target_leg), what="the consultation's leg gone")


async def test_the_consultation_leg_hung_up_on_the_pbx_puts_the_caller_back_with_the_agent(rig: Rig) -> None:
    """The consultation's own leg (the one bridged with the agent's) hung up on the PBX (AMI Hangup):
    the same, and the agent's leg is not taken down with it."""
    linkedid, channel, agent_leg, target_leg = await _consulting_a_number(rig, "13200132041", "8610561")
    await rig[1].control.hangup(target_leg)
    await _back_with_the_caller(rig, linkedid, channel, agent_leg)
    # The agent can go on: a second consultation, cancelled, and the call is theirs to end.
    service = rig[0]
    await service.actions.transfer(linkedid, target_kind="number", target="8610562", kind="attended")
    second = service.calls[linkedid].consult_channel
    assert second and second != target_leg
    await until(lambda: (p := rig[1].model.bridged_peer(agent_leg)) and p.name == second)
    await service.actions.cancel_consult(linkedid)
    await until(lambda: (p := rig[1].model.bridged_peer(channel)) is not None and p.name == agent_leg)
    assert service.calls[linkedid].status == "talking"


async def test_a_consulted_agent_whose_phone_hangs_up_during_the_consultation_is_free_at_once(rig: Rig) -> None:
    """The consulted agent's phone hangs up while the two agents talk: the caller is back with the
    transferring agent, the consultation ends (``target_hung_up``) and the consulted agent, who only
    talked with a colleague, is available at once, as after their console's Hang up (no wrap-up)."""
    service = rig[0]
    linkedid, channel, agent_leg, target_leg = await _consulting_an_agent(rig, "13200132042")
    await rig[1].control.hangup(_other_half(target_leg))  # 1002's phone
    await _back_with_the_caller(rig, linkedid, channel, agent_leg)
    await until(lambda: [(e.agent_id, e.reason) for e in rig[2].of(ConsultationEnded)] == [("1002", "target_hung_up")])

    def closed() -> list[str]:
        return [e.status for e in rig[2].of(AgentCallUpdate) if e.agent_id == "1002" and e.linkedid == linkedid]

    await until(lambda: closed()[-1:] == ["closed"], what="the consultation closed on 1002's console")
    assert "ended" not in closed()  # nothing to wrap up
    await until(lambda: service.router.agent("1002").state is AgentState.AVAILABLE, what="1002 available")
    assert not _wrapped_up(rig, "1002")  # straight from on_call: no wrap_up state, not even for an instant
    assert service.agent_call("1002", linkedid) is None
    assert service.router.agent("1001").state is AgentState.ON_CALL


async def test_the_transferring_agents_phone_hanging_up_in_the_conference_hands_the_call_on(rig: Rig) -> None:
    """In a conference with a number, the transferring agent's own phone hangs up (not the console's
    Hang up): as the console's Hang up, the caller and the third party talk on and the agent wraps
    up. It used to be ignored: the call stayed ``conference``, the agent on it."""
    service, bridge, rec = rig
    linkedid, channel, agent_leg, target_leg = await _consulting_a_number(rig, "13200132043", "86950043")
    await service.actions.conference(linkedid)
    await until(functools.partial(_together, bridge, (channel, agent_leg, target_leg)), what="the three together")
    await bridge.control.hangup(_other_half(agent_leg))  # 1001's phone
    await until(lambda: _wrapped_up(rig, "1001"), what="1001 wrapping up")
    assert linkedid not in service.calls or service.calls[linkedid].agent_id != "1001"
    await until(lambda: [(e.kind, e.target) for e in rec.of(CallTransferred)] == [("attended", "86950043")])
    assert _together(bridge, (channel, target_leg))
    await bridge.control.hangup(channel)
    await until(lambda: not _alive(rig, target_leg), what="the third party's leg gone with the caller")


async def test_the_transferring_agents_phone_hanging_up_hands_the_conference_to_the_consulted_agent(
        rig: Rig) -> None:
    """The same with a consulted agent: the call becomes theirs (their consultation ``transferred``)."""
    service, bridge, rec = rig
    linkedid, channel, agent_leg, target_leg = await _consulting_an_agent(rig, "13200132044")
    await service.actions.conference(linkedid)
    await until(functools.partial(_together, bridge, (channel, agent_leg, target_leg)), what="the three together")
    await bridge.control.hangup(_other_half(agent_leg))  # 1001's phone
    await until(lambda: _wrapped_up(rig, "1001"), what="1001 wrapping up")
    await until(lambda: (c := service.calls.get(linkedid)) is not None and c.agent_id == "1002",
                what="1002 holding the call")
    assert [(e.agent_id, e.reason) for e in rec.of(ConsultationEnded)] == [("1002", "transferred")]
    assert service.router.agent("1002").state is AgentState.ON_CALL
    assert _together(bridge, (channel, target_leg))
    await bridge.control.hangup(channel)
    await until(lambda: _wrapped_up(rig, "1002"), what="1002 wrapping up")


async def test_the_transferring_agents_phone_hanging_up_after_the_third_party_left_ends_the_call(
        rig: Rig) -> None:
    """The third party left the conference, then the transferring agent's phone hangs up: as their
    console's Hang up then, the call ends (the caller is not left alone in the conference)."""
    service, bridge, rec = rig
    linkedid, channel, agent_leg, target_leg = await _consulting_a_number(rig, "13200132045", "86950045")
    await service.actions.conference(linkedid)
    await until(functools.partial(_together, bridge, (channel, agent_leg, target_leg)), what="the three together")
    await bridge.control.hangup(_other_half(target_leg))  # the third party hangs up
    await until(lambda: service.calls[linkedid].consult_channel is None, what="the third party gone")
    await bridge.control.hangup(_other_half(agent_leg))  # then 1001's phone
    await until(lambda: _wrapped_up(rig, "1001"), what="1001 wrapping up")
    await until(lambda: not _alive(rig, channel), what="the caller hung up")
    assert not rec.of(CallTransferred)


async def test_the_transferring_agents_phone_hanging_up_during_the_consultation_completes_the_transfer(
        rig: Rig) -> None:
    """The transferring agent's own phone hangs up while they talk with the number they consulted:
    as a desk phone (and the console's Hang up) does, the caller and the third party are connected
    and the agent wraps up. It used to hang up the third party and leave the caller on hold, the
    call ``consulting``, with nobody."""
    service, bridge, rec = rig
    linkedid, channel, agent_leg, target_leg = await _consulting_a_number(rig, "13200132046", "86950046")
    await bridge.control.hangup(_other_half(agent_leg))  # 1001's phone
    await until(functools.partial(_together, bridge, (channel, target_leg)), what="the caller with the third party")
    await until(lambda: _wrapped_up(rig, "1001"), what="1001 wrapping up")
    assert [(e.kind, e.target, e.from_agent) for e in rec.of(CallTransferred)] == [("attended", "86950046", "1001")]
    assert linkedid not in service.calls or service.calls[linkedid].agent_id != "1001"
    # The caller hanging up after that completed transfer ends the third party's leg at once, and
    # is no agent's phone leaving a consultation: nothing more is transferred.
    await bridge.control.hangup(channel)
    await until(lambda: not _alive(rig, target_leg), what="the third party's leg gone with the caller")
    assert len(rec.of(CallTransferred)) == 1


async def test_the_transferring_agents_phone_hanging_up_hands_the_consultation_to_the_consulted_agent(
        rig: Rig) -> None:
    """The same with a consulted agent who answered: the call becomes theirs (their consultation
    ``transferred``), the transferring agent wraps up; the caller hanging up later ends it."""
    service, bridge, rec = rig
    linkedid, channel, agent_leg, target_leg = await _consulting_an_agent(rig, "13200132047")
    await bridge.control.hangup(_other_half(agent_leg))  # 1001's phone
    await until(functools.partial(_together, bridge, (channel, target_leg)), what="the caller talking to 1002")
    await until(lambda: _wrapped_up(rig, "1001"), what="1001 wrapping up")
    await until(lambda: (c := service.calls.get(linkedid)) is not None and c.agent_id == "1002",
                what="1002 holding the call")
    assert [(e.agent_id, e.reason) for e in rec.of(ConsultationEnded)] == [("1002", "transferred")]
    assert service.router.agent("1002").state is AgentState.ON_CALL
    await bridge.control.hangup(channel)
    await until(lambda: _wrapped_up(rig, "1002"), what="1002 wrapping up")
    await until(lambda: not _alive(rig, target_leg), what="1002's leg gone with the caller")
    assert len(rec.of(CallTransferred)) == 1


def _live_names(rig: Rig) -> list[str]:
    return [ch.name for c in rig[1].model.calls() for ch in c.live]


async def _consultation_ringing(rig: Rig, number: str, target_kind: str, target: str) -> tuple[
        str, str, str, asyncio.Task[None]]:
    """Agent 1001 talks to a caller, then consults ``target``, which rings: the caller held in
    cti-hold and 1001's leg parked in cti-park-agent, as the engine holds them. Returns the linkedid,
    the caller's and the agent's legs and the transfer's task (a number's returns once it answers).
    An agent target logs in once 1001 has the call (a simulated phone answering after 3 s)."""
    service, _, _ = rig
    linkedid, channel = await _connected_call(rig, number)
    agent_leg = service.calls[linkedid].agent_channel
    assert agent_leg
    if target_kind == "agent":
        await service.agent_login(target, {}, ["support"], phone=AgentPhone(target, answer_after_s=3.0), ready=True)
    transfer = asyncio.create_task(service.actions.transfer(linkedid, target_kind=target_kind, target=target,
                                                            kind="attended"))
    await until(lambda: service.calls[linkedid].status == "consulting", what="the consultation on")
    return linkedid, channel, agent_leg, transfer


async def test_the_transferring_agents_phone_hanging_up_while_the_number_rings_puts_the_caller_back_in_queue(
        rig: Rig, pbx: ManagedPbx) -> None:
    """The transferring agent's phone hangs up while the number consulted still rings: nobody to
    hand the caller to yet, nobody to go back to. The ringing stops, the agent wraps up, and the
    caller waits in the queue again at its place, for the next agent. It used to stay on hold with
    nobody, the call ``consulting``."""
    service, bridge, rec = rig
    linkedid, channel, agent_leg, transfer = await _consultation_ringing(rig, "13200132048", "number", "86990048")
    await until(lambda: any("86990048" in n for n in _live_names(rig)), what="the number ringing")
    await bridge.control.hangup(_other_half(agent_leg))  # 1001's phone
    await until(lambda: (c := service.calls.get(linkedid)) is not None and c.status == "queued",
                what="the caller waiting in the queue again")
    # Waiting as the queue's callers do, in cti-queue, whose music also watches the engine's
    # heartbeat (an engine that dies then sends it on to cti-engine-down), not in cti-hold.
    await until(lambda: _context(pbx, channel) == "cti-queue", what="the caller on cti-queue's music")
    await until(lambda: _wrapped_up(rig, "1001"), what="1001 wrapping up")
    await until(lambda: not any("86990048" in n for n in _live_names(rig)), what="the number no longer rung")
    with pytest.raises(AcdError, match="hung up"):
        await asyncio.wait_for(transfer, 20)
    assert not rec.of(CallTransferred)
    await service.agent_login("1002", {}, ["support"], phone=AgentPhone("1002", answer_after_s=0.3), ready=True)
    await until(lambda: [e.agent_id for e in rec.of(CallConnected) if e.linkedid == linkedid] == ["1001", "1002"],
                what="the caller answered by 1002")
    await until(lambda: (p := bridge.model.bridged_peer(channel)) is not None and "1002" in p.name,
                what="the caller talking to 1002")


async def test_the_transferring_agents_phone_hanging_up_while_the_consulted_agent_rings_puts_the_caller_back(
        rig: Rig) -> None:
    """The same while a consulted agent's phone rings: their ringing stops (the consultation ends
    unanswered), and the caller, back in the queue ahead of later callers, goes to the next agent
    free -- here the very agent who was consulted."""
    _, bridge, rec = rig
    linkedid, channel, agent_leg, transfer = await _consultation_ringing(rig, "13200132049", "agent", "1002")
    await until(lambda: [e.agent_id for e in rec.of(AgentOffer)][-1:] == ["1002"], what="1002 rung")
    await bridge.control.hangup(_other_half(agent_leg))  # 1001's phone
    await until(lambda: _wrapped_up(rig, "1001"), what="1001 wrapping up")
    await asyncio.wait_for(transfer, 20)  # an agent's consultation is queued for them: it returned at once
    await until(lambda: [e.agent_id for e in rec.of(CallConnected) if e.linkedid == linkedid] == ["1001", "1002"],
                what="the caller answered by 1002")
    await until(lambda: (p := bridge.model.bridged_peer(channel)) is not None and "1002" in p.name,
                what="the caller talking to 1002")
    assert not rec.of(ConsultationAnswered) and not rec.of(CallTransferred)


async def test_the_agents_phone_hanging_up_with_the_caller_on_hold_puts_the_caller_back_in_queue(
        rig: Rig, pbx: ManagedPbx) -> None:
    """A plain hold (no consultation): the agent's phone hangs up while the caller is on hold. The
    agent's part ends (wrap-up) and the caller waits in the queue again at its place, on cti-queue's
    music, for the next agent. It used to stay on hold's music with nobody, the call ``held``."""
    service, bridge, rec = rig
    linkedid, channel = await _connected_call(rig, "13200132050")
    agent_leg = service.calls[linkedid].agent_channel
    assert agent_leg
    await service.actions.hold(linkedid)
    await until(lambda: _context(pbx, channel) == "cti-hold", what="the caller on hold")
    await bridge.control.hangup(_other_half(agent_leg))  # 1001's phone
    await until(lambda: (c := service.calls.get(linkedid)) is not None and c.status == "queued",
                what="the caller waiting in the queue again")
    await until(lambda: _context(pbx, channel) == "cti-queue", what="the caller on cti-queue's music")
    await until(lambda: _wrapped_up(rig, "1001"), what="1001 wrapping up")
    await service.agent_login("1002", {}, ["support"], phone=AgentPhone("1002", answer_after_s=0.3), ready=True)
    await until(lambda: [e.agent_id for e in rec.of(CallConnected) if e.linkedid == linkedid] == ["1001", "1002"],
                what="the caller answered by 1002")
    await until(lambda: (p := bridge.model.bridged_peer(channel)) is not None and "1002" in p.name,
                what="the caller talking to 1002")


async def test_back_to_caller_while_the_number_rings_hangs_up_that_ring(rig: Rig) -> None:
    """Back to caller while the number consulted still rings: its ring is hung up at once (it used to
    ring on until the trunk's dial timeout, and then 'did not answer' took the caller back a second
    time), the caller talks with the agent again, and the transfer says it was cancelled."""
    service, bridge, rec = rig
    linkedid, channel, agent_leg, transfer = await _consultation_ringing(rig, "13200132051", "number", "86990051")
    await until(lambda: any("86990051" in n for n in _live_names(rig)), what="the number ringing")
    await service.actions.cancel_consult(linkedid)
    await until(lambda: (p := bridge.model.bridged_peer(channel)) is not None and p.name == agent_leg,
                what="the caller bridged with the agent's leg again")
    await until(lambda: not any("86990051" in n for n in _live_names(rig)), what="the number no longer rung")
    with pytest.raises(AcdError, match="cancelled"):
        await asyncio.wait_for(transfer, 20)
    call = service.calls[linkedid]
    assert (call.status, call.agent_id, call.consult_channel, call.consult_ring) == ("talking", "1001", None, None)
    assert len([e for e in rec.of(HoldEnded) if e.linkedid == linkedid]) == 1
    assert (p := bridge.model.bridged_peer(channel)) is not None and p.name == agent_leg
