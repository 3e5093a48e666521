"""The call logger: consumes journey events from the bus and writes exactly one interaction per
call (unique on linkedid) with its segments, idempotently, through a durable outbox.

    bus --handle_batch()--> memory + outbox journal (append; flushed to disk before the batch
        is acknowledged); memory --writer task, batched (crm_core.calllog_writer)--> fold(all
        events of the call) --> upsert interaction + segments

This module is the bus side: it journals each event before acknowledging it and hands it to the
writer, which owns the calls in memory and their writes. If the database is away, calls keep
flowing into the journal and memory; the writer retries with backoff and catches up when it
returns. A restart replays the journal; since every write is the fold of the union of journal and
stored events, replays change nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path

from crm_core.calllog_writer import SLICE_S, CallWriter
from crm_core.db import Database
from crm_core.event_keys import event_key, masked
from crm_core.fold import JOURNEY_EVENTS, Folded, fold_keyed
from crm_core.outbox import Outbox, SyncPolicy
from crm_core.unhanded import Unhanded
from cti.bus import EventBus, subscribe_batch
from cti.events import Event, from_wire
from cti.journey import CallClosed, CallEnded, WrapUpDone

log = logging.getLogger(__name__)

_GAP_BELOW = 100  # a bus batch of fewer journey events keeps group_gap_s from the last flush


class CallLogger:
    """Bus consumer folding cti.journey events into interactions; see the module docstring."""

    def __init__(self, db: Database, state_dir: Path, *, sync: SyncPolicy = "group",
                 batch_size: int = 200, flush_interval_s: float = 0.25, retry_max_s: float = 5.0,
                 evict_idle_s: float = 4 * 3600, compact_bytes: int = 16 << 20, max_pending: int = 1000,
                 settle_s: float = 2.0, ivr_wait_s: float = 30.0, group_gap_s: float = 0.0) -> None:
        self.db = db
        self.outbox = Outbox(Path(state_dir) / "calllog-outbox.jsonl", sync=sync)
        # Policy "group" with batches from the bus: at least this long between the starts of two
        # flushes (0: flush every batch at once). See handle_batch and docs/resilience.md.
        self.group_gap_s = group_gap_s
        self._flushed_at = 0.0
        self._lock = asyncio.Lock()  # the journal's appends, and the writer's compaction of it
        self.writer = CallWriter(db, self.outbox, self._lock, batch_size=batch_size,
                                 flush_interval_s=flush_interval_s, retry_max_s=retry_max_s,
                                 evict_idle_s=evict_idle_s, compact_bytes=compact_bytes, max_pending=max_pending,
                                 settle_s=settle_s, ivr_wait_s=ivr_wait_s)
        # Published on the bus, not yet handed to handle_batch (live() shows them): see subscribe.
        self._unhanded = Unhanded()
        self._counts = {"events": 0, "duplicates": 0, "replayed": 0}

    @property
    def stats(self) -> dict[str, int]:
        """Events taken, duplicates dropped, journal events replayed; calls written, write batches
        and failed writes (the writer's)."""
        return {**self._counts, **self.writer.stats}

    @property
    def db_available(self) -> bool:
        """Whether the writer's last write succeeded."""
        return self.writer.db_available

    # -- life cycle ---------------------------------------------------------------------------

    def subscribe(self, bus: EventBus) -> None:
        # One subscription for the journey's events keeps the journal in publish order (order does
        # not matter to the fold, but one worker is cheaper than eighteen), and the worker is never
        # woken for the rest (device states, agent states...). Batches: one journal write and
        # (policy "group") one disk flush per batch, before the batch is acknowledged.
        batched = subscribe_batch(bus, JOURNEY_EVENTS, self.handle_batch, name="crm.calllog")
        if not batched and self.outbox.sync_policy == "group":
            # One event at a time, a flush per event would cap the logger at the disk's flush rate.
            log.info("call log: the bus hands single events; journal flushed every %.0f ms instead of per batch",
                     self.outbox.interval_s * 1000)
            self.outbox.sync_policy = "interval"
        # Events wait in the subscription's inbox while the handler works or waits out the flush gap:
        # a bus observer keeps them for live() until the handler takes them (crm_core.unhanded). Not
        # on a bus without observers (cti.bus.observe's fallback, a subscription, would lag as much).
        observe = getattr(bus, "observe", None)
        if observe is not None:
            observe(JOURNEY_EVENTS, self._unhanded.published, name="crm.calllog.live")

    async def start(self) -> None:
        """Open the outbox, replay what it holds and start the writer."""
        records = self.outbox.open()
        for rec in records:
            try:
                ev = from_wire(json.dumps(rec))
            except (ValueError, TypeError, KeyError):
                log.warning("outbox: unreadable record skipped: %.200s", rec)
                continue
            self.writer.remember(ev, event_key(ev), urgent=True)
        self._counts["replayed"] = len(records)
        if records:
            log.info("call log: replaying %d journal events of %d calls", len(records), self.writer.waiting)
        self.writer.start()

    async def stop(self, *, flush_timeout_s: float = 5.0) -> None:
        """Write what can be written within the timeout; the rest stays in the outbox."""
        await self.writer.stop(flush_timeout_s=flush_timeout_s)
        await self.outbox.close()

    async def flush(self, *, timeout_s: float = 10.0) -> None:
        """Wait until everything handled so far is in the database (raises TimeoutError)."""
        await self.writer.flush(timeout_s=timeout_s)

    def live(self, linkedid: str) -> Folded | None:
        """The call as the events seen so far make it (for screen pops before the write lands),
        with those the bus published that the handler has not taken yet."""
        call = self.writer.calls.get(linkedid)
        events = dict(call.events) if call else {}
        for ev in self._unhanded.of(linkedid):
            ev = masked(ev)
            events.setdefault(event_key(ev), ev)
        return fold_keyed(linkedid, events) if events else None

    @property
    def pending(self) -> int:
        """Calls whose latest events are not yet in the database (waiting or being written)."""
        return self.writer.pending

    # -- the bus handler ---------------------------------------------------------------------

    async def handle(self, ev: Event) -> None:
        """Journal the event (durably, see outbox) and schedule its call for writing."""
        try:
            for one in self._with_merged(ev):
                await self._handle(one)
        finally:
            self._unhanded.taken((ev,))

    def _with_merged(self, ev: Event) -> list[Event]:
        """``ev``, and when it ends a call, the end of each call Asterisk folded into it that we log:
        a three-way conference can move the caller's channel to the consultation's linkedid, and
        the caller's interaction would otherwise stay open for good."""
        if not (isinstance(ev, CallEnded) and ev.merged):
            return [ev]
        out: list[Event] = [ev]
        for other in ev.merged:
            call = self.writer.calls.get(other)
            if call is not None and not any(isinstance(e, CallEnded) for e in call.events.values()):
                out.append(dataclasses.replace(ev, linkedid=other, merged=()))
        return out

    async def _handle(self, ev: Event) -> None:
        if not isinstance(ev, JOURNEY_EVENTS):
            return
        ev = masked(ev)
        key = event_key(ev)
        call = self.writer.calls.get(ev.linkedid)  # type: ignore[attr-defined]
        if call is not None and key in call.events:
            self._counts["duplicates"] += 1
            return
        completes = self._completes(ev)
        async with self._lock:
            self.outbox.append(key)
            policy = self.outbox.sync_policy
            if policy in ("group", "always") or (policy == "complete" and completes):
                await self.outbox.sync()
        self._counts["events"] += 1
        self.writer.remember(ev, key, urgent=completes)
        if self._counts["events"] % 32 == 0:
            # The bus worker does not yield between queued events (Queue.get returns at once) and
            # this handler rarely blocks: hand the loop over now and then, or a backlog of
            # thousands of events would run as one long stall.
            await asyncio.sleep(0)
        await self.writer.room()  # backpressure: the bus waits while too many calls wait for their write

    async def handle_batch(self, events: Sequence[Event]) -> None:
        """Journal a batch in one write, flushed to disk once (policy "group") before returning,
        which acknowledges the whole batch; then schedule its calls for writing."""
        try:
            await self._handle_batch(events)
        finally:
            self._unhanded.taken(events)

    async def _handle_batch(self, events: Sequence[Event]) -> None:
        accepted: list[tuple[Event, str]] = []
        keys: set[str] = set()
        completes = False
        slice_end = time.perf_counter() + SLICE_S
        for ev in (one for each in events for one in self._with_merged(each)):
            if time.perf_counter() >= slice_end:
                # A batch holds up to a thousand events (~10 us each to key): let the loop turn
                # meanwhile. Nothing is acknowledged before the flush below.
                await asyncio.sleep(0)
                slice_end = time.perf_counter() + SLICE_S
            if not isinstance(ev, JOURNEY_EVENTS):
                continue
            ev = masked(ev)
            key = event_key(ev)
            call = self.writer.calls.get(ev.linkedid)  # type: ignore[attr-defined]
            if key in keys or (call is not None and key in call.events):
                self._counts["duplicates"] += 1
                continue
            keys.add(key)
            accepted.append((ev, key))
            completes = completes or isinstance(ev, (WrapUpDone, CallEnded, CallClosed))
        if not accepted:
            return
        async with self._lock:
            # In memory at once (screen pops read live()); acknowledged only after the flush below.
            self._counts["events"] += len(accepted)
            for ev, key in accepted:
                self.writer.remember(ev, key, urgent=self._completes(ev))
            # The write goes through the outbox's thread: on the loop, it waited behind a running
            # fdatasync of the same file (up to 4 ms for a batch in bench/call_logging.py --quick).
            lines = [key for _, key in accepted]
            policy = self.outbox.sync_policy
            if policy in ("group", "always") or (policy == "complete" and completes):
                if policy == "group" and self.group_gap_s and len(accepted) < _GAP_BELOW:
                    # At most one flush per gap: a small batch following the last flush closely
                    # waits for the rest of the gap, and what the bus receives meanwhile joins the
                    # next batch. A big batch (the load is high, its flush is shared by many events
                    # already) is flushed at once, so the gap never caps the rate.
                    wait = self._flushed_at + self.group_gap_s - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                self._flushed_at = time.monotonic()
                # The write and its flush in one trip to the outbox's thread (not two).
                await self.outbox.append_synced(lines)
            else:
                await self.outbox.append_in_thread(lines)
        await self.writer.room()  # backpressure, as in handle

    def _completes(self, ev: Event) -> bool:
        """Whether ``ev`` completes its call: its write is due at once. An answered call's end waits
        (up to settle_s) for its wrap-up, which usually comes within seconds: one write for both."""
        if isinstance(ev, WrapUpDone):
            return True
        call = self.writer.calls.get(ev.linkedid)  # type: ignore[attr-defined]
        return isinstance(ev, (CallEnded, CallClosed)) and not (call and call.answered)
