"""The number a carrier gives as the caller's reaches the agent's phone as an Originate's CallerID
("<number>"): characters that would change how the phone parses it ('"', '<', '>': a display name
the caller chose) are dropped (cti.safety.number_caller_id)."""

from __future__ import annotations

import asyncio

import pytest

from acd.calls import LiveCall
from acd.delivery import AcdService
from acd.model import QueueConfig
from acd.routing import Router
from cti.ami.control import FakeCallControl
from cti.bus import InProcessBus
from cti.safety import number_caller_id

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("number", "caller_id"), [
    ("+8613800138000", "<+8613800138000>"),
    ("anonymous", "<anonymous>"),
    ('Bank" <911', "<Bank911>"),
    ("12>34", "<1234>"),
    ("", None),
    (None, None),
    ('"<>"', None),
])
def test_a_callers_number_keeps_only_a_numbers_characters(number: str | None, caller_id: str | None) -> None:
    assert number_caller_id(number) == caller_id


async def test_the_agents_phone_is_rung_with_the_cleaned_number() -> None:
    bus, control = InProcessBus(), FakeCallControl()
    acd = AcdService(Router([QueueConfig(name="general")]), control, bus, clock=lambda: 1000.0)
    acd.subscribe()
    await bus.start()
    try:
        await acd.agent_login("1001", {}, ["general"], ready=True)
        await acd.enqueue(LiveCall(linkedid="L1", caller_channel="PJSIP/trunk-1", caller_number='"Your bank" <110',
                                   queue="general"))
        for _ in range(20):
            await asyncio.sleep(0)
        (ring,) = control.called("originate")
        assert ring["caller_id"] == "<Yourbank110>"
    finally:
        await acd.stop()
        await bus.stop()
