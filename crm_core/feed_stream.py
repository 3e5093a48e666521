"""The event feed's store when several nodes run (``bus: redis``): one Redis stream, ``cti:feed``.

    node A publish --MULTI: XADD cti:events + XADD cti:feed MINID ~ (now - retention)--> Redis
    node B publish --MULTI: ...                                                          |
    every node: tail task --XREAD BLOCK cti:feed--> ring --page/follow--> its SSE clients, webhooks
                older cursors --XRANGE (cursor ...--> readers

Each node writes the public envelope of every event it publishes itself, in the same transaction
as the bus entry (``cti.redis_bus.RedisStreamsBus.add_tap``), so an event is in the feed exactly
once whichever node published it, and in the bus's global order. Every node reads the whole feed,
so a client may resume on any node.

The cursor is the entry id ``<ms>-<seq>`` packed into one decimal integer, ``ms * 10**6 + seq``
(19 digits until the year 2286): cursors still compare as integers and increase strictly, as on
the database store. Retention: XADD trims entries older than ``retention_s`` (MINID, approximate:
whole macro nodes, so a little more is kept; an idle stream is trimmed by the next event).
Durability is Redis's (AOF or RDB): the feed is as safe as the bus.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from crm_core.feed_events import OneEndPerCall, encode_bytes
from crm_core.feed_ring import CursorAhead, RingFeed, Row, wire
from cti.events import Event
from cti.redis_bus import BusUnavailable, RedisStreamLog, RedisStreamsBus, StreamAppend, StreamId
from cti.tasks import cancel_and_wait

log = logging.getLogger(__name__)
_SEQ = 1_000_000  # entries per millisecond a cursor can tell apart (Redis makes a few per ms at most)
_CHUNK = 100


def to_cursor(entry_id: StreamId) -> int:
    ms, seq = entry_id
    if seq >= _SEQ:
        raise ValueError(f"stream entry {ms}-{seq}: more than {_SEQ} entries in one millisecond")
    return ms * _SEQ + seq


def from_cursor(cursor: int) -> StreamId:
    return divmod(cursor, _SEQ)


class StreamFeed(RingFeed):
    """The public feed on a Redis stream shared by the nodes; see the module docstring."""

    def __init__(self, stream: RedisStreamLog, *, retention_s: float = 72 * 3600, recent: int = 20_000,
                 poll_s: float = 1.0, retry_max_s: float = 5.0, clock: Callable[[], float] = time.time) -> None:
        super().__init__(recent=recent, poll_s=poll_s)
        self.stream = stream
        self.retention_s = retention_s
        self.retry_max_s = retry_max_s
        self.clock = clock
        self._tail: asyncio.Task[None] | None = None
        self._ends = OneEndPerCall()  # one call.ended per call (a campaign call's late end from Asterisk)

    # -- writing: a tap on this node's publishes --------------------------------------------------

    def subscribe(self, bus: RedisStreamsBus) -> None:
        if not isinstance(bus, RedisStreamsBus):
            raise TypeError("the Redis stream feed needs the Redis bus (bus: redis)")
        bus.add_tap(self.entries)

    def entries(self, ev: Event) -> list[StreamAppend]:
        """The feed entries of ``ev`` (none when integrators never see it)."""
        oldest_ms = int((self.clock() - self.retention_s) * 1000)
        return [StreamAppend(self.stream.key,
                             {b"t": public["type"].encode(),
                              b"e": encode_bytes(public)},
                             minid=(max(0, oldest_ms), 0))
                for public in self._ends.public_events(ev)]

    # -- life cycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        _first, last = await self.stream.ends()
        self.head = to_cursor(last) if last else 0
        self._tail = asyncio.create_task(self._follow_stream(), name="feed.stream-tail")

    async def stop(self) -> None:
        await cancel_and_wait(self._tail)
        self._tail = None
        await self.stream.close()

    async def flush(self, timeout_s: float = 30.0) -> None:
        """Wait until this node's readers see everything the stream holds now."""
        _first, last = await self.stream.ends()
        if last is None:
            return
        target = to_cursor(last)
        async with asyncio.timeout(timeout_s):
            while self.head < target:
                fut = self._next_rows()
                try:
                    await fut
                finally:
                    self._waiting.pop(fut, None)

    async def _follow_stream(self) -> None:
        delay = 0.1
        while True:
            try:
                entries = await self.stream.wait(from_cursor(self.head), _CHUNK)
            except BusUnavailable as err:
                log.warning("event feed: %s; retrying in %.1f s", err.message, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max_s)
                continue
            delay = 0.1
            if entries:
                self._publish(_rows(entries))
                self._trim(self.head)  # the stream serves everything the ring forgets

    # -- reading --------------------------------------------------------------------------------

    async def gap(self, since: int | None) -> dict[str, str] | None:
        """A cursor below the oldest kept entry: entries after it may have been trimmed. (Redis
        does not say which ids a trim removed, so a client whose last entry was the very last one
        trimmed is told of a gap that holds nothing; a real gap is never missed.)"""
        if not since:
            return None
        first, last = await self.stream.ends()
        if last is None or since > to_cursor(last):  # retention never trims the newest entry
            raise CursorAhead(since, None if last is None else to_cursor(last))
        if first is not None and since < to_cursor(first):
            return {"since": str(since), "oldest": str(to_cursor(first))}
        return None

    async def _older(self, after: int, limit: int, types: frozenset[str] | None) -> list[Row]:
        rows: list[Row] = []
        cursor = after
        while len(rows) < limit:
            # Small XRANGEs: redis-py parses a reply in the loop's thread (~40 us an entry in pure
            # Python, 4-6x less with hiredis, a dependency), so a client resuming an hour must not
            # hold the loop for a 500-entry reply at once.
            entries = await self.stream.after(from_cursor(cursor), _CHUNK if types else min(_CHUNK, limit - len(rows)))
            if not entries:
                break
            batch = _rows(entries)
            cursor = batch[-1][0]
            rows += batch if types is None else [r for r in batch if r[1] in types]
        return rows[:limit]


def _rows(entries: list[tuple[StreamId, dict[bytes, bytes]]]) -> list[Row]:
    out: list[Row] = []
    for entry_id, fields in entries:
        cursor = to_cursor(entry_id)
        out.append((cursor, fields[b"t"].decode(), wire(cursor, fields[b"e"].decode())))
    return out
