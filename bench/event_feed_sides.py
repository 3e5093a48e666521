"""The two sides bench/event_feed.py times against each other: ``SUBSCRIBERS`` handlers subscribed to
the bus itself, and the feed (one bus subscription, ``SUBSCRIBERS`` followers reading by cursor), each
with the events it was sent, the latencies its readers saw and the check that every reader got
every event once, in order."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

from cti.journey import CallConnected

SUBSCRIBERS = 100
_TS = re.compile(r'"ts":([0-9.eE+-]+)')


def stamped_event(n: int | str) -> CallConnected:
    """The ``n``-th event, carrying its publish time (``ts``, ``time.perf_counter``)."""
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
        await self.bus.publish(stamped_event("warm-up"))
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
        await self.bus.publish(stamped_event("warm-up"))
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
