"""Exponential reconnect delays between ``reconnect_min_s`` and ``reconnect_max_s``."""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    """min, 2*min, 4*min ... capped at max; ``reset`` after a good connection.

    ``jitter`` (0..1) spreads the delay down by up to that fraction so that several engine
    nodes do not hammer a restarted Asterisk in lock step.
    """

    def __init__(self, min_s: float, max_s: float, *, jitter: float = 0.0,
                 rand: Callable[[], float] = random.random) -> None:
        if min_s <= 0 or max_s < min_s:
            raise ValueError("need 0 < min_s <= max_s")
        self.min_s, self.max_s, self.jitter, self._rand = min_s, max_s, jitter, rand
        self.attempt = 0

    def next_delay(self) -> float:
        delay = min(self.max_s, self.min_s * (1 << min(self.attempt, 32)))
        self.attempt += 1
        if self.jitter:
            delay *= 1 - self.jitter * self._rand()
        return delay

    def reset(self) -> None:
        self.attempt = 0
