"""A bounded cache of recently seen values, for riding out a database outage: the IVR's customer
look-ups, screen pops and logins fall back on what was read most recently (and say so)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class RecentCache(Generic[K, V]):
    """Least-recently-used, at most ``size`` entries, each good for ``ttl_s`` after it was put."""

    def __init__(self, size: int, ttl_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        if size < 1 or ttl_s <= 0:
            raise ValueError("size and ttl_s must be positive")
        self.size, self.ttl_s, self.clock = size, ttl_s, clock
        self._items: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, key: K, value: V) -> None:
        self._items[key] = (self.clock(), value)
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def get(self, key: K) -> tuple[bool, V | None]:
        """(found, value): an entry older than the TTL is dropped and not found."""
        entry = self._items.get(key)
        if entry is None:
            return False, None
        if self.clock() - entry[0] > self.ttl_s:
            del self._items[key]
            return False, None
        self._items.move_to_end(key)
        return True, entry[1]

    def drop(self, key: K) -> None:
        self._items.pop(key, None)

    def items(self) -> list[tuple[K, V]]:
        """A snapshot of the entries (expired ones included), oldest use first."""
        return [(k, v) for k, (_, v) in self._items.items()]
