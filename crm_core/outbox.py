"""The call logger's durable outbox: an append-only JSON-lines journal of journey events.

Every event is written to the file (``os.write`` on an O_APPEND descriptor, so it survives an
engine crash or restart) before the logger acknowledges it. The sync policy says when the file
is also flushed to the disk (fdatasync, in a private thread) before the acknowledgement:
``group`` (the call logger's default) once per batch the bus hands over, before the batch is
acknowledged: every event is on the disk before its acknowledgement, at one flush per batch
(group commit: under load the batches grow while a flush runs, so the flushes stay few; the call
logger may also keep a minimum gap between two flushes, ``CallLogger.group_gap_s``);
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
of calls not yet safely in the database (new file, fsync, atomic rename). Flushes, compactions
and threaded appends run in order in the outbox's own thread (``DiskThread``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

from cti.tasks import cancel_and_wait

log = logging.getLogger(__name__)
SyncPolicy = Literal["group", "always", "complete", "interval", "never"]
_Job = tuple[Callable[[], Any] | None, "asyncio.Future[Any] | None", "asyncio.AbstractEventLoop | None"]


class DiskThread:
    """One outbox's own thread: its disk work runs there in submission order, and flushes asked
    for while another one runs share the next fdatasync (group commit: one flush covers every
    append made before it started). Each round of work done goes back to the event loop with one
    ``call_soon_threadsafe``, however many waiters it releases. (A ThreadPoolExecutor hop per
    flush cost ~70 us of CPU on this machine, bench/RESULTS.md; this one ~25 us.)"""

    def __init__(self, name: str) -> None:
        self.name = name
        self._jobs: deque[_Job] = deque()
        self._signal = threading.Lock()  # released (unlocked) while work waits: a binary semaphore
        self._signal.acquire()
        self._thread: threading.Thread | None = None
        self.trips = 0  # jobs submitted: each is a hop from the loop to this thread and back

    def submit(self, fn: Callable[[], Any], *, flush: bool = False) -> asyncio.Future[Any]:
        """Run ``fn`` in the thread; ``flush``: an fdatasync, merged with the flushes queued beside it."""
        loop = asyncio.get_running_loop()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()
        fut: asyncio.Future[Any] = loop.create_future()
        self.trips += 1
        self._jobs.append((fn if not flush else _Flush(fn), fut, loop))
        try:
            self._signal.release()
        except RuntimeError:
            pass  # already signalled: the thread will find this job in its next round
        return fut

    def stop(self) -> None:
        """Finish the queued work and end the thread (a later ``submit`` starts a new one)."""
        if self._thread is None:
            return
        self._jobs.append((None, None, None))
        try:
            self._signal.release()
        except RuntimeError:
            pass
        self._thread.join()
        self._thread = None

    def _run(self) -> None:
        while True:
            self._signal.acquire()
            while self._jobs:
                # Only what is queued now: a flush asked for during this round's fdatasync may
                # follow an append it did not cover, so it waits for the next round.
                jobs = [self._jobs.popleft() for _ in range(len(self._jobs))]
                done: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
                flushed: tuple[Any, BaseException | None] | None = None
                stop = False
                for fn, fut, _loop in jobs:
                    if fn is None:
                        stop = True
                        continue
                    if isinstance(fn, _Flush) and flushed is not None:
                        result, err = flushed  # queued beside the flush just done: covered by it
                    else:
                        try:
                            result, err = fn(), None
                        except BaseException as exc:  # handed to the waiter, as an executor would
                            result, err = None, exc
                        flushed = (result, err) if isinstance(fn, _Flush) else None
                    done.append((fut, result, err))  # type: ignore[arg-type]
                self._deliver(done, jobs)
                if stop:
                    return

    @staticmethod
    def _deliver(done: list[tuple[asyncio.Future[Any], Any, BaseException | None]], jobs: list[_Job]) -> None:
        loops = {id(loop): loop for _fn, _fut, loop in jobs if loop is not None}
        for loop in loops.values():
            mine = [d for d in done if d[0].get_loop() is loop] if len(loops) > 1 else done
            try:
                loop.call_soon_threadsafe(_settle, mine)
            except RuntimeError:
                pass  # the loop is closed: nobody waits any more


class _Flush:
    """A job marked as a flush (merged with the flushes queued next to it)."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.fn = fn

    def __call__(self) -> Any:
        return self.fn()


def _settle(done: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for fut, result, err in done:
        if fut.done():
            continue  # the waiter was cancelled
        if err is not None:
            fut.set_exception(err)
        else:
            fut.set_result(result)


class Outbox:
    """Append-only journal file with fsync in a private thread (the event loop never waits on disk)."""

    def __init__(self, path: Path, *, sync: SyncPolicy = "complete", interval_s: float = 0.01) -> None:
        self.path = path
        self.sync_policy = sync
        self.interval_s = interval_s
        self._synced_at = 0  # appended count covered by the last flush
        self._flusher: asyncio.Task[None] | None = None
        self._fd: int | None = None
        self._disk = DiskThread(f"outbox-{path.stem}")
        self.bytes = 0
        self.appended = 0  # lines
        self.writes = 0  # os.write calls
        self.flushes = 0  # fdatasync calls

    def open(self) -> list[dict[str, Any]]:
        """Open the journal (creating it) and return the records already in it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        records = list(self._read())
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        st = os.fstat(self._fd)
        if st.st_mode & 0o077:  # compacted by an older engine, which left it readable by others
            os.fchmod(self._fd, 0o600)
        self.bytes = st.st_size
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
        self.writes += 1

    def append_many(self, lines: list[str]) -> None:
        """Several lines in one write."""
        if self._fd is None:
            raise RuntimeError("outbox is not open")
        data = ("\n".join(lines) + "\n").encode()
        os.write(self._fd, data)
        self.bytes += len(data)
        self.appended += len(lines)
        self.writes += 1

    async def append_in_thread(self, lines: list[str]) -> None:
        """``append_many`` in the outbox thread: a write that waits behind a running fdatasync (the
        file's lock) then holds up this caller only, not the event loop (bench/event_feed.py saw 50 ms)."""
        await self._disk.submit(lambda: self.append_many(lines))

    async def append_synced(self, lines: list[str]) -> None:
        """``append_many`` then an fdatasync, in one job of the outbox thread: every line appended
        so far is on the disk when this returns. One hop between the event loop and the thread
        instead of two (``append_in_thread`` then ``sync``): a hop costs a thread wake-up and a
        loop wake-up (issue 19, twenty-fourth round)."""
        covered = await self._disk.submit(lambda: self._append_synced(lines))
        self._synced_at = max(self._synced_at, covered)

    def _append_synced(self, lines: list[str]) -> int:
        self.append_many(lines)
        upto = self.appended  # read before the flush starts: every line counted is covered by it
        self._fdatasync()
        return upto

    async def sync(self) -> None:
        if self._fd is not None:
            upto = self.appended
            if upto == self._synced_at:
                return  # nothing appended since the last flush
            await self._disk.submit(self._fdatasync, flush=True)
            self._synced_at = max(self._synced_at, upto)

    def _fdatasync(self) -> None:
        # Runs in the outbox thread, after any compaction queued before it: the descriptor is
        # read here, never one a compaction has already closed.
        if self._fd is not None:
            os.fdatasync(self._fd)
            self.flushes += 1

    async def compact(self, keep: Iterable[str]) -> None:
        """Replace the journal with ``keep`` (JSON lines); the caller must not append meanwhile."""
        lines = list(keep)
        await self._disk.submit(lambda: self._rewrite(lines))

    def _rewrite(self, lines: list[str]) -> None:
        tmp = self.path.with_suffix(".compact")
        tmp.unlink(missing_ok=True)  # a leftover would keep its own mode
        # Owner-only, as the journal itself: it holds callers' numbers and customers' ids.
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as fh:
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
        await cancel_and_wait(self._flusher)
        self._flusher = None
        if self._fd is not None:
            await self.sync()
        self._disk.stop()  # what is still queued runs first, on the descriptor it was queued for
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
