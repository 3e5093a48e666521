"""A virtual-hold callback's call put back in queue (its agent's softphone lost) carries the mark in
its queue entry (``CTI_ACD`` v6), so an engine restarted meanwhile takes it back as the callback's
call: its answer is in no offered figure of the queue (docs/kpis.md), and the agent's offer says
it is a callback. Before, the entry (v4) said nothing of it and the restarted engine counted its
answer as the queue's answered call."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest

from acd.delivery import AcdService
from acd.model import CallState, QueueConfig
from acd.recovery import ENTRY_VAR, QueueEntry, decode_entry, encode_entry
from acd.routing import Router
from acd.virtual_hold import MemoryVirtualHoldStore, VirtualHoldPolicy
from acd.virtual_hold_pbx import VirtualHold
from callcenter.recovery import _live
from cti.ami.control import FakeCallControl, OriginateResult
from cti.bus import InProcessBus
from tests.helpers import until

POLICY = VirtualHoldPolicy(offer_after_s=10, offer_ewt_s=None, first_offer_s=1, reoffer_every_s=None,
                           max_attempts=2, retry_pause_s=30, ring_s=5)
SUPPORT = QueueConfig("support", ring_timeout_s=15, callback_ring_s=5)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_callback_entry_is_v6_and_reads_back() -> None:
    entry = QueueEntry("cb-1", "support", 100.0, 2, 7, {"support": 3}, "+8613900000000", put_back_at=170.0,
                       callback=True)
    text = encode_entry(entry)
    assert text == "v6|cb-1|support|100.000|2|7|support:3|100.000|170.000|0.000|callback|+8613900000000"
    assert "," not in text and text.split("|")[2:4] == ["support", "100.000"]  # what the dialplan CUTs
    assert decode_entry(text) == entry
    moved = dataclasses.replace(entry, queue_entered_at=180.0, put_back_at=None, moved_wait_s=12.5)
    assert decode_entry(encode_entry(moved)) == moved
    # Without the mark an entry keeps the version it had (read by older engines too).
    assert encode_entry(dataclasses.replace(entry, callback=False)).startswith("v4|")
    # A mark this engine does not know, or a damaged field: refused, never read as an ordinary caller.
    for bad in ("v6|a|b|1|0|||1|2|0|recorded|+86", "v6|a|b|1|0|||1|2|x|callback|+86", "v6|a|b|1|0|||1|2|0|callback"):
        assert decode_entry(bad) is None, bad
    assert decode_entry("v6|a|b|1|0|||1||0||+86") == QueueEntry("a", "b", 1.0, 0, None, None, "+86")


@pytest.fixture
async def rig() -> AsyncIterator[tuple[VirtualHold, FakeCallControl, Clock]]:
    bus, clock = InProcessBus(), Clock()
    await bus.start()
    control = FakeCallControl()
    acd = AcdService(Router((SUPPORT,)), control, bus, clock=clock)
    vh = VirtualHold(acd, {"support": POLICY}, MemoryVirtualHoldStore(), far_end_wait_s=0)
    await acd.agent_login("1001", {}, ["support"])
    yield vh, control, clock
    await vh.stop()
    await bus.stop()


async def test_a_put_back_callback_call_taken_back_by_a_restarted_engine_is_still_the_callback(rig: Any) -> None:
    vh, control, clock = rig
    control.originate_result = OriginateResult(True, 4, "cb.1", "cb-call", "Local/8613900000001@cti-external/n")
    entry = await vh.request("+8613900000001", "support")
    await vh.acd.set_ready("1001")
    await until(lambda: entry.entry_id in vh.calling._answers)
    vh.calling.answer_reported(entry.entry_id, True)
    await until(lambda: "cb-call" in vh.acd.calls and vh.acd.router.call("cb-call").state is CallState.CONNECTED)
    call = vh.acd.calls["cb-call"]  # the agent talks with the customer
    clock.now += 60.0  # the agent's softphone is lost and does not come back: the customer waits again
    await vh.acd.release_agent(call)
    await vh.acd.restore_waiting(dataclasses.replace(call, status="queued", agent_id=None, agent_channel=None,
                                                     answered_at=None, ring_task=None, consult=None),
                                 fresh_timers=True)
    key = (call.caller_channel, ENTRY_VAR)
    written = await until(lambda: control.variables.get(key), what="the put-back's entry on the channel")
    taken = decode_entry(written)
    assert taken is not None and taken.callback and taken.put_back_at == clock.now

    # The engine dies; the next one reads the entry on the customer's channel (acd.recovery).
    clock.now += 5.0
    bus = InProcessBus()
    await bus.start()
    again = AcdService(Router((SUPPORT,)), FakeCallControl(), bus, clock=clock)
    try:
        await again.restore_waiting(_live(taken, call.caller_channel))
        restored = again.calls["cb-call"]
        assert (restored.callback, restored.direction) == (True, "inbound")  # the agent's offer says callback
        again.router.agent_login("1002", {}, clock.now, queues=["support"], ready=True)  # offered at once
        again.router.offer_answered("cb-call", "1002", clock.now + 10)
        snap = again.router.queue_snapshot("support", clock.now + 11)
        assert (snap.offered, snap.answered, snap.answered_wait_s) == (0, 0, 0.0)
    finally:
        await again.stop()
        await bus.stop()
