"""``rings_in_flight`` counts the offers whose ring is still under way (the demo's stop waits for
them): the ring tasks only, not the ACD's other background steps (a queue entry being written)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from acd.delivery import AcdService
from acd.model import QueueConfig
from acd.routing import Router
from cti.ami.control import FakeCallControl, OriginateResult
from cti.bus import InProcessBus
from cti.journey import CallEnded, IvrFinished


class _SlowPhone(FakeCallControl):
    """The agent's phone rings until the test lets the Originate's outcome come back."""

    def __init__(self) -> None:
        super().__init__()
        self.answer = asyncio.Event()
        self.entry_written = asyncio.Event()

    async def originate(self, channel: str, **kwargs: Any) -> OriginateResult:
        result = await super().originate(channel, **kwargs)
        await self.answer.wait()
        return result

    async def set_var(self, channel: str, name: str, value: str) -> None:
        await self.entry_written.wait()  # the entry's Setvar is slow too: it must not count
        await super().set_var(channel, name, value)


@pytest.fixture
async def rig() -> AsyncIterator[tuple[AcdService, _SlowPhone]]:
    """An ACD on the slow phone's PBX, agent 1001 ready in ``general``."""
    bus = InProcessBus()
    control = _SlowPhone()
    acd = AcdService(Router([QueueConfig(name="general")]), control, bus, clock=lambda: 1000.0)
    acd.subscribe()
    await bus.start()
    await acd.agent_login("1001", {}, ["general"], ready=True)
    yield acd, control
    control.entry_written.set()
    await acd.stop()
    await bus.stop()


async def test_only_rings_under_way_are_counted(rig: tuple[AcdService, _SlowPhone]) -> None:
    acd, control = rig
    assert acd.rings_in_flight() == 0
    await _handed_over(acd)
    assert acd.rings_in_flight() == 1
    control.answer.set()
    for _ in range(20):
        await asyncio.sleep(0)
    assert acd.rings_in_flight() == 0
    assert acd._tasks  # the entry's Setvar is still under way: not a ring


async def test_a_withdrawn_offer_is_in_flight_until_its_leg_is_accounted_for(
        rig: tuple[AcdService, _SlowPhone]) -> None:
    """The caller hangs up while the agent's phone rings: the offer is withdrawn and its ring task
    cancelled, but the Originate is out at Asterisk, which may still create the agent's leg after
    the engine looked for it to hang it up (the demo's stop met three such legs ringing). The
    Originate's outcome is followed: counted in flight until it comes back, and the leg, answered
    meanwhile, hung up."""
    acd, control = rig
    control.entry_written.set()
    await _handed_over(acd)
    assert acd.rings_in_flight() == 1 and control.called("originate")
    await acd.bus.publish(CallEnded(ts=1001.0, linkedid="1.1"))  # the caller hangs up: offer withdrawn
    await acd.bus.drain()  # type: ignore[attr-defined]
    for _ in range(5):
        await asyncio.sleep(0)
    assert acd.agent("1001").state.value == "available"
    assert acd.rings_in_flight() == 1  # its Originate has not come back
    assert not control.called("hangup")  # the leg was not there yet to hang up
    control.answer.set()  # the agent's phone answers the leg of the withdrawn offer
    for _ in range(10):
        await asyncio.sleep(0)
    assert [c["channel"] for c in control.called("hangup")] == ["Local/fake-00000001;1"]
    assert acd.rings_in_flight() == 0


async def _handed_over(acd: AcdService) -> None:
    """The IVR hands caller 1.1 to ``general``: 1001's phone starts ringing."""
    await acd.bus.publish(IvrFinished(ts=1000.0, linkedid="1.1", flow="main", outcome="queue",
                                      channel="PJSIP/trunk-1", caller_number="100", queue="general"))
    await acd.bus.drain()  # type: ignore[attr-defined]
    await asyncio.sleep(0)
