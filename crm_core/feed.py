"""The event feed's store: public events kept in ``feed_events`` for a retention, read by cursor.

    bus --handle()--> journal (append) --> pending --writer task, batched--> feed_events
        --> recent ring (this node's last rows) --> follow(since) / page(after)

The cursor is the row id. One writer per database appends in batches; on PostgreSQL each batch
takes a transaction-level advisory lock first, so ids are handed out and committed in the same
order and a reader never sees id n+1 before id n. Rows are pruned by age, but the newest row is
always kept so ids never restart (SQLite tables are AUTOINCREMENT as well).

Durability: every accepted event is appended to a JSON-lines journal (``crm_core.outbox``) before
``handle`` returns (written, not fsynced: an fdatasync every 10 ms made appends wait behind it,
p99 300 ms of feed latency on a busy disk, bench/event_feed.py); the journal is replayed on start
for events whose per-node ``seq`` is above the highest stored, so an engine crash or a database
outage loses nothing and duplicates nothing.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, cast

from sqlalchemy import BigInteger, Float, Index, Integer, String, Table, Text, delete, func, insert, select, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.db import Database
from crm_core.errors import DatabaseUnavailable
from crm_core.feed_events import to_public
from crm_core.models import Base
from crm_core.outbox import Outbox, SyncPolicy
from cti.bus import EventBus
from cti.events import Event

log = logging.getLogger(__name__)
_ID = BigInteger().with_variant(Integer(), "sqlite")  # SQLite: an INTEGER PRIMARY KEY is the rowid
_PG_FEED_LOCK = 0x43_54_49_46  # "CTIF": the advisory lock that orders feed writers
Row = tuple[int, str, str]  # (cursor, type, wire JSON)


class FeedEventRow(Base):
    __tablename__ = "feed_events"
    __table_args__ = (Index("ix_feed_events_stored_at", "stored_at"), Index("ix_feed_events_node_seq", "node", "seq"),
                      {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    type: Mapped[str] = mapped_column(String(40))
    ts: Mapped[float] = mapped_column(Float)
    stored_at: Mapped[float] = mapped_column(Float)
    node: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(BigInteger)
    body: Mapped[str] = mapped_column(Text)  # the envelope as JSON, without its cursor


_T = cast(Table, FeedEventRow.__table__)


def wire(cursor: int, body: str) -> str:
    """The envelope with its cursor, spliced into the stored JSON (no re-encoding per reader)."""
    return f'{{"cursor":"{cursor}",{body[1:]}'


def parse_cursor(value: str | None) -> int | None:
    """A client's cursor as an id; None for absent; ValueError for anything but digits."""
    if value is None or value == "":
        return None
    if not value.isdigit() or len(value) > 19:
        raise ValueError("cursor must be the decimal string a feed event carried")
    return int(value)


class EventFeed:
    """Bus consumer and reader of the public feed; see the module docstring."""

    def __init__(self, db: Database, state_dir: Path, *, node: str = "node-1", retention_s: float = 72 * 3600,
                 batch_size: int = 500, flush_interval_s: float = 0.005, recent: int = 20_000,
                 max_pending: int = 50_000, retry_max_s: float = 5.0, prune_every_s: float = 600.0,
                 poll_s: float = 1.0, sync: SyncPolicy = "never", clock: Callable[[], float] = time.time,
                 compact_bytes: int = 4 << 20) -> None:
        self.db = db
        self.node = node
        self.retention_s = retention_s
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.max_pending = max_pending
        self.retry_max_s = retry_max_s
        self.prune_every_s = prune_every_s
        self.poll_s = poll_s  # readers also look at the database this often (rows of other writers)
        self.clock = clock
        self.compact_bytes = compact_bytes
        self.outbox = Outbox(Path(state_dir) / "feed-outbox.jsonl", sync=sync)
        self.head = 0  # highest cursor stored
        self._seq = 0
        self._pending: deque[tuple[int, dict[str, Any]]] = deque()
        self._recent: deque[Row] = deque(maxlen=recent)
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._changed = asyncio.Event()
        self._journal_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self.written = 0
        self.batches = 0
        self.write_s = 0.0  # time spent in insert transactions (the write cost, see bench/event_feed.py)

    # -- writing ------------------------------------------------------------------------------

    def subscribe(self, bus: EventBus) -> None:
        # One subscription on every event keeps the publish order across event classes.
        bus.subscribe(Event, self.handle, name="event_feed")

    async def handle(self, ev: Event) -> None:
        public = to_public(ev)
        if public is None:
            return
        await self.accept(public)

    async def accept(self, public: dict[str, Any]) -> None:
        """Journal one public envelope and queue it for the writer."""
        await self._room.wait()  # backpressure on the bus while the database is far behind
        async with self._journal_lock:
            self._seq += 1
            line = json.dumps({"seq": self._seq, "e": public}, separators=(",", ":"), ensure_ascii=False)
            if self.outbox.sync_policy == "never":
                self.outbox.append(line)  # page cache only: microseconds, nothing to wait behind
            else:
                await self.outbox.append_in_thread(line)  # may wait behind an fdatasync: not in the loop
            self._pending.append((self._seq, public))
        if len(self._pending) >= self.max_pending:
            self._room.clear()
        self._wake.set()

    async def start(self) -> None:
        journal = self.outbox.open()
        async with self.db.session() as s:
            self.head = int((await s.scalar(select(func.max(_T.c.id)))) or 0)
            stored = int((await s.scalar(select(func.max(_T.c.seq)).where(_T.c.node == self.node))) or 0)
        self._seq = stored
        replay = [r for r in journal if int(r.get("seq", 0)) > stored]
        for r in replay:
            self._pending.append((int(r["seq"]), r["e"]))
            self._seq = max(self._seq, int(r["seq"]))
        if replay:
            log.info("event feed: %d journalled events not yet stored, writing them", len(replay))
        await self._compact()
        self._tasks = [asyncio.create_task(self._writer(), name="feed.writer"),
                       asyncio.create_task(self._pruner(), name="feed.pruner")]

    async def stop(self) -> None:
        await self.flush()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await t
            except asyncio.CancelledError:
                pass
        self._tasks = []
        await self._compact()
        await self.outbox.close()

    async def flush(self, timeout_s: float = 30.0) -> None:
        """Wait until everything accepted so far is stored."""
        upto = self._seq
        async with asyncio.timeout(timeout_s):
            while self._pending and self._pending[0][0] <= upto:
                self._wake.set()
                await asyncio.sleep(0.005)

    async def _writer(self) -> None:
        delay = 0.05
        while True:
            if not self._pending:
                self._wake.clear()
                await self._wake.wait()
            await asyncio.sleep(self.flush_interval_s)  # group commit: let a batch gather
            while self._pending:
                batch = [self._pending[i] for i in range(min(self.batch_size, len(self._pending)))]
                try:
                    rows = await self._insert(batch)
                except (DatabaseUnavailable, OperationalError, DBAPIError, OSError) as err:
                    log.warning("event feed: database write failed (%s), retrying in %.2f s", err, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.retry_max_s)
                    continue
                delay = 0.05
                for _ in batch:
                    self._pending.popleft()
                self._recent.extend(rows)
                self.head = rows[-1][0]
                old, self._changed = self._changed, asyncio.Event()
                old.set()
                if len(self._pending) < self.max_pending // 2:
                    self._room.set()
            if self.outbox.bytes > self.compact_bytes:
                await self._compact()

    async def _insert(self, batch: list[tuple[int, dict[str, Any]]]) -> list[Row]:
        now = self.clock()
        values = [{"type": e["type"], "ts": float(e["ts"]), "stored_at": now, "node": self.node, "seq": seq,
                   "body": json.dumps(e, separators=(",", ":"), ensure_ascii=False)} for seq, e in batch]
        started = time.perf_counter()
        async with self.db.session() as s:
            if not self.db.is_sqlite:
                await s.execute(text(f"SELECT pg_advisory_xact_lock({_PG_FEED_LOCK})"))
            # executemany, then the ids by (node, seq): RETURNING with sort_by_parameter_order made
            # SQLAlchemy insert one row per statement on SQLite (~2 ms per event, bench/event_feed.py).
            await s.execute(insert(_T), values)
            ids = (await s.execute(select(_T.c.id).where(_T.c.node == self.node, _T.c.seq >= batch[0][0],
                                                         _T.c.seq <= batch[-1][0]).order_by(_T.c.seq))).scalars().all()
        self.write_s += time.perf_counter() - started
        self.written += len(values)
        self.batches += 1
        return [(int(i), v["type"], wire(int(i), v["body"])) for i, v in zip(ids, values, strict=True)]

    async def _compact(self) -> None:
        async with self._journal_lock:
            keep = [json.dumps({"seq": seq, "e": e}, separators=(",", ":"), ensure_ascii=False)
                    for seq, e in self._pending]
            await self.outbox.compact(keep)

    async def _pruner(self) -> None:
        while True:
            try:
                await self.prune()
            except (DatabaseUnavailable, OperationalError, DBAPIError, OSError) as err:
                log.warning("event feed: pruning failed (%s)", err)
            await asyncio.sleep(self.prune_every_s)

    async def prune(self) -> int:
        """Delete rows stored longer ago than the retention, keeping the newest row; returns the count."""
        cutoff = self.clock() - self.retention_s
        async with self.db.session() as s:
            newest = await s.scalar(select(func.max(_T.c.id)))
            if newest is None:
                return 0
            result = await s.execute(delete(_T).where(_T.c.stored_at < cutoff, _T.c.id < newest))
            oldest = int(await s.scalar(select(func.min(_T.c.id))) or newest)
        while self._recent and self._recent[0][0] < oldest:  # the ring serves only what is kept
            self._recent.popleft()
        count = int(getattr(result, "rowcount", 0) or 0)
        if count:
            log.info("event feed: pruned %d events older than %.0f h", count, self.retention_s / 3600)
        return count

    # -- reading ------------------------------------------------------------------------------

    async def oldest(self) -> int | None:
        async with self.db.session() as s:
            oldest = await s.scalar(select(func.min(_T.c.id)))
        return None if oldest is None else int(oldest)

    async def page(self, after: int, limit: int = 500, types: frozenset[str] | None = None) -> list[Row]:
        """Up to ``limit`` rows with a cursor above ``after``, in cursor order."""
        recent = self._recent
        if recent and after >= recent[0][0] - 1:
            start = bisect.bisect_right(recent, after, key=lambda r: r[0])
            rows = [recent[i] for i in range(start, len(recent))]
            if types is not None:
                rows = [r for r in rows if r[1] in types]
            return rows[:limit]
        q = select(_T.c.id, _T.c.type, _T.c.body).where(_T.c.id > after)
        if types is not None:
            q = q.where(_T.c.type.in_(sorted(types)))
        async with self.db.session() as s:
            result = (await s.execute(q.order_by(_T.c.id).limit(limit))).all()
        return [(int(i), t, wire(int(i), b)) for i, t, b in result]

    async def follow(self, since: int | None, *, types: frozenset[str] | None = None,
                     idle_s: float = 15.0) -> AsyncIterator[Row | None]:
        """Every row after ``since`` (None: from now on), in order, then live; yields None when
        nothing came for ``idle_s`` (the caller's heartbeat)."""
        cursor = self.head if since is None else since
        idle = 0.0
        while True:
            rows = await self.page(cursor, 500, types)
            for n, row in enumerate(rows, 1):
                yield row
                cursor = row[0]
                if n % 100 == 0:
                    await asyncio.sleep(0)  # a hundred readers catching up must not hold the loop in turn
            if rows:
                idle = 0.0
                if len(rows) == 500:
                    continue
            changed = self._changed
            if self.head > cursor and types is None:
                continue
            wait = min(self.poll_s, idle_s - idle)
            try:
                async with asyncio.timeout(wait):
                    await changed.wait()
            except TimeoutError:
                idle += wait
                if idle >= idle_s:
                    idle = 0.0
                    yield None
