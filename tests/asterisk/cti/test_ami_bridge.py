"""The AMI bridge against a real Asterisk 22: Local-channel calls, durations, resync, injection."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from cti.ami.bridge import AmiBridge
from cti.ami.callmodel import Phase
from cti.bus import InProcessBus
from cti.errors import UnsafeValue
from cti.journey import CallEnded
from cti.pbx import ManagedPbx
from cti.settings import Settings


class Ended:
    def __init__(self) -> None:
        self.events: list[CallEnded] = []

    async def __call__(self, ev: CallEnded) -> None:
        self.events.append(ev)

    async def wait(self, linkedid: str, timeout_s: float = 10.0) -> CallEnded:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for ev in self.events:
                if ev.linkedid == linkedid:
                    return ev
            await asyncio.sleep(0.05)
        raise AssertionError(f"no CallEnded for {linkedid}; got {self.events}")


async def until(predicate, timeout_s: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


def with_ami(settings: Settings, **ami: object) -> Settings:
    return settings.model_copy(update={"ami": settings.ami.model_copy(update=ami)})


@pytest.fixture
async def bridge(pbx: ManagedPbx) -> AsyncIterator[tuple[AmiBridge, Ended]]:
    bus = InProcessBus()
    ended = Ended()
    bus.subscribe(CallEnded, ended, name="ended")
    await bus.start()
    br = AmiBridge(with_ami(pbx.settings, reconnect_min_s=1.5, reconnect_max_s=3.0), bus)
    await br.start()
    await br.wait_connected(10)
    try:
        yield br, ended
    finally:
        await br.stop()
        await bus.stop()
        pbx.cli("channel request hangup all")


async def test_local_call_rings_answers_and_hangs_up_with_right_durations(bridge: tuple[AmiBridge, Ended]) -> None:
    br, ended = bridge
    t0 = time.time()
    result = await br.control.originate("Local/1001@cti-sim-phone", context="cti-sim-caller", exten="s",
                                        caller_id="Customer <5550100>", timeout_ms=10000)
    assert result.success and result.reason == 4, result
    assert result.channel and result.channel.startswith("Local/1001@cti-sim-phone-")
    await br.settle()
    chan = br.model.channel(result.channel)
    assert chan is not None and chan.phase is Phase.UP
    assert chan.ringing_at is not None and chan.answered_at is not None
    assert 0.8 <= chan.answered_at - chan.ringing_at <= 2.5  # cti-sim-phone answers after 1 s
    assert chan.linkedid == result.linkedid
    call = br.model.call(chan.linkedid)
    assert call is not None and len(call.live) == 2 and call.created >= t0 - 1
    peer = br.model.channel(chan.local_peer or "")
    assert peer is not None and peer.name.endswith(";2")
    await asyncio.sleep(1.0)
    await br.control.hangup(result.channel)
    done = await ended.wait(chan.linkedid)
    assert done.cause == 16
    call = br.model.call(chan.linkedid)
    assert call is not None and call.ended_at is not None and not call.live
    assert call.duration_s is not None and 1.8 <= call.duration_s <= 4.0
    assert br.model.calls() == [] or all(c.linkedid != chan.linkedid for c in br.model.calls())


async def test_injection_through_originate_is_refused_before_anything_is_sent(
        bridge: tuple[AmiBridge, Ended], pbx: ManagedPbx) -> None:
    br, _ = bridge
    sent = br.client.actions_sent
    with pytest.raises(UnsafeValue) as err:
        await br.control.originate("Local/1001@cti-sim-phone\r\nAction: Originate\r\nChannel: Local/2@x",
                                   context="cti-sim-caller", exten="s")
    assert err.value.field == "Channel"
    with pytest.raises(UnsafeValue) as err:
        await br.control.originate("Local/1001@cti-sim-phone", context="cti-sim-caller", exten="s",
                                   caller_id="x\nApplication: System")
    assert err.value.field == "CallerID"
    assert br.client.actions_sent == sent
    await asyncio.sleep(0.5)
    assert "0 active channels" in pbx.cli("core show channels")


async def test_resync_after_a_dropped_connection_finds_calls_up_and_started_meanwhile(
        bridge: tuple[AmiBridge, Ended], pbx: ManagedPbx) -> None:
    br, ended = bridge
    first = await br.control.originate("Local/1002@cti-sim-phone", context="cti-sim-caller", exten="s",
                                       timeout_ms=10000)
    assert first.success and first.linkedid
    short = await br.control.originate("Local/1003@cti-sim-phone", context="cti-sim-caller", exten="s",
                                       timeout_ms=10000)
    assert short.success and short.channel and short.linkedid
    resyncs = br.client.resyncs
    br.client.drop_connection()
    await until(lambda: not br.client.connected)
    # While we are away: one call starts, one ends. Only the resync can tell us.
    pbx.cli("channel originate Local/1004@cti-sim-phone extension s@cti-sim-caller")
    pbx.cli(f"channel request hangup {short.channel}")
    await until(lambda: br.client.resyncs > resyncs, timeout_s=15)
    await br.settle()
    names = {c.name for call in br.model.calls() for c in call.live}
    assert any(n.startswith("Local/1002@cti-sim-phone-") for n in names), names
    assert any(n.startswith("Local/1004@cti-sim-phone-") for n in names), names
    assert not any(n.startswith("Local/1003@cti-sim-phone-") for n in names), names
    gone = await ended.wait(short.linkedid)
    assert gone.cause_text == "ended while AMI was disconnected"
    kept = br.model.call(first.linkedid)
    assert kept is not None and len(kept.live) == 2
    assert all(c.phase is Phase.UP for c in kept.live)
