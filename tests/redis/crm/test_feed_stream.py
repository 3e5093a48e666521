"""The event feed on a Redis stream (several nodes) against a real redis-server: two nodes publish at
once, a client reads from one node, goes away, and resumes on the other from its cursor; retention
trims by age and a cursor from before it reports the gap."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from crm_core.feed_ring import CursorAhead
from crm_core.feed_stream import StreamFeed, to_cursor
from cti.journey import CallConnected, CallEnded
from cti.redis_bus import RedisStreamLog, RedisStreamsBus

Node = tuple[RedisStreamsBus, StreamFeed]


@pytest.fixture
async def nodes(redis_url: str) -> AsyncIterator[Callable[..., Node]]:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    made: list[Node] = []

    def make(name: str, **kw: object) -> Node:
        bus = RedisStreamsBus(redis_url, stream_prefix=prefix, group=f"{prefix}:{name}", consumer=name)
        feed = StreamFeed(RedisStreamLog(redis_url, f"{prefix}:feed", block_ms=200), retention_s=24 * 3600,
                          **kw)  # type: ignore[arg-type]
        feed.subscribe(bus)
        made.append((bus, feed))
        return bus, feed

    yield make
    for bus, feed in made:
        await feed.stop()
        await bus.stop()


def _event(node: str, n: int) -> CallConnected:
    return CallConnected(ts=float(n), linkedid=f"{node}-{n}", agent_id=node, queue="support")


async def _read(feed: StreamFeed, since: int, count: int) -> list[tuple[int, dict[str, object]]]:
    out: list[tuple[int, dict[str, object]]] = []
    async with asyncio.timeout(10):
        async for row in feed.follow(since, idle_s=5):
            assert row is not None
            out.append((row[0], json.loads(row[2])))
            if len(out) == count:
                return out
    return out


async def test_two_nodes_publish_and_a_client_resumes_on_the_other_node_exactly_once(
        nodes: Callable[..., Node]) -> None:
    (bus_a, feed_a), (bus_b, feed_b) = nodes("a"), nodes("b")
    for bus, feed in ((bus_a, feed_a), (bus_b, feed_b)):
        await bus.start()
        await feed.start()
    start = feed_a.head

    async def publish(bus: RedisStreamsBus, node: str, first: int, last: int) -> None:
        for n in range(first, last):
            await bus.publish(_event(node, n))
            await asyncio.sleep(0)  # the two nodes interleave

    await asyncio.gather(publish(bus_a, "a", 0, 30), publish(bus_b, "b", 0, 30))
    first = await _read(feed_a, start, 25)  # the client reads part of it on node a, then goes away
    cursor = first[-1][0]
    await asyncio.gather(publish(bus_a, "a", 30, 60), publish(bus_b, "b", 30, 60))
    rest = await _read(feed_b, cursor, 120 - 25)  # ... and resumes on node b with its cursor

    got = first + rest
    cursors = [c for c, _ in got]
    assert cursors == sorted(set(cursors)) and cursors[0] > start  # in order, no duplicates
    assert all(body["cursor"] == str(c) for c, body in got)
    calls = [str(body["call_id"]) for _, body in got]
    assert sorted(calls) == sorted(f"{n}-{i}" for n in "ab" for i in range(60))  # every event, exactly once
    for node in "ab":  # each node's events in the order it published them
        assert [int(c.split("-")[1]) for c in calls if c[0] == node] == list(range(60))
    await feed_a.flush()
    await feed_b.flush()
    assert await feed_a.page(start, 1000) == await feed_b.page(start, 1000)  # one order on every node
    bus_events = await feed_b.stream._r.xlen(bus_a.stream)  # the bus carried them, each once
    assert bus_events == 120
    assert await feed_b.gap(cursor) is None
    newest = (await feed_b.page(start, 1000))[-1][0]
    assert await feed_b.gap(newest) is None
    with pytest.raises(CursorAhead):  # a cursor this stream never handed out: the client must start again
        await feed_b.gap(newest + 1)
    # A call folded into another (a conference) ends with it: one more entry, same MULTI, every node.
    head = feed_a.head
    await bus_b.publish(CallEnded(ts=99.0, linkedid="b-conf", merged=("a-0",)))
    ended = await _read(feed_a, head, 2)
    assert [(b["call_id"], b["data"]["merged_into"]) for _, b in ended] == [("b-conf", None), ("a-0", "b-conf")]  # type: ignore[index]


async def test_retention_trims_old_entries_and_a_cursor_before_them_sees_the_gap(
        nodes: Callable[..., Node]) -> None:
    now = [time.time()]
    bus, feed = nodes("a", clock=lambda: now[0])
    await bus.start()
    await feed.start()
    for n in range(150):
        await bus.publish(_event("a", n))
    await feed.flush()
    before = await feed.page(0, 1000)
    await asyncio.sleep(0.01)
    cutoff = time.time()
    await asyncio.sleep(0.01)
    now[0] = cutoff + 24 * 3600  # a day later: everything above is older than the retention
    await bus.publish(_event("a", 150))
    await feed.flush()
    first, last = await feed.stream.ends()
    assert first is not None and last is not None
    kept = await feed.stream.after((0, 0), 1000)
    assert 0 < len(kept) < 151 and kept[-1][0] == last  # whole macro nodes of old entries went, not the new one
    oldest = to_cursor(kept[0][0])
    assert await feed.gap(before[0][0]) == {"since": str(before[0][0]), "oldest": str(oldest)}
    feed._ring.clear()  # from the stream itself: the oldest kept entry first
    assert [r[0] for r in await feed.page(0, 1000)] == [to_cursor(i) for i, _ in kept]
    assert await feed.gap(oldest) is None


def test_the_stream_store_is_chosen_with_the_redis_bus(redis_url: str, tmp_path: Path) -> None:
    from callcenter.adapters import make_feed
    from crm_core.db import Database
    from crm_core.feed import EventFeed
    from cti.errors import ConfigError
    from cti.settings import Settings

    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    base = Settings(state_dir=tmp_path, redis_url=redis_url)
    assert isinstance(make_feed(base, db), EventFeed)
    assert isinstance(make_feed(base.model_copy(update={"bus": "redis"}), db), StreamFeed)
    forced = base.model_copy(update={"feed": base.feed.model_copy(update={"store": "redis"})})
    with pytest.raises(ConfigError, match=r"feed\.store"):
        make_feed(forced, db)
