"""Login throttling: how often a username and an address may try a password.

Three budgets: per (username, client address) the failures, with a delay doubling after the free
attempts; per address and globally a token bucket of attempts a minute (one host spraying many
usernames, a botnet spraying from many addresses). ``check`` raises ``LoginThrottled`` with the
seconds to wait (the HTTP layer answers 429 with ``Retry-After``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from agent_console.errors import LoginThrottled


@dataclass
class _Failures:
    count: int
    last: float


@dataclass
class _Bucket:
    tokens: float
    at: float

    def wait(self, now: float, per_min: int) -> float:
        """Refill at ``per_min`` a minute; seconds until one attempt is allowed (0: now)."""
        self.tokens = min(float(per_min), self.tokens + (now - self.at) * per_min / 60.0)
        self.at = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) * 60.0 / per_min


@dataclass
class LoginThrottle:
    """Every login attempt spends one token of its address's budget (``per_address_per_min``) and
    of the global one (``global_per_min``). Per (username, client address): ``free_attempts``
    failures cost nothing, then every further attempt must wait
    ``base_delay_s * 2**(n - free_attempts)`` (capped at ``max_delay_s``) after the last failure.
    A success clears the record; idle records are forgotten after ``forget_after_s`` and the table is bounded."""

    free_attempts: int = 3
    base_delay_s: float = 1.0
    max_delay_s: float = 300.0
    forget_after_s: float = 3600.0
    max_entries: int = 100_000
    per_address_per_min: int = 60
    global_per_min: int = 1200
    clock: Callable[[], float] = time.time
    _table: dict[tuple[str, str], _Failures] = field(default_factory=dict)
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    @staticmethod
    def _key(username: str, address: str) -> tuple[str, str]:
        return username.strip().casefold(), address

    def retry_after(self, username: str, address: str) -> float:
        """Seconds before another attempt is allowed (0 when it is allowed now)."""
        f = self._table.get(self._key(username, address))
        if f is None or f.count < self.free_attempts:
            return 0.0
        delay = min(self.max_delay_s, self.base_delay_s * 2.0 ** (f.count - self.free_attempts))
        return max(0.0, f.last + delay - self.clock())

    def check(self, username: str, address: str) -> None:
        wait = self.retry_after(username, address)
        if wait > 0:
            raise LoginThrottled(wait)
        # Beside the per-user record: a budget per address (one host spraying many usernames) and a
        # global one (a botnet spraying from many addresses), each a token bucket per minute.
        now = self.clock()
        for bucket_key, per_min in ((address, self.per_address_per_min), ("*", self.global_per_min)):
            bucket = self._buckets.get(bucket_key)
            if bucket is None:
                if len(self._buckets) >= self.max_entries:
                    self._buckets = {k: b for k, b in self._buckets.items() if now - b.at < 60.0}
                bucket = self._buckets[bucket_key] = _Bucket(float(per_min), now)
            wait = bucket.wait(now, per_min)
            if wait > 0:
                raise LoginThrottled(wait)
        for bucket_key in (address, "*"):
            self._buckets[bucket_key].tokens -= 1

    def failed(self, username: str, address: str) -> None:
        now = self.clock()
        if len(self._table) >= self.max_entries:
            self._table = {k: v for k, v in self._table.items() if now - v.last < self.forget_after_s}
            while len(self._table) >= self.max_entries:  # still full: drop the oldest records
                self._table.pop(min(self._table, key=lambda k: self._table[k].last))
        key = self._key(username, address)
        f = self._table.get(key)
        if f is None or now - f.last >= self.forget_after_s:
            self._table[key] = _Failures(1, now)
        else:
            f.count += 1
            f.last = now

    def succeeded(self, username: str, address: str) -> None:
        self._table.pop(self._key(username, address), None)
