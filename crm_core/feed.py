r"""The event feed's database store: public events kept in ``feed_events`` for a retention, read
by cursor. The default store (one engine per database); several nodes use
``crm_core.feed_stream`` (a Redis stream) instead.

    bus --handle_batch()--> cursors assigned, journal (one append) --> ring: live readers see it now
                                                       \--> pending --writer task, batched--> feed_events

The cursor is the row id, handed out in memory by the one writer (``head`` + 1) when the event is
accepted and written to the journal with it, so a reader may see (and hold) the cursor before the
row is stored: the journal makes it good after a crash, with the same id. Readers are served from
the ring (``crm_core.feed_ring``), which keeps every row not yet stored, or from the table for
older cursors. Rows are inserted in id order, one transaction per batch, by one task, so the table
never shows id n+1 without id n. Rows are pruned by age, but the newest row is always kept so ids
never restart.

Durability: the journal lines (``crm_core.outbox``) are written before ``handle_batch`` returns (written,
not fsynced: an fdatasync every 10 ms made appends wait behind it, p99 300 ms of feed latency on a
busy disk, bench/event_feed.py; a power cut may cost the last moments, whose cursors a reader may
already hold); it is replayed on start for events whose per-node ``seq`` is above the highest
stored, so an engine crash or a database outage loses nothing and duplicates nothing. The journal
also keeps the highest cursor handed out (a ``{"head": n}`` line, written by each compaction): a
database restored from a backup holds fewer events, and the next cursor still follows every cursor
readers were given (none is handed out twice for two events).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

from sqlalchemy import BigInteger, Float, Index, Integer, String, Table, Text, delete, func, insert, select
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.bulk_rows import execute_rows
from crm_core.db import Database
from crm_core.errors import DatabaseUnavailable
from crm_core.feed_events import SOURCES, OneEndPerCall, encode
from crm_core.feed_ring import CursorAhead, Feed, RingFeed, Row, parse_cursor, wire
from crm_core.models import Base
from crm_core.outbox import Outbox, SyncPolicy
from cti.bus import EventBus, subscribe_batch
from cti.events import Event
from cti.tasks import cancel_all_and_wait

__all__ = ["EventFeed", "Feed", "FeedEventRow", "Row", "parse_cursor", "wire"]
log = logging.getLogger(__name__)
_ID = BigInteger().with_variant(Integer(), "sqlite")  # SQLite: an INTEGER PRIMARY KEY is the rowid

_CHUNK = 256  # envelopes accepted between two turns of the event loop (a bus batch holds up to 1,000)


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
_INSERT = insert(_T)
Pending = tuple[int, int, str, str, float]  # (seq, cursor, type, body JSON without cursor, ts)


class EventFeed(RingFeed):
    """Bus consumer and store of the public feed on the database; see the module docstring."""

    def __init__(self, db: Database, state_dir: Path, *, node: str = "node-1", retention_s: float = 72 * 3600,
                 batch_size: int = 500, flush_interval_s: float = 0.005, recent: int = 20_000,
                 max_pending: int = 50_000, retry_max_s: float = 5.0, prune_every_s: float = 600.0,
                 poll_s: float = 1.0, sync: SyncPolicy = "never", clock: Callable[[], float] = time.time,
                 compact_bytes: int = 4 << 20) -> None:
        super().__init__(recent=recent, poll_s=poll_s)
        self.db = db
        self.node = node
        self.retention_s = retention_s
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.max_pending = max_pending
        self.retry_max_s = retry_max_s
        self.prune_every_s = prune_every_s
        self.clock = clock
        self.compact_bytes = compact_bytes
        self.outbox = Outbox(Path(state_dir) / "feed-outbox.jsonl", sync=sync)
        self._ends = OneEndPerCall()  # one call.ended per call (a campaign call's late end from Asterisk)
        self.stored = 0  # highest cursor in the table (``head``: the highest handed out)
        self._seq = 0
        self._pending: deque[Pending] = deque()
        self._wake = asyncio.Event()
        self._hurry = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._journal_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self.written = 0
        self.batches = 0
        self.write_s = 0.0  # time spent in insert transactions (the write cost, see bench/event_feed.py)

    # -- writing ------------------------------------------------------------------------------

    def subscribe(self, bus: EventBus) -> None:
        # One subscription for every class integrators see keeps the publish order across them (and
        # the worker sleeps through the rest: device states, console updates...); batches: one
        # journal write per batch the bus hands over.
        subscribe_batch(bus, SOURCES, self.handle_batch, name="event_feed")

    async def handle(self, ev: Event) -> None:
        await self.accept(self._ends.public_events(ev))

    async def handle_batch(self, events: Sequence[Event]) -> None:
        publics = [public for ev in events for public in self._ends.public_events(ev)]
        if len(publics) <= _CHUNK:  # the common case (at 10 calls/s a batch holds an event or two)
            await self.accept(publics)
            return
        for start in range(0, len(publics), _CHUNK):
            if start:
                await asyncio.sleep(0)  # a backlog of a thousand events must not hold the loop in one go
            await self.accept(publics[start:start + _CHUNK])

    async def accept(self, publics: Sequence[dict[str, Any]]) -> None:
        """Give public envelopes their cursors, journal them (one write), show them to readers and
        queue them for the writer."""
        if not publics:
            return
        if not self._room.is_set():
            await self._room.wait()  # backpressure on the bus while the database is far behind
        bodies = [encode(public) for public in publics]  # once: the journal, the table and every reader share it
        never = self.outbox.sync_policy == "never"
        if never and not self._journal_lock.locked():
            # Nothing is awaited from here on, so no compaction can start meanwhile: the lock (a
            # few coroutines per batch) is not needed.
            self.outbox.append_many(self._lines(bodies))  # page cache only: microseconds
            self._accepted(publics, bodies)
        else:
            async with self._journal_lock:
                if never:
                    self.outbox.append_many(self._lines(bodies))
                else:
                    await self.outbox.append_in_thread(self._lines(bodies))  # may wait behind an fdatasync
                self._accepted(publics, bodies)
        if len(self._pending) >= self.max_pending:
            self._room.clear()
        self._wake.set()

    def _lines(self, bodies: list[str]) -> list[str]:
        """The journal lines of the next accepted bodies (seq and cursor follow the last ones)."""
        seq, head = self._seq, self.head
        return [f'{{"seq":{seq + n},"id":{head + n},"e":{body}}}' for n, body in enumerate(bodies, 1)]

    def _accepted(self, publics: Sequence[dict[str, Any]], bodies: list[str]) -> None:
        """Journalled: take their seqs and cursors, queue them for the writer, show them to readers."""
        seq, head = self._seq, self.head
        self._seq = seq + len(bodies)
        rows: list[Row] = []
        for n, (public, body) in enumerate(zip(publics, bodies, strict=True), 1):
            self._pending.append((seq + n, head + n, public["type"], body, float(public["ts"])))
            rows.append((head + n, public["type"], wire(head + n, body)))
        self._publish(rows)

    async def start(self) -> None:
        journal = self.outbox.open()
        async with self.db.session() as s:
            self.stored = int((await s.scalar(select(func.max(_T.c.id)))) or 0)
            seq = int((await s.scalar(select(func.max(_T.c.seq)).where(_T.c.node == self.node))) or 0)
        self._seq = seq
        self.head = self.stored
        replay = [r for r in journal if int(r.get("seq", 0)) > seq]
        rows: list[Row] = []
        for r in replay:
            # A journal of the older format has no id: the next free one (nobody could hold it).
            cursor = int(r["id"]) if int(r.get("id") or 0) > self.head else self.head + 1
            body = encode(r["e"])
            self._pending.append((int(r["seq"]), cursor, r["e"]["type"], body, float(r["e"]["ts"])))
            self._seq = max(self._seq, int(r["seq"]))
            self.head = cursor
            rows.append((cursor, r["e"]["type"], wire(cursor, body)))
        if rows:
            self._publish(rows)
            log.info("event feed: %d journalled events not yet stored, writing them", len(replay))
        # A database restored from a backup lacks the newest events: the next cursor follows the
        # highest one ever handed out (the journal's ``head`` line, or its lines), never reusing one
        # a reader holds for another event.
        handed = max((int(r.get("head") or r.get("id") or 0) for r in journal), default=0)
        if handed > self.head:
            log.warning("event feed: the database's newest event is %d but cursors up to %d were handed out "
                        "(restored from a backup?): the next event is %d", self.head, handed, handed + 1)
            self.head = handed
        await self._compact()
        self._tasks = [asyncio.create_task(self._writer(), name="feed.writer"),
                       asyncio.create_task(self._pruner(), name="feed.pruner")]

    async def stop(self) -> None:
        await self.flush()
        await cancel_all_and_wait(self._tasks)
        self._tasks = []
        await self._compact()
        await self.outbox.close()

    async def flush(self, timeout_s: float = 30.0) -> None:
        """Wait until everything accepted so far is stored."""
        upto = self._seq
        async with asyncio.timeout(timeout_s):
            while self._pending and self._pending[0][0] <= upto:
                self._wake.set()
                self._hurry.set()  # no gathering: a flush (shutdown, tests) would wait it out
                await asyncio.sleep(0.005)

    async def _writer(self) -> None:
        delay = 0.05
        while True:
            if not self._pending:
                self._wake.clear()
                await self._wake.wait()
            # Group commit: let a batch gather. Readers never wait for the table (the ring serves
            # them), so the window costs no latency (the engine uses 1 s, FEED_GATHER_S).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.flush_interval_s):
                    await self._hurry.wait()
            self._hurry.clear()
            while self._pending:
                batch = [self._pending[i] for i in range(min(self.batch_size, len(self._pending)))]
                try:
                    await self._insert(batch)
                except (DatabaseUnavailable, OperationalError, DBAPIError, OSError) as err:
                    log.warning("event feed: database write failed (%s), retrying in %.2f s", err, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.retry_max_s)
                    continue
                delay = 0.05
                for _ in batch:
                    self._pending.popleft()
                self.stored = batch[-1][1]
                self._trim(self.stored)
                if len(self._pending) < self.max_pending // 2:
                    self._room.set()
            if self.outbox.bytes > self.compact_bytes:
                await self._compact()

    async def _insert(self, batch: list[Pending]) -> None:
        now = self.clock()
        values = [{"id": cursor, "type": type_, "ts": ts, "stored_at": now, "node": self.node, "seq": seq,
                   "body": body} for seq, cursor, type_, body, ts in batch]
        started = time.perf_counter()
        await self.db.run(lambda conn: execute_rows(conn, _INSERT, values))  # executemany: one statement, ids given
        self.write_s += time.perf_counter() - started
        self.written += len(values)
        self.batches += 1

    async def _compact(self) -> None:
        async with self._journal_lock:
            keep = [f'{{"seq":{seq},"id":{cursor},"e":{body}}}' for seq, cursor, _t, body, _ts in self._pending]
            # The highest cursor handed out outlives the lines that carried it (see ``start``).
            await self.outbox.compact([f'{{"head":{self.head}}}', *keep] if self.head else keep)

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
        self._forget_below(oldest)
        count = int(getattr(result, "rowcount", 0) or 0)
        if count:
            log.info("event feed: pruned %d events older than %.0f h", count, self.retention_s / 3600)
        return count

    # -- reading ------------------------------------------------------------------------------

    async def oldest(self) -> int | None:
        async with self.db.session() as s:
            oldest = await s.scalar(select(func.min(_T.c.id)))
        return None if oldest is None else int(oldest)

    async def gap(self, since: int | None) -> dict[str, str] | None:
        """Ids are consecutive: a cursor below the oldest kept row minus one missed pruned rows. The
        newest row is never pruned, and rows not stored yet are the ring's up to ``head``, so a
        cursor above both was never handed out by this store. The one hole in the ids is a
        restore's (``start``): a cursor in it, or just before it, missed the events the restore lost."""
        if not since:
            return None
        after = select(func.min(_T.c.id)).where(_T.c.id > since).scalar_subquery()
        async with self.db.session() as s:
            oldest, newest, following = (await s.execute(select(func.min(_T.c.id), func.max(_T.c.id), after))).one()
        if since > max(newest or 0, self.head):
            raise CursorAhead(since, max(newest or 0, self.head) or None)
        if oldest is not None and since < oldest - 1:
            return {"since": str(since), "oldest": str(oldest)}
        if following is None:  # past the table: the next event is the ring's, or the next one accepted
            following = self.head + 1
            for row in reversed(self._ring):  # the rows not stored yet are the ring's last few
                if row[0] <= since:
                    break
                following = row[0]
        if following > since + 1:
            return {"since": str(since), "oldest": str(following)}
        return None

    async def _older(self, after: int, limit: int, types: frozenset[str] | None) -> list[Row]:
        q = select(_T.c.id, _T.c.type, _T.c.body).where(_T.c.id > after)
        if types is not None:
            q = q.where(_T.c.type.in_(sorted(types)))
        async with self.db.session() as s:
            result = (await s.execute(q.order_by(_T.c.id).limit(limit))).all()
        return [(int(i), t, wire(int(i), b)) for i, t, b in result]


_FEED: type[Feed] = EventFeed  # EventFeed is a Feed (checked by mypy)
