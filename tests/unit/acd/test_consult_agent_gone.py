"""An attended transfer to an agent who is no longer there while the consultation waits for them or
rings them: they log out, or their phone goes offline. The ACD takes the caller back to the
transferring agent by itself, and the update that does so says why, once
(``detail.consult_ended`` with reason ``unavailable``), as for a consulted agent who did not answer
(tests/unit/acd/test_consult_agent_no_answer.py). The ACD with a fake PBX."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import pytest

from acd.calls import AgentPhone, LiveCall, call_detail
from acd.consultations import _GRACE_POLL_S, PHONE_GRACE_S
from acd.delivery import AcdService
from acd.events import AgentCallUpdate
from acd.model import AgentState, QueueConfig
from acd.routing import Router
from cti.ami.control import FakeCallControl, OriginateResult
from cti.bus import InProcessBus
from cti.events import Event
from tests.helpers import until

GONE = {"reason": "unavailable", "target_kind": "agent", "target": "1002"}


class Clock:
    """The service's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _consulting(control: FakeCallControl | None = None, *, target_ready: bool = False,
                      clock: Clock | None = None) -> tuple[AcdService, list[AgentCallUpdate]]:
    """1001 consults 1002: not ready (the default), the consultation waits for them (pinned); ready,
    it rings them through ``control``."""
    bus = InProcessBus()
    seen: list[AgentCallUpdate] = []

    async def record(ev: Event) -> None:
        if isinstance(ev, AgentCallUpdate) and ev.agent_id == "1001":
            seen.append(ev)

    bus.subscribe(Event, record, name="recorder")
    service = AcdService(Router([QueueConfig(name="support", wrap_up_s=30.0, ring_timeout_s=30.0)]),
                         control or FakeCallControl(), bus, clock=clock or Clock())
    service.subscribe()
    await bus.start()
    await service.agent_login("1001", {}, ["support"], phone=AgentPhone("1001"), ready=False)
    await service.agent_login("1002", {}, ["support"], phone=AgentPhone("1002"), ready=target_ready)
    service.calls["c.1"] = LiveCall(linkedid="c.1", caller_channel="Local/s@cti-queue-1;2", caller_number="138",
                                    queue="support", status="talking", agent_id="1001", agent_channel="Local/1001;1")
    await service.actions.transfer("c.1", target_kind="agent", target="1002", kind="attended")
    assert service.calls["c.1"].status == "consulting"
    return service, seen


async def _told_once(service: AcdService, seen: list[AgentCallUpdate]) -> None:
    await until(lambda: service.calls["c.1"].status == "talking", what="the caller back with 1001")
    await service.bus.drain()  # type: ignore[attr-defined]
    assert [(e.status, (e.detail or {}).get("consult_ended")) for e in seen] == [
        ("consulting", None), ("talking", GONE)]
    assert "consult_ended" not in (call_detail(service.calls["c.1"]) or {})
    assert service.calls["c.1"].consult is None and not service.consultations.calls


async def test_a_consulted_agent_who_logs_out_meanwhile_is_told_once() -> None:
    service, seen = await _consulting()
    try:
        await service.agent_logout("1002")
        await _told_once(service, seen)
    finally:
        await service.bus.stop()  # type: ignore[attr-defined]


async def _offline_for(service: AcdService, clock: Clock, seconds: float) -> None:
    """1002's phone goes unreachable, and ``seconds`` of the service's clock pass (the grace's look
    at the clock comes each _GRACE_POLL_S of real time)."""
    await service.decide(functools.partial(service.router.set_device_registered, "1002", False))
    await asyncio.sleep(0.05)
    clock.now += seconds
    await asyncio.sleep(2 * _GRACE_POLL_S + 0.1)


async def test_a_consulted_agent_whose_phone_goes_offline_meanwhile_is_told_once() -> None:
    clock = Clock()
    service, seen = await _consulting(clock=clock)
    try:
        await _offline_for(service, clock, PHONE_GRACE_S - 1.0)
        assert service.calls["c.1"].status == "consulting"  # within the grace: nothing yet
        clock.now += 1.0  # away for the whole grace: gone
        await _told_once(service, seen)
    finally:
        await service.bus.stop()  # type: ignore[attr-defined]


def _never_answered() -> tuple[FakeCallControl, asyncio.Event]:
    """A PBX whose rings are never answered (cancelled when the ring is stopped); the event: one rings."""
    control = FakeCallControl()
    ringing = asyncio.Event()

    async def rings_on(channel: str, **kw: Any) -> OriginateResult:
        ringing.set()
        await asyncio.Event().wait()  # never answered: cancelled when the ring is stopped
        raise AssertionError("unreachable")

    control.originate = rings_on  # type: ignore[method-assign]
    return control, ringing


async def test_a_consulted_agent_whose_phone_goes_offline_while_it_rings_is_told_once() -> None:
    """1002 is ready: the consultation rings them (the ring never answered), then their phone goes
    offline: the ring stops, 1002 is free, the caller is back with 1001."""
    control, ringing = _never_answered()
    clock = Clock()
    service, seen = await _consulting(control, target_ready=True, clock=clock)
    try:
        await asyncio.wait_for(ringing.wait(), 5)
        assert service.router.agent("1002").state is AgentState.RESERVED
        await _offline_for(service, clock, PHONE_GRACE_S)
        await _told_once(service, seen)
        assert service.router.agent("1002").state is AgentState.AVAILABLE  # not blamed: no "missed"
    finally:
        await service.bus.stop()  # type: ignore[attr-defined]


async def test_a_consulted_agent_who_logs_out_while_it_rings_is_told_once() -> None:
    """1002 is ready: the consultation rings them, and they log out (was refused: 409, no transition
    from reserved on logout). The ring stops, 1002 is logged out, the caller is back with 1001."""
    control, ringing = _never_answered()
    service, seen = await _consulting(control, target_ready=True)
    try:
        await asyncio.wait_for(ringing.wait(), 5)
        assert service.router.agent("1002").state is AgentState.RESERVED
        await service.agent_logout("1002")
        await _told_once(service, seen)
        assert service.agent_state("1002") is AgentState.LOGGED_OUT
    finally:
        await service.bus.stop()  # type: ignore[attr-defined]


@pytest.mark.parametrize("target_ready", [False, True])
async def test_a_consulted_agents_phone_back_within_the_grace_keeps_the_consultation(target_ready: bool) -> None:
    """A browser phone unregisters while its page reloads and registers again a moment later: the
    consultation waiting for (or ringing) 1002 goes on (it ended at once: target_unreachable), and
    a later absence has a grace of its own."""
    control, ringing = _never_answered()
    clock = Clock()
    service, seen = await _consulting(control, target_ready=target_ready, clock=clock)
    try:
        if target_ready:
            await asyncio.wait_for(ringing.wait(), 5)
        await _offline_for(service, clock, PHONE_GRACE_S - 1.0)
        await service.decide(functools.partial(service.router.set_device_registered, "1002", True))
        clock.now += PHONE_GRACE_S + 1.0  # past the grace of that absence (not the ring time: 30 s)
        await asyncio.sleep(2 * _GRACE_POLL_S + 0.1)
        await service.bus.drain()  # type: ignore[attr-defined]
        assert service.calls["c.1"].status == "consulting" and service.calls["c.1"].consult is not None
        assert [e.status for e in seen] == ["consulting"]
        await _offline_for(service, clock, PHONE_GRACE_S)  # away again, for good this time
        await _told_once(service, seen)
    finally:
        await service.bus.stop()  # type: ignore[attr-defined]
