r"""What both event-feed stores share: the cursor's text form, the in-memory ring of recent rows
that live readers are served from, and ``follow`` (catch up by pages, then wait for the ring).

    store --_publish(rows)--> ring (cursor order) --page(after)/follow(since)--> readers
                                 \-- older than the ring: store._older(after) (database, XRANGE)

A row is ``(cursor, type, wire JSON)``: the envelope is serialised once, when the event is
accepted, and every reader gets the same string. A store decides when rows reach the ring and
what the ring may forget (``_trim``): never a row its backing store cannot serve yet.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, Protocol

Row = tuple[int, str, str]  # (cursor, type, wire JSON)
_PAGE = 500
_EARLY = 0.001  # the loop may run a timer this much before its time (its clock's resolution)


def wire(cursor: int, body: str) -> str:
    """The envelope with its cursor, spliced into the stored JSON (no re-encoding per reader)."""
    return f'{{"cursor":"{cursor}",{body[1:]}'


def parse_cursor(value: str | None) -> int | None:
    """A client's cursor as an integer; None for absent; ValueError for anything but digits."""
    if value is None or value == "":
        return None
    if not value.isdigit() or len(value) > 19:
        raise ValueError("cursor must be the decimal string a feed event carried")
    return int(value)


class CursorAhead(ValueError):
    """A client's cursor above the newest event the store holds: the store never handed it out (it
    is another store's, or from before the database was restored from a backup). Answering it with
    nothing would hide every event up to it."""

    def __init__(self, since: int, newest: int | None) -> None:
        super().__init__(f"cursor {since} is ahead of the newest event ({newest or 'none yet'}): it comes from "
                         "another feed store or from before a restore; start again without it")
        self.since, self.newest = since, newest


class Feed(Protocol):
    """What the HTTP layer and the webhooks read (``crm_core.feed.EventFeed`` on the database,
    ``crm_core.feed_stream.StreamFeed`` on a Redis stream)."""

    head: int

    def subscribe(self, bus: Any) -> None: ...
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def flush(self, timeout_s: float = 30.0) -> None: ...
    async def gap(self, since: int | None) -> dict[str, str] | None:
        """The events a resuming client missed (older than the retention), or None; CursorAhead
        when ``since`` is above the store's newest event."""
    async def page(self, after: int, limit: int = _PAGE, types: frozenset[str] | None = None) -> list[Row]: ...
    def follow(self, since: int | None, *, types: frozenset[str] | None = None,
               idle_s: float = 15.0) -> AsyncIterator[Row | None]: ...
    def follow_batches(self, since: int | None, *, types: frozenset[str] | None = None,
                       idle_s: float = 15.0) -> AsyncIterator[list[Row] | None]: ...


class _Alarm:
    """One reader's timer: it wakes the reader for its heartbeat (``idle_s`` after the last thing the
    reader gave its caller) and for a look at the store when nothing woke it for ``poll_s``. Armed
    once and moved on only when it rings: a reader woken at every event neither creates nor cancels
    a timer per wake (``asyncio.timeout`` around each wait did: a quarter of a reader's Python calls
    per wake, bench/RESULTS.md issue 19 thirty-fifth round), and a ring finding the reader woken since
    it was armed (it looked at the ring then) re-arms without waking it."""

    __slots__ = ("_armed_for", "fut", "given", "handle", "idle_s", "loop", "poll_s", "rang")

    def __init__(self, loop: asyncio.AbstractEventLoop, idle_s: float, poll_s: float) -> None:
        self.loop, self.idle_s, self.poll_s = loop, idle_s, poll_s
        self.given = loop.time()  # when the reader last gave its caller a row or a heartbeat
        self.fut: asyncio.Future[None] | None = None  # what the reader waits on now
        self._armed_for: asyncio.Future[None] | None = None
        self.handle: asyncio.TimerHandle | None = None
        self.rang = False  # rang and woke the reader

    def arm(self) -> None:
        """Before the reader waits on ``fut``: the timer runs (nothing to do if it already does)."""
        if self.handle is None:
            self._armed_for = self.fut
            self.handle = self.loop.call_at(min(self.given + self.idle_s, self.loop.time() + self.poll_s), self.ring)

    def heartbeat_due(self, now: float) -> bool:
        return now >= self.given + self.idle_s - _EARLY

    def ring(self) -> None:
        self.handle = None
        fut = self.fut
        if fut is None or fut.done():
            return  # the reader is busy giving rows: it arms again when it next waits
        now = self.loop.time()
        if fut is not self._armed_for and not self.heartbeat_due(now):
            # The reader woke (rows came) after this was armed, so it looked at the store then.
            self._armed_for = fut
            self.handle = self.loop.call_at(min(self.given + self.idle_s, now + self.poll_s), self.ring)
            return
        self.rang = True
        fut.set_result(None)

    def cancel(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None


class RingFeed:
    """The reading half of a feed store; subclasses fill the ring and serve what it no longer holds."""

    def __init__(self, *, recent: int, poll_s: float) -> None:
        self.head = 0  # highest cursor readers may see
        self.recent = recent
        self.poll_s = poll_s  # readers also look at the store this often (rows the ring missed)
        self._ring: deque[Row] = deque()
        # Readers asleep until the next rows (insertion-ordered: woken in the order they slept).
        self._waiting: dict[asyncio.Future[None], None] = {}

    async def _older(self, after: int, limit: int, types: frozenset[str] | None) -> list[Row]:
        raise NotImplementedError

    def _publish(self, rows: list[Row]) -> None:
        """Rows (in cursor order, above ``head``) are visible: append them and wake the readers."""
        self._ring.extend(rows)
        self.head = rows[-1][0]
        waiting, self._waiting = self._waiting, {}
        for fut in waiting:
            if not fut.done():
                fut.set_result(None)

    def _next_rows(self) -> asyncio.Future[None]:
        """A future done at the next ``_publish``."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting[fut] = None
        return fut

    def _trim(self, upto: int) -> None:
        """Forget the oldest rows beyond ``recent``, only rows at or below ``upto`` (those the
        backing store can serve)."""
        ring = self._ring
        while len(ring) > self.recent and ring[0][0] <= upto:
            ring.popleft()

    def _forget_below(self, oldest: int) -> None:
        """The store pruned everything below ``oldest``: the ring serves only what is kept."""
        ring = self._ring
        while ring and ring[0][0] < oldest:
            ring.popleft()

    async def page(self, after: int, limit: int = _PAGE, types: frozenset[str] | None = None) -> list[Row]:
        """Up to ``limit`` rows with a cursor above ``after``, in cursor order."""
        ring = self._ring
        if ring and after >= ring[0][0] - 1:
            # The first row above ``after``: rows compare by cursor first, and ``(after + 1,)`` sorts
            # before every row with that cursor (no key function: a Python call per step).
            start = bisect.bisect_left(ring, (after + 1,))
            if types is None:
                return [ring[i] for i in range(start, min(len(ring), start + limit))]
            rows = [ring[i] for i in range(start, len(ring)) if ring[i][1] in types]
            return rows[:limit]
        return await self._older(after, limit, types)

    async def follow(self, since: int | None, *, types: frozenset[str] | None = None,
                     idle_s: float = 15.0) -> AsyncIterator[Row | None]:
        """Every row after ``since`` (None: from now on), in order, then live; yields None when
        nothing came for ``idle_s`` (the caller's heartbeat)."""
        async with contextlib.aclosing(self.follow_batches(since, types=types, idle_s=idle_s)) as batches:
            async for rows in batches:
                if rows is None:
                    yield None
                    continue
                for n, row in enumerate(rows, 1):
                    yield row
                    if n % 100 == 0:
                        await asyncio.sleep(0)  # a hundred readers catching up must not hold the loop in turn

    async def follow_batches(self, since: int | None, *, types: frozenset[str] | None = None,
                             idle_s: float = 15.0) -> AsyncGenerator[list[Row] | None, None]:
        """``follow`` by the rows read at once (in order, never empty; up to a page), or None for the
        heartbeat: one step of the caller per wake instead of one per row (the SSE stream writes
        each list as one piece)."""
        cursor = self.head if since is None else since
        loop = asyncio.get_running_loop()
        alarm = _Alarm(loop, idle_s, self.poll_s)
        try:
            while True:
                # A reader at the head has nothing to read: it waits for the ring without asking the
                # store. (With an empty ring -- a fresh start, nothing published yet -- page() would go
                # to the database: 100 readers connecting at once queued on the connection pool for
                # ~180 ms and held the first events back, the p99 tail of bench/event_feed.py.)
                top = self.head
                ring = self._ring
                scans_ring = types is not None and bool(ring) and cursor >= ring[0][0] - 1  # as page() decides
                rows = [] if cursor == top else await self.page(cursor, _PAGE, types)
                if rows:
                    cursor = rows[-1][0]
                if scans_ring and len(rows) < _PAGE:
                    # The ring held nothing more of these types up to ``top``: step past what was
                    # scanned, or a reader of a rare type re-scanned the whole ring at every event.
                    cursor = max(cursor, top)
                if rows:
                    yield rows
                    alarm.given = loop.time()
                    if len(rows) == _PAGE:
                        await asyncio.sleep(0)  # readers catching up take turns with the rest of the loop
                        continue
                if self.head > cursor and types is None:
                    continue
                fut = alarm.fut = self._next_rows()
                alarm.arm()
                try:
                    await fut
                except BaseException:  # cancelled: the caller went away
                    self._waiting.pop(fut, None)
                    raise
                if alarm.rang:
                    # Woken by the timer (maybe by rows too). Events of other types do not count as
                    # given: a filtered reader's heartbeat comes idle_s after its last row whatever
                    # else the feed carries.
                    alarm.rang = False
                    self._waiting.pop(fut, None)  # not left behind through a quiet night
                    now = loop.time()
                    if alarm.heartbeat_due(now):
                        alarm.given = now
                        yield None
        finally:
            alarm.cancel()
