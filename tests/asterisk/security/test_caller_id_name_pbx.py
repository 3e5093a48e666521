"""A caller cannot choose the name the agent's phone shows, on the real Asterisk: the number a
carrier passes on (here '"Your bank" <110') rings the agent's phone with only a number's
characters (cti.safety.number_caller_id); the agent's channels carry no caller name."""

from __future__ import annotations

import pytest

from acd.calls import AgentPhone, LiveCall
from acd.delivery import AcdService
from cti.ami.bridge import AmiBridge
from cti.journey import CallConnected
from tests.asterisk.acd.test_delivery import Recorder, acd, place_caller  # noqa: F401 (the fixture)
from tests.helpers import until

pytestmark = pytest.mark.asterisk


async def test_the_agents_phone_shows_the_callers_number_never_a_name_the_caller_set(
        acd: tuple[AcdService, AmiBridge, Recorder]) -> None:  # noqa: F811
    service, bridge, rec = acd
    await service.agent_login("1002", {"support": 4}, ["support"], phone=AgentPhone("1002", answer_after_s=0.3),
                              ready=True)
    channel = await place_caller(bridge, "110")
    linkedid = bridge.model.channel(channel).linkedid  # type: ignore[union-attr]
    await service.enqueue(LiveCall(linkedid=linkedid, caller_channel=channel, caller_number='"Your bank" <110',
                                   queue="support"))
    await until(lambda: rec.of(CallConnected))
    legs = [ch for c in bridge.model.calls() for ch in c.live if ch.name.startswith("Local/1002@")]
    assert legs
    assert {(ch.caller_num, ch.caller_name) for ch in legs} <= {("Yourbank110", ""), ("Yourbank110", "<unknown>")}, \
        [(ch.name, ch.caller_num, ch.caller_name) for ch in legs]
    await bridge.control.hangup(channel)
