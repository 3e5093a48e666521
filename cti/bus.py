"""The event bus port and its in-process adapter.

Subscriptions are by event class (subclasses included). Each subscription owns a bounded queue
and one worker task, so a slow subscriber applies backpressure to publishers instead of growing
memory without limit, and events reach each subscriber in publish order. A handler that raises
is logged with the event's call id and the bus carries on. Handlers run inside the event's log
context (``cti.logs.event_context``): whatever they log names the call, agent and queue.

A batch subscription (``subscribe_batch``) hands its handler every event waiting in its queue at
once, in publish order, and counts them handled when the handler returns: a consumer that must
make events durable before acknowledging them (the call logger's journal) flushes once per batch
instead of once per event (group commit). ``subscribe_batch(bus, ...)`` falls back to one-event
batches on a bus that cannot hand batches.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from cti.events import Event
from cti.logs import event_context

log = logging.getLogger(__name__)
E = TypeVar("E", bound=Event)
Handler = Callable[[E], Awaitable[None]]
BatchHandler = Callable[[Sequence[E]], Awaitable[None]]


class EventBus(Protocol):
    """Publish typed events; subscribe handlers by event class."""

    async def publish(self, ev: Event) -> None: ...

    def subscribe(self, event_type: type[E], handler: Handler[E], *, name: str) -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass(eq=False)
class _Subscription:
    name: str
    event_type: type[Event]
    handler: Handler  # type: ignore[type-arg]
    queue: asyncio.Queue[Event | None]
    task: asyncio.Task[None] | None = None
    failures: int = 0
    handled: int = 0
    max_batch: int = 0  # > 0: a batch subscription (the handler takes a sequence of events)


@dataclass
class InProcessBus:
    """Default bus: in one process, supervised handlers, bounded per-subscriber queues."""

    queue_size: int = 10_000
    _subs: list[_Subscription] = field(default_factory=list)
    _started: bool = False

    def subscribe(self, event_type: type[E], handler: Handler[E], *, name: str) -> None:
        sub = _Subscription(name, event_type, handler, asyncio.Queue(self.queue_size))
        self._subs.append(sub)
        if self._started:
            sub.task = asyncio.create_task(self._run(sub), name=f"bus:{name}")

    def subscribe_batch(self, event_type: type[E], handler: BatchHandler[E], *, name: str,
                        max_batch: int = 1000) -> None:
        """Like ``subscribe``, the handler taking every event waiting (at most ``max_batch``) at once."""
        sub = _Subscription(name, event_type, handler, asyncio.Queue(self.queue_size), max_batch=max_batch)
        self._subs.append(sub)
        if self._started:
            sub.task = asyncio.create_task(self._run(sub), name=f"bus:{name}")

    async def publish(self, ev: Event) -> None:
        for sub in self._subs:
            if isinstance(ev, sub.event_type):
                await sub.queue.put(ev)  # blocks when the subscriber is behind: backpressure

    async def start(self) -> None:
        self._started = True
        for sub in self._subs:
            if sub.task is None:
                sub.task = asyncio.create_task(self._run(sub), name=f"bus:{sub.name}")

    async def drain(self) -> None:
        """Wait until every subscriber has handled everything published so far (tests, shutdown)."""
        for sub in self._subs:
            await sub.queue.join()

    async def stop(self) -> None:
        for sub in self._subs:
            if sub.task is not None:
                await sub.queue.put(None)
        for sub in self._subs:
            if sub.task is not None:
                await sub.task
                sub.task = None
        self._started = False

    def queue_depths(self) -> dict[str, int]:
        """Events waiting per subscriber (metrics)."""
        return {s.name: s.queue.qsize() for s in self._subs}

    def stats(self) -> dict[str, dict[str, int]]:
        return {
            s.name: {"handled": s.handled, "failures": s.failures, "backlog": s.queue.qsize()}
            for s in self._subs
        }

    async def _run(self, sub: _Subscription) -> None:
        if sub.max_batch:
            await self._run_batches(sub)
            return
        while True:
            ev = await sub.queue.get()
            try:
                if ev is None:
                    return
                with event_context(ev):  # every record the handler makes names the call
                    await sub.handler(ev)
                sub.handled += 1
            except Exception:
                sub.failures += 1
                log.exception(
                    "bus handler %s failed on %s (call %s)", sub.name, ev.name if ev else "-",
                    ev.call_id if ev else "-",
                )
            finally:
                sub.queue.task_done()

    async def _run_batches(self, sub: _Subscription) -> None:
        queue, limit = sub.queue, sub.max_batch
        while True:
            batch: list[Event] = []
            ev: Event | None = await queue.get()
            while ev is not None:
                batch.append(ev)
                if len(batch) >= limit or queue.empty():
                    break
                ev = queue.get_nowait()
            try:
                if batch:
                    await sub.handler(batch)
                    sub.handled += len(batch)
            except Exception:
                sub.failures += 1
                log.exception("bus handler %s failed on a batch of %d events (first %s, call %s)", sub.name,
                              len(batch), batch[0].name, batch[0].call_id)
            finally:
                for _ in range(len(batch) + (ev is None)):
                    queue.task_done()
            if ev is None:
                return


def subscribe_batch(bus: EventBus, event_type: type[E], handler: BatchHandler[E], *, name: str) -> bool:
    """Subscribe ``handler`` for batches where ``bus`` hands them (True), else one event at a time."""
    batched = getattr(bus, "subscribe_batch", None)
    if batched is not None:
        batched(event_type, handler, name=name)
        return True

    async def one(ev: E) -> None:
        await handler((ev,))

    bus.subscribe(event_type, one, name=name)
    return False
