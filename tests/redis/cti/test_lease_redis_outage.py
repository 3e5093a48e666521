"""Redis going down while nodes run (the go-live trial): the standby exited with "error: lease
acd-router: Error 111 ..." (systemd brought it back; a standby must not die on a Redis blip), and the
routing node logged an ERROR about every 0.6 s while Redis was away (24 lines in ~15 s). Now the
standby keeps waiting, retrying with backoff, and each node logs the outage once as it starts, a
reminder with the count of failed attempts at most every ``outage_log_every_s`` (30 s as shipped),
and "Redis back" once. A real redis-server, stopped and started again on its port."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator

import pytest

from cti.redis_lease import RedisLease, RoutingLease
from tests.helpers import until
from tests.redis.cti.restartable import Restartable


@pytest.fixture
def redis() -> Iterator[Restartable]:
    server = Restartable()
    server.start()
    try:
        yield server
    finally:
        server.remove()


def _lease_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "cti.redis_lease" and r.levelno >= logging.WARNING]


async def test_a_standby_waits_through_a_redis_outage_and_takes_over_after_it(
        redis: Restartable, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="cti.redis_lease")
    prefix = f"cti:lease:{uuid.uuid4().hex[:6]}:"
    holder = RedisLease(redis.url, prefix=prefix)
    assert await holder.try_acquire(RoutingLease.KEY, "node-a", 60_000)  # node-a routes
    await holder.close()
    standby = RoutingLease(RedisLease(redis.url, prefix=prefix), "node-b", poll_s=0.05)
    waiting = asyncio.create_task(standby.acquire(wait=True))
    try:
        await until(lambda: standby.waiting_for == "node-a", 5, "the standby sees node-a")
        caplog.clear()
        redis.stop()
        await asyncio.sleep(2.5)
        assert not waiting.done(), f"the standby stopped waiting: {waiting.exception() if waiting.done() else ''}"
        lines = _lease_lines(caplog)
        assert [r.levelno for r in lines] == [logging.ERROR], [r.getMessage() for r in lines]
        assert "Redis" in lines[0].getMessage() and "retrying" in lines[0].getMessage()
        assert standby.waiting_for == "node-a"  # the node last seen routing, still named on /healthz

        redis.start()  # back empty: node-a's lease went with it, so the standby takes over
        await asyncio.wait_for(waiting, 10)
        assert standby.held and await standby.lease.holder(RoutingLease.KEY) == "node-b"
        messages = [r.getMessage() for r in _lease_lines(caplog)]
        assert sum("Redis back" in m for m in messages) == 1, messages
    finally:
        waiting.cancel()
        await standby.release()


async def test_the_routing_node_logs_a_redis_outage_once_then_rarely(
        redis: Restartable, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="cti.redis_lease")
    prefix = f"cti:lease:{uuid.uuid4().hex[:6]}:"
    node = RoutingLease(RedisLease(redis.url, prefix=prefix), "node-a", ttl_ms=1000, renew_every_s=0.05,
                        outage_log_every_s=1.0)
    await node.acquire()
    try:
        caplog.clear()
        redis.stop()
        await asyncio.sleep(2.6)  # some 40 renewals fail: one line as it starts, two reminders
        lines = _lease_lines(caplog)
        messages = [r.getMessage() for r in lines]
        assert 2 <= len(lines) <= 4 and all(r.levelno == logging.ERROR for r in lines), messages
        assert "retrying" in messages[0]
        assert all("failed attempts" in m for m in messages[1:]), messages

        caplog.clear()
        redis.start()  # empty: the lease is taken back
        await until(lambda: any("Redis back" in r.getMessage() for r in caplog.records), 5, "Redis back")
        for _ in range(100):  # taken back by the renewal that found Redis back
            if await node.lease.holder(RoutingLease.KEY) == "node-a":
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("node-a did not take its lease back")
        back = [r.getMessage() for r in caplog.records if "Redis back" in r.getMessage()]
        assert len(back) == 1 and "failed attempts" in back[0], back
    finally:
        await node.release()
