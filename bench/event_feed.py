"""The public event feed under load: events through the feed (bus -> cursor, journal, ring ->
100 followers reading by cursor; batched SQLite insert behind) beside the bus's own fan-out to 100
subscribers in the same run; the resume of one hour of events; the event loop's worst stall; peak
memory. With ``--redis-url`` the same for the several-node store (Redis bus -> MULTI with the feed
stream -> XREAD tail -> followers) beside the Redis bus's own fan-out.

Events are published at a steady rate (bursts every 10 ms), to the bus side and the feed side in
turn, 100 ms each, so that both are timed over the same moments of a shared machine (timed one
after the other, a neighbour's build during one phase made the ratio anything from 1x to 26x; with
half-second turns one 0.7 s descheduling of the process still decided which side's p99 was worse);
both sides are set up and warmed with one event through every subscriber before the clock starts.
A delivery's latency is the time from publish (``time.perf_counter`` in the event, set just before
``publish``) to the follower (or bus subscriber) holding the event, in the same process: a
subscriber reads it from the event, a follower looks it up by the row's place (its n-th row is the
n-th event published: each follower checks that its cursors increase and gets every event, and
between turns, untimed, each row's JSON is checked against the event published at its place).
Parsing it back out of the JSON in every follower, as this bench did until issue 19's thirty-fifth
round, cost ~0.35 us a row, a fifth of the feed side's time, that no reader of the feed spends
(the SSE stream and the webhooks pass the JSON on as it is). Targets: feed p99 <= 2x the bus's
p99, and no event-loop stall over 20 ms. The followers are in-process readers of ``follow_batches``
(what the SSE endpoint runs; each webhook task reads the same rows one by one through ``follow``,
then posts each); the HTTP write is not timed, as the bus's subscribers have none.

    .venv/bin/python bench/event_feed.py [--quick] [--rate N] [--seconds S] [--hour-rate N] [--redis-url URL]
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import argparse
import asyncio
import gc
import json
import re
import resource
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from callcenter.adapters import FEED_GATHER_S
from crm_core.db import Database
from crm_core.feed import EventFeed
from crm_core.feed_stream import StreamFeed
from cti.bus import InProcessBus
from cti.journey import CallConnected
from cti.redis_bus import RedisStreamLog, RedisStreamsBus

SUBSCRIBERS = 100
_TS = re.compile(r'"ts":([0-9.eE+-]+)')


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(p / 100 * len(s)))] if s else float("nan")


def engine_gc() -> None:
    """The collector as the engine leaves it once started (callcenter/engine.py): start-up objects
    frozen out of the scans (otherwise one full collection of this process's ~95,000 start-up
    objects holds the loop 60-90 ms, whatever the feed does), a larger young generation."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 10, 10)


class Ticker:
    """A 1 ms ticker: how late it wakes is how long the loop was busy elsewhere (stall), or the
    process was not scheduled at all; the loop thread's CPU time within one late tick (busy) tells
    the two apart on a shared machine. It also times the collector's passes (``gc.callbacks``).
    Everything is kept per ``label``: the side being published to at the time."""

    def __init__(self) -> None:
        self.label = ""
        self.stall: dict[str, float] = {}
        self.busy: dict[str, float] = {}
        self.gc: dict[str, list[float]] = {}
        self._gc_start = 0.0
        self.task: asyncio.Task[None] | None = None

    def _gc(self, phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter()
        else:
            self.gc.setdefault(self.label, []).append(time.perf_counter() - self._gc_start)

    async def _run(self) -> None:
        while True:
            t, cpu = time.perf_counter(), time.thread_time()
            await asyncio.sleep(0.001)
            label = self.label
            self.stall[label] = max(self.stall.get(label, 0.0), time.perf_counter() - t - 0.001)
            self.busy[label] = max(self.busy.get(label, 0.0), time.thread_time() - cpu)

    def figures(self, label: str) -> dict[str, Any]:
        passes = self.gc.get(label, [])
        return {"stall": self.stall.get(label, 0.0), "busy": self.busy.get(label, 0.0),
                "gc": (len(passes), max(passes, default=0.0))}

    def start(self) -> None:
        gc.callbacks.append(self._gc)
        self.task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        gc.callbacks.remove(self._gc)
        assert self.task is not None
        self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            pass


def _event(n: int | str) -> CallConnected:
    return CallConnected(ts=time.perf_counter(), linkedid=f"c{n}", agent_id="a1", queue="q")


class BusSide:
    """The comparator: ``SUBSCRIBERS`` handlers subscribed to the bus itself."""

    label = "bus"

    def __init__(self, bus: Any) -> None:
        self.bus = bus
        self.lat: list[float] = []
        self.counts = [0] * SUBSCRIBERS
        self.published = 0
        self.sent: list[float] = []  # publish times in publish order (the feed side's followers use them)

    async def open(self) -> None:
        def handler(i: int) -> Any:
            async def h(ev: CallConnected) -> None:
                self.lat.append(time.perf_counter() - ev.ts)
                self.counts[i] += 1
            return h

        for i in range(SUBSCRIBERS):
            self.bus.subscribe(CallConnected, handler(i), name=f"sub{i}")
        await self.bus.start()
        await self.bus.publish(_event("warm-up"))
        await self.bus.drain()  # every subscriber runs and waits before the clock starts
        self.lat.clear()
        self.counts[:] = [0] * SUBSCRIBERS

    async def settle(self) -> None:
        await self.bus.drain()
        assert all(c == self.published for c in self.counts)

    async def quiesce(self) -> None:
        pass

    async def close(self) -> dict[str, Any]:
        await self.bus.stop()
        return {}


class FeedSide:
    """The feed: one bus subscription (the store), ``SUBSCRIBERS`` followers reading by cursor (the
    SSE endpoint's path; the webhooks read the same rows one by one)."""

    label = "feed"

    def __init__(self, bus: Any, feed: Any) -> None:
        self.bus = bus
        self.feed = feed
        self.lat: list[float] = []
        self.counts = [0] * SUBSCRIBERS
        self.published = 0
        self.sent: list[float] = []  # publish times in publish order: a follower's n-th row is sent[n]'s
        self._checked = (0, 0)  # (cursor, how many): the rows up to this cursor were checked against ``sent``
        self._target = 1  # deliveries every follower must reach: the warm-up, then the run's too
        self._done = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def _follow(self, i: int, since: int) -> None:
        last = since
        sent, lat, counts = self.sent, self.lat, self.counts
        async for rows in self.feed.follow_batches(since, idle_s=3600):  # as the SSE stream reads
            if rows is None:
                continue
            for row in rows:
                assert row[0] > last  # in order, no duplicates
                last = row[0]
                n = counts[i]  # the warm-up's row is the first: not timed
                if n:
                    lat.append(time.perf_counter() - sent[n - 1])
                counts[i] = n + 1
            if counts[i] == self._target and all(c == self._target for c in counts):
                self._done.set()

    async def open(self) -> None:
        self.feed.subscribe(self.bus)
        await self.feed.start()
        await self.bus.start()
        self._tasks = [asyncio.create_task(self._follow(i, self.feed.head)) for i in range(SUBSCRIBERS)]
        await self.bus.publish(_event("warm-up"))
        await asyncio.wait_for(self._done.wait(), 60)  # every follower waits at the head
        self._checked = (self.feed.head, 0)  # the warm-up's cursor
        self.lat.clear()
        self._done.clear()

    async def settle(self) -> None:
        self._target = self.published + 1
        self._done.clear()
        if not all(c == self._target for c in self.counts):
            await asyncio.wait_for(self._done.wait(), 120)

    async def quiesce(self) -> None:
        await self.feed.flush()  # the writer's batch is not charged to the bus side's slice
        # Untimed: every row delivered since the last turn is the event published at its place (its
        # JSON carries the publish time and the call id the followers' n-th row stands for).
        cursor, n = self._checked
        while n < self.published:
            rows = await self.feed.page(cursor, 500)
            assert rows, f"the feed holds {n} of the {self.published} events published"
            for cursor, _type, body in rows:
                m = _TS.search(body)
                assert m is not None and float(m.group(1)) == self.sent[n], (cursor, n)
                assert f'"call_id":"c{n}"' in body, (cursor, n)
                n += 1
        self._checked = (cursor, n)

    async def close(self) -> dict[str, Any]:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.bus.stop()
        await self.feed.stop()
        feed = self.feed
        return {"write_us": getattr(feed, "write_s", 0.0) / max(1, getattr(feed, "written", 1)) * 1e6,
                "batch": getattr(feed, "written", 0) / max(1, getattr(feed, "batches", 1))}


async def fanout(bus_side: BusSide, feed_side: FeedSide, rate: int, seconds: float,
                 slice_s: float = 0.1) -> tuple[dict[str, Any], dict[str, Any]]:
    """Publish ``rate`` events/s for ``seconds`` in all (bursts every 10 ms, each event carrying its
    publish time), to the bus side and the feed side in turn, ``slice_s`` each: both see the same
    events, rate and moments of the shared machine. Between slices the side just timed delivers what
    it was sent and the feed writes its table, untimed, so neither side's work lands in the other's."""
    sides = (bus_side, feed_side)
    for side in sides:
        await side.open()
    engine_gc()
    ticker = Ticker()
    ticker.start()
    burst = max(1, rate // 100)
    busy_s = {side.label: 0.0 for side in sides}
    for k in range(max(2, round(seconds / slice_s))):
        side = sides[k % 2]
        ticker.label = side.label
        start = time.perf_counter()
        sent = 0
        while time.perf_counter() - start < slice_s:
            for _ in range(burst):
                ev = _event(side.published)
                side.sent.append(ev.ts)
                await side.bus.publish(ev)
                side.published += 1
                sent += 1
            await asyncio.sleep(max(0.0, start + sent / rate - time.perf_counter()))
        busy_s[side.label] += time.perf_counter() - start
        await side.settle()
        ticker.label = ""
        await side.quiesce()
    await ticker.stop()
    out = []
    for side in sides:
        out.append({"events": side.published, "eps": side.published / busy_s[side.label], "p50": pct(side.lat, 50),
                    "p99": pct(side.lat, 99), **ticker.figures(side.label), **await side.close()})
    return out[0], out[1]


async def resume_hour(db: Database, state: Path, hour_rate: int) -> dict[str, Any]:
    """Store one hour of events at ``hour_rate`` events/s, then time a follower replaying all of them."""
    feed = EventFeed(db, state, batch_size=5000)
    await feed.start()
    start_cursor = feed.head
    total = hour_rate * 3600
    t0 = time.perf_counter()
    for first in range(0, total, 5000):  # straight into the table: this part only sets the scene
        batch = []
        for i in range(first, min(total, first + 5000)):
            ts = 1.8e9 + i / hour_rate
            body = json.dumps({"v": 1, "type": "call.answered", "ts": ts, "call_id": f"c{i}", "agent_id": "a1",
                               "queue": "support", "data": {}}, separators=(",", ":"))
            batch.append((feed._seq + i + 1, start_cursor + i + 1, "call.answered", body, ts))
        await feed._insert(batch)
    store_s = time.perf_counter() - t0
    await feed.stop()  # restarted: the head is read from the table, the ring is empty, so a client
    feed = EventFeed(db, state, batch_size=5000)  # an hour behind is served from the database
    await feed.start()
    engine_gc()
    ticker = Ticker()
    ticker.start()
    t1 = time.perf_counter()
    got = 0
    async for row in feed.follow(start_cursor, idle_s=3600):
        if row is None:
            continue
        got += 1
        if got == total:
            break
    replay_s = time.perf_counter() - t1
    await ticker.stop()
    await feed.stop()
    return {"events": total, "store_s": store_s, "replay_s": replay_s, **ticker.figures("")}


async def resume_hour_redis(url: str, hour_rate: int) -> dict[str, Any]:
    """The same hour in the Redis stream store (several nodes), replayed by XRANGE."""
    # The bench fills the stream directly (cti.redis_bus stays the engine's only Redis module).
    import redis.asyncio as aioredis

    key = f"bench:{uuid.uuid4().hex[:8]}:feed"
    feed = StreamFeed(RedisStreamLog(url, key))
    total = hour_rate * 3600
    raw = aioredis.Redis.from_url(url)
    t0 = time.perf_counter()
    for first in range(0, total, 5000):
        async with raw.pipeline(transaction=False) as pipe:
            for i in range(first, min(total, first + 5000)):
                [entry] = feed.entries(CallConnected(ts=1.8e9 + i / hour_rate, linkedid=f"c{i}", agent_id="a1",
                                                     queue="support"))
                pipe.xadd(key, entry.fields)  # type: ignore[arg-type]
            await pipe.execute()
    store_s = time.perf_counter() - t0
    await feed.start()
    feed._ring.clear()
    ticker = Ticker()
    ticker.start()
    t1 = time.perf_counter()
    got = 0
    async for row in feed.follow(0, idle_s=3600):
        if row is None:
            continue
        got += 1
        if got == total:
            break
    replay_s = time.perf_counter() - t1
    await ticker.stop()
    await feed.stop()
    await raw.delete(key)
    await raw.aclose()
    return {"events": total, "store_s": store_s, "replay_s": replay_s, **ticker.figures("")}


def report(label: str, bus: dict[str, Any], feed: dict[str, Any], hour: dict[str, Any],
           hour_rate: int) -> tuple[float, float, float]:
    print(f"{label}:")
    print(f"bus fan-out : {bus['events']} events, {bus['eps']:,.0f} events/s delivered to each of {SUBSCRIBERS}, "
          f"latency p50 {bus['p50'] * 1e3:.2f} ms p99 {bus['p99'] * 1e3:.2f} ms, "
          f"loop stall {bus['stall'] * 1e3:.1f} ms")
    write = (f"; write cost {feed['write_us']:.0f} us/event in batches of {feed['batch']:.0f}"
             if feed["write_us"] else "")
    print(f"feed        : {feed['events']} events, {feed['eps']:,.0f} events/s delivered to each of {SUBSCRIBERS}, "
          f"latency p50 {feed['p50'] * 1e3:.2f} ms p99 {feed['p99'] * 1e3:.2f} ms, loop stall "
          f"{feed['stall'] * 1e3:.1f} ms{write}")
    ratio = feed["p99"] / bus["p99"]
    print(f"ratio feed/bus p99 latency: {ratio:.1f}x")
    print(f"resume 1 h  : {hour['events']} events ({hour_rate}/s for an hour) stored in {hour['store_s']:.1f} s "
          f"(direct batch write), "
          f"replayed to one follower in {hour['replay_s']:.2f} s ({hour['events'] / hour['replay_s']:,.0f} events/s), "
          f"loop stall {hour['stall'] * 1e3:.1f} ms")
    print(f"loop thread CPU within one tick, max: bus {bus['busy'] * 1e3:.1f} ms, feed {feed['busy'] * 1e3:.1f} ms, "
          f"resume {hour['busy'] * 1e3:.1f} ms")
    print(f"collector passes while timed (longest): bus {bus['gc'][0]} ({bus['gc'][1] * 1e3:.1f} ms), "
          f"feed {feed['gc'][0]} ({feed['gc'][1] * 1e3:.1f} ms)")
    return ratio, max(bus["stall"], feed["stall"], hour["stall"]), max(feed["busy"], hour["busy"])


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short run (CI smoke)")
    ap.add_argument("--rate", type=int, default=None, help="events/s published (default 1000, quick 500)")
    ap.add_argument("--seconds", type=float, default=None, help="publishing time (default 10, quick 3)")
    ap.add_argument("--hour-rate", type=int, default=None,
                    help="events/s of the hour to resume (default 100, quick 10)")
    ap.add_argument("--redis-url", default=None,
                    help="also measure the Redis stream store (several nodes) on this redis-server")
    args = ap.parse_args()
    rate = args.rate or (500 if args.quick else 1000)
    seconds = args.seconds or (3.0 if args.quick else 10.0)
    hour_rate = args.hour_rate or (10 if args.quick else 100)
    ratios: list[float] = []
    stalls: list[float] = []
    busys: list[float] = []
    print(f"event feed, {SUBSCRIBERS} subscribers, {rate} events/s published for {seconds:.0f} s"
          f"{' (quick)' if args.quick else ''}")
    with tempfile.TemporaryDirectory(prefix="cti-feed-bench-") as tmp:
        db = Database(f"sqlite+aiosqlite:///{tmp}/feed.db")
        await db.upgrade()
        bus, feed = await fanout(BusSide(InProcessBus()),
                                 FeedSide(InProcessBus(), EventFeed(db, Path(tmp) / "state",
                                                                    flush_interval_s=FEED_GATHER_S)), rate, seconds)
        hour = await resume_hour(db, Path(tmp) / "state", hour_rate)
        await db.dispose()
    r = report("database store (SQLite) beside the in-process bus", bus, feed, hour, hour_rate)
    ratios.append(r[0])
    stalls.append(r[1])
    busys.append(r[2])
    if args.redis_url:
        def redis_bus(node: str, prefix: str) -> RedisStreamsBus:
            return RedisStreamsBus(args.redis_url, stream_prefix=prefix, group=f"{prefix}:{node}", consumer=node)

        prefix = f"bench{uuid.uuid4().hex[:6]}"
        bus, feed = await fanout(BusSide(redis_bus("n1", prefix + "b")),
                                 FeedSide(redis_bus("n1", prefix + "f"),
                                          StreamFeed(RedisStreamLog(args.redis_url, f"{prefix}:feed"))), rate, seconds)
        hour = await resume_hour_redis(args.redis_url, hour_rate)
        r = report("Redis stream store beside the Redis bus (one node)", bus, feed, hour, hour_rate)
        ratios.append(r[0])
        stalls.append(r[1])
        busys.append(r[2])
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak_mb:.0f} MB (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    ratio, stall, busy = max(ratios), max(stalls), max(busys)
    print(f"target feed latency <= 2x bus: {'MET' if ratio <= 2 else 'MISSED'} ({ratio:.1f}x)")
    print(f"target loop stall <= 20 ms: {'MET' if stall <= 0.020 else 'MISSED'} ({stall * 1e3:.1f} ms wall; "
          f"{busy * 1e3:.1f} ms of it the loop's own CPU)")
    print(f"target loop stall <= 20 ms, the loop's own CPU: {'MET' if busy <= 0.020 else 'MISSED'} "
          f"({busy * 1e3:.1f} ms; wall time beyond it is the process waiting for a CPU)")


if __name__ == "__main__":
    asyncio.run(main())
