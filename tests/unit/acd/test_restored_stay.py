"""A caller moved to another queue (an overflow, a limit's ``queue`` action) and taken back by a
restarted engine waits in that queue from its move, not from its first entry: each stay's wait
(``QueueLeft.waited_s``, the answer's, the queue's own figures and timers) is that stay's, while
the caller's total wait (ASA, longest wait: docs/kpis.md) still counts from its first entry and it
keeps its place. The entry written on the caller's channel (``CTI_ACD``, acd.recovery) carries
both times. Before, it carried the first entry only, and the restored stay counted from there."""

from __future__ import annotations

from typing import Any

import pytest

from acd.calls import LiveCall
from acd.decisions import Bridge
from acd.delivery import AcdService
from acd.model import LimitKind, LimitSpec, QueueConfig
from acd.recovery import ENTRY_VAR, QueueEntry, decode_entry, encode_entry
from acd.routing import Router
from callcenter.recovery import _live
from cti.ami.control import FakeCallControl
from cti.bus import InProcessBus
from cti.events import Event
from cti.journey import QueueLeft

T0 = 1_800_000_000.0


def test_an_entry_after_a_move_carries_its_stay_and_is_v2_otherwise() -> None:
    moved = QueueEntry("L1", "billing", 100.0, 2, 7, {"support": 3}, "+8613900000000", queue_entered_at=160.0)
    text = encode_entry(moved)
    assert text == "v3|L1|billing|100.000|2|7|support:3|160.000|+8613900000000"
    assert "," not in text and text.split("|")[2:4] == ["billing", "100.000"]  # what the dialplan CUTs
    assert decode_entry(text) == moved
    first = QueueEntry("L1", "support", 100.0)
    assert encode_entry(first).startswith("v2|") and decode_entry(encode_entry(first)) == first
    # The same time as the first entry (no move) is no stay of its own: v2, read back as such.
    assert decode_entry(encode_entry(QueueEntry("L1", "support", 100.0, queue_entered_at=100.0))) == first
    for bad in ("v3|a|b|1|0|||x|", "v3|a|b|1|0|||", "v3|a|b|1|0|||2"):
        assert decode_entry(bad) is None


def test_the_router_restores_the_stay_from_the_move_and_the_wait_from_the_first_entry() -> None:
    r = Router([QueueConfig("support"), QueueConfig("billing", ring_timeout_s=15.0)])
    r.enqueue("new", "billing", 280.0)
    r.restore_waiting("L1", "billing", 300.0, entered_at=100.0, queue_entered_at=250.0)
    call = r.call("L1")
    assert (call.enqueued_at, call.entered_queue_at) == (100.0, 250.0)
    assert r.waiting("billing") == ["L1", "new"]  # its place: its first entry
    assert r.queue_snapshot("billing", 300.0).longest_wait_s == 200.0  # the caller's wait (docs/kpis.md)
    r.agent_login("a", {}, 305.0, queues=["billing"])
    out = r.set_ready("a", 305.0)
    out += r.offer_answered("L1", "a", 310.0)
    assert [d.wait_s for d in out if isinstance(d, Bridge)] == [60.0]  # this stay: 250 -> 310


@pytest.mark.parametrize("by_limit", [False, True])
async def test_a_moved_caller_taken_back_after_a_restart_says_the_wait_of_its_stay(by_limit: bool) -> None:
    if by_limit:
        support = QueueConfig("support", max_wait_s=30.0, max_wait_action=LimitSpec(LimitKind.QUEUE, "general"))
    else:
        support = QueueConfig("support", overflow_to="general", overflow_after_s=30.0)
    configs = [support, QueueConfig("general")]
    control = FakeCallControl()
    now = [T0]
    first = AcdService(Router(configs), control, InProcessBus(), clock=lambda: now[0])
    call = LiveCall(linkedid="L1", caller_channel="PJSIP/trunk-1", caller_number="138", queue="support")
    await first.enqueue(call)
    now[0] = T0 + 40.0
    await first.decide(first.router.tick)  # moved to general at 40 s
    await first.stop()  # waits for the entry's write
    entry = decode_entry(control.variables[("PJSIP/trunk-1", ENTRY_VAR)])
    assert entry is not None and entry.queue == "general"
    assert (entry.entered_at, entry.queue_entered_at) == (T0, T0 + 40.0)

    # The engine dies; the next one takes the caller back from that entry and the caller hangs up at 100 s.
    bus = InProcessBus()
    seen: list[Event] = []

    async def publish(ev: Any) -> None:
        seen.append(ev)
        await InProcessBus.publish(bus, ev)

    bus.publish = publish  # type: ignore[method-assign]
    now[0] = T0 + 90.0
    again = AcdService(Router(configs), FakeCallControl(), bus, clock=lambda: now[0])
    await again.restore_waiting(_live(entry, "PJSIP/trunk-1"))
    assert again.router.call("L1").entered_queue_at == T0 + 40.0
    assert again.waiting_calls(T0 + 90.0)[0].waited_s == 90.0  # the caller's wait: from its first entry
    now[0] = T0 + 100.0
    await again.decide(lambda t: again.router.caller_hung_up("L1", t))
    assert [(e.queue, e.reason, e.waited_s) for e in seen if isinstance(e, QueueLeft)] == [
        ("general", "abandoned", 60.0)]  # this stay (40 -> 100), not 100 s from the first entry
