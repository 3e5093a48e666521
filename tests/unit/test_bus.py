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


async def test_a_batch_subscriber_gets_what_waits_at_once_and_drain_covers_it(caplog: pytest.LogCaptureFixture) -> None:
    from collections.abc import Sequence

    from cti.bus import subscribe_batch

    bus = InProcessBus()
    batches: list[list[int]] = []
    release = asyncio.Event()

    async def batch(evs: Sequence[Ping]) -> None:
        batches.append([e.n for e in evs])
        await release.wait()  # the first batch is slow: what comes meanwhile forms the next one
        if evs[0].n == 7:
            raise RuntimeError("handler bug")

    assert subscribe_batch(bus, Ping, batch, name="batch") is True
    await bus.start()
    await bus.publish(Ping(ts=0.0, linkedid="call-0", n=0))
    await asyncio.sleep(0)
    for n in range(1, 7):
        await bus.publish(Ping(ts=0.0, linkedid=f"call-{n}", n=n))
    release.set()
    await bus.drain()  # covers the batch being handled and the one waiting
    assert batches == [[0], [1, 2, 3, 4, 5, 6]]
    await bus.publish(Ping(ts=0.0, linkedid="call-7", n=7))
    with caplog.at_level(logging.ERROR):
        await bus.drain()
    await bus.stop()
    assert batches == [[0], [1, 2, 3, 4, 5, 6], [7]]
    assert bus.stats()["batch"] == {"handled": 7, "failures": 1, "backlog": 0}
    assert "batch of 1 events" in caplog.text and "call-7" in caplog.text


async def test_subscribe_batch_falls_back_to_single_events_on_a_bus_without_batches() -> None:
    from collections.abc import Sequence

    from cti.bus import subscribe_batch

    class SingleBus(InProcessBus):
        subscribe_batch = None  # type: ignore[assignment]

    bus = SingleBus()
    batches: list[list[int]] = []

    async def batch(evs: Sequence[Ping]) -> None:
        batches.append([e.n for e in evs])

    assert subscribe_batch(bus, Ping, batch, name="batch") is False
    await bus.start()
    for n in range(3):
        await bus.publish(Ping(ts=0.0, linkedid=f"call-{n}", n=n))
    await bus.drain()
    await bus.stop()
    assert batches == [[0], [1], [2]]
