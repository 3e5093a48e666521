"""Callback requests from the bus become pending callbacks, and none is lost on the way.

A ``CallbackRequested`` (the caller's "call me back" in the IVR, a queue's callback limit) was
promised to a caller, so it is journaled before anything else: with ``journal`` set, the request is
appended to a JSON-lines file and flushed to disk (``crm_core.outbox``), then written to the
database. A request the database cannot take now (it is away, locked) stays journaled and is tried
again with growing pauses until it lands; one left when the engine stops is tried again at the next
start. The journal is emptied once nothing is waiting.

Writing is idempotent: a request already recorded (a replay, a second delivery, the same request
seen by another engine node) adds nothing (unique ``origin_linkedid``). A request that can never be
recorded (no number to call back, e.g. an anonymous caller) is dropped with a warning; an unknown
customer is left off and the callback kept.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.exc import IntegrityError

from crm_core.callbacks import DEFAULT_MAX_ATTEMPTS, callback_for_origin, create_callback
from crm_core.db import Database
from crm_core.errors import InvalidField, NotFound
from crm_core.journal import error_text
from crm_core.outbox import Outbox
from cti.bus import EventBus
from cti.events import from_wire, to_wire
from cti.journey import CallbackRequested
from cti.tasks import cancel_and_wait

log = logging.getLogger(__name__)

RETRY_DELAYS_S = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)  # then every 30 s


class CallbackIntake:
    def __init__(self, db: Database, *, max_attempts: int = DEFAULT_MAX_ATTEMPTS, journal: Path | None = None,
                 retry_delays_s: Sequence[float] = RETRY_DELAYS_S) -> None:
        self.db = db
        self.max_attempts = max_attempts
        self.retry_delays_s = tuple(retry_delays_s)
        self.outbox = Outbox(journal, sync="always") if journal is not None else None
        self.waiting: dict[str, CallbackRequested] = {}  # linkedid -> journaled, not yet in the database
        self._wake = asyncio.Event()
        self._journal_lock = asyncio.Lock()  # no append while the journal is being emptied
        self._task: asyncio.Task[None] | None = None

    def subscribe(self, bus: EventBus) -> None:
        bus.subscribe(CallbackRequested, self.handle, name="crm.callbacks")

    async def start(self) -> None:
        """Open the journal (before the bus delivers anything) and retry what it still holds."""
        if self.outbox is not None:
            for rec in self.outbox.open():
                try:
                    ev = from_wire(json.dumps(rec))
                except (ValueError, TypeError, KeyError):
                    log.warning("callback journal: unreadable record skipped: %.200s", rec)
                    continue
                if isinstance(ev, CallbackRequested):
                    self.waiting[ev.linkedid] = ev
            if self.waiting:
                log.info("callbacks: %d requests from before the restart are recorded now", len(self.waiting))
                self._wake.set()
        self._task = asyncio.create_task(self._retry(), name="crm.callbacks.retry")

    async def stop(self) -> None:
        """Stop retrying; what is still waiting stays in the journal for the next start."""
        await cancel_and_wait(self._task)
        self._task = None
        if self.waiting:
            log.warning("callbacks: %d requests not yet in the database; they stay in the journal",
                        len(self.waiting))
        if self.outbox is not None:
            await self.outbox.close()

    async def handle(self, ev: CallbackRequested) -> None:
        """Journal the request, then record it (or leave it to the retries when the database fails)."""
        async with self._journal_lock:
            if self.outbox is not None:
                self.outbox.append(to_wire(ev).decode())
                await self.outbox.sync()
            self.waiting[ev.linkedid] = ev
        if len(self.waiting) > 1:  # earlier requests still wait for the database: this one joins them
            self._wake.set()
            return
        try:
            await self._record(ev)
        except Exception as err:
            log.warning("callback request of call %s not recorded yet (%s); trying again", ev.linkedid,
                        error_text(err))
            if self._task is None:
                log.error("callbacks: the intake was not started; the request of call %s waits for a start",
                          ev.linkedid)
            self._wake.set()
            return
        self.waiting.pop(ev.linkedid, None)
        await self._forget_journal()

    async def _retry(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            tries = 0
            while self.waiting:
                for linkedid, ev in list(self.waiting.items()):
                    try:
                        await self._record(ev)
                    except Exception as err:
                        delay = self.retry_delays_s[min(tries, len(self.retry_delays_s) - 1)]
                        if tries == 0 or delay == self.retry_delays_s[-1]:
                            log.warning("callbacks: %d requests wait for the database (%s); next try in %g s",
                                        len(self.waiting), error_text(err), delay)
                        tries += 1
                        await asyncio.sleep(delay)
                        break
                    self.waiting.pop(linkedid, None)  # (handle() may have recorded it meanwhile)
            if tries:
                log.info("callbacks: the waiting requests are recorded")
            await self._forget_journal()

    async def _forget_journal(self) -> None:
        """Nothing waits: the journal's requests are all in the database."""
        async with self._journal_lock:
            if self.outbox is not None and not self.waiting and self.outbox.bytes:
                await self.outbox.compact([])

    async def _record(self, ev: CallbackRequested) -> None:
        """Write one request. Settled (returns): written, already there, or impossible (no number);
        anything raised (the database away or locked) leaves it waiting for the retries."""
        due = datetime.fromtimestamp(ev.due_at if ev.due_at is not None else ev.ts, UTC)
        try:
            async with self.db.session() as session:
                if await callback_for_origin(session=session, linkedid=ev.linkedid) is not None:
                    return
                await create_callback(session=session, number=ev.number, due_at=due, queue=ev.queue,
                                      customer_id=ev.customer_id, origin_linkedid=ev.linkedid,
                                      max_attempts=self.max_attempts)
        except IntegrityError:
            log.info("callback request of call %s already recorded", ev.linkedid)
        except InvalidField as err:
            # An anonymous or internal caller: there is no number to call back.
            log.warning("callback request of call %s dropped: %s", ev.linkedid, err.message)
        except NotFound as err:
            log.warning("callback request of call %s: %s; recorded without it", ev.linkedid, err.message)
            async with self.db.session() as session:
                await create_callback(session=session, number=ev.number, due_at=due, queue=ev.queue,
                                      origin_linkedid=ev.linkedid, max_attempts=self.max_attempts)
