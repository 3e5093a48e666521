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


@event("test.agent_ping")
class AgentPing(Ping):
    agent_id: str
    queue: str


async def test_handlers_log_in_their_events_context_whatever_the_handler_bound() -> None:
    from cti.logs import agent_var, bind, call_id_var, queue_var

    bus = InProcessBus()
    seen: list[tuple[str | None, str | None, str | None]] = []

    async def look(ev: Ping) -> None:
        seen.append((call_id_var.get(), agent_var.get(), queue_var.get()))
        bind("bound-by-the-handler")  # must not leak into the next event's context
        await asyncio.sleep(0)

    bus.subscribe(Ping, look, name="look")
    await bus.start()
    await bus.publish(AgentPing(ts=0.0, linkedid="call-1", n=1, agent_id="1001", queue="support"))
    await bus.publish(Ping(ts=0.0, linkedid="call-1", n=2))
    await bus.publish(AgentPing(ts=0.0, linkedid="call-2", n=3, agent_id="1002", queue=""))
    await bus.drain()
    await bus.stop()
    assert seen == [("call-1", "1001", "support"), ("call-1", None, None), ("call-2", "1002", None)]
    assert call_id_var.get() is None  # the publisher's own context is untouched


async def test_a_cancelled_blocked_publisher_hands_its_slot_to_the_next() -> None:
    bus = InProcessBus(queue_size=1)
    gate = asyncio.Event()
    seen: list[int] = []

    async def slow(ev: Ping) -> None:
        await gate.wait()
        seen.append(ev.n)

    bus.subscribe(Ping, slow, name="slow")
    await bus.start()
    await bus.publish(Ping(ts=0.0, linkedid="c", n=0))
    await asyncio.sleep(0)  # 0 in the handler
    await bus.publish(Ping(ts=0.0, linkedid="c", n=1))  # queued: the inbox is full
    first = asyncio.create_task(bus.publish(Ping(ts=0.0, linkedid="c", n=2)))
    second = asyncio.create_task(bus.publish(Ping(ts=0.0, linkedid="c", n=3)))
    await asyncio.sleep(0.01)
    assert not first.done() and not second.done()
    gate.set()
    await asyncio.sleep(0)  # the handler takes 1, which frees the slot and wakes `first`...
    first.cancel()  # ...cancelled before it could use it: the slot must go to `second`
    async with asyncio.timeout(2):
        await second
    await bus.drain()
    await bus.stop()
    assert first.cancelled() and seen == [0, 1, 3]


async def test_a_late_subscriber_gets_the_events_published_after_it_joined() -> None:
    bus = InProcessBus()
    early: list[int] = []
    late: list[int] = []

    async def keep_early(ev: Ping) -> None:
        early.append(ev.n)

    async def keep_late(ev: Ping) -> None:
        late.append(ev.n)

    bus.subscribe(Ping, keep_early, name="early")
    await bus.start()
    await bus.publish(Ping(ts=0.0, linkedid="c", n=1))
    bus.subscribe(Event, keep_late, name="late")  # the route cached for Ping must learn about it
    await bus.publish(AgentPing(ts=0.0, linkedid="c", n=2, agent_id="1001", queue="q"))
    await bus.publish(Ping(ts=0.0, linkedid="c", n=3))
    await bus.drain()
    await bus.stop()
    assert (early, late) == ([1, 2, 3], [2, 3])


@event("test.pong")
class Pong(Event):
    n: int


async def test_a_subscription_to_several_classes_keeps_their_order_and_never_wakes_for_others() -> None:
    bus = InProcessBus()
    seen: list[tuple[str, int]] = []
    woken = 0

    async def keep(ev: Ping | Pong) -> None:
        nonlocal woken
        woken += 1
        seen.append((ev.name, ev.n))

    bus.subscribe((Pong, AgentPing), keep, name="some")
    await bus.start()
    await bus.publish(Pong(ts=0.0, n=1))
    await bus.publish(Ping(ts=0.0, linkedid="c", n=2))  # neither class: the worker sleeps through it
    await bus.publish(AgentPing(ts=0.0, linkedid="c", n=3, agent_id="1001", queue="q"))
    await bus.publish(Pong(ts=0.0, n=4))
    await bus.drain()
    await bus.stop()
    assert seen == [("test.pong", 1), ("test.agent_ping", 3), ("test.pong", 4)] and woken == 3
    assert bus.stats()["some"]["handled"] == 3


async def test_an_observer_runs_as_the_event_is_published_and_its_failure_is_logged(
        caplog: pytest.LogCaptureFixture) -> None:
    from cti.bus import observe

    bus = InProcessBus()
    seen: list[int] = []

    def count(ev: Ping) -> None:
        seen.append(ev.n)
        if ev.n == 2:
            raise RuntimeError("observer bug")

    assert observe(bus, Ping, count, name="count") is True
    await bus.start()  # not needed by observers: no task
    with caplog.at_level(logging.ERROR):
        await bus.publish(Ping(ts=0.0, linkedid="call-1", n=1))
        assert seen == [1]  # before publish returned: no worker in between
        await bus.publish(Ping(ts=0.0, linkedid="call-2", n=2))
        await bus.publish(Pong(ts=0.0, n=9))  # not a Ping
        await bus.publish(AgentPing(ts=0.0, linkedid="call-3", n=3, agent_id="1001", queue="q"))
    await bus.stop()
    assert seen == [1, 2, 3]
    assert "observer count failed" in caplog.text and "call-2" in caplog.text


async def test_observe_falls_back_to_a_subscription_on_a_bus_without_observers() -> None:
    from cti.bus import observe

    class PlainBus(InProcessBus):
        observe = None  # type: ignore[assignment]

    bus = PlainBus()
    seen: list[int] = []
    assert observe(bus, Ping, lambda ev: seen.append(ev.n), name="count") is False
    await bus.start()
    await bus.publish(Ping(ts=0.0, linkedid="c", n=1))
    await bus.drain()
    await bus.stop()
    assert seen == [1] and bus.stats()["count"]["handled"] == 1


async def test_observers_are_counted_with_the_subscriptions_and_a_failing_one_stops_no_other(
        caplog: pytest.LogCaptureFixture) -> None:
    bus = InProcessBus()
    seen: list[tuple[str, int]] = []

    def boom(ev: Ping) -> None:
        seen.append(("boom", ev.n))
        raise RuntimeError("observer bug")

    bus.observe(Ping, boom, name="boom")
    bus.observe(Ping, lambda ev: seen.append(("ok", ev.n)), name="ok")

    async def worker(ev: Ping) -> None:
        seen.append(("worker", ev.n))

    bus.subscribe(Ping, worker, name="worker")
    await bus.start()
    with caplog.at_level(logging.ERROR):
        for n in range(3):
            await bus.publish(Ping(ts=0.0, linkedid=f"call-{n}", n=n))
        await bus.drain()
    await bus.stop()
    # The failing observer neither stops the one after it nor the worker; each sees every event in order.
    assert [n for who, n in seen if who == "ok"] == [0, 1, 2] == [n for who, n in seen if who == "worker"]
    stats = bus.stats()  # what /metrics shows per subscriber (cti_bus_*): observers too
    assert stats["boom"] == {"handled": 0, "failures": 3, "backlog": 0}
    assert stats["ok"] == {"handled": 3, "failures": 0, "backlog": 0}
    assert stats["worker"] == {"handled": 3, "failures": 0, "backlog": 0}
    assert caplog.text.count("observer boom failed") == 3
