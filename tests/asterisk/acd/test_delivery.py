"""ACD call delivery on a real Asterisk 22: callers wait on music, simulated agent phones ring,
answer and are bridged; ring-no-answer moves on; abandons and wrap-up are honoured."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from acd.calls import AgentPhone, LiveCall
from acd.delivery import AcdService
from acd.model import AgentState, QueueConfig, RoutingStep
from acd.routing import Router
from cti.ami.bridge import AmiBridge
from cti.bus import InProcessBus
from cti.events import Event
from cti.heartbeat import Heartbeat
from cti.journey import AgentRingNoAnswer, CallConnected, CallEnded, CallTransferred, QueueLeft
from cti.pbx import ManagedPbx
from tests.helpers import channels, hang_up_all, playing_music, until


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def __call__(self, ev: Event) -> None:
        self.events.append(ev)

    def of(self, kind: type[Event]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


# The rigs stand in for the engine, so they beat its heartbeat too (cti/heartbeat.py). Without it,
# the session Asterisk's globals are whatever an earlier test left (a stale heartbeat; a 1 s check
# and a 3 s timeout after the recovery tests): cti-queue would send a waiting caller to its fallback,
# and cti-hold take a held caller off hold, in the middle of a test.
_BEATS: dict[int, Heartbeat] = {}


def beat_for(pbx: ManagedPbx, bridge: AmiBridge) -> None:
    beat = Heartbeat(bridge.client.send_action, pbx.settings.resilience)
    beat.start()
    _BEATS[id(bridge)] = beat


async def stop_beating(bridge: AmiBridge) -> None:
    beat = _BEATS.pop(id(bridge), None)
    if beat is not None:
        await beat.stop()


@pytest.fixture
async def acd(pbx: ManagedPbx) -> AsyncIterator[tuple[AcdService, AmiBridge, Recorder]]:
    bus = InProcessBus()
    rec = Recorder()
    bus.subscribe(Event, rec, name="recorder")
    bridge = AmiBridge(pbx.settings, bus)
    queues = [
        QueueConfig(name="support", steps=(RoutingStep(skills={"support": 3}),), wrap_up_s=2.0, ring_timeout_s=3.0),
    ]
    router = Router(queues)
    service = AcdService(router, bridge.control, bus, tick_s=0.1,
                         live_channels=lambda: [ch.name for c in bridge.model.calls() for ch in c.live],
                         device_state=bridge.model.device_state)
    service.subscribe()
    await bus.start()
    await bridge.start()
    await bridge.wait_connected(10)
    beat_for(pbx, bridge)
    await service.start()
    try:
        yield service, bridge, rec
    finally:
        await hang_up_all(pbx, bridge.model)
        await service.stop()
        await stop_beating(bridge)
        await bridge.stop()
        await bus.stop()


async def place_caller(bridge: AmiBridge, number: str) -> str:
    """A caller parked in cti-queue (music on hold); returns the channel that waits there: the ;2 half
    of the Local channel originated (named after the ;1 half the Originate answers with; a name
    found in the call model instead could be a call of an earlier test when the session's Asterisk
    was restarted meanwhile, which numbers its Local channels from 0 again)."""
    result = await bridge.control.originate(
        "Local/s@cti-queue/n", context="cti-sim-caller", exten="s", caller_id=f"<{number}>", timeout_ms=5000)
    assert result.success and result.channel and result.channel.endswith(";1"), result
    name = result.channel.removesuffix(";1") + ";2"
    await until(lambda: (ch := bridge.model.channel(name)) is not None and ch.ended_at is None)
    return name


async def test_caller_reaches_skilled_agent_and_wraps_up(acd: tuple[AcdService, AmiBridge, Recorder]) -> None:
    service, bridge, rec = acd
    await service.agent_login("1001", {"support": 1}, ["support"], phone=AgentPhone("1001", answer_after_s=0.5),
                              ready=True)  # not skilled enough for step 1
    await service.agent_login("1002", {"support": 4}, ["support"], phone=AgentPhone("1002", answer_after_s=0.5),
                              ready=True)
    channel = await place_caller(bridge, "13800138000")
    linkedid = bridge.model.channel(channel).linkedid  # type: ignore[union-attr]
    await service.enqueue(LiveCall(linkedid=linkedid, caller_channel=channel, caller_number="13800138000",
                                   queue="support", customer_id=7))
    connected = await until(lambda: rec.of(CallConnected))
    assert connected[0].agent_id == "1002"
    # Asterisk really bridged the caller with the agent's phone.
    peer = await until(lambda: bridge.model.bridged_peer(channel))
    assert peer.name.startswith("Local/1002@cti-sim-phone-")
    assert service.router.agent("1002").state is AgentState.ON_CALL
    assert service.router.agent("1001").state is AgentState.AVAILABLE
    # The caller hangs up: the call ends and the agent is held back in wrap-up for its timer.
    await bridge.control.hangup(channel)
    await until(lambda: service.router.agent("1002").state is AgentState.WRAP_UP)
    t0 = time.monotonic()
    await until(lambda: service.router.agent("1002").state is AgentState.AVAILABLE, timeout_s=10)
    assert time.monotonic() - t0 > 1.0  # wrap_up_s = 2


async def test_ring_no_answer_moves_on_and_abandon_is_recorded(acd: tuple[AcdService, AmiBridge, Recorder]) -> None:
    service, bridge, rec = acd
    # Extension 9xxx of the simulated phone never answers.
    await service.agent_login("9001", {"support": 5}, ["support"], phone=AgentPhone("9001"), ready=True)
    channel = await place_caller(bridge, "13900139000")
    linkedid = bridge.model.channel(channel).linkedid  # type: ignore[union-attr]
    await service.enqueue(LiveCall(linkedid=linkedid, caller_channel=channel, caller_number="13900139000",
                                   queue="support"))
    await until(lambda: rec.of(AgentRingNoAnswer), timeout_s=15)
    assert service.router.agent("9001").state is AgentState.NOT_READY
    assert service.router.agent("9001").reason == "missed"
    await service.agent_login("1003", {"support": 3}, ["support"], phone=AgentPhone("1003", answer_after_s=0.3),
                              ready=True)
    connected = await until(lambda: rec.of(CallConnected))
    assert connected[0].agent_id == "1003"
    await bridge.control.hangup(channel)

    # A second caller with nobody available abandons: recorded with its wait.
    channel2 = await place_caller(bridge, "13700137000")
    linkedid2 = bridge.model.channel(channel2).linkedid  # type: ignore[union-attr]
    await service.enqueue(LiveCall(linkedid=linkedid2, caller_channel=channel2, caller_number="13700137000",
                                   queue="support"))
    await asyncio.sleep(1.0)
    await bridge.control.hangup(channel2)
    left = await until(lambda: [e for e in rec.of(QueueLeft) if e.linkedid == linkedid2])
    assert left[0].reason == "abandoned" and left[0].waited_s >= 0.9


async def test_unregistered_sip_phone_is_not_offered(acd: tuple[AcdService, AmiBridge, Recorder]) -> None:
    service, bridge, rec = acd
    await until(lambda: bridge.model.device_state("PJSIP/1004"))  # known after the resync
    assert bridge.model.device_state("PJSIP/1004") == "UNAVAILABLE"  # nothing registered as 1004
    await service.agent_login("1004", {"support": 5}, ["support"], phone=AgentPhone("1004", kind="sip"), ready=True)
    await service.agent_login("1005", {"support": 3}, ["support"], phone=AgentPhone("1005", answer_after_s=0.3),
                              ready=True)
    assert service.router.agent("1004").registered is False
    # Both are ready; only 1005 counts available (the wallboard's figure), as only 1005 is offered.
    [support] = [q for q in service.queue_snapshots(time.time()) if q.queue == "support"]
    assert (support.agents_logged_in, support.agents_available) == (2, 1)
    channel = await place_caller(bridge, "13600136000")
    linkedid = bridge.model.channel(channel).linkedid  # type: ignore[union-attr]
    await service.enqueue(LiveCall(linkedid=linkedid, caller_channel=channel, caller_number="13600136000",
                                   queue="support"))
    connected = await until(lambda: rec.of(CallConnected))
    assert connected[0].agent_id == "1005"
    await bridge.control.hangup(channel)


async def test_blind_transfer_to_a_queue_reaches_another_agent(acd: tuple[AcdService, AmiBridge, Recorder]) -> None:
    service, bridge, rec = acd
    await service.agent_login("1001", {"support": 4}, ["support"], phone=AgentPhone("1001", answer_after_s=0.3),
                              ready=True)
    channel = await place_caller(bridge, "13500135000")
    linkedid = bridge.model.channel(channel).linkedid  # type: ignore[union-attr]
    await service.enqueue(LiveCall(linkedid=linkedid, caller_channel=channel, caller_number="13500135000",
                                   queue="support"))
    await until(lambda: rec.of(CallConnected))
    await until(lambda: bridge.model.bridged_peer(channel))  # the agent's leg has pulled the caller in
    await service.agent_login("1002", {"support": 4}, ["support"], phone=AgentPhone("1002", answer_after_s=0.3),
                              ready=True)
    await service.actions.transfer(linkedid, target_kind="queue", target="support")
    second = await until(lambda: [e for e in rec.of(CallConnected) if e.agent_id == "1002"])
    assert second[0].linkedid == linkedid
    peer = await until(lambda: bridge.model.bridged_peer(channel))
    assert peer.name.startswith("Local/1002@cti-sim-phone-")
    assert service.router.agent("1001").state is AgentState.WRAP_UP
    assert service.agent_call("1001", linkedid) is not None  # 1001 still has to wrap up its part
    await bridge.control.hangup(channel)


async def test_waiting_caller_hears_position_then_reaches_agent(pbx: ManagedPbx) -> None:
    from acd.announce import announce_route
    from cti.agi.fastagi import FastAgiServer

    heard: list[tuple[str, str]] = []

    async def route(session):  # type: ignore[no-untyped-def]
        heard.append((await session.get_variable("CTI_POSITION") or "", await session.get_variable("CTI_EWT") or ""))
        await announce_route(session)

    bus = InProcessBus()
    rec = Recorder()
    bus.subscribe(Event, rec, name="recorder")
    bridge = AmiBridge(pbx.settings, bus)
    router = Router([QueueConfig(name="support", announce_every_s=1.0, ring_timeout_s=5.0)])
    service = AcdService(router, bridge.control, bus, tick_s=0.1,
                         live_channels=lambda: [ch.name for c in bridge.model.calls() for ch in c.live])
    service.subscribe()
    agi = FastAgiServer(pbx.settings, routes={"announce": route})
    await bus.start()
    await bridge.start()
    await bridge.wait_connected(10)
    await service.start()
    await agi.start()
    try:
        await service.agent_login("1001", {}, ["support"], phone=AgentPhone("1001", answer_after_s=0.3))  # not ready
        channel = await place_caller(bridge, "13300133000")
        linkedid = bridge.model.channel(channel).linkedid  # type: ignore[union-attr]
        await service.enqueue(LiveCall(linkedid=linkedid, caller_channel=channel, caller_number="13300133000",
                                       queue="support"))
        await until(lambda: heard, timeout_s=10)
        assert heard[0][0] == "1"  # first in line
        # After the announcement the caller is back on the music, still waiting, and is answered.
        await service.set_ready("1001")
        connected = await until(lambda: rec.of(CallConnected))
        assert connected[0].linkedid == linkedid
        peer = await until(lambda: bridge.model.bridged_peer(channel))
        assert peer.name.startswith("Local/1001@cti-sim-phone-")
    finally:
        await hang_up_all(pbx, bridge.model)
        await agi.stop()
        await service.stop()
        await bridge.stop()
        await bus.stop()


async def test_attended_transfer_consults_then_connects_caller_to_target(
        acd: tuple[AcdService, AmiBridge, Recorder]) -> None:
    service, bridge, rec = acd
    await service.agent_login("1001", {"support": 4}, ["support"], phone=AgentPhone("1001", answer_after_s=0.3),
                              ready=True)
    channel = await place_caller(bridge, "13200132000")
    linkedid = bridge.model.channel(channel).linkedid  # type: ignore[union-attr]
    await service.enqueue(LiveCall(linkedid=linkedid, caller_channel=channel, caller_number="13200132000",
                                   queue="support"))
    await until(lambda: rec.of(CallConnected))
    await until(lambda: bridge.model.bridged_peer(channel))  # the agent's leg has pulled the caller in
    agent_leg = service.calls[linkedid].agent_channel
    await service.actions.transfer(linkedid, target_kind="number", target="8610555", kind="attended")
    # Consulting: the agent talks to the target while the caller hears music.
    target_leg = service.calls[linkedid].consult_channel
    assert target_leg and target_leg.startswith("Local/8610555@cti-external-")
    await until(lambda: (p := bridge.model.bridged_peer(agent_leg)) and p.name == target_leg)  # type: ignore[arg-type]
    assert service.calls[linkedid].status == "consulting"
    # The agent hangs up: the caller is connected to the target and the agent goes to wrap-up.
    await service.actions.hangup(linkedid)
    await until(lambda: (p := bridge.model.bridged_peer(channel)) and p.name == target_leg)
    await until(lambda: service.router.agent("1001").state is AgentState.WRAP_UP)
    transferred = await until(lambda: rec.of(CallTransferred))
    assert [(e.kind, e.target) for e in transferred] == [("attended", "8610555")]
    await bridge.control.hangup(channel)


async def test_hold_plays_music_and_resume_reconnects(acd: tuple[AcdService, AmiBridge, Recorder],
                                                      pbx: ManagedPbx) -> None:
    service, bridge, rec = acd
    await service.agent_login("1001", {"support": 4}, ["support"], phone=AgentPhone("1001", answer_after_s=0.3),
                              ready=True)
    channel = await place_caller(bridge, "13100131000")
    linkedid = bridge.model.channel(channel).linkedid  # type: ignore[union-attr]
    await service.enqueue(LiveCall(linkedid=linkedid, caller_channel=channel, caller_number="13100131000",
                                   queue="support"))
    await until(lambda: rec.of(CallConnected))
    agent_leg = service.calls[linkedid].agent_channel
    await service.actions.hold(linkedid)
    # The caller left the bridge and hears music on hold.
    await until(lambda: (ch := bridge.model.channel(channel)) and ch.bridge_id is None)
    await until(lambda: playing_music(pbx, channel))
    await service.actions.resume(linkedid)
    peer = await until(lambda: bridge.model.bridged_peer(channel))
    assert peer.name == agent_leg and service.calls[linkedid].status == "talking"
    await bridge.control.hangup(channel)


@pytest.mark.parametrize("who", ["agent", "caller"])
async def test_a_call_ended_on_hold_frees_the_agents_parked_leg(acd: tuple[AcdService, AmiBridge, Recorder],
                                                                 pbx: ManagedPbx, who: str) -> None:
    """On hold the agent's leg waits, answered and silent, in cti-park-agent. When the held caller
    goes (the agent's Hang up in the console, or the caller hanging up), that leg ends too: the
    call ends and the agent wraps up (the leg waited two hours and the agent stayed on the call)."""
    service, bridge, rec = acd
    await service.agent_login("1001", {"support": 4}, ["support"], phone=AgentPhone("1001", answer_after_s=0.3),
                              ready=True)
    channel = await place_caller(bridge, "13100131001")
    linkedid = bridge.model.channel(channel).linkedid  # type: ignore[union-attr]
    await service.enqueue(LiveCall(linkedid=linkedid, caller_channel=channel, caller_number="13100131001",
                                   queue="support"))
    await until(lambda: rec.of(CallConnected))
    agent_leg = service.calls[linkedid].agent_channel
    assert agent_leg is not None
    await service.actions.hold(linkedid)
    await until(lambda: playing_music(pbx, channel))
    await until(lambda: any(c.name == agent_leg and c.application == "Wait" for c in channels(pbx)))  # parked
    if who == "agent":
        await service.actions.hangup(linkedid)  # what the console's Hang up does
    else:
        await bridge.control.hangup(channel)
    await until(lambda: service.router.agent("1001").state is AgentState.WRAP_UP, timeout_s=5)
    assert rec.of(CallEnded)[-1].linkedid == linkedid
    # The leg's hang-up is Asterisk's, after the engine's wrap-up: waited for, not looked at once
    # (that failed 2 runs in 7 under load); a leg left in the park still fails after 5 s.
    await until(lambda: not [c for c in channels(pbx) if c.name == agent_leg], timeout_s=5,
                what="the agent's leg gone from the park")


async def test_an_overflowed_caller_leaves_the_topic_skill_behind(acd: tuple[AcdService, AmiBridge, Recorder]) -> None:
    """A real caller the IVR put in support with the topic skill support overflows to general, whose
    only agent has no support skill: that agent takes it at once (it waited for general's
    skill-dropping step); general's QueueEntered and the caller's written entry carry only the
    caller's own skill (found in the supervisor's trial)."""
    from acd.recovery import ENTRY_VAR, decode_entry
    from cti.journey import QueueEntered

    service, bridge, rec = acd
    service.router = Router([QueueConfig(name="support", overflow_to="general", overflow_after_s=1.0),
                             QueueConfig(name="general", steps=(RoutingStep(), RoutingStep(after_s=600.0)),
                                         wrap_up_s=0.0)])
    await service.agent_login("1004", {"zh": 1}, ["general"], phone=AgentPhone("1004", answer_after_s=0.3),
                              ready=True)
    channel = await place_caller(bridge, "13600136001")
    linkedid = bridge.model.channel(channel).linkedid  # type: ignore[union-attr]
    await service.enqueue(LiveCall(linkedid=linkedid, caller_channel=channel, caller_number="13600136001",
                                   queue="support", skills={"support": 2, "zh": 1}))
    connected = await until(lambda: [e for e in rec.of(CallConnected) if e.linkedid == linkedid], timeout_s=8)
    assert connected[0].agent_id == "1004" and connected[0].queue == "general"
    assert await until(lambda: bridge.model.bridged_peer(channel))  # Asterisk bridged the caller in general
    entered = [e for e in rec.of(QueueEntered) if e.linkedid == linkedid]
    assert [(e.queue, e.skills) for e in entered] == [("support", {"support": 2, "zh": 1}), ("general", {"zh": 1})]
    # Where a restarted engine finds the caller (written by a background step: polled, not read once).
    written = None
    deadline = time.monotonic() + 5
    while (written is None or written.queue != "general") and time.monotonic() < deadline:
        written = decode_entry(await bridge.control.get_var(channel, ENTRY_VAR))
        await asyncio.sleep(0.05)
    assert written is not None and (written.queue, written.skills) == ("general", {"zh": 1}), written
    await bridge.control.hangup(channel)


async def test_a_caller_moved_twice_says_each_stays_wait(acd: tuple[AcdService, AmiBridge, Recorder]) -> None:
    """A real caller overflowed support -> general -> sales: each QueueLeft says the wait of its stay
    in that queue (the second said the time since the first entry), and the call log's wait, the sum
    of the stays, is the caller's whole wait until the answer (docs/kpis.md)."""
    from crm_core.fold import fold
    from cti.journey import QueueEntered

    service, bridge, rec = acd
    service.router = Router([QueueConfig(name="support", overflow_to="general", overflow_after_s=1.0),
                             QueueConfig(name="general", overflow_to="sales", overflow_after_s=1.0),
                             QueueConfig(name="sales", wrap_up_s=0.0)])
    channel = await place_caller(bridge, "13600136000")
    linkedid = bridge.model.channel(channel).linkedid  # type: ignore[union-attr]
    await service.enqueue(LiveCall(linkedid=linkedid, caller_channel=channel, caller_number="13600136000",
                                   queue="support"))
    left = await until(lambda: (found := [e for e in rec.of(QueueLeft) if e.linkedid == linkedid])[1:] and found)
    assert [(e.queue, e.reason, e.target) for e in left] == [("support", "overflow", "general"),
                                                            ("general", "overflow", "sales")]
    assert all(1.0 <= e.waited_s < 1.5 for e in left), [e.waited_s for e in left]
    await service.agent_login("1004", {}, ["sales"], phone=AgentPhone("1004", answer_after_s=0.3), ready=True)
    connected = await until(lambda: [e for e in rec.of(CallConnected) if e.linkedid == linkedid])
    assert await until(lambda: bridge.model.bridged_peer(channel))  # Asterisk bridged the caller in sales
    entered = [e for e in rec.of(QueueEntered) if e.linkedid == linkedid]
    assert [e.queue for e in entered] == ["support", "general", "sales"]
    events = [e for e in rec.events if getattr(e, "linkedid", None) == linkedid]
    waited = fold(linkedid, events).fields["wait_s"]
    assert abs(waited - (connected[0].ts - entered[0].ts)) < 0.01, waited
    await bridge.control.hangup(channel)
