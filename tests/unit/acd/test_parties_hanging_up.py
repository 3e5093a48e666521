"""A party's own phone hanging up during an attended transfer (the dialplan's reports ConsultLeft and
ConferenceLeft), on the ACD with a fake PBX: the steps it takes, and the ends it must not act on
twice. The same on a real Asterisk: tests/asterisk/acd/test_hang_ups.py."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from acd.calls import AgentPhone, LiveCall
from acd.delivery import AcdService
from acd.events import AgentCallUpdate, AgentStateChanged
from acd.model import AgentState, QueueConfig
from acd.routing import Router
from cti.ami.control import FakeCallControl
from cti.ami.events import ConferenceLeft, ConsultAlone, ConsultLeft, ParkedLeft
from cti.bus import InProcessBus
from cti.events import Event
from cti.journey import CallTransferred
from tests.helpers import until

CALLER, AGENT_LEG = "Local/s@cti-queue-00000001;2", "Local/1001@cti-sim-phone-00000002;1"
TARGET_LEG = "Local/fake-00000001;1"  # FakeCallControl's answered originate


class _SlowHangups(FakeCallControl):
    """A PBX whose Hangup of ``slow`` answers only once ``go`` is set: a task is inside it meanwhile."""

    def __init__(self, slow: str) -> None:
        super().__init__()
        self.slow, self.inside, self.go = slow, asyncio.Event(), asyncio.Event()

    async def hangup(self, channel: str, cause: int = 16, *, may_be_gone: bool = False) -> None:
        await super().hangup(channel, cause, may_be_gone=may_be_gone)
        if channel == self.slow:
            self.inside.set()
            await self.go.wait()


async def _acd(control: FakeCallControl, queues: list[QueueConfig] | None = None) -> tuple[AcdService, list[Event]]:
    bus = InProcessBus()
    seen: list[Event] = []

    async def record(ev: Event) -> None:
        seen.append(ev)

    bus.subscribe(Event, record, name="recorder")
    service = AcdService(Router(queues or []), control, bus, clock=lambda: 1000.0)
    service.subscribe()
    await bus.start()
    service.calls["c.1"] = LiveCall(linkedid="c.1", caller_channel=CALLER, caller_number="13800000001",
                                    queue="support", status="talking", agent_id="1001", agent_channel=AGENT_LEG)
    return service, seen


@pytest.fixture
async def acd() -> Any:
    service, seen = await _acd(FakeCallControl())
    yield service, seen
    await service.bus.stop()  # type: ignore[attr-defined]


def _control(acd: AcdService) -> FakeCallControl:
    assert isinstance(acd.control, FakeCallControl)
    return acd.control


def _left(channel: str) -> ConsultLeft:
    return ConsultLeft(ts=1001.0, channel=channel, uniqueid="u.9", linkedid="c.9")


async def test_the_consulted_party_hanging_up_puts_the_caller_back_once_the_agents_leg_is_out(
        acd: tuple[AcdService, list[Event]]) -> None:
    service, seen = acd
    await service.actions.transfer("c.1", target_kind="number", target="8610557", kind="attended")
    _control(service).calls.clear()
    await service.follower.on_consult_left(_left(TARGET_LEG))
    steps = [(m, kw.get("channel"), kw.get("together")) for m, kw in _control(service).calls]
    # The agent's leg leaves the consultation's bridge for cti-park-agent before the unhold's Bridge.
    assert steps[:2] == [("wait_bridged", AGENT_LEG, False), ("unhold", CALLER, None)]
    call = service.calls["c.1"]
    assert (call.status, call.consult_channel, call.consult_target) == ("talking", None, None)
    await service.bus.drain()  # type: ignore[attr-defined]
    updates = [e.status for e in seen if isinstance(e, AgentCallUpdate)]
    assert updates[-2:] == ["consulting", "talking"]


async def test_a_leg_the_engine_hung_up_itself_is_no_news(acd: tuple[AcdService, list[Event]]) -> None:
    """Back to caller hangs up the consultation's leg: its report finds no consultation on it."""
    service, _ = acd
    await service.actions.transfer("c.1", target_kind="number", target="8610557", kind="attended")
    await service.actions.cancel_consult("c.1")
    _control(service).calls.clear()
    await service.follower.on_consult_left(_left(TARGET_LEG))
    await service.follower.on_consult_left(_left("Local/other-00000009;1"))
    assert _control(service).calls == []
    assert service.calls["c.1"].status == "talking"


async def test_the_agents_phone_leaving_the_conference_while_their_console_leaves_it_leaves_once() -> None:
    """The console's Hang up in a conference hangs up the agent's leg, whose end is reported
    (ConferenceLeft) while that Hang up is still under way: the follower, taking it for the agent's
    phone, must not make the agent leave a second time (a second transfer, a second hand-over)."""
    control = _SlowHangups(AGENT_LEG)
    service, seen = await _acd(control)
    try:
        await service.actions.transfer("c.1", target_kind="number", target="8610557", kind="attended")
        await service.actions.conference("c.1")
        leaving = asyncio.create_task(service.actions.hangup("c.1"))
        await asyncio.wait_for(control.inside.wait(), 5.0)  # the console's Hang up is in the agent leg's Hangup
        reported = asyncio.create_task(service.follower.on_conference_left(
            ConferenceLeft(ts=1001.0, channel=AGENT_LEG, uniqueid="u.2", linkedid="c.1")))
        for _ in range(20):
            await asyncio.sleep(0)  # the report runs as far as it goes
        control.go.set()
        await asyncio.wait_for(asyncio.gather(leaving, reported), 5.0)
        await service.bus.drain()  # type: ignore[attr-defined]
        assert [(e.kind, e.target) for e in seen if isinstance(e, CallTransferred)] == [("attended", "8610557")]
        assert [c["channel"] for c in control.called("hangup")] == [AGENT_LEG]  # the caller's stays up
        assert "c.1" not in service.calls
    finally:
        await service.bus.stop()  # type: ignore[attr-defined]


def _alone(channel: str) -> ConsultAlone:
    return ConsultAlone(ts=1001.0, channel=channel, uniqueid="u.9", linkedid="c.9")


async def test_the_agents_phone_hanging_up_during_the_consultation_completes_the_transfer(
        acd: tuple[AcdService, list[Event]]) -> None:
    """The consultation's leg reports itself alone (the agent's leg left its Bridge()): the caller is
    bridged with it, the leg told whom it waits with, and the agent's part ends with the transfer."""
    service, seen = acd
    await service.actions.transfer("c.1", target_kind="number", target="8610557", kind="attended")
    _control(service).calls.clear()
    await service.follower.on_consult_alone(_alone(TARGET_LEG))
    steps = [(m, kw.get("channel"), kw.get("name"), kw.get("channel1"), kw.get("channel2"))
             for m, kw in _control(service).calls]
    assert steps[:2] == [("set_var", TARGET_LEG, "CTI_HELD_CALLER", None, None),
                         ("bridge", None, None, CALLER, TARGET_LEG)]
    assert "c.1" not in service.calls  # the agent's part is over (a number now holds the caller)
    await service.bus.drain()  # type: ignore[attr-defined]
    assert [(e.kind, e.target, e.from_agent) for e in seen if isinstance(e, CallTransferred)] == [
        ("attended", "8610557", "1001")]


async def test_a_leg_left_alone_by_back_to_caller_or_after_the_transfer_is_no_news(
        acd: tuple[AcdService, list[Event]]) -> None:
    """Back to caller moves the agent's leg out of the consultation's Bridge(): its report finds no
    consultation on the leg; nor does one after the transfer was completed, nor another call's."""
    service, seen = acd
    await service.actions.transfer("c.1", target_kind="number", target="8610557", kind="attended")
    await service.follower.on_consult_alone(_alone("Local/other-00000009;1"))
    await service.actions.cancel_consult("c.1")
    _control(service).calls.clear()
    await service.follower.on_consult_alone(_alone(TARGET_LEG))
    assert _control(service).calls == []
    assert service.calls["c.1"].status == "talking"
    await service.actions.transfer("c.1", target_kind="number", target="8610558", kind="attended")
    leg = service.calls["c.1"].consult_channel
    assert leg
    await service.actions.hangup("c.1")  # the console completes the transfer
    _control(service).calls.clear()
    await service.follower.on_consult_alone(_alone(leg))
    assert _control(service).calls == []
    await service.bus.drain()  # type: ignore[attr-defined]
    assert len([e for e in seen if isinstance(e, CallTransferred)]) == 1


async def test_the_agents_phone_hanging_up_while_the_consultation_rings_puts_the_caller_back_in_queue() -> None:
    """The agent's parked leg reports its own end while the number consulted still rings: that ring
    is hung up (by the uniqueid it was given), the agent's part ends, the caller waits in the queue
    again; the caller's leg stays up. A nameless report (what a Bridge leaves behind) is no news."""
    service, _ = await _acd(FakeCallControl(), [QueueConfig(name="support")])
    try:
        call = service.calls["c.1"]
        call.status, call.consult_target, call.consult_ring = "consulting", ("number", "8610557"), "cti-ring-1"
        await service.follower.on_parked_left(ParkedLeft(ts=1001.0, channel="", uniqueid="", linkedid=""))
        assert _control(service).calls == [] and service.calls["c.1"] is call
        await service.follower.on_parked_left(ParkedLeft(ts=1001.0, channel=AGENT_LEG, uniqueid="u.2",
                                                         linkedid="c.1"))
        assert [c["channel"] for c in _control(service).called("hangup")] == ["cti-ring-1"]
        again = service.calls["c.1"]
        assert (again.status, again.agent_id, again.agent_channel, again.consult_target) == ("queued", None, None,
                                                                                            None)
        assert ("1001", "c.1") in service.wrapups  # the agent wraps up
    finally:
        await service.bus.stop()  # type: ignore[attr-defined]


async def test_an_answered_consultations_parked_agent_leg_is_not_put_back(acd: tuple[AcdService, list[Event]]) -> None:
    """Answered, the consultation's own leg reports the agent leaving it (ConsultAlone): the parked
    leg's report is not the follower's to act on."""
    service, _ = acd
    await service.actions.transfer("c.1", target_kind="number", target="8610557", kind="attended")
    _control(service).calls.clear()
    await service.follower.on_parked_left(ParkedLeft(ts=1001.0, channel=AGENT_LEG, uniqueid="u.2", linkedid="c.1"))
    assert _control(service).calls == [] and service.calls["c.1"].status == "consulting"


async def test_the_agents_phone_hanging_up_on_a_plain_hold_puts_the_caller_back_in_queue() -> None:
    """A plain hold: the agent's parked leg reports its own end. The agent's part ends and the caller,
    taken to cti-queue's music first, waits in the queue again."""
    service, _ = await _acd(FakeCallControl(), [QueueConfig(name="support")])
    try:
        service.calls["c.1"].status = "held"
        await service.follower.on_parked_left(ParkedLeft(ts=1001.0, channel=AGENT_LEG, uniqueid="u.2",
                                                         linkedid="c.1"))
        assert [(c["channel"], c["context"]) for c in _control(service).called("redirect")] == [(CALLER, "cti-queue")]
        assert not _control(service).called("hangup")
        again = service.calls["c.1"]
        assert (again.status, again.agent_id, again.agent_channel) == ("queued", None, None)
        assert ("1001", "c.1") in service.wrapups
    finally:
        await service.bus.stop()  # type: ignore[attr-defined]


async def test_a_softphones_parked_leg_ending_on_a_plain_hold_is_left_to_the_reconnect_watcher() -> None:
    """A browser softphone's leg ending by itself is a page reloaded or a network lost: acd.reconnect
    rings that agent again; the follower does not put the caller back."""
    service, _ = await _acd(FakeCallControl(), [QueueConfig(name="support")])
    try:
        service.phones["1001"] = AgentPhone("1001", "webrtc")
        call = service.calls["c.1"]
        call.status = "held"
        await service.follower.on_parked_left(ParkedLeft(ts=1001.0, channel=AGENT_LEG, uniqueid="u.2",
                                                         linkedid="c.1"))
        assert _control(service).calls == [] and service.calls["c.1"] is call and call.status == "held"
    finally:
        await service.bus.stop()  # type: ignore[attr-defined]


@pytest.mark.parametrize("pending", [None, "break"])
async def test_a_consulted_agent_hung_up_on_during_the_consultation_publishes_no_wrap_up(
        pending: str | None) -> None:
    """The consulted agent's Hang up during the consultation: they go straight to available, or to
    the not ready they chose meanwhile; no wrap_up state is published (it used to be, and left at
    once: a near-zero wrap-up in their state history)."""
    service, seen = await _acd(FakeCallControl(), [QueueConfig(name="support", wrap_up_s=30.0)])
    try:
        await service.agent_login("1001", {}, ["support"], phone=AgentPhone("1001"), ready=False)
        await service.agent_login("1002", {}, ["support"], phone=AgentPhone("1002"), ready=True)
        await service.actions.transfer("c.1", target_kind="agent", target="1002", kind="attended")
        await until(lambda: service.router.agent("1002").state is AgentState.ON_CALL, what="1002 answering")
        if pending is not None:
            await service.set_not_ready("1002", pending)
        await service.actions.consulted_hangup("c.1")
        await service.bus.drain()  # type: ignore[attr-defined]
        states = [e.state for e in seen if isinstance(e, AgentStateChanged) and e.agent_id == "1002"]
        assert "wrap_up" not in states
        assert states[-1] == ("available" if pending is None else "not_ready")
        assert service.calls["c.1"].status == "talking"
    finally:
        await service.bus.stop()  # type: ignore[attr-defined]
