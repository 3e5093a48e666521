"""Many short deadlines on one event-loop timer (the hub's pop timeouts).

``loop.call_later`` per offer cost ~9 % of the console's CPU in a burst of 1,000 offers
(bench/screen_pop.py): a TimerHandle each, pushed on the loop's heap beside every socket's timers and
left there once cancelled. Here a deadline is a small entry on our own heap, cancelling only flags it,
and one loop timer is armed for the earliest deadline at a time.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(eq=False, slots=True)
class Deadline:
    at: float  # loop time
    fire: Callable[[], None]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True

    def __lt__(self, other: Deadline) -> bool:
        return self.at < other.at


class Deadlines:
    """``add(delay_s, fire)`` calls ``fire()`` after ``delay_s`` unless the returned deadline is cancelled."""

    def __init__(self) -> None:
        self._heap: list[Deadline] = []
        self._timer: asyncio.TimerHandle | None = None
        self._armed_at = float("inf")

    def __len__(self) -> int:
        return sum(not d.cancelled for d in self._heap)

    def add(self, delay_s: float, fire: Callable[[], None]) -> Deadline:
        loop = asyncio.get_running_loop()
        deadline = Deadline(loop.time() + delay_s, fire)
        heapq.heappush(self._heap, deadline)
        if deadline.at < self._armed_at:
            self._arm(loop, deadline.at)
        return deadline

    def clear(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._armed_at = None, float("inf")
        self._heap.clear()

    def _arm(self, loop: asyncio.AbstractEventLoop, at: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._armed_at = loop.call_at(at, self._expire, loop), at

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer, self._armed_at = None, float("inf")
        now = loop.time()
        while self._heap and self._heap[0].at <= now:
            deadline = heapq.heappop(self._heap)
            if deadline.cancelled:
                continue
            try:
                deadline.fire()
            except Exception:  # one failing callback must not strand the deadlines behind it
                log.exception("deadline callback failed")
        if self._heap:
            self._arm(loop, self._heap[0].at)
