"""After an agent's own call (the console's dial, a callback's or a preview contact's) they wrap up
as after an inbound call: the state frame the console gets says wrap-up, not "not ready: on an
outbound call" (found in an agent's trial of the console). Its end is as before: ready, or not
ready for the reason chosen."""

from __future__ import annotations

import pytest

from acd.calls import AgentPhone
from acd.delivery import AcdService
from acd.events import AgentStateChanged, AgentWrapUpEnded
from acd.model import AgentState, QueueConfig
from acd.routing import Router
from cti.ami.control import FakeCallControl
from cti.bus import InProcessBus
from cti.journey import CallEnded

pytestmark = pytest.mark.unit


@pytest.fixture
async def acd() -> AcdService:
    bus = InProcessBus()
    service = AcdService(Router([QueueConfig(name="support", wrap_up_s=5.0)]), FakeCallControl(), bus,
                         clock=lambda: 1000.0)
    service.subscribe()
    await bus.start()
    return service


async def _seen(acd: AcdService) -> list[AgentStateChanged | AgentWrapUpEnded]:
    seen: list[AgentStateChanged | AgentWrapUpEnded] = []

    async def keep(ev: AgentStateChanged | AgentWrapUpEnded) -> None:
        seen.append(ev)

    acd.bus.subscribe(AgentStateChanged, keep, name="test.states")
    acd.bus.subscribe(AgentWrapUpEnded, keep, name="test.wrap_ended")
    return seen


async def _dialled_and_ended(acd: AcdService) -> str:
    """Agent 1001, ready, dials (not ready "outbound" for it, as the console's dial does) and the call ends."""
    await acd.agent_login("1001", {}, ["support"], phone=AgentPhone("1001"), ready=True)
    await acd.dial_readiness.hold("1001")
    linkedid = await acd.actions.dial("1001", "86950001")
    assert acd.agent_state("1001") is AgentState.NOT_READY and acd.agent("1001").reason == "outbound"
    await acd.bus.publish(CallEnded(ts=1002.0, linkedid=linkedid))
    await acd.bus.drain()
    return linkedid


async def test_an_outbound_calls_end_is_its_wrap_up_then_ready(acd: AcdService) -> None:
    seen = await _seen(acd)
    linkedid = await _dialled_and_ended(acd)
    assert acd.agent_state("1001") is AgentState.WRAP_UP
    last = [e for e in seen if isinstance(e, AgentStateChanged)][-1]
    assert (last.state, last.reason, last.wrap_until) == ("wrap_up", None, None)  # the console's frame; no timer
    # The wrap-up's end, as the console's wrap-up ends it: ready.
    await acd.set_ready("1001")
    await acd.bus.drain()
    assert acd.agent_state("1001") is AgentState.AVAILABLE
    assert [(e.linkedid, e.reason) for e in seen if isinstance(e, AgentWrapUpEnded)] == [(linkedid, "ready")]


async def test_a_reason_chosen_during_the_outbound_call_stands_after_it(acd: AcdService) -> None:
    await _dialled_and_ended(acd)
    await acd.set_not_ready("1001", "break")  # chosen in wrap-up: not ready now, as after an inbound call
    assert acd.agent_state("1001") is AgentState.NOT_READY and acd.agent("1001").reason == "break"


async def test_an_agent_who_dialled_from_a_break_is_on_the_call_then_wraps_up_towards_the_break(
        acd: AcdService) -> None:
    """The call is handling time (not ready "outbound"; it stayed "break", so its talk counted as the
    break, docs/kpis.md), the break pending: its wrap-up's end puts them back on it."""
    seen = await _seen(acd)
    await acd.agent_login("1001", {}, ["support"], phone=AgentPhone("1001"))
    await acd.set_not_ready("1001", "break")
    await acd.dial_readiness.hold("1001")
    assert (acd.agent("1001").reason, acd.agent("1001").not_ready_after_call) == ("outbound", "break")
    linkedid = await acd.actions.dial("1001", "86950001")
    await acd.bus.publish(CallEnded(ts=1002.0, linkedid=linkedid))
    await acd.bus.drain()
    assert acd.agent_state("1001") is AgentState.WRAP_UP and acd.agent("1001").not_ready_after_call == "break"
    last = [e for e in seen if isinstance(e, AgentStateChanged)][-1]
    assert (last.state, last.not_ready_after_call) == ("wrap_up", "break")  # the console: "then not ready: break"
