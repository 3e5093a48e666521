"""The engine's database path per operation, in process, on a SQLite file: process CPU (all threads)
per IVR caller look-up that misses the cache, per plain wrap-up (no case, no callback) and per call
written by the call logger in the engine's shape (a few calls a batch, each call written twice: at
its end and at its wrap-up).

Each operation runs twice in the same run: through ``Database.run`` / ``run_read`` (one synchronous
transaction per trip to the database's thread, what the engine uses) and through the ORM unit of
work ``Database.session()`` (aiosqlite: a greenlet switch and a thread hop per statement), which is
the comparator. The call logger has one path only; its figure is absolute (compare a run on main).
Target: each hot operation costs less CPU on ``run`` than on the session path.

    .venv/bin/python bench/db_path.py [--quick] [-n N]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crm_core import callbacks, customers, wrapups
from crm_core.calllog import CallLogger
from crm_core.db import Database
from crm_core.directory import _BY_NUMBER, SqlCustomerDirectory
from crm_core.schemas import CustomerIn, PhoneIn
from cti.journey import CallArrived, CallConnected, CallEnded, IvrFinished, QueueEntered, WrapUpDone

HAS_RUN = hasattr(Database, "run")  # False on a checkout from before Database.run (for an A/B)


async def _cpu_per_op(n: int, op: Callable[[int], Awaitable[Any]]) -> float:
    for i in range(min(50, n)):  # warm-up: pools, compiled-statement caches, threads
        await op(-1 - i)
    cpu0 = time.process_time()
    for i in range(n):
        await op(i)
    return (time.process_time() - cpu0) / n * 1e6


async def directory_misses(db: Database, n: int) -> dict[str, float]:
    directory = SqlCustomerDirectory(db)  # fresh_s 0: every look-up reads the database

    async def via_run(i: int) -> None:
        assert await directory.lookup_by_number(f"+86137{i % 100_000_000:08d}") is None

    async def via_session(i: int) -> None:
        async with db.session() as s:
            assert (await s.execute(_BY_NUMBER, {"e164": f"+86136{i % 100_000_000:08d}"})).all() == []

    out = {"session": await _cpu_per_op(n, via_session)}
    if HAS_RUN:
        out["run"] = await _cpu_per_op(n, via_run)
    return out


async def plain_wrap_ups(db: Database, n: int) -> dict[str, float]:
    policy = callbacks.Policy()

    def record(prefix: str, i: int) -> dict[str, Any]:
        return {"agent_id": "1001", "linkedid": f"{prefix}.{i}", "customer_id": None, "queue": "support",
                "notes": "ok", "case": None, "callback": None, "reached": True, "at": 1_790_000_000.0}

    async def via_run(i: int) -> None:
        await wrapups.write_wrap_up(db, record("run", i), policy=policy)

    async def via_session(i: int) -> None:
        async with db.session() as s:
            await wrapups.apply_wrap_up(s, record("session", i), policy=policy)

    out = {"session": await _cpu_per_op(n, via_session)}
    if HAS_RUN:
        out["run"] = await _cpu_per_op(n, via_run)
    return out


async def call_log_writes(db: Database, state: Path, n: int, per_batch: int = 3) -> float:
    """Calls ``per_batch`` at a time, each written at its end and again at its wrap-up (flush()
    writes at once what would wait for the settle window in the engine)."""
    logger = CallLogger(db, state, sync="never", flush_interval_s=0.0)
    await logger.start()
    t = 1_790_000_000.0

    async def batch(first: int) -> None:
        lids = [f"call.{first + k}" for k in range(per_batch)]
        for k, lid in enumerate(lids):
            number = f"+86138{(first + k) % 100_000_000:08d}"
            await logger.handle_batch([
                CallArrived(ts=t, linkedid=lid, channel="PJSIP/trunk-1", caller_number=number, dnis="100"),
                IvrFinished(ts=t + 3, linkedid=lid, flow="main", outcome="queue", queue="support"),
                QueueEntered(ts=t + 3, linkedid=lid, queue="support"),
                CallConnected(ts=t + 4, linkedid=lid, agent_id="1001", queue="support"),
                CallEnded(ts=t + 20, linkedid=lid)])
        await logger.flush()
        await logger.handle_batch([WrapUpDone(ts=t + 25, linkedid=lid, agent_id="1001", disposition="resolved")
                                   for lid in lids])
        await logger.flush()

    for first in range(-per_batch * 10, 0, per_batch):  # warm-up
        await batch(first - 1_000_000)
    cpu0 = time.process_time()
    for first in range(0, n, per_batch):
        await batch(first)
    cpu = time.process_time() - cpu0
    await logger.stop()
    assert logger.stats["write_failures"] == 0, logger.stats
    return cpu / n * 1e6


async def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="500 operations each instead of 3,000")
    ap.add_argument("-n", type=int)
    args = ap.parse_args()
    n = args.n or (500 if args.quick else 3000)
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite+aiosqlite:///{tmp}/bench.db")
        await db.upgrade()
        async with db.session() as s:
            for i in range(200):
                await customers.create_customer(session=s, data=CustomerIn(
                    name=f"Customer {i}", phones=[PhoneIn(number=f"1390013{i:04d}")]))
        lookups = await directory_misses(db, n)
        wraps = await plain_wrap_ups(db, n)
        calls = await call_log_writes(db, Path(tmp) / "state", n)
        await db.dispose()
    print(f"{n} operations each, SQLite file, process CPU (all threads) per operation; "
          f"load average {' '.join(f'{x:.2f}' for x in __import__('os').getloadavg())}")
    verdicts = []
    for name, res in (("caller look-up (miss)", lookups), ("plain wrap-up", wraps)):
        if "run" in res:
            ratio = res["run"] / res["session"]
            print(f"{name:22s} run {res['run']:6.0f} us   session {res['session']:6.0f} us   ratio {ratio:.2f}")
            verdicts.append(f"target {name}: run < session: {'MET' if ratio < 1 else 'MISSED'}")
        else:
            print(f"{name:22s} session {res['session']:6.0f} us   (no Database.run on this checkout)")
    print(f"{'call log (per call)':22s} {calls:6.0f} us   (2 writes a call, {3} calls a batch)")
    print(f"peak memory (ru_maxrss): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MiB")
    for line in verdicts:
        print(line)
    return 0 if all(v.endswith("MET") for v in verdicts) else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
