"""The offer made as the IVR hands a caller to a queue rings from the caller's held line
(acd.ringing): Dial() written as the IVR session's last command, no Originate; the call model's
AgentDialEnded is the ring's outcome. Any other offer is originated as before."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from acd import ringing
from acd.calls import AgentPhone
from acd.delivery import AcdService
from acd.model import QueueConfig
from acd.routing import Router
from cti.ami.control import FakeCallControl
from cti.bus import InProcessBus
from cti.errors import UnsafeValue
from cti.journey import AgentDialEnded, AgentRingNoAnswer, CallConnected, Event, IvrFinished

CALLER = "PJSIP/trunk-00000001"
LEG = "PJSIP/1001-00000002"


@dataclass
class Line:
    """A caller's held line: what it was asked to dial, and whether it can."""

    works: bool = True
    dials: list[tuple[str, str, str]] = field(default_factory=list)

    def __call__(self, device: str, ring_s: str, options: str) -> bool:
        self.dials.append((device, ring_s, options))
        return self.works


@pytest.mark.parametrize(("phone", "ring_s", "expected"), [
    (AgentPhone("1001", "sip"), 20.0, ("20", f"b(cti-agent-predial^s^1(a1^{CALLER}^2^sip))gm")),
    # Dial() counts whole seconds; a browser softphone is "web" (its lost leg is no hang-up)
    (AgentPhone("2001", "webrtc"), 15.5, ("16", f"b(cti-agent-predial^s^1(a1^{CALLER}^2^web))gm")),
    (AgentPhone("1007", "sim", answer_after_s=0.25), 0.2,
     ("1", f"b(cti-agent-predial^s^1(a1^{CALLER}^0.25^sim))gm")),
])
def test_the_dial_carries_the_ring_time_and_the_agent_legs_pre_dial_handler(phone: AgentPhone, ring_s: float,
                                                                   expected: tuple[str, str]) -> None:
    assert ringing.dial_options("a1", CALLER, phone, ring_s) == expected


@pytest.mark.parametrize(("agent", "caller"), [("ann^1", CALLER), ("a(1)", CALLER), ("a,1", CALLER), ("", CALLER),
                                               ("a1", "PJSIP/x y"), ("a1", 'PJSIP/"x"')])
def test_what_cannot_ride_in_the_dial_is_not_dialled_from_the_line(agent: str, caller: str) -> None:
    assert ringing.dial_options(agent, caller, AgentPhone("1001", "sip"), 20.0) is None


@pytest.fixture
async def rig() -> AsyncIterator[tuple[AcdService, FakeCallControl, list[Event]]]:
    """Agent 1001 (a SIP phone) logged in to ``general``, not ready yet."""
    bus = InProcessBus()
    control = FakeCallControl()
    acd = AcdService(Router([QueueConfig(name="general", ring_timeout_s=20)]), control, bus,
                     clock=lambda: 1000.0, retry_s=0.01, phones={"1001": AgentPhone("1001", "sip")})
    seen: list[Event] = []

    async def record(ev: Event) -> None:
        seen.append(ev)

    bus.subscribe(Event, record, name="test.recorder")
    acd.subscribe()
    await bus.start()
    await acd.agent_login("1001", {}, ["general"], ready=False)
    yield acd, control, seen
    await acd.stop()
    await bus.stop()


async def _ready(acd: AcdService) -> None:
    await acd.set_ready("1001")


async def _handed_over(acd: AcdService, line: Line | None = None, timeout_s: float = 5.0) -> asyncio.Future[bool]:
    """The IVR holds the caller's line, then publishes IvrFinished (as ivr.driver does)."""
    held = acd.rings.hold_line(CALLER, line or Line(), timeout_s)
    await acd.bus.publish(IvrFinished(ts=1000.0, linkedid="1.1", flow="main", outcome="queue", channel=CALLER,
                                      caller_number="100", queue="general"))
    await _settle(acd)
    return held


async def _settle(acd: AcdService) -> None:
    for _ in range(3):
        await acd.bus.drain()  # type: ignore[attr-defined]
        for _ in range(10):
            await asyncio.sleep(0)


async def test_a_free_agent_is_rung_from_the_callers_line(rig: tuple[AcdService, FakeCallControl,
                                                                     list[Event]]) -> None:
    acd, control, seen = rig
    await _ready(acd)
    line = Line()
    held = await _handed_over(acd, line)
    assert line.dials == [("PJSIP/1001", "20", f"b(cti-agent-predial^s^1(1001^{CALLER}^2^sip))gm")]
    assert held.done() and held.result() is True
    assert not control.called("originate")
    assert acd.rings_in_flight() == 1
    await acd.bus.publish(AgentDialEnded(ts=1003.0, linkedid="1.1", channel=CALLER, dest_channel=LEG,
                                         result="answered"))
    await _settle(acd)
    assert acd.rings_in_flight() == 0
    assert acd.agent("1001").state.value == "on_call"
    assert acd.calls["1.1"].agent_channel == LEG
    assert [e.agent_id for e in seen if isinstance(e, CallConnected)] == ["1001"]


async def test_with_no_agent_free_the_line_is_let_go_at_once(rig: tuple[AcdService, FakeCallControl,
                                                                        list[Event]]) -> None:
    acd, control, _ = rig
    line = Line()
    held = await _handed_over(acd, line)
    assert held.done() and held.result() is False  # not the hold's timeout: the enqueue said so
    assert line.dials == []
    await _ready(acd)  # the caller, on the music by now, is rung by an Originate
    await _settle(acd)
    assert line.dials == [] and [c["context"] for c in control.called("originate")] == ["cti-agent-connect"]


async def test_a_line_that_cannot_dial_leaves_the_ring_to_an_originate(
        rig: tuple[AcdService, FakeCallControl, list[Event]]) -> None:
    acd, control, _ = rig
    await _ready(acd)
    line = Line(works=False)  # the caller hung up as the IVR ended
    held = await _handed_over(acd, line)
    assert len(line.dials) == 1 and held.result() is False
    assert [c["context"] for c in control.called("originate")] == ["cti-agent-connect"]


async def test_a_line_refusing_a_value_leaves_the_ring_to_an_originate(
        rig: tuple[AcdService, FakeCallControl, list[Event]]) -> None:
    acd, control, _ = rig
    await _ready(acd)

    def unsafe(device: str, ring_s: str, options: str) -> bool:
        raise UnsafeValue("Dial argument 1", "contains CR/LF")

    held = acd.rings.hold_line(CALLER, unsafe, 5.0)
    await acd.bus.publish(IvrFinished(ts=1000.0, linkedid="1.1", flow="main", outcome="queue", channel=CALLER,
                                      caller_number="100", queue="general"))
    await _settle(acd)
    assert held.result() is False and len(control.called("originate")) == 1


async def test_a_held_line_nobody_answers_for_is_let_go_after_its_time(
        rig: tuple[AcdService, FakeCallControl, list[Event]]) -> None:
    acd, _, _ = rig
    held = acd.rings.hold_line(CALLER, Line(), 0.02)
    assert await asyncio.wait_for(held, 1) is False


async def test_a_dial_that_ends_unanswered_is_a_ring_no_answer(rig: tuple[AcdService, FakeCallControl,
                                                                          list[Event]]) -> None:
    acd, _, seen = rig
    await _ready(acd)
    await _handed_over(acd)
    await acd.bus.publish(AgentDialEnded(ts=1020.0, linkedid="1.1", channel=CALLER, dest_channel=LEG,
                                         result="no_answer"))
    await _settle(acd)
    assert [e.agent_id for e in seen if isinstance(e, AgentRingNoAnswer)] == ["1001"]
    assert acd.rings_in_flight() == 0
    assert acd.calls["1.1"].status != "connected"


async def test_a_dial_cancelled_from_the_callers_side_is_not_the_agents_fault(
        rig: tuple[AcdService, FakeCallControl, list[Event]]) -> None:
    acd, control, seen = rig
    await _ready(acd)
    await _handed_over(acd)
    await acd.bus.publish(AgentDialEnded(ts=1002.0, linkedid="1.1", channel=CALLER, dest_channel=LEG,
                                         result="cancelled"))
    await asyncio.sleep(0.05)
    await _settle(acd)
    assert not [e for e in seen if isinstance(e, AgentRingNoAnswer)]
    # Still waiting (no CallEnded came): offered anew, now by an Originate.
    assert [c["context"] for c in control.called("originate")] == ["cti-agent-connect"]


async def test_another_callers_dial_end_is_not_this_ring(rig: tuple[AcdService, FakeCallControl,
                                                                   list[Event]]) -> None:
    acd, _, _ = rig
    await _ready(acd)
    await _handed_over(acd)
    await acd.bus.publish(AgentDialEnded(ts=1003.0, linkedid="9.9", channel="PJSIP/trunk-00000009",
                                         dest_channel="PJSIP/1001-00000003", result="answered"))
    await _settle(acd)
    assert acd.rings_in_flight() == 1 and acd.agent("1001").state.value != "on_call"


async def test_a_dial_whose_end_is_never_told_fails_and_the_phone_is_stopped(
        rig: tuple[AcdService, FakeCallControl, list[Event]], monkeypatch: pytest.MonkeyPatch) -> None:
    """An AMI connection lost while the phone rang loses the dial's end: after the ring timeout and
    a grace, the ring has failed (not the agent's fault) and the agent's phone is hung up."""
    acd, control, _ = rig
    monkeypatch.setattr(ringing, "DIAL_END_GRACE_S", -19.95)  # 20 s ring timeout: 50 ms
    acd.live_channels = lambda: [LEG]
    await _ready(acd)
    await _handed_over(acd)
    assert acd.rings_in_flight() == 1
    await asyncio.sleep(0.2)
    await _settle(acd)
    assert control.called("hangup")[0]["channel"] == LEG
    assert len(control.called("originate")) == 1  # the call waited again, and was offered anew
