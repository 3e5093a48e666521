"""Transfers, consultations and conferences on a real Asterisk 22, the way agents expect them:
a transfer to an agent goes through the ACD (the target is reserved and popped, the note travels),
a named agent is waited for, a consultation can be cancelled or turned into a three-way call."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator

import pytest

from acd.calls import AgentPhone, LiveCall
from acd.delivery import AcdService
from acd.errors import AcdError
from acd.events import AgentOffer, AgentOfferWithdrawn, ConsultationAnswered, ConsultationEnded
from acd.model import AgentState, LimitKind, LimitSpec, QueueConfig
from acd.routing import Router
from cti.ami.bridge import AmiBridge
from cti.ami.events import ConferenceLeft
from cti.bus import InProcessBus
from cti.events import Event
from cti.journey import CallConnected, CallTransferred
from cti.pbx import ManagedPbx
from tests.helpers import hang_up_all

from .test_delivery import Recorder, beat_for, place_caller, stop_beating, until

Rig = tuple[AcdService, AmiBridge, Recorder]


async def _rig(pbx: ManagedPbx, queues: list[QueueConfig]) -> Rig:
    bus = InProcessBus()
    rec = Recorder()
    bus.subscribe(Event, rec, name="recorder")
    bridge = AmiBridge(pbx.settings, bus)
    service = AcdService(Router(queues), bridge.control, bus, tick_s=0.1,
                         live_channels=lambda: [ch.name for c in bridge.model.calls() for ch in c.live],
                         device_state=bridge.model.device_state)
    service.subscribe()
    await bus.start()
    await bridge.start()
    await bridge.wait_connected(10)
    beat_for(pbx, bridge)
    await service.start()
    return service, bridge, rec


async def _stop(pbx: ManagedPbx, rig: Rig) -> None:
    service, bridge, _ = rig
    await hang_up_all(pbx, bridge.model)
    await service.stop()
    await stop_beating(bridge)
    await bridge.stop()
    await service.bus.stop()  # type: ignore[attr-defined]


@pytest.fixture
async def rig(pbx: ManagedPbx) -> AsyncIterator[Rig]:
    r = await _rig(pbx, [QueueConfig(name="support", wrap_up_s=2.0, ring_timeout_s=5.0)])
    try:
        yield r
    finally:
        await _stop(pbx, r)


async def _connected_call(rig: Rig, number: str, agent: str = "1001", *, login: bool = True) -> tuple[str, str]:
    """A caller talking to ``agent`` (a simulated phone); returns (linkedid, caller channel)."""
    service, bridge, rec = rig
    if login:
        await service.agent_login(agent, {}, ["support"], phone=AgentPhone(agent, answer_after_s=0.3), ready=True)
    channel = await place_caller(bridge, number)
    linkedid = bridge.model.channel(channel).linkedid  # type: ignore[union-attr]
    await service.enqueue(LiveCall(linkedid=linkedid, caller_channel=channel, caller_number=number,
                                   queue="support", customer_id=42))
    await until(lambda: [e for e in rec.of(CallConnected) if e.linkedid == linkedid])
    await until(lambda: bridge.model.bridged_peer(channel))  # the agent's leg has pulled the caller in
    return linkedid, channel


async def test_attended_transfer_to_an_agent_reserves_and_pops_the_target(rig: Rig) -> None:
    service, bridge, rec = rig
    linkedid, channel = await _connected_call(rig, "13200132001")
    await service.agent_login("1002", {}, ["support"], phone=AgentPhone("1002", answer_after_s=1.0), ready=True)
    await service.actions.set_attributes(linkedid, tags=["vip"], values={"order": "A-17"})
    await service.actions.transfer(linkedid, target_kind="agent", target="1002", kind="attended",
                                   note="wants a refund for A-17")
    # The ACD reserved the target: its phone rings as an ACD offer, with the pop and the note.
    assert service.router.agent("1002").state is AgentState.RESERVED
    offer = await until(lambda: [e for e in rec.of(AgentOffer) if e.agent_id == "1002"])
    assert offer[0].linkedid == linkedid and offer[0].pop is not None
    assert offer[0].pop["transfer"]["from_agent"] == "1001"
    assert offer[0].pop["transfer"]["note"] == "wants a refund for A-17"
    assert offer[0].pop["transfer"]["tags"] == ["vip"]
    assert offer[0].pop["transfer"]["attributes"]["order"] == "A-17"
    # While 1002 is busy with the consultation, another caller is not offered to them.
    other = await place_caller(bridge, "13200132002")
    other_id = bridge.model.channel(other).linkedid  # type: ignore[union-attr]
    await service.enqueue(LiveCall(linkedid=other_id, caller_channel=other, caller_number="13200132002",
                                   queue="support"))
    assert other_id in service.router.waiting("support")
    # The target answers and talks to the first agent; the caller waits on hold.
    await until(lambda: service.router.agent("1002").state is AgentState.ON_CALL)
    agent_leg = service.calls[linkedid].agent_channel
    target_leg = await until(lambda: service.calls[linkedid].consult_channel)
    assert target_leg.startswith("Local/1002@cti-sim-phone-")
    await until(lambda: (p := bridge.model.bridged_peer(agent_leg)) and p.name == target_leg)  # type: ignore[arg-type]
    mine = service.agent_call("1002", linkedid)  # the target's console sees the consultation
    assert mine is not None and mine.status == "consulting" and mine.router_id is not None
    # The consultation is 1002's work on the caller's call (docs/kpis.md): the call log hears of it.
    (answered,) = await until(lambda: rec.of(ConsultationAnswered))
    assert (answered.linkedid, answered.agent_id, answered.from_agent) == (linkedid, "1002", "1001")
    assert not rec.of(ConsultationEnded)
    # The first agent hangs up: the caller is with 1002, who now holds the call in the ACD.
    await service.actions.hangup(linkedid)
    await until(lambda: (p := bridge.model.bridged_peer(channel)) and p.name == target_leg)
    await until(lambda: service.router.agent("1001").state is AgentState.WRAP_UP)
    assert service.calls[linkedid].agent_id == "1002" and service.calls[linkedid].status == "talking"
    await until(lambda: [e.agent_id for e in rec.of(CallConnected) if e.linkedid == linkedid] == ["1001", "1002"])
    assert [(e.agent_id, e.reason) for e in rec.of(ConsultationEnded)] == [("1002", "transferred")]
    assert service.calls[linkedid].tags == ["vip"]
    # The caller leaves: the target wraps up its call.
    await bridge.control.hangup(channel)
    await until(lambda: service.router.agent("1002").state is AgentState.WRAP_UP)
    assert service.agent_call("1002", linkedid) is not None


async def test_blind_transfer_to_a_named_agent_waits_for_that_agent(rig: Rig) -> None:
    service, bridge, rec = rig
    linkedid, channel = await _connected_call(rig, "13200132003")
    await service.agent_login("1002", {}, ["support"], phone=AgentPhone("1002", answer_after_s=0.3))  # not ready
    await service.agent_login("1003", {}, ["support"], phone=AgentPhone("1003", answer_after_s=0.3), ready=True)
    with pytest.raises(AcdError, match="not logged in"):
        await service.actions.transfer(linkedid, target_kind="agent", target="1009")
    assert service.calls[linkedid].agent_id == "1001"  # a failed transfer leaves the call where it was
    await service.actions.transfer(linkedid, target_kind="agent", target="1002", note="billing question")
    await until(lambda: linkedid in service.router.waiting("support"), what="the call waiting again")
    assert service.router.call(linkedid).pinned
    await asyncio.sleep(1.0)  # bounds the check that the router's ticks offer it to no one else
    assert service.router.agent("1003").state is AgentState.AVAILABLE  # not "any agent"
    await service.set_ready("1002")
    connected = await until(lambda: [e for e in rec.of(CallConnected) if e.agent_id != "1001"])
    assert connected[0].agent_id == "1002"
    assert not [e for e in rec.of(AgentOffer) if e.agent_id == "1003"]  # never, from the transfer to 1002's answer
    peer = await until(lambda: bridge.model.bridged_peer(channel))
    assert peer.name.startswith("Local/1002@cti-sim-phone-")
    offer = next(e for e in rec.of(AgentOffer) if e.agent_id == "1002")
    assert offer.pop is not None and offer.pop["transfer"]["note"] == "billing question"


async def test_ami_dropping_while_the_phone_rings_withdraws_the_offer_without_blame(rig: Rig) -> None:
    service, bridge, rec = rig
    await service.agent_login("1001", {}, ["support"], phone=AgentPhone("1001", answer_after_s=3.0), ready=True)
    channel = await place_caller(bridge, "13200132004")
    linkedid = bridge.model.channel(channel).linkedid  # type: ignore[union-attr]
    await service.enqueue(LiveCall(linkedid=linkedid, caller_channel=channel, caller_number="13200132004",
                                   queue="support"))
    await until(lambda: [ch for c in bridge.model.calls() for ch in c.live if ch.name.startswith("Local/1001@")])
    await asyncio.sleep(0.3)
    bridge.client.drop_connection()  # the pending Originate fails with AmiUnavailable
    withdrawn = await until(lambda: rec.of(AgentOfferWithdrawn), timeout_s=10)
    assert withdrawn[0].reason == "error"
    # AMI comes back, the call is offered again at the head and answered; never "missed".
    connected = await until(lambda: rec.of(CallConnected), timeout_s=20)
    assert connected[0].agent_id == "1001" and connected[0].linkedid == linkedid
    states = [(e.state, e.reason) for e in rec.events if getattr(e, "agent_id", None) == "1001"
              and type(e).__name__ == "AgentStateChanged"]
    assert ("not_ready", "missed") not in states
    peer = await until(lambda: bridge.model.bridged_peer(channel))
    assert peer.name.startswith("Local/1001@cti-sim-phone-")


async def test_cancel_consultation_returns_to_the_caller(rig: Rig) -> None:
    service, bridge, _ = rig
    linkedid, channel = await _connected_call(rig, "13200132005")
    agent_leg = service.calls[linkedid].agent_channel
    await service.actions.transfer(linkedid, target_kind="number", target="8610556", kind="attended")
    target_leg = service.calls[linkedid].consult_channel
    assert target_leg
    await until(lambda: (p := bridge.model.bridged_peer(agent_leg)) and p.name == target_leg)  # type: ignore[arg-type]
    await service.actions.cancel_consult(linkedid)
    await until(lambda: (p := bridge.model.bridged_peer(channel)) and p.name == agent_leg)
    await until(lambda: bridge.model.channel(target_leg) is None or bridge.model.channel(target_leg).ended_at)  # type: ignore[union-attr]
    assert service.calls[linkedid].status == "talking" and service.calls[linkedid].consult_channel is None
    # A consultation of an agent who does not answer can be cancelled while it rings: no "missed".
    await service.agent_login("9002", {}, ["support"], phone=AgentPhone("9002"), ready=True)
    await service.actions.transfer(linkedid, target_kind="agent", target="9002", kind="attended")
    await until(lambda: [ch for c in bridge.model.calls() for ch in c.live if ch.name.startswith("Local/9002@")])
    await service.actions.cancel_consult(linkedid)
    assert service.router.agent("9002").state is AgentState.AVAILABLE
    await until(lambda: (p := bridge.model.bridged_peer(channel)) and p.name == agent_leg)
    assert service.calls[linkedid].status == "talking"
    await until(lambda: not [ch for c in bridge.model.calls() for ch in c.live if ch.name.startswith("Local/9002@")])


async def test_three_way_conference_then_the_agent_leaves(rig: Rig) -> None:
    service, bridge, rec = rig
    linkedid, channel = await _connected_call(rig, "13200132006")
    agent_leg = service.calls[linkedid].agent_channel
    assert agent_leg
    await service.actions.transfer(linkedid, target_kind="number", target="8610557", kind="attended")
    target_leg = service.calls[linkedid].consult_channel
    assert target_leg
    await until(lambda: (p := bridge.model.bridged_peer(agent_leg)) and p.name == target_leg)
    await service.actions.conference(linkedid)

    def together(*names: str) -> bool:
        chans = [bridge.model.channel(n) for n in names]
        ids = {c.bridge_id for c in chans if c is not None}
        return len(ids) == 1 and None not in ids and all(c is not None for c in chans)

    try:
        await until(lambda: together(channel, agent_leg, target_leg))
    except AssertionError:
        print("DEBUG", [(n, bridge.model.channel(n)) for n in (channel, agent_leg, target_leg)])
        print("DEBUG", rig[0].calls[linkedid])
        raise
    assert service.calls[linkedid].status == "conference"
    # The agent leaves: caller and third party talk on; the agent wraps up.
    await service.actions.hangup(linkedid)
    await until(lambda: service.router.agent("1001").state is AgentState.WRAP_UP)
    await until(lambda: (ch := bridge.model.channel(agent_leg)) is None or ch.ended_at is not None,
                what="the agent's leg gone")
    await until(lambda: together(channel, target_leg), what="the caller and the third party together")
    # To the journey, leaving a conference is an attended transfer to the third party.
    assert [(e.kind, e.target) for e in rec.of(CallTransferred)] == [("attended", "8610557")]
    # The caller leaves: the conference ends, the third party's leg goes too.
    await bridge.control.hangup(channel)
    await until(lambda: (ch := bridge.model.channel(target_leg)) is None or ch.ended_at is not None)


async def test_hangup_limit_plays_its_announcement_first(pbx: ManagedPbx) -> None:
    """The limit action ``hangup`` with an announcement: the caller hears it, then is hung up."""
    queue = QueueConfig(name="support", max_length=0,
                        max_length_action=LimitSpec(LimitKind.HANGUP, "queue-thankyou"))
    r = await _rig(pbx, [queue])
    service, bridge, _ = r
    try:
        channel = await place_caller(bridge, "13200132007")
        linkedid = bridge.model.channel(channel).linkedid  # type: ignore[union-attr]
        t0 = time.monotonic()
        await service.enqueue(LiveCall(linkedid=linkedid, caller_channel=channel, caller_number="13200132007",
                                       queue="support"))
        # The call model keeps a channel's first context; the CLI tells where it runs now.
        await until(lambda: "cti-announce-hangup" in pbx.cli(f"core show channel {channel}"), timeout_s=5)
        await until(lambda: (ch := bridge.model.channel(channel)) is None or ch.ended_at is not None)
        assert time.monotonic() - t0 > 0.5  # the prompt played before the hang-up
    finally:
        await _stop(pbx, r)


async def test_the_consulted_party_hanging_up_puts_the_caller_back_with_the_agent(rig: Rig) -> None:
    """The agent's Hang up is refused while the consultation has no answered leg; the third party
    hanging up puts the caller back with the agent, on the agent's same leg (more in test_hang_ups.py)."""
    service, bridge, _ = rig
    linkedid, channel = await _connected_call(rig, "13200132008")
    agent_leg = service.calls[linkedid].agent_channel
    assert agent_leg
    await service.actions.transfer(linkedid, target_kind="number", target="8610558", kind="attended")
    target_leg = service.calls[linkedid].consult_channel
    assert target_leg
    await until(lambda: (p := bridge.model.bridged_peer(agent_leg)) and p.name == target_leg)
    with pytest.raises(AcdError):  # hanging up an unanswered agent consultation would drop the caller
        service.calls[linkedid].consult_channel = None
        try:
            await service.actions.hangup(linkedid)
        finally:
            service.calls[linkedid].consult_channel = target_leg
    await bridge.control.hangup(target_leg)  # the third party hangs up on the agent
    await until(lambda: (p := bridge.model.bridged_peer(channel)) and p.name == agent_leg,
                what="the caller back with the agent's leg")
    assert service.calls[linkedid].status == "talking"
    agent = bridge.model.channel(agent_leg)
    assert agent is not None and agent.ended_at is None  # the agent's leg survived


async def test_conference_with_a_consulted_agent_who_then_keeps_the_call(rig: Rig) -> None:
    service, bridge, rec = rig
    linkedid, channel = await _connected_call(rig, "13200132009")
    agent_leg = service.calls[linkedid].agent_channel
    assert agent_leg
    await service.agent_login("1002", {}, ["support"], phone=AgentPhone("1002", answer_after_s=0.5), ready=True)
    await service.actions.transfer(linkedid, target_kind="agent", target="1002", kind="attended", note="3-way")
    target_leg = await until(lambda: service.calls[linkedid].consult_channel)
    await until(lambda: (p := bridge.model.bridged_peer(agent_leg)) and p.name == target_leg)
    await service.actions.conference(linkedid)

    def bridge_of(name: str) -> str | None:
        ch = bridge.model.channel(name)
        return ch.bridge_id if ch is not None else None

    await until(lambda: bridge_of(channel) is not None
                and bridge_of(channel) == bridge_of(agent_leg) == bridge_of(target_leg))
    assert service.agent_call("1002", linkedid).status == "conference"  # type: ignore[union-attr]
    await until(lambda: [e.agent_id for e in rec.of(ConsultationAnswered)] == ["1002"])
    assert not rec.of(ConsultationEnded)
    await service.actions.hangup(linkedid)  # the first agent leaves: 1002 holds the call now
    await until(lambda: service.router.agent("1001").state is AgentState.WRAP_UP)
    assert service.calls[linkedid].agent_id == "1002"
    # The consultation and the conference were 1002's; the call is theirs from here.
    await until(lambda: [(e.agent_id, e.reason) for e in rec.of(ConsultationEnded)] == [("1002", "transferred")])
    assert service.router.agent("1002").state is AgentState.ON_CALL
    await until(lambda: (ch := bridge.model.channel(agent_leg)) is None or ch.ended_at is not None,
                what="the first agent's leg gone")
    await until(lambda: bridge_of(channel) is not None and bridge_of(channel) == bridge_of(target_leg),
                what="the caller and 1002 together")
    await bridge.control.hangup(channel)
    await until(lambda: service.router.agent("1002").state is AgentState.WRAP_UP)


def _together(bridge: AmiBridge, names: tuple[str, ...]) -> bool:
    chans = [bridge.model.channel(n) for n in names]
    ids = {c.bridge_id for c in chans if c is not None}
    return len(ids) == 1 and None not in ids and all(c is not None for c in chans)


async def test_a_consultation_answered_at_once_is_bridged_and_can_be_joined_at_once(pbx: ManagedPbx) -> None:
    """A third party that answers the instant it is called (8695...: no ring) and a conference
    clicked the moment the transfer returns, 25 times: each time the consultation reaches the
    agent's leg, and caller, agent and third party meet in one conference. (The transfer used to
    return on the target's answer, before cti-consult-connect's Bridge() had pulled the agent's
    leg, and to dial the target before the hold had moved that leg out of the caller's bridge: the
    conference's Redirect then broke the Bridge() and the agent's leg was hung up, or the target's
    leg was already gone -- "ExtraChannel does not exist". About one run in five failed.)"""
    r = await _rig(pbx, [QueueConfig(name="support", wrap_up_s=0.0, ring_timeout_s=5.0)])
    service, bridge, _ = r
    try:
        for i in range(25):
            linkedid, channel = await _connected_call(r, f"132001320{i:02d}", login=i == 0)
            call = service.calls[linkedid]
            agent_leg = call.agent_channel
            assert agent_leg
            await service.actions.transfer(linkedid, target_kind="number", target=f"869500{i:02d}", kind="attended")
            target_leg = call.consult_channel
            assert target_leg
            await service.actions.conference(linkedid)

            legs = (channel, agent_leg, target_leg)
            await until(functools.partial(_together, bridge, legs), what=f"round {i}: the three together")
            await service.actions.hangup(linkedid)  # the agent leaves, then the caller
            await until(lambda: service.router.agent("1001").state is AgentState.AVAILABLE,
                        what=f"round {i}: agent 1001 free again")
            await bridge.control.hangup(channel)
            await until(lambda: not [c for c in bridge.model.calls() if c.live], what=f"round {i}: no call left")
    finally:
        await _stop(pbx, r)


async def test_the_caller_leaving_a_conference_ends_the_agents_call(rig: Rig) -> None:
    """The caller (the conference's marked user) hangs up while the agent is still in the
    ConfBridge: the conference ends and the agent wraps up. In the ConfBridge the call's channels
    moved to the consultation's linkedid, so its end comes under that call, with the agent's call
    among the calls folded into it (``CallEnded.merged``)."""
    service, bridge, _ = rig
    linkedid, channel = await _connected_call(rig, "13200132030")
    agent_leg = service.calls[linkedid].agent_channel
    assert agent_leg
    await service.actions.transfer(linkedid, target_kind="number", target="86950030", kind="attended")
    target_leg = service.calls[linkedid].consult_channel
    assert target_leg
    await service.actions.conference(linkedid)
    await until(functools.partial(_together, bridge, (channel, agent_leg, target_leg)))
    await bridge.control.hangup(channel)
    await until(lambda: service.router.agent("1001").state is AgentState.WRAP_UP, what="agent 1001 wrapping up")
    assert linkedid not in service.calls


async def test_a_consulted_agent_who_hangs_up_leaves_the_conference_and_wraps_up(rig: Rig) -> None:
    """In a conference with a consulted agent, that agent's phone hangs up while the caller and the
    transferring agent talk on. The ACD used to miss it: the consulted agent stayed on the call (no
    new call offered) and their consultation ran on in their figures until the caller left. Their
    consultation ends ("left") and they wrap up; the caller stays with the transferring agent, whose
    Hang up then ends the call (there is no one left to hand it to)."""
    service, bridge, rec = rig
    linkedid, channel = await _connected_call(rig, "13200132031")
    agent_leg = service.calls[linkedid].agent_channel
    assert agent_leg
    await service.agent_login("1002", {}, ["support"], phone=AgentPhone("1002", answer_after_s=0.5), ready=True)
    await service.actions.transfer(linkedid, target_kind="agent", target="1002", kind="attended")
    target_leg = await until(lambda: service.calls[linkedid].consult_channel)
    await until(lambda: (p := bridge.model.bridged_peer(agent_leg)) and p.name == target_leg)
    await service.actions.conference(linkedid)
    await until(functools.partial(_together, bridge, (channel, agent_leg, target_leg)))
    await until(lambda: [e.agent_id for e in rec.of(ConsultationAnswered)] == ["1002"])
    phone = target_leg.removesuffix(";1") + ";2"  # the Local channel's other half: 1002's phone
    await bridge.control.hangup(phone)
    await until(lambda: service.router.agent("1002").state is AgentState.WRAP_UP, what="1002 wrapping up")
    assert [(e.agent_id, e.reason) for e in rec.of(ConsultationEnded)] == [("1002", "left")]
    assert service.agent_call("1002", linkedid) is not None  # theirs to wrap up
    # The caller and the transferring agent talk on.
    assert service.router.agent("1001").state is AgentState.ON_CALL
    assert service.calls[linkedid].agent_id == "1001"
    assert _together(bridge, (channel, agent_leg))
    await service.actions.hangup(linkedid)
    await until(lambda: service.router.agent("1001").state is AgentState.WRAP_UP, what="1001 wrapping up")
    await until(lambda: (ch := bridge.model.channel(channel)) is None or ch.ended_at is not None)
    assert not rec.of(CallTransferred)


async def test_a_consulted_agent_who_hangs_up_in_the_console_leaves_the_conference(rig: Rig) -> None:
    """The consulted agent's Hang up in the console during the conference (the consultation's Hang up
    sends the caller back to the transferring agent) was refused ("not consulting"): they leave it,
    wrap up, and the caller and the transferring agent talk on."""
    service, bridge, rec = rig
    linkedid, channel = await _connected_call(rig, "13200132033")
    agent_leg = service.calls[linkedid].agent_channel
    assert agent_leg
    await service.agent_login("1002", {}, ["support"], phone=AgentPhone("1002", answer_after_s=0.5), ready=True)
    await service.actions.transfer(linkedid, target_kind="agent", target="1002", kind="attended")
    target_leg = await until(lambda: service.calls[linkedid].consult_channel)
    await until(lambda: (p := bridge.model.bridged_peer(agent_leg)) and p.name == target_leg)
    await service.actions.conference(linkedid)
    await until(functools.partial(_together, bridge, (channel, agent_leg, target_leg)))
    await service.actions.consulted_hangup(linkedid)
    assert service.router.agent("1002").state is AgentState.WRAP_UP
    await until(lambda: [e for e in rec.of(ConferenceLeft) if e.channel == target_leg], what="their leg's report")
    await asyncio.sleep(0.5)  # bounds the check that their leg's end (ConferenceLeft) changes nothing more
    assert [(e.agent_id, e.reason) for e in rec.of(ConsultationEnded)] == [("1002", "left")]
    assert service.calls[linkedid].agent_id == "1001" and service.calls[linkedid].consult is None
    assert service.router.agent("1001").state is AgentState.ON_CALL
    assert _together(bridge, (channel, agent_leg))


async def test_the_third_party_hanging_up_leaves_the_agent_with_the_caller_whose_hang_up_ends_the_call(
        rig: Rig) -> None:
    """The third party (a number) hangs up in the conference: the caller and the agent talk on. The
    agent's Hang up then used to be a "leave the conference", an attended transfer to the party who
    had gone (the caller left alone in the ConfBridge); it ends the call."""
    service, bridge, rec = rig
    linkedid, channel = await _connected_call(rig, "13200132032")
    agent_leg = service.calls[linkedid].agent_channel
    assert agent_leg
    await service.actions.transfer(linkedid, target_kind="number", target="86950032", kind="attended")
    target_leg = service.calls[linkedid].consult_channel
    assert target_leg
    await service.actions.conference(linkedid)
    await until(functools.partial(_together, bridge, (channel, agent_leg, target_leg)))
    await bridge.control.hangup(target_leg.removesuffix(";1") + ";2")  # the far end hangs up
    await until(lambda: service.calls[linkedid].consult_channel is None, what="the third party gone")
    assert _together(bridge, (channel, agent_leg))
    assert service.router.agent("1001").state is AgentState.ON_CALL
    await service.actions.hangup(linkedid)
    await until(lambda: service.router.agent("1001").state is AgentState.WRAP_UP, what="1001 wrapping up")
    await until(lambda: (ch := bridge.model.channel(channel)) is None or ch.ended_at is not None)
    assert not rec.of(CallTransferred)
