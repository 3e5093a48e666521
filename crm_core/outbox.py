"""The call logger's durable outbox: an append-only JSON-lines journal of journey events.

Every event is written to the file (``os.write`` on an O_APPEND descriptor, so it survives an
engine crash or restart) before the logger acknowledges it. The sync policy says when the file
is also flushed to the disk (fdatasync, in a private thread) before the acknowledgement:
``group`` (the call logger's default) once per batch the bus hands over, before the batch is
acknowledged: every event is on the disk before its acknowledgement, at one flush per batch
(group commit: under load the batches grow while a flush runs, so the flushes stay few);
``complete`` for the event that completes an interaction (WrapUpDone, or CallEnded of
a call nobody answered), which makes every earlier line durable too, so a power loss can only
cost the unsynced tail of calls still in progress on the machine that lost power; ``always`` for
every event (strict, about seven disk flushes per call); ``interval`` acknowledges at once and
flushes in the background every ``interval_s`` (group commit: a power loss costs at most that
window, like PostgreSQL's synchronous_commit=off); ``never`` leaves it to the OS. Handed one
event at a time, the policies that flush before the acknowledgement are bound by the disk's
flush latency (one flush per call for ``complete``); ``group`` needs batches from the bus. On start the
journal is replayed and re-written idempotently, so nothing acknowledged is lost while the
database is away, and nothing is duplicated. ``compact`` rewrites the file with only the events
of calls not yet safely in the database (new file, fsync, atomic rename).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

log = logging.getLogger(__name__)
SyncPolicy = Literal["group", "always", "complete", "interval", "never"]


class Outbox:
    """Append-only journal file with fsync in a private thread (the event loop never waits on disk)."""

    def __init__(self, path: Path, *, sync: SyncPolicy = "complete", interval_s: float = 0.01) -> None:
        self.path = path
        self.sync_policy = sync
        self.interval_s = interval_s
        self._synced_at = 0  # appended count covered by the last flush
        self._flusher: asyncio.Task[None] | None = None
        self._fd: int | None = None
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="crm-outbox")
        self.bytes = 0
        self.appended = 0

    def open(self) -> list[dict[str, Any]]:
        """Open the journal (creating it) and return the records already in it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self._pool._shutdown:  # opened again after a close (an app whose lifespan runs twice)
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="crm-outbox")
        records = list(self._read())
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.bytes = os.fstat(self._fd).st_size
        if self.sync_policy == "interval":
            self._flusher = asyncio.get_running_loop().create_task(self._flush_every(), name="crm.outbox.flush")
        return records

    async def _flush_every(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            if self.appended != self._synced_at:
                await self.sync()

    def _read(self) -> Iterable[dict[str, Any]]:
        if not self.path.exists():
            return
        with self.path.open("rb") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    yield json.loads(line)
                except ValueError:
                    # Only the last line can be torn (a crash in the middle of a write).
                    log.warning("outbox %s: line %d is not JSON (torn write?), skipped", self.path, n)

    def append(self, line: str) -> None:
        if self._fd is None:
            raise RuntimeError("outbox is not open")
        data = (line + "\n").encode()
        os.write(self._fd, data)
        self.bytes += len(data)
        self.appended += 1

    def append_many(self, lines: list[str]) -> None:
        """Several lines in one write."""
        if self._fd is None:
            raise RuntimeError("outbox is not open")
        data = ("\n".join(lines) + "\n").encode()
        os.write(self._fd, data)
        self.bytes += len(data)
        self.appended += len(lines)

    async def append_in_thread(self, line: str) -> None:
        """``append`` in the outbox thread: a write that waits behind a running fdatasync (the file's
        lock) then holds up this caller only, not the event loop (bench/event_feed.py saw 50 ms)."""
        await asyncio.get_running_loop().run_in_executor(self._pool, self.append, line)

    async def sync(self) -> None:
        if self._fd is not None:
            upto = self.appended
            await asyncio.get_running_loop().run_in_executor(self._pool, self._fdatasync)
            self._synced_at = upto

    def _fdatasync(self) -> None:
        # Runs in the outbox thread, after any compaction queued before it: the descriptor is
        # read here, never one a compaction has already closed.
        if self._fd is not None:
            os.fdatasync(self._fd)

    async def compact(self, keep: Iterable[str]) -> None:
        """Replace the journal with ``keep`` (JSON lines); the caller must not append meanwhile."""
        lines = list(keep)
        await asyncio.get_running_loop().run_in_executor(self._pool, self._rewrite, lines)

    def _rewrite(self, lines: list[str]) -> None:
        tmp = self.path.with_suffix(".compact")
        with tmp.open("wb") as fh:
            for line in lines:
                fh.write((line + "\n").encode())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        dfd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)  # the rename itself must be durable
        finally:
            os.close(dfd)
        old, self._fd = self._fd, os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        if old is not None:
            os.close(old)
        self.bytes = os.fstat(self._fd).st_size

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            try:
                await self._flusher
            except asyncio.CancelledError:
                pass
            self._flusher = None
        if self._fd is not None:
            await self.sync()
            os.close(self._fd)
            self._fd = None
        self._pool.shutdown(wait=True)
