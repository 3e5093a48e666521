"""Redis adapters: the multi-node event bus on Redis Streams and a reader of other streams (the
public event feed's store on several nodes). With ``cti.redis_lease`` (cross-node exclusivity, built
on this module's client), the only modules that import redis.

Errors::

    CtiError
    └── BusUnavailable   Redis refused or dropped a publish / lease call (wraps redis errors)

Bus semantics (``RedisStreamsBus``):
  - One stream, ``<prefix>:events``, for every event type: a single stream keeps the global
    publish order across types (QueueEntered before CallConnected for one call), which one
    stream per event name would lose. XADD trims it with ``MAXLEN ~ maxlen``.
  - Every node sees every event, its own included: each node reads through its own consumer
    group (``group``, e.g. ``cti:node-1``), with one consumer in it. Local subscribers receive
    events in stream order, the same order on every node.
  - A group that already exists resumes where it stopped, and entries a crashed process had
    read but not acknowledged are delivered again first: delivery is at-least-once, so
    handlers must tolerate a repeat. A new group starts at the stream's end (``$``).
  - An entry is XACKed once every local subscriber it matched has handled it (a handler that
    raises is logged with the call id and counts as handled: no retry loop on a bug).
  - Backpressure: each subscription owns a bounded queue; when one is full the reader stops
    reading and the backlog waits in Redis (bounded by ``maxlen``; a node lagging further
    loses the trimmed entries). Publishers are never blocked by another node's slow handler.
  - Connection loss: publish raises ``BusUnavailable`` (the caller decides); the reader retries
    with exponential backoff (0.1 s doubling to 5 s) and re-creates its group if Redis lost it.
    It logs the outage once as it starts, every ``outage_log_every_s`` while it lasts and once as
    it ends (``cti.outage_log``), not at every retry.
  - Taps (``add_tap``): a tap turns an event into entries for another stream (the public feed,
    ``crm_core.feed_stream``), written in the same MULTI/EXEC as the bus entry: exactly once per
    published event, whichever node published it, and in the bus's order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError, ResponseError

from cti.bus import Types
from cti.errors import CtiError
from cti.events import Event, from_wire, to_wire
from cti.logs import event_context
from cti.outage_log import OutageLog
from cti.tasks import cancel_and_wait

log = logging.getLogger(__name__)
E = TypeVar("E", bound=Event)
Handler = Callable[[E], Awaitable[None]]

_FIELD = b"e"
_BACKOFF_MIN_S = 0.1
_BACKOFF_MAX_S = 5.0


class BusUnavailable(CtiError):
    code = "bus_unavailable"
    http_status = 503


def redis_client(url: str, *, read_timeout_s: float) -> aioredis.Redis:
    # redis-py's default retry policy can hold a failing call for many seconds; the bus and the
    # ACD would rather hear about an outage quickly and decide themselves.
    return aioredis.Redis.from_url(
        url, socket_connect_timeout=2.0, socket_timeout=read_timeout_s,
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), 2), health_check_interval=30,
    )


def _id_key(entry_id: bytes | str) -> tuple[int, int]:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


StreamId = tuple[int, int]  # (milliseconds, sequence): a stream entry's id


def stream_id(entry_id: StreamId) -> str:
    return f"{entry_id[0]}-{entry_id[1]}"


@dataclass(frozen=True, slots=True)
class StreamAppend:
    """One entry for another stream, written with the bus entry it came from. ``minid``: entries
    with a lower id may be trimmed (XADD MINID ~, whole macro nodes at a time)."""

    key: str
    fields: dict[bytes, bytes] = field(default_factory=dict)
    minid: StreamId | None = None


Tap = Callable[[Event], "Sequence[StreamAppend]"]


@dataclass(eq=False)
class _Subscription:
    name: str
    event_type: Types[Event]
    handler: Handler  # type: ignore[type-arg]
    queue: asyncio.Queue[tuple[bytes, Event] | None]
    task: asyncio.Task[None] | None = None
    handled: int = 0
    failures: int = 0


class RedisStreamsBus:
    """``cti.bus.EventBus`` over one Redis stream, one consumer group per node."""

    def __init__(self, url: str, *, stream_prefix: str = "cti", group: str, consumer: str,
                 maxlen: int = 100_000, queue_size: int = 10_000, batch: int = 100,
                 block_ms: int = 1000, outage_log_every_s: float = 30.0) -> None:
        self.stream = f"{stream_prefix}:events"
        self.group = group
        self.consumer = consumer
        self.maxlen = maxlen
        self._queue_size = queue_size
        self._batch = batch
        self._block_ms = block_ms
        self._pub = redis_client(url, read_timeout_s=5.0)
        # The reader blocks in XREADGROUP for block_ms: its socket timeout must be longer.
        self._sub = redis_client(url, read_timeout_s=block_ms / 1000 + 5.0)
        self._subs: list[_Subscription] = []
        self._reader: asyncio.Task[None] | None = None
        self._remaining: dict[bytes, int] = {}
        self._last_published: tuple[int, int] = (0, 0)
        self._last_dispatched: tuple[int, int] = (0, 0)
        self._progress = asyncio.Condition()
        self.reconnects = 0
        self.skipped = 0
        self._taps: list[Tap] = []
        self._outage = OutageLog(f"redis bus reader of group {group}", outage_log_every_s, log)

    def add_tap(self, tap: Tap) -> None:
        """Write the entries ``tap(event)`` returns atomically with each event this node publishes."""
        self._taps.append(tap)

    def subscribe(self, event_type: Types[E], handler: Handler[E], *, name: str) -> None:
        sub = _Subscription(name, event_type, handler, asyncio.Queue(self._queue_size))
        self._subs.append(sub)
        if self._reader is not None:
            sub.task = asyncio.create_task(self._work(sub), name=f"redis-bus:{name}")

    async def publish(self, ev: Event) -> None:
        extra = [a for tap in self._taps for a in tap(ev)] if self._taps else []
        try:
            if not extra:
                entry_id = await self._pub.xadd(self.stream, {_FIELD: to_wire(ev)}, maxlen=self.maxlen,
                                                approximate=True)
            else:
                async with self._pub.pipeline(transaction=True) as pipe:
                    pipe.xadd(self.stream, {_FIELD: to_wire(ev)}, maxlen=self.maxlen, approximate=True)
                    for a in extra:
                        pipe.xadd(a.key, a.fields, minid=stream_id(a.minid) if a.minid else None,  # type: ignore[arg-type]
                                  approximate=True)
                    entry_id = (await pipe.execute())[0]
        except RedisError as err:
            raise BusUnavailable(f"could not publish {ev.name} (call {ev.call_id}): {err}") from err
        self._last_published = max(self._last_published, _id_key(entry_id))

    async def start(self) -> None:
        if self._reader is not None:
            return
        try:
            await self._ensure_group("$")
        except RedisError as err:
            raise BusUnavailable(f"Redis unreachable while creating group {self.group}: {err}") from err
        for sub in self._subs:
            if sub.task is None:
                sub.task = asyncio.create_task(self._work(sub), name=f"redis-bus:{sub.name}")
        self._reader = asyncio.create_task(self._read_loop(), name=f"redis-bus-reader:{self.group}")

    async def drain(self) -> None:
        """Wait until everything this instance published so far has been handled locally."""
        target = self._last_published
        async with self._progress:
            await self._progress.wait_for(lambda: self._last_dispatched >= target)
        for sub in self._subs:
            await sub.queue.join()

    async def stop(self) -> None:
        """Stop reading, let each subscriber finish what it already holds, close connections."""
        await cancel_and_wait(self._reader)  # again if redis-py's wait_for drops the cancel (Python 3.11)
        self._reader = None
        for sub in self._subs:
            if sub.task is not None:
                await sub.queue.put(None)
        for sub in self._subs:
            if sub.task is not None:
                await sub.task
                sub.task = None
        await self._pub.aclose()
        await self._sub.aclose()

    def stats(self) -> dict[str, dict[str, int]]:
        return {s.name: {"handled": s.handled, "failures": s.failures, "backlog": s.queue.qsize()}
                for s in self._subs}

    # -- reading --------------------------------------------------------------------------------
    async def _ensure_group(self, start_id: str) -> None:
        try:
            await self._sub.xgroup_create(self.stream, self.group, id=start_id, mkstream=True)
        except ResponseError as err:
            if "BUSYGROUP" not in str(err):
                raise

    async def _read_loop(self) -> None:
        backoff = _BACKOFF_MIN_S
        cursor = b"0"  # first our own pending entries (read before a crash, never acked), then new
        while True:
            try:
                pending = cursor != b">"
                reply: Any = await self._sub.xreadgroup(
                    self.group, self.consumer, {self.stream: cursor}, count=self._batch,
                    block=None if pending else self._block_ms,
                )
                backoff = _BACKOFF_MIN_S
                self._outage.ended()
                entries = reply[0][1] if reply else []
                if pending:
                    # Reading our pending list: move past what we got, or on to new entries.
                    cursor = entries[-1][0] if entries else b">"
                for entry_id, fields in entries:
                    await self._dispatch(entry_id, fields)
            except asyncio.CancelledError:
                raise
            except ResponseError as err:
                self._outage.ended()  # Redis answered (a refusal is no outage)
                if "NOGROUP" in str(err):
                    # Redis restarted without persistence: the group and stream are gone.
                    log.warning("redis bus: group %s vanished; re-creating it", self.group)
                    await self._retry_later(backoff)
                    await self._recreate_group()
                    cursor = b"0"
                else:
                    log.exception("redis bus: XREADGROUP refused")
                    await self._retry_later(backoff)
                backoff = min(backoff * 2, _BACKOFF_MAX_S)
            except (RedisError, OSError) as err:
                self.reconnects += 1
                self._outage.failed(err)  # once, then every outage_log_every_s: not a line per retry
                await self._retry_later(backoff)
                backoff = min(backoff * 2, _BACKOFF_MAX_S)

    async def _retry_later(self, delay: float) -> None:
        await asyncio.sleep(delay)

    async def _recreate_group(self) -> None:
        try:
            await self._ensure_group("0")
        except RedisError as err:
            log.warning("redis bus: could not re-create group %s: %s", self.group, err)

    async def _dispatch(self, entry_id: bytes, fields: dict[bytes, bytes]) -> None:
        raw = fields.get(_FIELD)
        ev: Event | None = None
        try:
            ev = from_wire(raw) if raw is not None else None
        except (ValueError, TypeError) as err:
            log.warning("redis bus: skipping entry %s: %s", entry_id.decode(), err)
        targets = [s for s in self._subs if ev is not None and isinstance(ev, s.event_type)]
        if ev is None or not targets:
            if ev is None:
                self.skipped += 1
            await self._ack(entry_id)
        else:
            self._remaining[entry_id] = len(targets)
            for sub in targets:
                await sub.queue.put((entry_id, ev))  # blocks while the subscriber is behind
        async with self._progress:
            self._last_dispatched = max(self._last_dispatched, _id_key(entry_id))
            self._progress.notify_all()

    async def _ack(self, entry_id: bytes) -> None:
        try:
            await self._pub.xack(self.stream, self.group, entry_id)
        except RedisError as err:
            # Not fatal: the entry stays pending and is delivered again after a restart.
            log.warning("redis bus: XACK %s failed: %s", entry_id.decode(), err)

    async def _work(self, sub: _Subscription) -> None:
        while True:
            item = await sub.queue.get()
            try:
                if item is None:
                    return
                entry_id, ev = item
                try:
                    with event_context(ev):  # the handler's log records name the call, as on the in-process bus
                        await sub.handler(ev)
                    sub.handled += 1
                except Exception:
                    sub.failures += 1
                    log.exception("bus handler %s failed on %s (call %s)", sub.name, ev.name, ev.call_id)
                left = self._remaining.get(entry_id, 1) - 1
                if left <= 0:
                    self._remaining.pop(entry_id, None)
                    await self._ack(entry_id)
                else:
                    self._remaining[entry_id] = left
            finally:
                sub.queue.task_done()


# -- reading another stream ------------------------------------------------------------------------

class RedisStreamLog:
    """Reads one stream by entry id: XRANGE for a span, XREAD BLOCK to wait for what comes next."""

    def __init__(self, url: str, key: str, *, block_ms: int = 1000) -> None:
        self.key = key
        self.block_ms = block_ms
        self._r = redis_client(url, read_timeout_s=5.0)
        self._wait = redis_client(url, read_timeout_s=block_ms / 1000 + 5.0)

    async def after(self, after: StreamId, count: int) -> list[tuple[StreamId, dict[bytes, bytes]]]:
        """Up to ``count`` entries with an id above ``after``, oldest first."""
        try:
            reply: Any = await self._r.xrange(self.key, min=f"({stream_id(after)}", count=count)
        except RedisError as err:
            raise BusUnavailable(f"could not read stream {self.key}: {err}") from err
        return [(_id_key(i), f) for i, f in reply or []]

    async def wait(self, after: StreamId, count: int) -> list[tuple[StreamId, dict[bytes, bytes]]]:
        """Entries above ``after``; blocks up to ``block_ms`` while there are none (then [])."""
        try:
            reply: Any = await self._wait.xread({self.key: stream_id(after)}, count=count, block=self.block_ms)
        except RedisError as err:
            raise BusUnavailable(f"could not read stream {self.key}: {err}") from err
        return [(_id_key(i), f) for i, f in reply[0][1]] if reply else []

    async def ends(self) -> tuple[StreamId | None, StreamId | None]:
        """(first entry, last entry); (None, None) for an empty or absent stream."""
        try:
            info: Any = await self._r.xinfo_stream(self.key)
        except ResponseError as err:
            if "no such key" in str(err).lower():
                return None, None
            raise BusUnavailable(f"could not read stream {self.key}: {err}") from err
        except RedisError as err:
            raise BusUnavailable(f"could not read stream {self.key}: {err}") from err
        first, last = info.get("first-entry"), info.get("last-entry")
        return _id_key(first[0]) if first else None, _id_key(last[0]) if last else None

    async def close(self) -> None:
        await self._r.aclose()
        await self._wait.aclose()
