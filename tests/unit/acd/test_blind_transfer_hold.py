"""A blind transfer made while the caller is on the agent's hold: the hold ends with the agent's part
(``HoldEnded``, as a resume publishes it, once, before ``CallTransferred``), so the call log, the
agent's hold time and the event feed see a hold that ended at the transfer. The ACD with a fake PBX;
every kind of target."""

from __future__ import annotations

import pytest

from acd.calls import AgentPhone, LiveCall, call_detail
from acd.delivery import AcdService
from acd.events import AgentCallUpdate
from acd.model import QueueConfig
from acd.routing import Router
from crm_core.feed_events import to_public
from crm_core.fold import fold
from cti.ami.control import FakeCallControl
from cti.bus import InProcessBus
from cti.events import Event
from cti.journey import CallArrived, CallConnected, CallEnded, CallTransferred, HoldEnded, HoldStarted
from tests.unit.acd.test_hand_over_order import _consulting

CALLER, AGENT_LEG = "Local/s@cti-queue-00000001;2", "Local/1001@cti-sim-phone-00000002;1"
TARGETS = [("number", "8610557"), ("queue", "support"), ("agent", "1002")]


async def _talking(queue: str = "support", clock: list[float] | None = None) -> tuple[AcdService, list[Event]]:
    bus = InProcessBus()
    seen: list[Event] = []

    async def record(ev: Event) -> None:
        seen.append(ev)

    bus.subscribe(Event, record, name="recorder")
    service = AcdService(Router([QueueConfig(name="support", wrap_up_s=30.0)]), FakeCallControl(), bus,
                         clock=lambda: clock[0] if clock else 1000.0)
    service.subscribe()
    await bus.start()
    for agent in ("1001", "1002"):
        await service.agent_login(agent, {}, ["support"], phone=AgentPhone(agent), ready=False)
    service.calls["c.1"] = LiveCall(linkedid="c.1", caller_channel=CALLER, caller_number="13800000001",
                                    queue=queue, status="talking", agent_id="1001", agent_channel=AGENT_LEG)
    return service, seen


def _journey(seen: list[Event]) -> list[Event]:
    return [e for e in seen if isinstance(e, (HoldStarted, HoldEnded, CallTransferred))]


@pytest.mark.parametrize(("target_kind", "target"), TARGETS)
async def test_a_held_call_transferred_blind_ends_its_hold_once_before_the_transfer(
        target_kind: str, target: str) -> None:
    service, seen = await _talking()
    try:
        await service.actions.hold("c.1")
        await service.actions.transfer("c.1", target_kind=target_kind, target=target)
        await service.bus.drain()  # type: ignore[attr-defined]
        journey = _journey(seen)
        assert [type(e).__name__ for e in journey] == ["HoldStarted", "HoldEnded", "CallTransferred"]
        # The very fields a resume publishes (acd.call_actions.resume).
        assert journey[1] == HoldEnded(ts=1000.0, linkedid="c.1", agent_id="1001", queue="support")
    finally:
        await service.bus.stop()  # type: ignore[attr-defined]


async def test_a_held_outbound_call_s_hold_ends_without_a_queue() -> None:
    service, seen = await _talking(queue="")
    service.calls["c.1"].direction = "outbound"
    try:
        await service.actions.hold("c.1")
        await service.actions.transfer("c.1", target_kind="number", target="8610557")
        await service.bus.drain()  # type: ignore[attr-defined]
        assert _journey(seen)[1:] == [
            HoldEnded(ts=1000.0, linkedid="c.1", agent_id="1001", queue=None),
            CallTransferred(ts=1000.0, linkedid="c.1", from_agent="1001", target="8610557", target_kind="number")]
    finally:
        await service.bus.stop()  # type: ignore[attr-defined]


@pytest.mark.parametrize(("target_kind", "target"), TARGETS)
async def test_a_talking_call_or_one_resumed_ends_no_hold_at_its_transfer(target_kind: str, target: str) -> None:
    service, seen = await _talking()
    try:
        await service.actions.hold("c.1")
        await service.actions.resume("c.1")
        await service.actions.transfer("c.1", target_kind=target_kind, target=target)
        await service.bus.drain()  # type: ignore[attr-defined]
        assert [type(e).__name__ for e in _journey(seen)] == ["HoldStarted", "HoldEnded", "CallTransferred"]
    finally:
        await service.bus.stop()  # type: ignore[attr-defined]


async def test_the_call_log_and_the_event_feed_see_the_hold_end_at_the_transfer() -> None:
    now = [1000.0]
    service, seen = await _talking(clock=now)
    try:
        await service.actions.hold("c.1")  # at 1000
        now[0] = 1025.0
        await service.actions.transfer("c.1", target_kind="number", target="8610557")
        await service.bus.drain()  # type: ignore[attr-defined]
    finally:
        await service.bus.stop()  # type: ignore[attr-defined]
    published = _journey(seen)
    assert [p["type"] for p in map(to_public, published) if p] == ["call.held", "call.resumed", "call.transferred"]
    # The call log: the hold is 25 s, ended by the transfer, not by the caller's end a minute later.
    folded = fold("c.1", [CallArrived(ts=990.0, linkedid="c.1", channel=CALLER, caller_number="13800000001"),
                          CallConnected(ts=995.0, linkedid="c.1", agent_id="1001", queue="support"),
                          *published, CallEnded(ts=1085.0, linkedid="c.1")])
    holds = [(s.started, s.ended, s.agent_id) for s in folded.segments if s.kind == "hold"]
    assert holds == [(1000.0, 1025.0, "1001")]
    assert (folded.fields["hold_s"], folded.fields["hold_count"]) == (25.0, 1)


@pytest.mark.parametrize("held", [False, True], ids=["talking", "held"])
@pytest.mark.parametrize(("target_kind", "target"), TARGETS)
async def test_the_agents_ended_call_says_where_the_transfer_sent_it(target_kind: str, target: str,
                                                                      held: bool) -> None:
    service, seen = await _talking()
    try:
        if held:
            await service.actions.hold("c.1")
        await service.actions.transfer("c.1", target_kind=target_kind, target=target)
        await service.bus.drain()  # type: ignore[attr-defined]
    finally:
        await service.bus.stop()  # type: ignore[attr-defined]
    ended = [e for e in seen if isinstance(e, AgentCallUpdate) and e.agent_id == "1001" and e.status == "ended"]
    assert len(ended) == 1 and ended[0].detail is not None
    assert ended[0].detail["transferred"] == {"kind": "blind", "target_kind": target_kind, "target": target}
    # The call as the desk's snapshot shows it to a console reconnecting during the wrap-up: the same.
    wrapping = service.wrapups[("1001", "c.1")]
    assert (call_detail(wrapping) or {})["transferred"] == ended[0].detail["transferred"]


@pytest.mark.parametrize(("target_kind", "target"), [("number", "8610557"), ("agent", "1002")])
@pytest.mark.parametrize("how", ["completed", "conference_left"])
async def test_an_attended_transfer_s_ended_call_says_where_it_went(target_kind: str, target: str, how: str) -> None:
    service, seen = await _consulting(target_kind)
    try:
        if how == "conference_left":
            await service.actions.conference("c.1")
        await service.actions.hangup("c.1")
        await service.bus.drain()  # type: ignore[attr-defined]
    finally:
        await service.bus.stop()  # type: ignore[attr-defined]
    ended = [e for e in seen if isinstance(e, AgentCallUpdate) and e.agent_id == "1001" and e.status == "ended"]
    assert [(e.detail or {}).get("transferred") for e in ended] == [
        {"kind": "attended", "target_kind": target_kind, "target": target}]
