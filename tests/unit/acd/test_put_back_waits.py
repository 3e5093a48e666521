"""Queue waits of a call put back in queue after its agent's softphone was lost (acd.reconnect):
its talk is no wait; each stay in a queue is a wait of its own (``QueueLeft.waited_s``, the call
log's visits), and the call's queue wait is their sum (docs/kpis.md)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from acd.calls import LiveCall
from acd.delivery import AcdService
from acd.events import AgentOffer
from acd.model import LimitKind, LimitSpec, QueueConfig
from acd.recovery import ENTRY_VAR, QueueEntry, decode_entry, encode_entry
from acd.routing import Router
from callcenter.recovery import _live
from crm_core.fold import fold
from cti.ami.control import FakeCallControl
from cti.bus import InProcessBus
from cti.events import Event
from cti.journey import CallConnected, CallEnded, QueueEntered, QueueLeft

T0 = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


async def _put_back(support: QueueConfig) -> tuple[AcdService, Clock, list[Event], LiveCall]:
    """L1 queued at 0 in support, answered by 1001 at 10; 1001's softphone lost, not back: put back at 70."""
    clock = Clock()
    bus = InProcessBus()
    acd = AcdService(Router([support, QueueConfig("general")]), FakeCallControl(), bus, clock=clock)
    seen: list[Event] = []

    async def publish(ev: Any) -> None:
        seen.append(ev)
        await InProcessBus.publish(bus, ev)

    bus.publish = publish  # type: ignore[method-assign]
    acd.subscribe()
    await bus.start()
    call = LiveCall(linkedid="L1", caller_channel="PJSIP/trunk-1", caller_number="138", queue="support")
    await acd.enqueue(call)
    clock.now = T0 + 10.0
    await acd.agent_login("1001", {}, ["support"], ready=True)
    assert call.ring_task is not None
    await call.ring_task  # the fake phone answers at 10
    assert call.status == "talking" and call.answered_at == T0 + 10.0
    await bus.publish(CallConnected(ts=clock.now, linkedid="L1", agent_id="1001", queue="support"))  # the call model's
    clock.now = T0 + 70.0
    await acd.reconnect._requeue(call)
    return acd, clock, seen, acd.calls["L1"]


def _left(seen: list[Event]) -> list[tuple[str, str, float]]:
    return [(e.queue, e.reason, e.waited_s) for e in seen if isinstance(e, QueueLeft)]


@pytest.mark.parametrize("by_limit", [False, True])
async def test_a_put_back_call_moved_on_says_its_wait_since_the_put_back_and_the_fold_sums_its_waits(
        by_limit: bool) -> None:
    """Moved to general 30 s after the put-back (an overflow, or a max wait's ``queue`` action):
    QueueLeft said 100 s (from the first entry, the talk included) and the call log's wait was 115 s
    (that figure added to the first wait); it waited 10 + 30 + 5 = 45 s."""
    if by_limit:
        support = QueueConfig("support", wrap_up_s=600.0, max_wait_s=30.0,
                              max_wait_action=LimitSpec(LimitKind.QUEUE, "general"))
    else:
        support = QueueConfig("support", wrap_up_s=600.0, overflow_to="general", overflow_after_s=30.0)
    acd, clock, seen, call = await _put_back(support)
    clock.now = T0 + 100.0
    await acd.decide(acd.router.tick)
    assert _left(seen) == [("support", "overflow", 30.0)]
    assert [(e.queue, e.ts - T0) for e in seen if isinstance(e, QueueEntered)] == [
        ("support", 0.0), ("support", 70.0), ("general", 100.0)]  # the put-back is a stay of its own
    clock.now = T0 + 105.0
    await acd.agent_login("1002", {}, ["general"], ready=True)
    pops = [e for e in seen if isinstance(e, AgentOffer) and e.agent_id == "1002"]
    assert [p.waited_s for p in pops] == [35.0]  # the pop: the present wait, since the put-back
    assert call.ring_task is not None
    await call.ring_task
    events = [*seen, CallConnected(ts=T0 + 105.0, linkedid="L1", agent_id="1002", queue="general"),
              CallEnded(ts=T0 + 200.0, linkedid="L1")]
    assert fold("L1", events).fields["wait_s"] == 45.0
    await acd.stop()
    await acd.bus.stop()


async def test_a_put_back_caller_who_hangs_up_waited_since_the_put_back_in_that_stay() -> None:
    acd, clock, seen, _ = await _put_back(QueueConfig("support", wrap_up_s=600.0))
    clock.now = T0 + 90.0
    await acd.bus.publish(CallEnded(ts=clock.now, linkedid="L1"))
    await acd.bus.drain()
    assert _left(seen) == [("support", "abandoned", 20.0)]
    assert fold("L1", seen).fields["wait_s"] == 30.0  # 10 s before the answer, 20 s after the put-back
    await acd.stop()
    await acd.bus.stop()


async def test_a_call_moved_twice_says_each_stays_wait() -> None:
    """support -> general after 60 s, general -> sales 30 s later: the second QueueLeft said 90 s (from
    the first entry); its stay in general was 30 s, and the call log's wait is the sum of the stays."""
    clock = Clock()
    bus = InProcessBus()
    acd = AcdService(Router([QueueConfig("support", overflow_to="general", overflow_after_s=60.0),
                             QueueConfig("general", overflow_to="sales", overflow_after_s=30.0),
                             QueueConfig("sales")]), FakeCallControl(), bus, clock=clock)
    seen: list[Event] = []

    async def publish(ev: Any) -> None:
        seen.append(ev)

    bus.publish = publish  # type: ignore[method-assign]
    await acd.enqueue(LiveCall(linkedid="L1", caller_channel="PJSIP/trunk-1", caller_number="138", queue="support"))
    for t in (60.0, 90.0, 100.0):
        clock.now = T0 + t
        await acd.decide(acd.router.tick)
    assert _left(seen) == [("support", "overflow", 60.0), ("general", "overflow", 30.0)]
    assert fold("L1", [*seen, CallEnded(ts=T0 + 100.0, linkedid="L1")]).fields["wait_s"] == 100.0
    await acd.stop()


async def test_a_put_back_caller_taken_back_after_a_restart_keeps_its_put_back_and_its_answer() -> None:
    """The engine dies while a put-back caller waits again; the next one takes it back from the entry
    on its channel (``CTI_ACD``). That entry said nothing of the put-back: the restored stay counted
    from the first entry (the talk included) and the caller's hang-up was an abandon of a call the
    queue had counted answered."""
    acd, _, _, _ = await _put_back(QueueConfig("support", wrap_up_s=600.0))
    await acd.stop()  # waits for the entry's write
    assert isinstance(acd.control, FakeCallControl)
    entry = decode_entry(acd.control.variables[("PJSIP/trunk-1", ENTRY_VAR)])
    assert entry is not None and (entry.entered_at, entry.put_back_at) == (T0, T0 + 70.0)
    await acd.bus.stop()

    clock = Clock()
    clock.now = T0 + 80.0
    bus = InProcessBus()
    seen: list[Event] = []

    async def publish(ev: Any) -> None:
        seen.append(ev)
        await InProcessBus.publish(bus, ev)

    bus.publish = publish  # type: ignore[method-assign]
    again = AcdService(Router([QueueConfig("support", wrap_up_s=600.0)]), FakeCallControl(), bus, clock=clock)
    await again.restore_waiting(_live(entry, "PJSIP/trunk-1"))
    assert again.waiting_calls(T0 + 80.0)[0].waited_s == 10.0  # the wallboard's wait: since the put-back
    clock.now = T0 + 90.0
    await again.decide(lambda t: again.router.caller_hung_up("L1", t))
    assert _left(seen) == [("support", "abandoned", 20.0)]
    stats = again.router.queue_snapshot("support", clock.now)
    assert (stats.abandoned, stats.answered) == (0, 0)  # an answered call: the first engine counted it
    await again.stop()


def test_a_put_back_entry_is_v4_and_reads_back() -> None:
    put_back = QueueEntry("L1", "support", 100.0, 2, 7, {"support": 3}, "+8613900000000", put_back_at=170.0)
    text = encode_entry(put_back)
    assert text == "v4|L1|support|100.000|2|7|support:3|100.000|170.000|+8613900000000"
    assert "," not in text and text.split("|")[2:4] == ["support", "100.000"]  # what the dialplan CUTs
    assert decode_entry(text) == put_back
    moved_then_put_back = dataclasses.replace(put_back, queue_entered_at=130.0)
    assert decode_entry(encode_entry(moved_then_put_back)) == moved_then_put_back
    for bad in ("v4|a|b|1|0|||1|x|", "v4|a|b|1|0|||1|2", "v4|a|b|1|0|||x|2|"):
        assert decode_entry(bad) is None


def test_a_put_back_caller_moved_on_before_the_restart_is_no_answered_call_of_its_new_queue() -> None:
    """Put back at 170 in support, moved to general at 200: general never answered it (the router's
    own move says so), so its restored stay there counts from the move and a hang-up is general's abandon."""
    r = Router([QueueConfig("support"), QueueConfig("general")])
    r.restore_waiting("L1", "general", 230.0, entered_at=100.0, queue_entered_at=200.0, put_back_at=170.0)
    assert r.call("L1").entered_queue_at == 200.0
    assert r.queue_snapshot("general", 230.0).longest_wait_s == 60.0  # since the put-back, not the first entry
    r.caller_hung_up("L1", 240.0)
    assert r.queue_snapshot("general", 240.0).abandoned == 1
    r.restore_waiting("L2", "support", 230.0, entered_at=100.0, put_back_at=170.0)
    assert r.call("L2").entered_queue_at == 170.0
    assert r.queue_snapshot("support", 230.0).longest_wait_s == 60.0
    r.caller_hung_up("L2", 240.0)
    assert r.queue_snapshot("support", 240.0).abandoned == 0
