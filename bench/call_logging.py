"""Call-logging throughput: journey events -> bus -> CallLogger (outbox + fold + batched upsert) ->
database, on SQLite and PostgreSQL, beside raw batched inserts of the same rows in the same run.

Prints interactions written per second, the event loop's worst stall while writing (a 1 ms ticker
measures how late it wakes), the cyclic collector's passes and its longest pause meanwhile (the
bench sets the collector up as the engine does: cti.heap.settle_heap), the ratio logger / raw, and
peak memory.
Target: >= 2,000 interactions/s on SQLite with no stall over 20 ms, with the default outbox
policy ("group": every batch the bus hands over is flushed to disk before it is acknowledged).

    .venv/bin/python bench/call_logging.py [--quick] [--calls N] [--sqlite-only]
"""

# ruff: noqa: E402
from __future__ import annotations

import os
import sys

# This file is named like the stdlib's ``logging``: run as a script, its own directory comes first
# on sys.path and would shadow it for every library, so swap that entry for the project root.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

import argparse
import asyncio
import contextlib
import gc
import inspect
import random
import resource
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from callcenter.engine import CALLLOG_FLUSH_GAP_S
from crm_core.calllog import CallLogger
from crm_core.calllog_rows import interaction_row, segment_row
from crm_core.db import Database
from crm_core.event_keys import event_key
from crm_core.fold import fold
from crm_core.models import Interaction, Segment
from cti.bus import InProcessBus
from cti.events import Event
from cti.heap import settle_heap
from cti.journey import (
    AgentRinging,
    CallArrived,
    CallConnected,
    CallEnded,
    HoldEnded,
    HoldStarted,
    IvrFinished,
    QueueEntered,
    QueueLeft,
    WrapUpDone,
)


def journeys(n: int, seed: int = 1) -> list[list[Event]]:
    """A realistic mix: 80 % answered (some held), 12 % abandoned in queue, 8 % in the IVR."""
    rng = random.Random(seed)
    out = []
    base = 1_800_000_000.0
    for i in range(n):
        lid, t = f"bench.{i}", base + i * 0.5
        q = rng.choice(["sales", "billing", "support"])
        evs: list[Event] = [CallArrived(ts=t, linkedid=lid, channel=f"PJSIP/trunk-{i:08x}",
                                        caller_number=f"1380013{i % 10000:04d}", dnis="4008001000")]
        r = rng.random()
        path = ({"node": "menu", "at": t + 5, "input": "2", "choice": q},)
        if r < 0.08:
            evs += [IvrFinished(ts=t + 9, linkedid=lid, flow="main", outcome="abandoned", path=path, started_at=t),
                    CallEnded(ts=t + 9.5, linkedid=lid)]
            out.append(evs)
            continue
        evs += [IvrFinished(ts=t + 9, linkedid=lid, flow="main", outcome="queue", queue=q, path=path, started_at=t),
                QueueEntered(ts=t + 9.1, linkedid=lid, queue=q)]
        if r < 0.20:
            evs += [QueueLeft(ts=t + 40, linkedid=lid, queue=q, reason="abandoned", waited_s=30.9),
                    CallEnded(ts=t + 40, linkedid=lid)]
            out.append(evs)
            continue
        agent = f"{1001 + i % 8}"
        evs += [AgentRinging(ts=t + 20, linkedid=lid, agent_id=agent, queue=q),
                CallConnected(ts=t + 24, linkedid=lid, agent_id=agent, queue=q)]
        if r < 0.40:
            evs += [HoldStarted(ts=t + 60, linkedid=lid, agent_id=agent), HoldEnded(ts=t + 80, linkedid=lid,
                                                                                     agent_id=agent)]
        evs += [CallEnded(ts=t + 200, linkedid=lid),
                WrapUpDone(ts=t + 230, linkedid=lid, agent_id=agent, disposition="resolved", notes="ok",
                           resolved_first_contact=True)]
        out.append(evs)
    return out


@contextlib.contextmanager
def settled() -> Iterator[None]:
    """One run with the collector as the engine leaves it after its start-up (cti.heap.settle_heap):
    what the run's set-up made is collected and frozen before the measurement, not in it (the
    database's migrations leave ~10,000 objects in reference cycles: a 10-25 ms pass of the young
    generation in the middle of the run), and the young generation is the engine's. Unfrozen after
    the run, so that the next run's collect frees this one's leftovers."""
    settle_heap()
    try:
        yield
    finally:
        gc.unfreeze()


class GcPauses:
    """The cyclic collector's passes while the logger runs: how many, and the longest (its stop of
    the world is part of the loop's stall when it falls on the loop)."""

    def __init__(self) -> None:
        self.count = 0
        self.longest = 0.0
        self.generation = 0  # of the longest pass
        self._started = 0.0

    def _note(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.count += 1
            took = time.perf_counter() - self._started
            if took > self.longest:
                self.longest, self.generation = took, info["generation"]

    def __enter__(self) -> GcPauses:
        gc.callbacks.append(self._note)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._note)


class Ticker:
    """Wakes every millisecond and records how late it was: the event loop's worst stall."""

    def __init__(self, period: float = 0.001) -> None:
        self.period = period
        self.worst = 0.0
        self.samples: list[float] = []
        self._task: asyncio.Task[None] | None = None

    @property
    def p99(self) -> float:
        ordered = sorted(self.samples)
        return ordered[int(len(ordered) * 0.99)] if ordered else 0.0

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.period
            await asyncio.sleep(self.period)
            late = loop.time() - due
            self.samples.append(late)
            self.worst = max(self.worst, late)

    def __enter__(self) -> Ticker:
        self.worst = 0.0
        self.samples = []
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


async def run_logger(url: str, calls: list[list[Event]], state: Path, sync: str, batch: int) -> dict[str, float]:
    db = Database(url)
    await db.upgrade()
    bus = InProcessBus()
    # As the engine runs it (its flush gap): big batches are flushed at once.
    logger = CallLogger(db, state, sync=sync, batch_size=batch,  # type: ignore[arg-type]
                        group_gap_s=CALLLOG_FLUSH_GAP_S)
    logger.subscribe(bus)
    await logger.start()
    await bus.start()
    await asyncio.sleep(0.05)
    events = sum(len(c) for c in calls)
    with settled(), Ticker() as ticker, GcPauses() as collector:
        t0, cpu0 = time.perf_counter(), time.process_time()
        for call in calls:
            for ev in call:
                await bus.publish(ev)
            await asyncio.sleep(0)  # events arrive from sockets: the producer yields between calls
        await bus.drain()
        await logger.flush(timeout_s=600)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    await bus.stop()
    await logger.stop()
    await db.dispose()
    assert logger.stats["write_failures"] == 0, logger.stats
    return {"rate": len(calls) / elapsed, "events_rate": events / elapsed, "stall_ms": ticker.worst * 1000,
            "cpu_us": cpu / len(calls) * 1e6,
            "p99_ms": ticker.p99 * 1000,
            "elapsed": elapsed, "batches": logger.stats["batches"], "gc_runs": collector.count,
            "gc_ms": collector.longest * 1000, "gc_gen": collector.generation}


async def run_raw(url: str, calls: list[list[Event]], batch: int = 250) -> dict[str, float]:
    """The comparator: the same interaction and segment rows, inserted with executemany batches."""
    db = Database(url)
    await db.upgrade()
    rows = []
    for call in calls:
        lid = call[0].linkedid  # type: ignore[attr-defined]
        f = fold(lid, call)
        rows.append((interaction_row(f, None, [event_key(e) for e in call], linkedid=f"raw.{lid}"), f.segments))
    with settled(), Ticker() as ticker:
        t0, cpu0 = time.perf_counter(), time.process_time()
        for start in range(0, len(rows), batch):
            chunk = rows[start:start + batch]
            async with db.session() as s:
                res = await s.execute(insert(Interaction.__table__).returning(Interaction.id, Interaction.linkedid),
                                      [r for r, _ in chunk])
                ids = {row.linkedid: row.id for row in res}
                segs = [segment_row(ids[r["linkedid"]], i, seg) for r, ss in chunk for i, seg in enumerate(ss)]
                await s.execute(insert(Segment.__table__), segs)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    await db.dispose()
    return {"rate": len(rows) / elapsed, "stall_ms": ticker.worst * 1000, "p99_ms": ticker.p99 * 1000,
            "elapsed": elapsed, "cpu_us": cpu / len(rows) * 1e6}


async def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="3,000 calls instead of 20,000")
    ap.add_argument("--calls", type=int)
    ap.add_argument("--sqlite-only", action="store_true")
    ap.add_argument("--batch", type=int, default=None, help="write batch size (default: the logger's own)")
    ap.add_argument("--policy", action="append", choices=("group", "complete", "interval", "never"),
                    help="outbox policies to run (default: all four)")
    args = ap.parse_args()
    n = args.calls or (3000 if args.quick else 20000)
    args.batch = args.batch or inspect.signature(CallLogger).parameters["batch_size"].default
    calls = journeys(n)
    print(f"{n} calls, {sum(len(c) for c in calls)} journey events, write batches of {args.batch}")
    print("outbox policies: 'group' (default) = one fdatasync per batch the bus hands over, before "
          "acknowledging it; 'complete' = fdatasync before acknowledging the event that completes a call; "
          "'interval' = fdatasync every 10 ms in the background; 'never' = left to the OS. "
          "All write each event to the journal before acknowledging it (an engine crash loses nothing).")
    with tempfile.TemporaryDirectory(prefix="cti-bench-") as tmp:
        backends = [("sqlite", None)] if args.sqlite_only else [("sqlite", None), ("postgresql", "pg")]
        for label, kind in backends:
            if kind is None:
                await _backend(label, lambda i: f"sqlite+aiosqlite:///{tmp}/bench{i}.db", calls, Path(tmp), args)
                continue
            from tests.servers import postgres_server

            with postgres_server() as pg_url:
                await _backend(label, lambda i, u=pg_url: u, calls, Path(tmp), args)
    print("load average after the run (2 cores shared with other work; lateness includes OS scheduling): "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (ru_maxrss): {peak:.0f} MiB")
    return 0


async def _backend(label: str, url_of: Any, calls: list[list[Event]], tmp: Path, args: Any) -> None:
    raw = await run_raw(url_of(0), calls, args.batch)
    print(f"{label}: raw executemany        {raw['rate']:7.0f} interactions/s, loop stall worst "
          f"{raw['stall_ms']:.1f} ms / p99 {raw['p99_ms']:.1f} ms, CPU {raw['cpu_us']:.0f} us per interaction "
          "(rows prepared beforehand)")
    for i, policy in enumerate(args.policy or ("group", "complete", "interval", "never"), 1):
        res = await run_logger(url_of(i), calls, tmp / f"state-{label}-{policy}", policy, args.batch)
        ok = res["rate"] >= 2000 and res["stall_ms"] <= 20
        print(f"{label}: call logger ({policy:8}) {res['rate']:7.0f} interactions/s ({res['events_rate']:.0f} "
              f"events/s, {res['batches']:.0f} batches), loop stall worst {res['stall_ms']:.1f} ms / p99 "
              f"{res['p99_ms']:.1f} ms, CPU {res['cpu_us']:.0f} us per interaction (all threads), "
              f"ratio logger/raw {res['rate'] / raw['rate']:.2f}; GC {res['gc_runs']:.0f} passes, longest "
              f"{res['gc_ms']:.1f} ms (generation {res['gc_gen']:.0f})"
              + (f"; target (default policy) >= 2000/s, stall <= 20 ms: {'MET' if ok else 'MISSED'}"
                 if label == "sqlite" and policy == "group" else ""))


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
