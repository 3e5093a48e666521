"""The call log's writer: the calls the call logger (crm_core.calllog) handed over, and the task that
writes them to the database in batches, retrying while it is away.

    remember(event) --> calls + when each is due --writer task, batched--> fold(all events of the
        call) --> upsert interaction + segments (crm_core.calllog_rows)

Writes are batched: per batch at most one read (of calls the database may already hold) and one
transaction, each one trip to the database (``Database.run``: on SQLite the statements run in the
database's own thread, so the event loop keeps turning while it writes). If the database is away,
the calls wait in memory (their events are in the logger's journal); the writer retries with
backoff and catches up when it returns. Every write is the fold of the union of the events in
memory and those stored, so writing a call again changes nothing.

Each write stores the whole interaction row; of its segments, only those from the first that
differs from what this writer's last write of the call stored (the rows before it are the same
rows either way). After a restart, a read of a call from the database or a failed write, that is
not known and every segment of the call is written again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from sqlalchemy.exc import IntegrityError

from crm_core.calllog_rows import STORED, Work, interaction_row, segment_row, stored_events
from crm_core.db import Database
from crm_core.event_keys import event_key
from crm_core.fold import Folded, fold_keyed
from crm_core.journal import error_text
from crm_core.outbox import Outbox
from crm_core.phones import known_e164
from cti.events import Event
from cti.journey import CallArrived, CallConnected
from cti.tasks import cancel_and_wait

log = logging.getLogger("crm_core.calllog")  # the call log's messages, whichever half logs them

# The longest stretch the writer (and the logger's handle_batch) works on the loop before letting
# other tasks in, by the clock rather than by count: an item's cost varies (an event with a long IVR
# path, a call with many segments, a busy CPU), and a fixed count let the slices grow with it.
SLICE_S = 0.002


@dataclass(eq=False)
class LoggedCall:
    """One call's events as handed to the writer, and what its writes left known of it."""

    events: dict[str, Event] = field(default_factory=dict)
    answered: bool = False
    number: str | None = None
    e164: str | None = None
    need_db: bool = True  # the database may hold events of this call that memory does not
    db_id: int | None = None
    customer_id: int | None = None
    # The customer this writer last sent for the call: an update replaces only that one (or none),
    # never a customer an agent linked (crm_core.calllog_rows). None: not known yet.
    logged_customer: int | None = None
    last_seen: float = 0.0
    written: int = -1  # how many events the last successful write covered
    matched: str | None = None  # the number last matched on customer_phones (once per call and number)
    # The segment rows this writer's last write of the call stored (None: not known, as after a
    # restart or a failed write): the next write sends only those from the first that changed.
    segments: list[dict[str, Any]] | None = None


class CallWriter:
    """The calls waiting to be written, and the task writing them; see the module docstring.

    ``outbox`` and ``lock`` are the logger's journal and the lock its appends hold: the writer
    compacts the journal to the events of the calls it still holds."""

    def __init__(self, db: Database, outbox: Outbox, lock: asyncio.Lock, *, batch_size: int,
                 flush_interval_s: float, retry_max_s: float, evict_idle_s: float, compact_bytes: int,
                 max_pending: int, settle_s: float, ivr_wait_s: float) -> None:
        self.db, self.outbox, self._lock = db, outbox, lock
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.retry_max_s = retry_max_s
        self.evict_idle_s = evict_idle_s
        self.compact_bytes = compact_bytes
        self.max_pending = max_pending
        self.settle_s = settle_s
        self.ivr_wait_s = ivr_wait_s
        self.calls: dict[str, LoggedCall] = {}
        self._room = asyncio.Event()
        self._room.set()
        # linkedid -> when its write is due (monotonic); 0.0: at once (the event completes the call,
        # or it came from the journal on start). Other events wait up to settle_s; an inbound call
        # known only by its start (in the IVR) up to ivr_wait_s, or until its next event.
        self._dirty: dict[str, float] = {}
        self._urgent = asyncio.Event()  # a call became due at once
        self._inflight: set[str] = set()
        self._wake = asyncio.Event()
        self._hurry = asyncio.Event()  # set while someone waits in flush(): write without gathering
        self._idle = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._check_customers = False  # the last write broke a constraint: look the customers up
        self._customers_gone: set[int] = set()  # customers calls named that the database lacks
        self.db_available = True
        self.stats = {"written": 0, "batches": 0, "write_failures": 0}

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="crm.calllog.writer")

    async def stop(self, *, flush_timeout_s: float) -> None:
        """Write what can be written within the timeout; the rest stays in the journal."""
        if self._task is None:
            return
        try:
            await self.flush(timeout_s=flush_timeout_s)
        except TimeoutError:
            log.warning("call log: %d calls not yet written; they stay in the outbox", len(self._dirty))
        await cancel_and_wait(self._task)
        self._task = None
        if not self._dirty and self.db_available:
            await self._compact()

    async def flush(self, *, timeout_s: float) -> None:
        """Wait until every call remembered so far is in the database (raises TimeoutError)."""
        self._hurry.set()
        try:
            async with asyncio.timeout(timeout_s):
                while self._dirty or not self._idle.is_set():
                    self._wake.set()
                    await self._idle.wait()
                    await asyncio.sleep(0)
        finally:
            self._hurry.clear()

    @property
    def pending(self) -> int:
        """Calls whose latest events are not yet in the database (waiting or being written)."""
        return len(self._dirty.keys() | self._inflight)

    @property
    def waiting(self) -> int:
        """Calls waiting for their write (not those being written)."""
        return len(self._dirty)

    # -- what the logger hands over -----------------------------------------------------------

    def remember(self, ev: Event, key: str, *, urgent: bool = False) -> None:
        """Keep ``ev`` (keyed ``key``) with its call and schedule the call's write: at once when
        ``urgent``, else after settle_s (ivr_wait_s for an inbound call still in the IVR)."""
        linkedid: str = ev.linkedid  # type: ignore[attr-defined]
        call = self.calls.get(linkedid)
        if call is None:
            call = self.calls[linkedid] = LoggedCall()
        call.events[key] = ev
        call.answered = call.answered or isinstance(ev, CallConnected)
        call.last_seen = time.monotonic()
        if urgent:
            self._dirty[linkedid] = 0.0
            self._urgent.set()
        else:
            in_ivr = len(call.events) == 1 and isinstance(ev, CallArrived) and ev.direction == "inbound"
            due = call.last_seen + (max(self.ivr_wait_s, self.settle_s) if in_ivr else self.settle_s)
            self._dirty[linkedid] = min(self._dirty.get(linkedid, due), due)
        self._idle.clear()
        self._wake.set()

    async def room(self) -> None:
        """Backpressure: while the database keeps up and more than max_pending calls wait, wait for
        the writer (which writes everything pending meanwhile) instead of piling calls up in memory.
        During an outage nothing waits (the journal holds it all)."""
        if len(self._dirty) > self.max_pending and self.db_available:
            self._urgent.set()
            self._room.clear()
            await self._room.wait()

    # -- the writer task ----------------------------------------------------------------------

    async def _run(self) -> None:
        backoff = 0.05
        while True:
            if len(self._dirty) <= self.max_pending // 2 or not self.db_available:
                self._room.set()
            if not self._dirty:
                self._evict_idle()
                if self.outbox.bytes > self.compact_bytes:
                    await self._compact()
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            if not await self._settled():
                continue
            if self.flush_interval_s and len(self._dirty) < self.batch_size and not self._hurry.is_set():
                # Let a batch gather: a call's events come over its whole life, and each write folds
                # and rewrites the whole interaction row, so one write per call per window, not per event
                # (20 ms gave ~2 calls a transaction at 10 calls/s). The journal already holds them.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.flush_interval_s):
                        await self._hurry.wait()  # flush() cuts the wait short
            batch = self._due()
            for linkedid in batch:
                del self._dirty[linkedid]
            self._inflight = set(batch)
            try:
                await self._write(batch)
            except Exception as err:
                for linkedid in batch:
                    self._dirty.setdefault(linkedid, 0.0)
                self.stats["write_failures"] += 1
                # A broken constraint: the next try looks the calls' customers up (see Work).
                self._check_customers = isinstance(err, IntegrityError)
                if self.db_available:
                    log.warning("call log: database write failed (%s); %d calls wait in the outbox",
                                error_text(err), len(self._dirty))
                self.db_available = False
                self._room.set()
                self._inflight = set()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.retry_max_s)
                continue
            self._inflight = set()
            self._check_customers = False
            if not self.db_available:
                log.info("call log: database is back; catching up with %d calls", len(self._dirty))
            self.db_available = True
            backoff = 0.05
            await asyncio.sleep(0)

    def _all_due(self) -> bool:
        # flush() waits, or the bus waits for room: write everything pending now.
        return self._hurry.is_set() or not self._room.is_set() or not self.settle_s

    async def _settled(self) -> bool:
        """Whether a call is due; if none is, wait until the first one will be (or one ends, or
        flush() hurries) and answer False. A call's events that do not complete it wait up to
        settle_s from its oldest unwritten one: the IVR's end, the queue, the ringing and the answer
        of a call come within a second or two, and each write folds and rewrites the whole
        interaction. Nothing reads the row early: pops and supervisor views read the logger's live()."""
        if self._all_due():
            return True
        self._urgent.clear()
        wait = min(self._dirty.values()) - time.monotonic()
        if wait <= 0:
            return True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                hurry = asyncio.ensure_future(self._hurry.wait())
                urgent = asyncio.ensure_future(self._urgent.wait())
                try:
                    await asyncio.wait((hurry, urgent), return_when=asyncio.FIRST_COMPLETED)
                finally:
                    hurry.cancel()
                    urgent.cancel()
        return False

    def _due(self) -> list[str]:
        if self._all_due():
            return list(islice(self._dirty, self.batch_size))
        now = time.monotonic()
        return list(islice((lid for lid, due in self._dirty.items() if due <= now), self.batch_size))

    async def _write(self, batch: list[str]) -> None:
        """One batch: at most two trips to the database (``Database.run``), one to read what it
        holds of calls it may hold events of, one transaction for every write; the fold and the rows
        are made on the loop between them, the statements run where the database runs them."""
        calls = {lid: self.calls[lid] for lid in batch if lid in self.calls}
        need = [lid for lid, c in calls.items() if c.need_db]
        stored: dict[str, str] = {}
        if need:
            for row in await self.db.run_read(lambda conn: conn.execute(STORED, {"lids": need}).all()):
                c = calls[row.linkedid]
                c.db_id, c.customer_id = row.id, row.customer_id
                stored[row.linkedid] = row.events or "[]"
        folded: dict[str, Folded] = {}
        segments: dict[str, list[dict[str, Any]]] = {}
        work = Work(new={}, old={}, segments={}, wanted={})
        slice_end = time.perf_counter() + SLICE_S
        for lid, c in calls.items():
            if time.perf_counter() >= slice_end:
                await asyncio.sleep(0)  # folding is CPU work on the loop (~100 us a call): let other tasks in
                slice_end = time.perf_counter() + SLICE_S
            if lid in stored:
                known = {event_key(e): e for e in stored_events(stored[lid])}
                if set(c.events) <= set(known):
                    continue  # a replay of what the database already holds: change nothing
                for k, e in known.items():
                    c.events.setdefault(k, e)
            f = folded[lid] = fold_keyed(lid, c.events)
            segs = segments[lid] = [segment_row(c.db_id or 0, i, seg) for i, seg in enumerate(f.segments)]
            if c.db_id is None:
                work.new[lid] = interaction_row(f, c.customer_id, c.events)
                work.segments[lid] = segs
            else:
                work.old[lid] = interaction_row(f, c.customer_id, c.events, b_id=c.db_id,
                                                b_logged=c.logged_customer)
                keep = _unchanged(c.segments, segs)
                work.segments[lid] = segs[keep:]
                if c.segments is None or len(c.segments) > keep:
                    work.cut[lid] = keep
            e164 = _wanted_number(f, c)  # in the loop: parsing numbers is sliced with the folds
            if e164:
                work.wanted.setdefault(e164, []).append(lid)
        if folded:
            work.check_customers = self._check_customers
            for values in (*work.new.values(), *work.old.values()):
                if values["customer_id"] in self._customers_gone:
                    values["customer_id"] = None
            for lid in folded:
                # A write that fails may have been committed all the same (the answer lost after its
                # COMMIT): the database may then hold segments past those of the last write known,
                # and the retry, counting on the older rows, would add its new rows beside them.
                # tests/db/crm/test_calllog.py: test_a_write_that_fails_is_not_taken_as_written.
                calls[lid].segments = None
            done = await self.db.run(work.write)
            for lid, customer_id in done.gone.items():
                log.warning("call log: call %s: customer %s does not exist (deleted, or the database was restored "
                            "from an older backup): logged without it", lid, customer_id)
                self._customers_gone.add(customer_id)
            for lid, db_id in done.ids.items():
                calls[lid].db_id = db_id
            for lids in work.wanted.values():
                for lid in lids:
                    calls[lid].matched = calls[lid].number
            for lid, customer_id in done.customers.items():
                calls[lid].customer_id = customer_id
            for lid, customer_id in done.logged.items():
                calls[lid].logged_customer = customer_id
            for lid, segs in segments.items():
                calls[lid].segments = segs  # their interaction_id filled in by the write
        self.stats["batches"] += 1
        self.stats["written"] += len(folded)
        for lid, c in calls.items():
            # A call skipped as a replay did not take the stored events into memory: while more of
            # its events arrive (during this write, say), the next write must read them again.
            c.need_db = c.need_db and lid not in folded
            c.written = len(c.events)
            done_ = lid not in folded or folded[lid].fields["status"] == "complete"
            if done_ and lid not in self._dirty:
                del self.calls[lid]  # safely in the database; late events re-read it from there

    def _evict_idle(self) -> None:
        cutoff = time.monotonic() - self.evict_idle_s
        for lid in [lid for lid, c in self.calls.items()
                    if c.last_seen < cutoff and lid not in self._dirty and c.written == len(c.events)]:
            del self.calls[lid]

    async def _compact(self) -> None:
        """Keep in the journal only the events of calls that memory still holds."""
        async with self._lock:
            keep = [k for c in self.calls.values() for k in c.events]
            await self.outbox.compact(keep)


def _wanted_number(f: Folded, call: LoggedCall) -> str | None:
    """Callers the IVR did not identify are matched on their number (one customer only): the
    number to match this call on, if any. The IVR's end (IvrFinished) carries the customer it
    identified (the directory's look-up), so a call still in the IVR is not matched yet, and a
    call is matched once per number."""
    fields = f.fields
    if fields["customer_id"] is not None:
        call.customer_id = fields["customer_id"]
        return None
    if call.customer_id is not None:
        return None
    if (fields["direction"] == "inbound" and fields["ivr_outcome"] is None
            and fields["answered_at"] is None and fields["status"] == "open"):
        return None  # maybe in the IVR, whose end will say who called
    number = fields["dialled_number"] if fields["direction"] == "outbound" else fields["caller_number"]
    if call.matched == number:
        return None
    if call.number != number:  # parsing a number costs ~50 us: once per call
        call.number, call.e164 = number, known_e164(number)
    return call.e164


def _unchanged(stored: list[dict[str, Any]] | None, rows: list[dict[str, Any]]) -> int:
    """How many of ``rows``, from the first, ``stored`` already holds as they are (0 when not known)."""
    if stored is None:
        return 0
    n = 0
    for old, new in zip(stored, rows, strict=False):
        if old != new:
            break
        n += 1
    return n
