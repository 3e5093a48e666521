"""What the bus hears, in order, when the transferring agent's part of an attended transfer ends and
the consulted party keeps the caller: the transfer completed (the console's Hang up, or the agent's
phone hanging up during the consultation) or the agent leaving the conference. The ACD with a fake PBX;
a consulted agent (who then holds the call) and a number."""

from __future__ import annotations

import pytest

from acd.calls import AgentPhone, LiveCall
from acd.delivery import AcdService
from acd.model import AgentState, QueueConfig
from acd.routing import Router
from cti.ami.control import FakeCallControl
from cti.ami.events import ConsultAlone
from cti.bus import InProcessBus
from cti.events import Event
from tests.helpers import until

CALLER, AGENT_LEG = "Local/s@cti-queue-00000001;2", "Local/1001@cti-sim-phone-00000002;1"


async def _consulting(target_kind: str) -> tuple[AcdService, list[Event]]:
    bus = InProcessBus()
    seen: list[Event] = []

    async def record(ev: Event) -> None:
        seen.append(ev)

    bus.subscribe(Event, record, name="recorder")
    service = AcdService(Router([QueueConfig(name="support", wrap_up_s=30.0)]), FakeCallControl(), bus,
                         clock=lambda: 1000.0)
    service.subscribe()
    await bus.start()
    await service.agent_login("1001", {}, ["support"], phone=AgentPhone("1001"), ready=False)
    service.calls["c.1"] = LiveCall(linkedid="c.1", caller_channel=CALLER, caller_number="13800000001",
                                    queue="support", status="talking", agent_id="1001", agent_channel=AGENT_LEG)
    if target_kind == "agent":
        await service.agent_login("1002", {}, ["support"], phone=AgentPhone("1002"), ready=True)
        await service.actions.transfer("c.1", target_kind="agent", target="1002", kind="attended")
        await until(lambda: service.calls["c.1"].consult_channel is not None, what="1002 answering")
        assert service.router.agent("1002").state is AgentState.ON_CALL
    else:
        await service.actions.transfer("c.1", target_kind="number", target="8610557", kind="attended")
    await bus.drain()
    seen.clear()
    return service, seen


def _order(seen: list[Event]) -> list[str]:
    return [type(e).__name__ + (f":{getattr(e, 'agent_id', '')}" if hasattr(e, "agent_id") else "") for e in seen]


# The transferring agent's hold ends (not in the conference: it ended when the conference began), the
# transfer is told, their call ends on their console; then a consulted agent's consultation ends and the
# call is theirs.
HANDED_OVER = {
    "agent": ["HoldEnded:1001", "CallTransferred", "AgentCallUpdate:1001", "ConsultationEnded:1002",
              "CallConnected:1002", "AgentCallUpdate:1002"],
    "number": ["HoldEnded:1001", "CallTransferred", "AgentCallUpdate:1001"],
}
LEFT_CONFERENCE = {
    "agent": ["CallTransferred", "AgentCallUpdate:1001", "ConsultationEnded:1002", "CallConnected:1002",
              "AgentCallUpdate:1002"],
    "number": ["CallTransferred", "AgentCallUpdate:1001"],
}


@pytest.mark.parametrize("target_kind", ["agent", "number"])
@pytest.mark.parametrize("how", ["console", "phone"])
async def test_a_completed_transfer_publishes_in_this_order(target_kind: str, how: str) -> None:
    service, seen = await _consulting(target_kind)
    try:
        if how == "console":
            await service.actions.hangup("c.1")
        else:
            leg = service.calls["c.1"].consult_channel
            assert leg
            await service.follower.on_consult_alone(ConsultAlone(ts=1001.0, channel=leg, uniqueid="u.9",
                                                                 linkedid="c.9"))
        await service.bus.drain()  # type: ignore[attr-defined]
        assert _order(seen) == HANDED_OVER[target_kind]
    finally:
        await service.bus.stop()  # type: ignore[attr-defined]


@pytest.mark.parametrize("target_kind", ["agent", "number"])
async def test_leaving_the_conference_publishes_in_this_order(target_kind: str) -> None:
    service, seen = await _consulting(target_kind)
    try:
        await service.actions.conference("c.1")
        await service.bus.drain()  # type: ignore[attr-defined]
        seen.clear()
        await service.actions.hangup("c.1")
        await service.bus.drain()  # type: ignore[attr-defined]
        assert _order(seen) == LEFT_CONFERENCE[target_kind]
    finally:
        await service.bus.stop()  # type: ignore[attr-defined]
