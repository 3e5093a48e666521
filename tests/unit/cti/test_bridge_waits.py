"""``CallControl.wait_bridged`` on the AMI bridge: woken by the call model's own report of each
bridge change (cti.ami.bridge_waits), not by looking at the model every few milliseconds."""

from __future__ import annotations

import asyncio
import secrets

import pytest

from cti.ami import events as ev
from cti.ami.bridge import AmiBridge, Pump
from cti.ami.bridge_waits import BridgeWaits
from cti.ami.callmodel import CallModel
from cti.bus import InProcessBus
from cti.settings import AmiSettings, Settings

CALLER, AGENT, TARGET = "PJSIP/caller-1", "Local/1001@cti-sim-phone-1;1", "Local/8610@cti-external-2;1"
UIDS = {CALLER: "1", AGENT: "2", TARGET: "3"}


def _new(name: str) -> ev.Newchannel:
    return ev.Newchannel(ts=1.0, channel=name, uniqueid=UIDS[name], linkedid=UIDS[name], state=6)


def _enter(name: str, bridge: str) -> ev.BridgeEnter:
    return ev.BridgeEnter(ts=2.0, bridge_id=bridge, channel=name, uniqueid=UIDS[name], linkedid=UIDS[name])


def _leave(name: str, bridge: str) -> ev.BridgeLeave:
    return ev.BridgeLeave(ts=3.0, bridge_id=bridge, channel=name, uniqueid=UIDS[name], linkedid=UIDS[name])


def _bridge() -> AmiBridge:
    """The AMI bridge as the engine builds it (never started: events go straight into its model)."""
    return AmiBridge(Settings(ami=AmiSettings(secret=secrets.token_hex(8))), InProcessBus())


async def test_two_channels_together_for_a_single_event_wake_the_waiter() -> None:
    """Agent and target are in one bridge for one event only (the next moves the agent on): the
    waiter is woken by that event's report. A waiter looking at the model every 20 ms missed it and
    timed out."""
    bridge = _bridge()
    for name in (CALLER, AGENT, TARGET):
        bridge.model.apply(_new(name))
    waiting = asyncio.create_task(bridge.control.wait_bridged(TARGET, AGENT, timeout_s=1.0))
    await asyncio.sleep(0)  # the waiter is registered
    for e in (_enter(TARGET, "consult"), _enter(AGENT, "consult"), _leave(AGENT, "consult"),
              _enter(AGENT, "conference")):
        bridge.model.apply(e)  # one slice of the pump: no turn of the loop in between
    assert await waiting is True


async def test_waits_for_apart_through_the_pump_and_times_out_as_before() -> None:
    bridge = _bridge()
    for e in (_new(CALLER), _new(AGENT), _enter(CALLER, "talk"), _enter(AGENT, "talk")):
        bridge.model.apply(e)
    assert await bridge.control.wait_bridged(AGENT, CALLER) is True  # already together: at once
    apart = asyncio.create_task(bridge.control.wait_bridged(AGENT, CALLER, together=False, timeout_s=10.0))
    pump = Pump(bridge.model, InProcessBus())
    runner = asyncio.create_task(pump.run())
    try:
        await asyncio.sleep(0)
        assert not apart.done()
        pump.push([_leave(AGENT, "talk")])  # the hold's Redirect took the agent's leg out
        await asyncio.sleep(0.05)
        assert not apart.done()  # the caller has yet to leave
        pump.push([_leave(CALLER, "talk")])
        assert await apart is True
        # Never joined: False once the timeout has passed, and no waiter is left behind.
        assert await bridge.control.wait_bridged(TARGET, AGENT, timeout_s=0.05) is False
        assert bridge.bridge_waits._waiters == []
    finally:
        runner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await runner


async def test_a_hang_up_wakes_a_waiter_for_apart_and_a_cancelled_waiter_is_dropped() -> None:
    model = CallModel()
    waits = BridgeWaits(lambda name: (c.bridge_id if (c := model.channel(name)) is not None else None))
    model.on_bridges_changed = waits.changed
    for e in (_new(CALLER), _new(AGENT), _enter(CALLER, "talk"), _enter(AGENT, "talk")):
        model.apply(e)
    apart = asyncio.create_task(waits.wait(AGENT, CALLER, together=False, timeout_s=10.0))
    given_up = asyncio.create_task(waits.wait(TARGET, AGENT, together=True, timeout_s=10.0))
    await asyncio.sleep(0)
    given_up.cancel()
    with pytest.raises(asyncio.CancelledError):
        await given_up
    model.apply(_leave(CALLER, "talk"))  # the hold's Redirect took the caller out
    # The agent's leg hangs up inside the bridge; Asterisk's BridgeLeave may never reach us.
    model.apply(ev.Hangup(ts=4.0, channel=AGENT, uniqueid=UIDS[AGENT], linkedid=UIDS[AGENT], cause=16))
    assert await apart is True
    assert waits._waiters == []


async def test_apart_waits_for_both_legs_out_of_their_bridge_whichever_leaves_first() -> None:
    """The hold's Redirect moves caller and agent out of their bridge, each on its own. The caller
    out first used to count as apart while the agent's leg was still in the bridge with its Redirect
    pending: the consultation's Bridge() then moved it into the consultation, which it left again
    (found on a real Asterisk, about one hold in 25). Apart is both out."""
    for first, second in ((CALLER, AGENT), (AGENT, CALLER)):
        model = CallModel()
        waits = BridgeWaits(lambda name, m=model: (c.bridge_id if (c := m.channel(name)) is not None else None))
        model.on_bridges_changed = waits.changed
        for e in (_new(CALLER), _new(AGENT), _enter(CALLER, "talk"), _enter(AGENT, "talk")):
            model.apply(e)
        apart = asyncio.create_task(waits.wait(AGENT, CALLER, together=False, timeout_s=10.0))
        await asyncio.sleep(0)
        model.apply(_leave(first, "talk"))
        await asyncio.sleep(0)
        assert not apart.done() and not waits.holds(AGENT, CALLER, together=False)
        model.apply(_leave(second, "talk"))
        assert await apart is True
