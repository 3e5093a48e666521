"""cti-consult-connect's Bridge() that bridged nothing (FAILURE) is tried again, on a real Asterisk 22.

Under load, about one consultation in 1,000 was dialled in the few milliseconds between the agent's
leg leaving the caller's bridge (the hold's Redirect) and its own thread starting the park: Bridge()
then silently bridged nothing (BRIDGERESULT FAILURE), the consultation's leg hung up, and the
transfer failed after a 10 s wait. Here the leg Bridge() cannot pull for a while is one in a
ConfBridge (whose bridge lets no channel be moved out): the consultation waits for it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from cti.ami.bridge import AmiBridge
from cti.bus import InProcessBus
from cti.pbx import ManagedPbx
from tests.helpers import channels, hang_up_all, until


@pytest.fixture
async def bridge(pbx: ManagedPbx) -> AsyncIterator[AmiBridge]:
    bus = InProcessBus()
    ami = AmiBridge(pbx.settings, bus)
    await bus.start()
    await ami.start()
    await ami.wait_connected(10)
    try:
        yield ami
    finally:
        await hang_up_all(pbx, ami.model)
        await ami.stop()
        await bus.stop()


def _bridge_of(bridge: AmiBridge, name: str) -> str | None:
    ch = bridge.model.channel(name)
    return ch.bridge_id if ch is not None and ch.ended_at is None else None


async def test_a_consultation_bridge_that_bridged_nothing_is_tried_again(pbx: ManagedPbx, bridge: AmiBridge) -> None:
    # The agent's leg, for now where Bridge() cannot pull it from: alone in a conference.
    agent = await bridge.control.originate("Local/1001@cti-sim-phone/n", context="cti-conference", exten="4242",
                                           variables={"CTI_ANSWER_S": "0"}, timeout_ms=5000)
    assert agent.success and agent.channel
    await until(lambda: _bridge_of(bridge, agent.channel), what="the agent's leg in the conference")  # type: ignore[arg-type]
    consult = await bridge.control.originate("Local/1002@cti-sim-phone/n", context="cti-consult-connect", exten="s",
                                             variables={"CTI_ANSWER_S": "0", "CTI_CALLER": agent.channel},
                                             timeout_ms=5000)
    assert consult.success and consult.channel
    # Its Bridge() failed and it waits to try again (it used to hang up at once).
    await until(lambda: any(c.name == consult.channel and c.application == "Wait" for c in channels(pbx)),
                timeout_s=5, what="the consultation's leg waiting to try again")
    # The agent's leg becomes pullable (as the hold's park, once its thread runs it): pulled in.
    await bridge.control.redirect(agent.channel, "cti-sim-caller", "s")
    await until(lambda: (b := _bridge_of(bridge, consult.channel)) is not None  # type: ignore[arg-type]
                and b == _bridge_of(bridge, agent.channel), timeout_s=5,  # type: ignore[arg-type]
                what="the consultation bridged with the agent's leg")
