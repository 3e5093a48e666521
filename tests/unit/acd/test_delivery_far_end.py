"""Click-to-dial learns how the customer's leg ended (FarEndResult) and shows it to the agent."""

from __future__ import annotations

import pytest

from acd.calls import LiveCall
from acd.delivery import AcdService
from acd.events import AgentCallUpdate
from acd.routing import Router
from cti.ami.control import FakeCallControl
from cti.bus import InProcessBus
from cti.journey import CallEnded, FarEndResult


@pytest.fixture
async def acd() -> AcdService:
    bus = InProcessBus()
    service = AcdService(Router([]), FakeCallControl(), bus, clock=lambda: 1000.0)
    service.subscribe()
    await bus.start()
    return service


def _far_end(result: str, linkedid: str = "fake.1") -> FarEndResult:
    return FarEndResult(ts=1001.0, linkedid=linkedid, channel="Local/fake-00000001;1",
                        dest_channel="Local/86990001@cti-sim-customer-2;1", result=result)


async def _updates(acd: AcdService) -> list[AgentCallUpdate]:
    seen: list[AgentCallUpdate] = []

    async def keep(ev: AgentCallUpdate) -> None:
        seen.append(ev)

    acd.bus.subscribe(AgentCallUpdate, keep, name="test.updates")
    await acd.bus.start()
    return seen


async def test_no_answer_is_recorded_and_shown_then_kept_through_wrap_up(acd: AcdService) -> None:
    seen = await _updates(acd)
    linkedid = await acd.actions.dial("1001", "86990001")
    await acd.bus.publish(_far_end("no_answer"))
    await acd.bus.drain()
    call = acd.agent_call("1001", linkedid)
    assert call is not None and call.far_end == "no_answer"
    assert seen[-1].status == "talking" and seen[-1].detail == {"far_end": "no_answer"}
    await acd.bus.publish(CallEnded(ts=1002.0, linkedid=linkedid))
    await acd.bus.drain()
    call = acd.agent_call("1001", linkedid)
    assert call is not None and call.status == "ended" and call.far_end == "no_answer"
    assert seen[-1].status == "ended" and seen[-1].detail == {"far_end": "no_answer"}


async def test_a_result_after_the_call_ended_still_reaches_the_wrap_up(acd: AcdService) -> None:
    linkedid = await acd.actions.dial("1001", "86980001")
    await acd.bus.publish(CallEnded(ts=1002.0, linkedid=linkedid))
    await acd.bus.drain()
    await acd.bus.publish(_far_end("busy"))
    await acd.bus.drain()
    call = acd.agent_call("1001", linkedid)
    assert call is not None and call.far_end == "busy"


async def test_a_result_before_dial_registers_the_call_is_kept(acd: AcdService) -> None:
    await acd.bus.publish(_far_end("busy"))
    await acd.bus.drain()
    linkedid = await acd.actions.dial("1001", "86980001")
    call = acd.agent_call("1001", linkedid)
    assert call is not None and call.far_end == "busy"


async def test_an_answer_is_not_overwritten_by_a_later_leg(acd: AcdService) -> None:
    linkedid = await acd.actions.dial("1001", "5551234")
    for result in ("answered", "no_answer"):
        await acd.bus.publish(_far_end(result))
    await acd.bus.drain()
    call = acd.agent_call("1001", linkedid)
    assert call is not None and call.far_end == "answered"


async def test_inbound_calls_ignore_far_end_results(acd: AcdService) -> None:
    acd.calls["in.1"] = LiveCall(linkedid="in.1", caller_channel="PJSIP/trunk-1", caller_number="138", queue="q",
                                 status="talking", agent_id="1001")
    await acd.bus.publish(_far_end("no_answer", linkedid="in.1"))
    await acd.bus.drain()
    assert acd.calls["in.1"].far_end is None
