"""The router's timers: what falls due when, and the timers of a call's stay in its queue.

A timer names its subject (a call or agent id) and a token (the call's epoch or offer number, the
agent's wrap epoch) that must still match when it fires; one that no longer matches is ignored, so
nothing is ever cancelled. Queue timers (steps, limits, announcements) are only scheduled once a
call has to wait.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Iterator

from acd.model import QueueConfig, QueuedCall

STEP, PREF, OVERFLOW, MAX_WAIT, ANNOUNCE, RING, WRAP, PARK = range(8)


class Timers:
    """Pending timers, earliest first; equal due times fire in the order they were set."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, int, str, int]] = []
        self._seq = 0

    def at(self, due: float, kind: int, subject: str, token: int) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (due, self._seq, kind, subject, token))

    def next_due(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def due(self, now: float) -> Iterable[tuple[float, int, str, int]]:
        """Pop (due, kind, subject, token) of each timer due by ``now``, including those set meanwhile."""
        heap = self._heap
        if not heap or heap[0][0] > now:
            return ()  # most events: nothing due, and no generator to build
        return self._pop_due(now)

    def _pop_due(self, now: float) -> Iterator[tuple[float, int, str, int]]:
        heap = self._heap
        while heap and heap[0][0] <= now:
            due, _, kind, subject, token = heapq.heappop(heap)
            yield due, kind, subject, token

    def arm(self, call: QueuedCall, cfg: QueueConfig, now: float) -> None:
        """Schedule the timers of the call's stay in its queue, the first time it has to wait.

        A call offered at once never needs them; one that comes back from a failed offer catches up
        first with the steps and the preferred-agent window that passed while it rang.
        """
        call.armed = True
        base, epoch, call_id = call.entered_queue_at, call.epoch, call.call_id
        elapsed = now - base
        steps = cfg.steps
        step = call.step
        while step + 1 < len(steps) and steps[step + 1].after_s <= elapsed:
            step += 1
        if step != call.step:
            call.step = step
            call.need = steps[step].requirement(call.skills)
        for later in steps[step + 1:]:
            self.at(base + later.after_s, STEP, call_id, epoch)
        if call.pref_active and not call.pinned:  # a pinned call waits for its agent, no window
            if elapsed >= cfg.preferred_agent_s:
                call.pref_active = False
            else:
                self.at(base + cfg.preferred_agent_s, PREF, call_id, epoch)
        if cfg.overflow_after_s is not None and cfg.overflow_to is not None:
            self.at(max(now, base + cfg.overflow_after_s), OVERFLOW, call_id, epoch)
        if cfg.max_wait_s is not None:
            self.at(max(now, base + cfg.max_wait_s), MAX_WAIT, call_id, epoch)
        if cfg.announce_every_s:
            every = cfg.announce_every_s
            self.at(base + every * (math.floor(elapsed / every) + 1), ANNOUNCE, call_id, epoch)
