"""A virtual-hold entry a restarted engine takes back (``VirtualHold.recover``) is counted by its
queue's live figures as it would have been without the restart (docs/kpis.md, docs/callbacks.md).

The entry is saved with its first queue entry (``entered_at``, its place) and its queue, nothing
about its stays, and the restored entry waits from ``entered_at``. For a caller a supervisor moved
before pressing the key that is the same wait as the live engine's: the waits before the move
(``moved_wait_s``) plus its stay in the new queue, the stays being back to back. (For a caller an
overflow moved, or one put back after an answer, it is not: the live engine counts the stay in the
queue the caller was sent to, or the stay after the put-back and no second answer; the saved entry
has no place for the stay's start or the put-back without a migration.)"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from acd.calls import LiveCall
from acd.delivery import AcdService
from acd.model import QueueConfig
from acd.routing import Router
from acd.stats import QueueSnapshot
from acd.virtual_hold import MemoryVirtualHoldStore, VirtualHoldPolicy
from acd.virtual_hold_pbx import VirtualHold
from cti.ami.control import FakeCallControl
from cti.bus import InProcessBus

POLICY = VirtualHoldPolicy(offer_after_s=10, offer_ewt_s=None)


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


async def _answered(vh: VirtualHold, queue: str, clock: Clock) -> QueueSnapshot:
    """The entry's turn: agent g (logged in to ``queue`` only) is reserved, the customer answers the
    callback and g the call; the queue's live figures then."""
    r = vh.acd.router
    r.agent_login("g", {}, clock.now, queues=[queue], ready=True)  # the router's steps alone: no PBX
    r.callback_answered("c1", "g", clock.now + 5, new_id="cb1")
    r.offer_answered("cb1", "g", clock.now + 6)
    return r.queue_snapshot(queue, clock.now + 10)


Before = Callable[[VirtualHold, Clock], Awaitable[str]]  # what happened before the key; the queue then


async def _moved(vh: VirtualHold, clock: Clock) -> str:
    """Waits 100..200 in support, a supervisor moves it to general."""
    await vh.acd.decide(lambda now: vh.acd.router.move_waiting("c1", "general", now, actor="sup"))
    return "general"


async def _figures(before: Before, *, restart: bool) -> tuple[int, float | None]:
    """The caller enters support at 100; ``before``; presses the key 10 s later; (the engine restarts
    20 s after the key;) its turn 30 s after the key: its queue's answered calls and ASA."""
    clock, store = Clock(), MemoryVirtualHoldStore()
    vh = _engine(store, clock)
    await vh.acd.enqueue(LiveCall("c1", "PJSIP/x-1", "+8613900000001", "support"))
    clock.now = 200.0
    queue = await before(vh, clock)
    key = clock.now = clock.now + 10.0
    assert await vh.accept("c1")
    if restart:
        clock.now = key + 20.0
        vh = _engine(store, clock)
        assert await vh.recover() == 1
    clock.now = key + 30.0
    went = await _answered(vh, queue, clock)
    return went.answered, went.asa_s


async def test_a_moved_callers_restored_entry_keeps_the_waits_before_the_move() -> None:
    """The saved entry keeps no ``moved_wait_s`` and needs none: it waits from its first entry, which
    is the waits before the move plus its stay after it."""
    assert await _figures(_moved, restart=False) == (1, 146.0)  # 100 s in support and 46 s in general
    assert await _figures(_moved, restart=True) == (1, 146.0)

