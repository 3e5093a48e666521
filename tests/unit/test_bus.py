import asyncio
import logging

import pytest

from cti.bus import InProcessBus
from cti.events import Event, event


@event("test.ping")
class Ping(Event):
    linkedid: str
    n: int


async def test_handlers_receive_in_order_and_failures_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    bus = InProcessBus()
    seen: list[int] = []

    async def ok(ev: Ping) -> None:
        seen.append(ev.n)

    async def boom(ev: Ping) -> None:
        raise RuntimeError("handler bug")

    bus.subscribe(Ping, ok, name="ok")
    bus.subscribe(Ping, boom, name="boom")
    await bus.start()
    with caplog.at_level(logging.ERROR):
        for n in range(5):
            await bus.publish(Ping(ts=0.0, linkedid=f"call-{n}", n=n))
        await bus.drain()
    await bus.stop()
    assert seen == [0, 1, 2, 3, 4]
    assert bus.stats()["boom"]["failures"] == 5
    assert "call-4" in caplog.text and "boom" in caplog.text


async def test_backpressure_bounds_the_queue() -> None:
    bus = InProcessBus(queue_size=2)
    gate = asyncio.Event()

    async def slow(ev: Ping) -> None:
        await gate.wait()

    bus.subscribe(Ping, slow, name="slow")
    await bus.start()
    for n in range(3):  # one in the handler, two queued
        await bus.publish(Ping(ts=0.0, linkedid="c", n=n))
    blocked = asyncio.create_task(bus.publish(Ping(ts=0.0, linkedid="c", n=9)))
    await asyncio.sleep(0.05)
    assert not blocked.done()
    gate.set()
    await blocked
    await bus.drain()
    await bus.stop()
