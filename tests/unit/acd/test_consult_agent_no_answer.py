"""An attended transfer to an agent who does not answer: the ACD takes the caller back to the
transferring agent by itself (no refusal reaches the console: the transfer was acknowledged when the
target was reserved), so the update that does so says why, once (``detail.consult_ended``), and the
console tells the agent calmly. The ACD with a fake PBX whose rings are never answered."""

from __future__ import annotations

from acd.calls import AgentPhone, LiveCall, call_detail
from acd.delivery import AcdService
from acd.events import AgentCallUpdate
from acd.model import QueueConfig
from acd.routing import Router
from cti.ami.control import FakeCallControl, OriginateResult
from cti.bus import InProcessBus
from cti.events import Event
from tests.helpers import until


async def _consulting_an_agent_who_does_not_answer() -> tuple[AcdService, list[AgentCallUpdate]]:
    bus = InProcessBus()
    seen: list[AgentCallUpdate] = []

    async def record(ev: Event) -> None:
        if isinstance(ev, AgentCallUpdate) and ev.agent_id == "1001":
            seen.append(ev)

    bus.subscribe(Event, record, name="recorder")
    control = FakeCallControl()
    service = AcdService(Router([QueueConfig(name="support", wrap_up_s=30.0, ring_timeout_s=1.0)]), control, bus,
                         clock=lambda: 1000.0)
    service.subscribe()
    await bus.start()
    for agent, ready in (("1001", False), ("1002", True)):
        await service.agent_login(agent, {}, ["support"], phone=AgentPhone(agent), ready=ready)
    service.calls["c.1"] = LiveCall(linkedid="c.1", caller_channel="Local/s@cti-queue-1;2", caller_number="138",
                                    queue="support", status="talking", agent_id="1001", agent_channel="Local/1001;1")
    control.originate_result = OriginateResult(False, 3)  # 1002's phone rings out
    await service.actions.transfer("c.1", target_kind="agent", target="1002", kind="attended")
    return service, seen


async def test_the_update_taking_the_caller_back_says_the_agent_did_not_answer_once() -> None:
    service, seen = await _consulting_an_agent_who_does_not_answer()
    try:
        await until(lambda: service.calls["c.1"].status == "talking", what="the caller back with 1001")
        await service.bus.drain()  # type: ignore[attr-defined]
        assert [(e.status, (e.detail or {}).get("consult_ended")) for e in seen] == [
            ("consulting", None),
            ("talking", {"reason": "no_answer", "target_kind": "agent", "target": "1002"})]
        # Once: the call itself (what the desk's snapshot shows) and its next update do not say it.
        assert "consult_ended" not in (call_detail(service.calls["c.1"]) or {})
        await service.actions.hold("c.1")
        await service.bus.drain()  # type: ignore[attr-defined]
        assert "consult_ended" not in (seen[-1].detail or {}) and seen[-1].status == "held"
    finally:
        await service.bus.stop()  # type: ignore[attr-defined]


async def test_back_to_caller_asked_by_the_agent_says_nothing_more() -> None:
    service, seen = await _consulting_an_agent_who_does_not_answer()
    try:
        await service.actions.cancel_consult("c.1")  # the agent's own click, whatever the ring does next
        await service.bus.drain()  # type: ignore[attr-defined]
        back = [e for e in seen if e.status == "talking"]
        assert len(back) == 1 and "consult_ended" not in (back[0].detail or {})
    finally:
        await service.bus.stop()  # type: ignore[attr-defined]
