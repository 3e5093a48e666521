"""A virtual-hold entry a restarted engine takes back (``VirtualHold.recover``) shows the live figures
it would have shown without the restart (docs/kpis.md, docs/callbacks.md): the entry is saved with its
stay (its entry into its queue, its put-back after an answer, the waits carried by a supervisor's
move), so the restored entry is the same in the router as the one that kept running, in the
wallboard's list of the waiting callers, in its callback's offer (the pop's *Waited*) and in what its
queue counts as the callback reaches the agent. With the in-memory store; tests/db/crm/
test_virtual_hold_stay.py does the same on the CRM's table."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from acd.calls import LiveCall
from acd.decisions import Offer
from acd.delivery import AcdService
from acd.model import QueueConfig
from acd.routing import Router
from acd.virtual_hold import MemoryVirtualHoldStore, VirtualHoldPolicy
from acd.virtual_hold_pbx import VirtualHold
from cti.ami.control import FakeCallControl
from cti.bus import InProcessBus

POLICY = VirtualHoldPolicy(offer_after_s=10, offer_ewt_s=None)
COUNTS = ("offered", "answered", "answered_within_sl", "answered_wait_s", "abandoned", "overflowed", "limit_exits",
          "moved", "callbacks_requested", "ewt_samples", "handled")


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def _configs() -> list[QueueConfig]:
    return [QueueConfig("support"), QueueConfig("general", overflow_to="sales", overflow_after_s=300.0),
            QueueConfig("sales")]


def _engine(store: MemoryVirtualHoldStore, clock: Clock) -> VirtualHold:
    acd = AcdService(Router(_configs()), FakeCallControl(), InProcessBus(), clock=clock)
    return VirtualHold(acd, {q.name: POLICY for q in _configs()}, store, far_end_wait_s=0)


Before = Callable[[VirtualHold, Clock], Awaitable[str]]  # what happened before the key; the queue then


async def _moved(vh: VirtualHold, clock: Clock) -> str:
    """Waits 100..200 in support, a supervisor moves it to general."""
    await vh.acd.enqueue(LiveCall("c1", "PJSIP/x-1", "+8613900000001", "support"))
    clock.now = 200.0
    await vh.acd.decide(lambda now: vh.acd.router.move_waiting("c1", "general", now, actor="sup"))
    return "general"


async def _overflowed(vh: VirtualHold, clock: Clock) -> str:
    """Waits 100..400 in general, overflows to sales (the router's step runs a moment after it is due)."""
    await vh.acd.enqueue(LiveCall("c1", "PJSIP/x-1", "+8613900000001", "general"))
    clock.now = 402.5
    await vh.acd.decide(lambda now: vh.acd.router.tick(now))
    return "sales"


async def _put_back(vh: VirtualHold, clock: Clock) -> str:
    """Answered in support, then put back at 200 (its agent's softphone lost, acd.reconnect)."""
    clock.now = 200.0
    await vh.acd.restore_waiting(LiveCall("c1", "PJSIP/x-1", "+8613900000001", "support", queued_at=100.0),
                                 fresh_timers=True)
    return "support"


async def _figures(before: Before, *, restart: bool) -> tuple[Any, ...]:
    """``before``; the caller presses the key 10 s later; (the engine restarts 20 s after the key;)
    its turn 30 s after the key: the router's view of the entry, the wallboard's line for it, its
    callback's offer, and what its queue counted from the restart's instant to the callback's end."""
    clock, store = Clock(), MemoryVirtualHoldStore()
    vh = _engine(store, clock)
    queue = await before(vh, clock)
    key = clock.now = clock.now + 10.0
    assert await vh.accept("c1")
    clock.now = key + 20.0
    if restart:
        vh = _engine(store, clock)
        assert await vh.recover() == 1
    r = vh.acd.router
    view, listed = r.call("c1"), vh.acd.waiting_calls(clock.now)
    start = r.queue_snapshot(queue, clock.now)
    now = key + 30.0
    r.agent_login("g", {}, now, queues=[queue])
    [offer] = [d for d in r.set_ready("g", now) if isinstance(d, Offer)]
    r.callback_answered("c1", "g", now + 5, new_id="cb1")
    r.offer_answered("cb1", "g", now + 6)
    r.call_ended("cb1", now + 60)
    r.set_ready("g", now + 61)
    end = r.queue_snapshot(queue, now + 61)
    return (view, listed, (offer.call_id, offer.callback, offer.waiting_since),
            {k: getattr(end, k) - getattr(start, k) for k in COUNTS})


@pytest.mark.parametrize("before", [_moved, _overflowed, _put_back])
async def test_a_restored_entry_shows_the_figures_of_the_engine_that_kept_running(before: Before) -> None:
    kept = await _figures(before, restart=False)
    assert await _figures(before, restart=True) == kept
    _, listed, offer, counted = kept
    assert offer[:2] == ("c1", True) and [w.call_id for w in listed] == ["c1"]
    # The callback's answer is no answer of the queue, only the agent's handled call (docs/kpis.md).
    assert counted == {**dict.fromkeys(COUNTS, 0), "handled": 1}


async def test_the_saved_entry_carries_its_stay() -> None:
    """What each way into the entry's queue leaves in the saved entry (``VirtualEntry``)."""
    seen = {}
    for before in (_moved, _overflowed, _put_back):
        clock, store = Clock(), MemoryVirtualHoldStore()
        vh = _engine(store, clock)
        await before(vh, clock)
        clock.now += 10.0
        assert await vh.accept("c1")
        e = store.rows["c1"]
        seen[before.__name__] = (e.queue, e.entered_at, e.queue_entered_at, e.put_back_at, e.moved_wait_s)
    assert seen == {"_moved": ("general", 100.0, 200.0, None, 100.0),
                    "_overflowed": ("sales", 100.0, 400.0, None, 0.0),  # due at 400, run at 402.5
                    "_put_back": ("support", 100.0, 200.0, 200.0, 0.0)}
