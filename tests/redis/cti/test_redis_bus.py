"""RedisStreamsBus and RedisLease against a real redis-server."""

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from cti.errors import ConfigError
from cti.events import Event, event, to_wire
from cti.redis_bus import BusUnavailable, RedisStreamsBus
from cti.redis_lease import RedisLease, RoutingLease
from cti.settings import load_settings
from tests.servers import free_port


@event("test.redis.tick")
class Tick(Event):
    linkedid: str
    node: str
    n: int


@event("test.redis.other")
class Other(Event):
    linkedid: str


def tick(node: str, n: int) -> Tick:
    return Tick(ts=float(n), linkedid=f"call-{node}-{n}", node=node, n=n)


class Seen:
    """Collects events; ``wait(n)`` until n arrived."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._changed = asyncio.Event()

    async def __call__(self, ev: Event) -> None:
        self.events.append(ev)
        self._changed.set()

    async def wait(self, n: int, within: float = 5.0) -> None:
        async with asyncio.timeout(within):
            while len(self.events) < n:
                self._changed.clear()
                await self._changed.wait()


@pytest.fixture
async def make_bus(redis_url: str) -> AsyncIterator[Callable[..., RedisStreamsBus]]:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    buses: list[RedisStreamsBus] = []

    def make(node: str, **kw: object) -> RedisStreamsBus:
        bus = RedisStreamsBus(redis_url, stream_prefix=prefix, group=f"{prefix}:{node}", consumer=node,
                              block_ms=200, **kw)  # type: ignore[arg-type]
        buses.append(bus)
        return bus

    yield make
    for bus in buses:
        await bus.stop()


async def test_two_nodes_see_every_event_in_the_same_order(make_bus: Callable[..., RedisStreamsBus]) -> None:
    a, b = make_bus("a"), make_bus("b")
    seen_a, seen_b, others = Seen(), Seen(), Seen()
    a.subscribe(Tick, seen_a, name="ticks")
    b.subscribe(Tick, seen_b, name="ticks")
    b.subscribe(Other, others, name="others")
    await a.start()
    await b.start()
    for n in range(30):
        await a.publish(tick("a", n))
        await b.publish(tick("b", n))
    await a.publish(Other(ts=0.0, linkedid="x"))
    await seen_a.wait(60)
    await seen_b.wait(60)
    await others.wait(1)
    assert seen_a.events == seen_b.events  # one stream: the same global order on every node
    for node in ("a", "b"):
        assert [e.n for e in seen_a.events if e.node == node] == list(range(30))  # type: ignore[attr-defined]
    assert others.events == [Other(ts=0.0, linkedid="x")] and len(seen_b.events) == 60
    await a.drain()
    assert a.stats()["ticks"] == {"handled": 60, "failures": 0, "backlog": 0}


async def test_a_node_stops_while_its_reader_is_busy(make_bus: Callable[..., RedisStreamsBus]) -> None:
    """Stopped in the middle of a burst, the reader is usually sending a command (an XACK, the next
    XREADGROUP), where Python 3.11's wait_for inside redis-py can drop the cancel: stop() then
    waited for ever (a CI run hung in a test's teardown, an engine would hang on shutdown)."""
    publisher = make_bus("p")
    for round_ in range(5):
        node = make_bus(f"busy{round_}")
        await node.start()  # nothing subscribes: the reader acknowledges every entry itself
        for n in range(40):
            await publisher.publish(tick("p", n))
        for _ in range(round_ % 5):
            await asyncio.sleep(0)  # stop at a different point of the burst each round
        async with asyncio.timeout(5):
            await node.stop()


async def test_failing_handler_is_logged_and_the_bus_keeps_going(
        make_bus: Callable[..., RedisStreamsBus], redis_url: str, caplog: pytest.LogCaptureFixture) -> None:
    bus = make_bus("a")
    ok = Seen()

    async def boom(ev: Tick) -> None:
        raise RuntimeError("handler bug")

    bus.subscribe(Tick, boom, name="boom")
    bus.subscribe(Tick, ok, name="ok")
    await bus.start()
    with caplog.at_level(logging.ERROR):
        for n in range(5):
            await bus.publish(tick("a", n))
        await bus.drain()
    assert [e.n for e in ok.events] == [0, 1, 2, 3, 4]  # type: ignore[attr-defined]
    assert bus.stats()["boom"]["failures"] == 5
    assert "call-a-4" in caplog.text and "boom" in caplog.text
    raw = aioredis.Redis.from_url(redis_url)
    pending = await raw.xpending(bus.stream, bus.group)
    await raw.aclose()
    assert pending["pending"] == 0  # every entry acknowledged once all its subscribers ran


async def test_restarted_node_gets_its_unacknowledged_entries_again(
        make_bus: Callable[..., RedisStreamsBus], redis_url: str) -> None:
    bus = make_bus("a")
    # A previous process of node a read entry 1 and died before acknowledging it.
    raw = aioredis.Redis.from_url(redis_url)
    await raw.xgroup_create(bus.stream, bus.group, id="$", mkstream=True)
    await raw.xadd(bus.stream, {"e": to_wire(tick("a", 1))})
    await raw.xreadgroup(bus.group, bus.consumer, {bus.stream: ">"})
    await raw.xadd(bus.stream, {"e": to_wire(tick("a", 2))})
    seen = Seen()
    bus.subscribe(Tick, seen, name="ticks")
    await bus.start()
    await bus.publish(tick("a", 3))
    await seen.wait(3)
    await bus.drain()
    assert [e.n for e in seen.events] == [1, 2, 3]  # type: ignore[attr-defined]
    assert (await raw.xpending(bus.stream, bus.group))["pending"] == 0
    await raw.aclose()


async def test_bus_survives_dropped_connections(make_bus: Callable[..., RedisStreamsBus], redis_url: str) -> None:
    bus = make_bus("a")
    seen = Seen()
    bus.subscribe(Tick, seen, name="ticks")
    await bus.start()
    await bus.publish(tick("a", 0))
    await seen.wait(1)
    raw = aioredis.Redis.from_url(redis_url)
    await raw.client_kill_filter(_type="normal", skipme=True)  # CLIENT KILL TYPE normal SKIPME YES
    await raw.aclose()
    for n in range(1, 4):
        await bus.publish(tick("a", n))
    await seen.wait(4)
    assert [e.n for e in seen.events] == [0, 1, 2, 3]  # type: ignore[attr-defined]


async def test_unreachable_redis_raises_bus_unavailable() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    bus = RedisStreamsBus(url, group="g", consumer="c")
    with pytest.raises(BusUnavailable):
        await bus.publish(tick("a", 0))
    with pytest.raises(BusUnavailable):
        await bus.start()
    await bus.stop()
    lease = RedisLease(url)
    with pytest.raises(BusUnavailable):
        await lease.try_acquire("agent:1001", "node-a", 1000)
    await lease.close()


async def test_backpressure_stops_reading_not_publishing(make_bus: Callable[..., RedisStreamsBus]) -> None:
    bus = make_bus("a", queue_size=2)
    gate = asyncio.Event()
    seen = Seen()

    async def slow(ev: Tick) -> None:
        await gate.wait()
        await seen(ev)

    bus.subscribe(Tick, slow, name="slow")
    await bus.start()
    for n in range(20):
        await asyncio.wait_for(bus.publish(tick("a", n)), 1)  # never blocked by a slow reader
    await asyncio.sleep(0.3)
    assert bus.stats()["slow"]["backlog"] <= 2
    gate.set()
    await seen.wait(20)
    assert [e.n for e in seen.events] == list(range(20))  # type: ignore[attr-defined]


# -- lease --------------------------------------------------------------------------------------

async def test_lease_concurrent_contenders_never_both_win(redis_url: str) -> None:
    nodes = [RedisLease(redis_url) for _ in range(4)]
    key = f"agent:{uuid.uuid4().hex[:6]}"
    try:
        for round_ in range(25):
            owners = [f"node-{i}-r{round_}" for i in range(len(nodes) * 5)]
            won = await asyncio.gather(*(nodes[i % len(nodes)].try_acquire(key, o, 5000)
                                         for i, o in enumerate(owners)))
            winners = [o for o, w in zip(owners, won, strict=True) if w]
            assert len(winners) == 1
            assert await nodes[0].holder(key) == winners[0]
            losers = [o for o in owners if o != winners[0]]
            assert not await nodes[1].release(key, losers[0])  # a loser cannot release it
            assert await nodes[2].release(key, winners[0])
            assert await nodes[3].holder(key) is None
    finally:
        for node in nodes:
            await node.close()


async def test_expired_lease_is_not_released_or_renewed_by_its_old_owner(redis_url: str) -> None:
    lease = RedisLease(redis_url)
    key = f"agent:{uuid.uuid4().hex[:6]}"
    try:
        # Held for seconds while it is checked (a 50 ms lease could lapse between two commands on a
        # loaded machine and let "new" in too early); then renewed short and left to lapse.
        assert await lease.try_acquire(key, "old", 5000)
        assert await lease.renew(key, "old", 5000)
        assert not await lease.try_acquire(key, "new", 1000)
        assert await lease.renew(key, "old", 50)
        deadline = time.monotonic() + 5
        while not await lease.try_acquire(key, "new", 1000):
            assert time.monotonic() < deadline, "old's 50 ms lease never lapsed"
            await asyncio.sleep(0.02)
        assert not await lease.release(key, "old")
        assert not await lease.renew(key, "old", 1000)
        assert await lease.holder(key) == "new"
        with pytest.raises(ValueError):
            await lease.try_acquire(key, "forever", 0)
    finally:
        await lease.close()


async def test_one_routing_node_per_redis(redis_url: str) -> None:
    """A second node that would route on the same Redis is refused by name; the same node
    restarting takes its lease back; a node that stops frees it; renewal outlives the TTL."""
    prefix = f"cti:lease:{uuid.uuid4().hex[:6]}:"
    # Renewed every 50 ms, a TTL of 1 s: a 300 ms TTL lapsed if the loop stalled that long (a loaded
    # machine's 2 cores shared by three test workers and their servers).
    first = RoutingLease(RedisLease(redis_url, prefix=prefix), "node-a", ttl_ms=1000, renew_every_s=0.05)
    await first.acquire()
    try:
        second = RoutingLease(RedisLease(redis_url, prefix=prefix), "node-b", ttl_ms=1000, renew_every_s=0.05)
        with pytest.raises(ConfigError, match="'node-a' is already routing"):
            await second.acquire()
        await asyncio.sleep(2.0)  # twice the TTL: renewed, still node-a's
        assert await second.lease.holder(RoutingLease.KEY) == "node-a"
        restarted = RoutingLease(RedisLease(redis_url, prefix=prefix), "node-a", ttl_ms=1000, renew_every_s=0.05)
        await restarted.acquire()  # node-a back after a crash: its own lease, taken at once
        await restarted.release()
    finally:
        await first.release()
    await second.acquire()  # node-a stopped: the standby may route now
    assert await second.lease.holder(RoutingLease.KEY) == "node-b"
    await second.release()


async def test_the_routing_node_says_it_routes(redis_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """An administrator with two nodes reads in the log which one routes: the standby said it, the
    routing node said nothing."""
    prefix = f"cti:lease:{uuid.uuid4().hex[:6]}:"
    node = RoutingLease(RedisLease(redis_url, prefix=prefix), "node-a")
    with caplog.at_level(logging.INFO, logger="cti.redis_lease"):
        await node.acquire()
    try:
        assert node.held
        assert "routing: node-a routes calls (routing lease acd-router); a node started beside it waits as a " \
               "standby" in caplog.text
    finally:
        await node.release()
    assert not RoutingLease(RedisLease(redis_url, prefix=prefix), "node-b").held


async def test_engine_refuses_to_route_beside_another_node(redis_url: str, tmp_path: Path) -> None:
    from callcenter.engine import Engine

    held = RedisLease(redis_url)
    assert await held.try_acquire(RoutingLease.KEY, "node-a", 5000)
    settings = load_settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}", state_dir=tmp_path / "state",
                             bus="redis", redis_url=redis_url, node_id="node-b", routing_standby=False)
    engine = Engine(settings, web=False)
    try:
        with pytest.raises(ConfigError, match="'node-a' is already routing"):
            await engine.start()
        # Refused before its bus started: node-b never joined the event stream.
        r = aioredis.from_url(redis_url)
        groups = await r.xinfo_groups("cti:events") if await r.exists("cti:events") else []
        await r.aclose()
        assert not any(g["name"] == b"node-b" for g in groups)
    finally:
        await engine.stop()
        await held.release(RoutingLease.KEY, "node-a")
        await held.close()


async def test_a_standby_takes_over_within_3_s_of_the_routing_node_dying(redis_url: str) -> None:
    """The standby waits on the lease (it neither refuses nor routes); when the holder dies without
    releasing (kill -9: its renewals just stop), the standby routes within TTL + poll."""
    prefix = f"cti:lease:{uuid.uuid4().hex[:6]}:"
    active = RoutingLease(RedisLease(redis_url, prefix=prefix), "node-a")
    await active.acquire()
    standby = RoutingLease(RedisLease(redis_url, prefix=prefix), "node-b")
    waiting = asyncio.create_task(standby.acquire(wait=True))
    try:
        await asyncio.sleep(2.5)  # longer than the TTL: node-a's renewals keep it
        assert not waiting.done(), "the standby took the lease while the active node was alive"
        assert active._task is not None
        active._task.cancel()  # node-a dies: no more renewals, no release
        died = time.monotonic()
        await asyncio.wait_for(waiting, 5)
        took_over = time.monotonic() - died
        assert took_over < 3.0, f"took over after {took_over:.1f} s"
        assert await standby.lease.holder(RoutingLease.KEY) == "node-b"
    finally:
        waiting.cancel()
        await standby.release()
        await active.lease.close()


async def test_a_node_that_lost_its_lease_is_told_to_stop(redis_url: str) -> None:
    """A holder that stalled past the TTL while another node took over must stop routing."""
    prefix = f"cti:lease:{uuid.uuid4().hex[:6]}:"
    lost: list[str | None] = []
    stalled = RoutingLease(RedisLease(redis_url, prefix=prefix), "node-a", ttl_ms=400, renew_every_s=0.1,
                           on_lost=lost.append)
    await stalled.acquire()
    other = RedisLease(redis_url, prefix=prefix)
    try:
        await stalled.lease.release(RoutingLease.KEY, "node-a")  # as if its lease had lapsed...
        assert await other.try_acquire(RoutingLease.KEY, "node-b", 5000)  # ...and node-b took over
        for _ in range(50):
            if lost:
                break
            await asyncio.sleep(0.05)
        assert lost == ["node-b"]
    finally:
        await stalled.release()
        await other.release(RoutingLease.KEY, "node-b")
        await other.close()
