"""Rows that must reach the database even when it is away: journal first, write exactly once.

``RowJournal.submit(kind, key, fields)`` appends the record to a JSON-lines journal in the state
directory and flushes it to disk (``crm_core.outbox``) before it tries the database; a record the
database cannot take now stays journaled and is tried again, in order, with growing pauses until
it lands; one left when the engine stops is tried again at the next start. The journal is emptied
once nothing waits (as ``crm_core.callback_intake`` does for callback requests).

Each record carries an idempotency ``key`` and each kind's writer checks for it in the same
transaction as its insert, so a write whose commit reached the database but whose answer was lost
(the connection dropped in the middle) is not written twice when it is retried or replayed. One
task writes the journaled records, in order, so two writes of one key never race on this node.

A record the database refuses rather than misses (``refused``: a domain error such as a case that
does not exist, a constraint it breaks, fields its writer cannot read) would be refused at every
try, and hold every later record behind it: after ``REFUSALS_TO_SET_ASIDE`` tries in a row it is
set aside, whole, in ``<journal>.rejected.jsonl`` beside the journal (appended and flushed before it
leaves the journal), logged by key, and the records after it are written. A database restored from
a backup does this to a wrap-up that names a case opened after the backup.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DataError, IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.db import Database
from crm_core.errors import CrmError, DatabaseUnavailable
from crm_core.outbox import Outbox
from cti.tasks import cancel_and_wait

log = logging.getLogger(__name__)

RETRY_DELAYS_S = (0.5, 1.0, 2.0, 5.0, 10.0)  # then every 10 s
# Tries in a row a refused record gets before it is set aside: a constraint broken by a race with
# another node's write of the same key is gone at the next try (the writer finds the key then).
REFUSALS_TO_SET_ASIDE = 3


def refused(err: BaseException) -> bool:
    """The database (or the writer) refuses the record itself, and would at every try; anything else
    (the database away, locked, a timeout) may pass at the next one."""
    if isinstance(err, DatabaseUnavailable):
        return False
    return isinstance(err, CrmError | IntegrityError | DataError | KeyError | TypeError | ValueError)


def error_text(err: BaseException) -> str:
    """What went wrong, for a log line: a failed statement's error without its SQL and parameters
    (which carry the row's fields: callers' numbers, notes)."""
    cause = err.orig if isinstance(err, StatementError) and err.orig is not None else err
    return f"{type(err).__name__}: {str(cause)[:300]}"
Writer = Callable[[AsyncSession, str, dict[str, Any]], Awaitable[None]]


class RowJournal:
    """Journaled, retried, idempotent inserts of a few kinds of rows (agent state history, audit)."""

    def __init__(self, db: Database, journal: Path | None, writers: Mapping[str, Writer], *,
                 name: str = "journal", retry_delays_s: Sequence[float] = RETRY_DELAYS_S) -> None:
        self.db = db
        self.name = name
        self.writers = dict(writers)
        self.retry_delays_s = tuple(retry_delays_s)
        self.outbox = Outbox(journal, sync="always") if journal is not None else None
        self.rejected_path = journal.with_name(f"{journal.stem}.rejected.jsonl") if journal is not None else None
        self.waiting: dict[str, tuple[str, dict[str, Any]]] = {}  # key -> (kind, fields), in order
        self.written = 0
        self.set_aside = 0  # records refused REFUSALS_TO_SET_ASIDE times, moved to ``rejected_path``
        self._refusals: dict[str, int] = {}  # key -> tries in a row the database refused it
        self.failing = False  # a write failed and the retries have not got through yet
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()  # one writer at a time
        # Appends (with their flush and their entry in ``waiting``) and the emptying of the journal
        # exclude each other: a row appended while the journal is being emptied would otherwise be
        # wiped from the file before it reached the database.
        self._file_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._opened = False

    def open(self) -> None:
        """Open the journal and take back what a previous run left in it (no I/O on the database)."""
        if self._opened:
            return
        self._opened = True
        if self.outbox is None:
            return
        for rec in self.outbox.open():
            kind, key, fields = rec.get("kind"), rec.get("key"), rec.get("fields")
            if kind in self.writers and isinstance(key, str) and isinstance(fields, dict):
                self.waiting[key] = (kind, fields)
            else:
                log.warning("%s: unreadable record skipped: %.200s", self.name, rec)
        if self.waiting:
            log.info("%s: %d rows from before the restart are written now", self.name, len(self.waiting))

    async def start(self) -> None:
        self.open()
        if self._task is None:
            self._task = asyncio.create_task(self._retry(), name=f"{self.name}.retry")
        if self.waiting:
            self._wake.set()

    async def stop(self) -> None:
        """Stop retrying; what still waits stays in the journal for the next start."""
        await cancel_and_wait(self._task)
        self._task = None
        if self.waiting:
            log.warning("%s: %d rows not yet in the database; they stay in the journal", self.name,
                        len(self.waiting))
        if self.outbox is not None and self._opened:
            await self.outbox.close()
            self._opened = False

    async def drain(self) -> None:
        """Write every row that waits now, in order (those a previous run left included); raises
        what the database raises, the rows staying journaled."""
        self.open()
        async with self._lock:
            await self._write_waiting()

    async def submit(self, kind: str, key: str, fields: dict[str, Any]) -> bool:
        """Journal the row, then write it. True: in the database now; False: journaled, written
        when the database is back."""
        if not await self._journal(((kind, key, fields),)):
            return False
        return await self._write_or_retry(lambda: self._write_waiting(upto=key), f"{kind} row")

    async def submit_many(self, kind: str, rows: Sequence[tuple[str, dict[str, Any]]]) -> bool:
        """``submit`` for several rows of one kind at once (in order): one journal flush and one
        database transaction for all of them instead of one each."""
        return await self.submit_records([(kind, key, fields) for key, fields in rows], f"{len(rows)} {kind} rows")

    async def submit_records(self, records: Sequence[tuple[str, str, dict[str, Any]]], what: str = "") -> bool:
        """``submit_many`` for records of several kinds (``(kind, key, fields)``, in order): journaled
        in one write and one flush, so that a crash keeps all of them or none, and written in one
        transaction (a virtual-hold entry and its language's record, ``crm_core.virtual_holds``)."""
        if not records:
            return True
        if not await self._journal(records):
            return False
        upto = records[-1][1]
        return await self._write_or_retry(lambda: self._write_waiting_together(upto), what or f"{len(records)} rows")

    async def _journal(self, records: Sequence[tuple[str, str, dict[str, Any]]]) -> bool:
        """Append the records to the journal in one write, flushed, and mark them waiting; False when
        the retries own the journal until the database answers again."""
        for kind, _, _ in records:
            if kind not in self.writers:
                raise ValueError(f"{self.name}: no writer for {kind!r}")
        self.open()
        if self._task is None:
            await self.start()
        async with self._file_lock:
            if self.outbox is not None:
                self.outbox.append_many([json.dumps({"kind": kind, "key": key, "fields": fields}, default=str)
                                         for kind, key, fields in records])
                await self.outbox.sync()
            for kind, key, fields in records:
                self.waiting[key] = (kind, fields)
        if self.failing:
            self._wake.set()
            return False
        return True

    async def _write_or_retry(self, write: Callable[[], Awaitable[None]], what: str) -> bool:
        async with self._lock:
            try:
                await write()
            except Exception as err:
                self.failing = True
                log.warning("%s: %s not written yet (%s); journaled, trying again", self.name, what, error_text(err))
                self._wake.set()
                return False
        return True

    async def _write_waiting_together(self, upto: str) -> None:
        """Write the waiting rows in order up to and including ``upto`` in one transaction (the
        writers are idempotent: a failed transaction is retried whole); caller holds the lock."""
        batch: list[tuple[str, str, dict[str, Any]]] = []
        for key, (kind, fields) in self.waiting.items():
            batch.append((key, kind, fields))
            if key == upto:
                break
        async with self.db.session() as session:
            for key, kind, fields in batch:
                await self.writers[kind](session, key, fields)
        for key, _, _ in batch:
            self.waiting.pop(key, None)
        self.written += len(batch)
        await self._forget()

    async def _write_waiting(self, upto: str | None = None, *, set_aside: bool = False) -> None:
        """Write the waiting rows in order (up to and including ``upto``); caller holds the lock.
        ``set_aside`` (the retries): a row refused often enough is set aside instead of raising."""
        for key, (kind, fields) in list(self.waiting.items()):
            try:
                await self._write(kind, key, fields)
            except Exception as err:
                if not set_aside or not refused(err):
                    raise
                self._refusals[key] = self._refusals.get(key, 0) + 1
                if self._refusals[key] < REFUSALS_TO_SET_ASIDE:
                    raise
                await self._set_aside(kind, key, fields, err)
            self._refusals.pop(key, None)
            self.waiting.pop(key, None)
            if key == upto:
                break
        await self._forget()

    async def _set_aside(self, kind: str, key: str, fields: dict[str, Any], err: Exception) -> None:
        """Keep a refused row in the rejected file (flushed) before it leaves the journal."""
        where = "memory only (no journal)"
        if self.rejected_path is not None:
            line = json.dumps({"kind": kind, "key": key, "fields": fields, "at": time.time(),
                               "error": error_text(err)}, default=str) + "\n"
            await asyncio.to_thread(_append_synced, self.rejected_path, line.encode())
            where = str(self.rejected_path)
        self.set_aside += 1
        log.error("%s: %s row %s refused by the database %d times in a row (%s): set aside in %s, "
                  "the rows after it go on", self.name, kind, key, REFUSALS_TO_SET_ASIDE, error_text(err), where)

    async def _write(self, kind: str, key: str, fields: dict[str, Any]) -> None:
        async with self.db.session() as session:
            await self.writers[kind](session, key, fields)
        self.written += 1

    async def _retry(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            tries = 0
            while self.waiting:
                failed: Exception | None = None
                async with self._lock:
                    try:
                        await self._write_waiting(set_aside=True)
                    except Exception as err:
                        failed = err
                if failed is None:
                    break
                delay = self.retry_delays_s[min(tries, len(self.retry_delays_s) - 1)]
                if tries == 0 or delay == self.retry_delays_s[-1]:
                    log.warning("%s: %d rows wait for the database (%s); next try in %g s", self.name,
                                len(self.waiting), error_text(failed), delay)
                tries += 1
                await asyncio.sleep(delay)
            self.failing = False
            if tries:
                log.info("%s: the waiting rows are written", self.name)

    async def _forget(self) -> None:
        """Nothing waits: every journaled row is in the database (caller holds the lock)."""
        async with self._file_lock:  # no append can slip in between the check and the emptying
            if self.outbox is not None and not self.waiting and self.outbox.bytes:
                await self.outbox.compact([])


def _append_synced(path: Path, data: bytes) -> None:
    """Append ``data`` to the owner-only file ``path`` and flush it to the disk."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
