"""The Redis bus's reader logged a WARNING at every retry while Redis was away ("redis bus: connection
lost (...); retrying in 0.4 s": bounded by its backoff, 0.1 s doubling to 5 s, but a line per retry
for as long as the outage lasts). It now logs the outage as the routing lease does: once as it starts,
a reminder with the count of failed attempts at most every ``outage_log_every_s`` (30 s as shipped),
and "Redis back after N s" once; and the bus delivers again after it. A real redis-server, stopped
and started again (empty) on its port."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator

import pytest
import redis.asyncio as aioredis

from cti.redis_bus import RedisStreamsBus
from tests.helpers import until
from tests.redis.cti.restartable import Restartable
from tests.redis.cti.test_redis_bus import Seen, Tick, tick


@pytest.fixture
def redis() -> Iterator[Restartable]:
    server = Restartable()
    server.start()
    try:
        yield server
    finally:
        server.remove()


def _bus_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "cti.redis_bus" and r.levelno >= logging.WARNING]


async def test_the_bus_reader_logs_a_redis_outage_once_then_rarely_then_its_end(
        redis: Restartable, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="cti.redis_bus")
    prefix = f"t{uuid.uuid4().hex[:8]}"
    bus = RedisStreamsBus(redis.url, stream_prefix=prefix, group=f"{prefix}:a", consumer="a", block_ms=200,
                          outage_log_every_s=1.0)
    seen = Seen()
    bus.subscribe(Tick, seen, name="ticks")
    await bus.start()
    try:
        await bus.publish(tick("a", 0))
        await seen.wait(1)
        raw = aioredis.Redis.from_url(redis.url)
        try:  # acknowledged before Redis goes (an XACK that fails is a line of its own)
            for _ in range(100):
                if (await raw.xpending(bus.stream, bus.group))["pending"] == 0:
                    break
                await asyncio.sleep(0.02)
        finally:
            await raw.aclose()
        caplog.clear()
        redis.stop()
        # The reader retries after 0.1, 0.2, 0.4, 0.8, 1.6 s: five or six failed attempts in 3.5 s, a
        # line each before; now one as it starts and a reminder at most every second.
        await until(lambda: bus.reconnects >= 5, 10, "five failed reads")
        lines = _bus_lines(caplog)
        messages = [r.getMessage() for r in lines]
        assert 2 <= len(lines) <= 3, messages
        assert lines[0].levelno == logging.ERROR and "Redis unavailable" in messages[0], messages
        assert "logged again every 1 s while it lasts" in messages[0], messages
        assert all(r.levelno == logging.ERROR and "still unavailable" in r.getMessage()
                   and "failed attempts" in r.getMessage() for r in lines[1:]), messages

        caplog.clear()
        redis.start()  # empty: the reader's group is gone too, and is made again
        await until(lambda: any("Redis back" in r.getMessage() for r in _bus_lines(caplog)), 15, "Redis back")
        await bus.publish(tick("a", 1))
        await seen.wait(2, within=10)
        back = [r.getMessage() for r in _bus_lines(caplog) if "Redis back" in r.getMessage()]
        assert len(back) == 1 and "failed attempts" in back[0], back
        assert [e.n for e in seen.events] == [0, 1]  # type: ignore[attr-defined]
        # One more outage is told again from its start.
        caplog.clear()
        redis.stop()
        await asyncio.sleep(0.5)
        assert sum("Redis unavailable" in r.getMessage() for r in _bus_lines(caplog)) == 1
        redis.start()
        await until(lambda: any("Redis back" in r.getMessage() for r in _bus_lines(caplog)), 15, "Redis back again")
    finally:
        await bus.stop()
