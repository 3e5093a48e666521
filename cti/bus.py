"""The event bus port and its in-process adapter.

Subscriptions are by event class (subclasses included), or by a tuple of classes: one
subscription keeps the publish order across its classes, and its worker is never woken for the
events of other classes. Each subscription owns a bounded queue
and one worker task, so a slow subscriber applies backpressure to publishers instead of growing
memory without limit, and events reach each subscriber in publish order. A handler that raises
is logged with the event's call id and the bus carries on. Handlers run inside the event's log
context (``cti.logs.event_context``): whatever they log names the call, agent and queue.

A batch subscription (``subscribe_batch``) hands its handler every event waiting in its queue at
once, in publish order, and counts them handled when the handler returns: a consumer that must
make events durable before acknowledging them (the call logger's journal) flushes once per batch
instead of once per event (group commit). ``subscribe_batch(bus, ...)`` falls back to one-event
batches on a bus that cannot hand batches.

An observer (``observe``) is a plain function the in-process bus calls as the event is published,
in the publisher's step: no queue, no task switch. Only for work that is in memory, quick and
cannot block (metrics counters, the ACD's phone registrations); one that raises is logged and
counted (``stats``, as a subscription's failures) and the publish carries on. Observers see
each event before the publish hands it to any worker, in publish order (a plain function cannot
publish: what it starts runs after the publish). ``observe(bus, ...)`` falls back to a
subscription on a bus without observers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from cti.events import Event
from cti.logs import agent_var, call_id_var, queue_var

log = logging.getLogger(__name__)
E = TypeVar("E", bound=Event)
Handler = Callable[[E], Awaitable[None]]
BatchHandler = Callable[[Sequence[E]], Awaitable[None]]
Observer = Callable[[E], None]
# What a subscription is for: an event class, or several (subclasses included either way).
Types = type[E] | tuple[type[E], ...]


class EventBus(Protocol):
    """Publish typed events; subscribe handlers by event class."""

    async def publish(self, ev: Event) -> None: ...

    def subscribe(self, event_type: Types[E], handler: Handler[E], *, name: str) -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class _Inbox:
    """One subscriber's bounded FIFO: what ``asyncio.Queue`` gave the bus (a bound that blocks the
    publisher, ``join``), with less machinery per event: the publisher appends and wakes the worker
    only when it sleeps, and the worker takes every event waiting without awaiting each one."""

    __slots__ = ("_joiners", "_putters", "getter", "items", "maxsize", "unfinished")

    def __init__(self, maxsize: int) -> None:
        self.items: deque[Event | None] = deque()
        self.maxsize = maxsize
        self.unfinished = 0
        self.getter: asyncio.Future[None] | None = None  # the worker, asleep on an empty inbox
        self._putters: deque[asyncio.Future[None]] = deque()
        self._joiners: list[asyncio.Future[None]] = []

    def qsize(self) -> int:
        return len(self.items)

    def push(self, ev: Event | None) -> None:
        """Append (the caller made sure there is room) and wake the worker if it sleeps."""
        self.items.append(ev)
        self.unfinished += 1
        getter = self.getter
        if getter is not None:
            self.getter = None
            if not getter.done():
                getter.set_result(None)

    async def put(self, ev: Event | None) -> None:
        while len(self.items) >= self.maxsize:  # the subscriber is behind: backpressure
            waiter = asyncio.get_running_loop().create_future()
            self._putters.append(waiter)
            try:
                await waiter
            except BaseException:
                waiter.cancel()
                with contextlib.suppress(ValueError):
                    self._putters.remove(waiter)
                if len(self.items) < self.maxsize:
                    self._wake_putter()  # woken, then cancelled: the free slot goes to the next publisher
                raise
        self.push(ev)

    async def wait(self) -> None:
        """Sleep until something is pushed (the worker, on an empty inbox)."""
        self.getter = asyncio.get_running_loop().create_future()
        await self.getter

    def pop(self) -> Event | None:
        ev = self.items.popleft()
        if self._putters:
            self._wake_putter()
        return ev

    def done(self, n: int = 1) -> None:
        self.unfinished -= n
        if not self.unfinished and self._joiners:
            for joiner in self._joiners:
                if not joiner.done():
                    joiner.set_result(None)
            self._joiners.clear()

    async def join(self) -> None:
        while self.unfinished:
            joiner = asyncio.get_running_loop().create_future()
            self._joiners.append(joiner)
            await joiner

    def _wake_putter(self) -> None:
        while self._putters:
            putter = self._putters.popleft()
            if not putter.done():
                putter.set_result(None)
                return


class _Observer:
    """An observer and its counts (``stats``)."""

    __slots__ = ("failures", "fn", "handled", "name")

    def __init__(self, name: str, fn: Observer) -> None:  # type: ignore[type-arg]
        self.name, self.fn = name, fn
        self.handled = self.failures = 0


@dataclass(eq=False)
class _Subscription:
    name: str
    event_type: Types[Event]
    handler: Handler  # type: ignore[type-arg]
    queue: _Inbox
    task: asyncio.Task[None] | None = None
    failures: int = 0
    handled: int = 0
    max_batch: int = 0  # > 0: a batch subscription (the handler takes a sequence of events)


@dataclass
class InProcessBus:
    """Default bus: in one process, supervised handlers, bounded per-subscriber queues."""

    queue_size: int = 10_000
    _subs: list[_Subscription] = field(default_factory=list)
    _observers: list[tuple[Types[Event], _Observer]] = field(default_factory=list)
    _started: bool = False
    # The subscriptions and observers each concrete event class reaches, worked out on its first publish.
    _routes: dict[type[Event], tuple[tuple[_Subscription, ...], tuple[_Observer, ...]]] = field(default_factory=dict)

    def subscribe(self, event_type: Types[E], handler: Handler[E], *, name: str) -> None:
        self._add(_Subscription(name, event_type, handler, _Inbox(self.queue_size)))

    def observe(self, event_type: Types[E], fn: Observer[E], *, name: str) -> None:
        """Call ``fn(event)`` as each event of ``event_type`` is published (see the module docstring)."""
        self._observers.append((event_type, _Observer(name, fn)))
        self._routes.clear()

    def subscribe_batch(self, event_type: Types[E], handler: BatchHandler[E], *, name: str,
                        max_batch: int = 1000) -> None:
        """Like ``subscribe``, the handler taking every event waiting (at most ``max_batch``) at once."""
        self._add(_Subscription(name, event_type, handler, _Inbox(self.queue_size), max_batch=max_batch))

    def _add(self, sub: _Subscription) -> None:
        self._subs.append(sub)
        self._routes.clear()
        if self._started:
            sub.task = asyncio.create_task(self._run(sub), name=f"bus:{sub.name}")

    async def publish(self, ev: Event) -> None:
        route = self._routes.get(type(ev))
        if route is None:
            route = self._routes[type(ev)] = (
                tuple(s for s in self._subs if isinstance(ev, s.event_type)),
                tuple(o for types, o in self._observers if isinstance(ev, types)))
        subs, observers = route
        for o in observers:
            try:
                o.fn(ev)
                o.handled += 1
            except Exception:
                o.failures += 1
                log.exception("bus observer %s failed on %s (call %s)", o.name, ev.name, ev.call_id)
        for sub in subs:
            inbox = sub.queue
            if len(inbox.items) < inbox.maxsize:
                inbox.push(ev)
            else:
                await inbox.put(ev)  # blocks while the subscriber is behind: backpressure

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
        """Per subscriber, observers included (which never have a backlog)."""
        out = {o.name: {"handled": o.handled, "failures": o.failures, "backlog": 0} for _, o in self._observers}
        out.update((s.name, {"handled": s.handled, "failures": s.failures, "backlog": s.queue.qsize()})
                   for s in self._subs)
        return out

    async def _run(self, sub: _Subscription) -> None:
        if sub.max_batch:
            await self._run_batches(sub)
            return
        inbox = sub.queue
        handler = sub.handler
        while True:
            if not inbox.items:
                await inbox.wait()
                continue
            ev = inbox.pop()
            try:
                if ev is None:
                    return
                # Every record the handler makes names the call (cti.logs.event_context's values).
                # This worker task has a context of its own that only the handler runs in, so the
                # next event just overwrites the values: no reset to pay for per event.
                call_id_var.set(ev.call_id)
                agent_var.set(getattr(ev, "agent_id", None))
                queue_var.set(getattr(ev, "queue", None) or None)
                await handler(ev)
                sub.handled += 1
            except Exception:
                sub.failures += 1
                log.exception(
                    "bus handler %s failed on %s (call %s)", sub.name, ev.name if ev else "-",
                    ev.call_id if ev else "-",
                )
            finally:
                inbox.done()

    async def _run_batches(self, sub: _Subscription) -> None:
        inbox, limit = sub.queue, sub.max_batch
        while True:
            if not inbox.items:
                await inbox.wait()
                continue
            batch: list[Event] = []
            ev: Event | None = inbox.pop()
            while ev is not None:
                batch.append(ev)
                if len(batch) >= limit or not inbox.items:
                    break
                ev = inbox.pop()
            try:
                if batch:
                    await sub.handler(batch)
                    sub.handled += len(batch)
            except Exception:
                sub.failures += 1
                log.exception("bus handler %s failed on a batch of %d events (first %s, call %s)", sub.name,
                              len(batch), batch[0].name, batch[0].call_id)
            finally:
                inbox.done(len(batch) + (ev is None))
            if ev is None:
                return


def subscribe_batch(bus: EventBus, event_type: Types[E], handler: BatchHandler[E], *, name: str) -> bool:
    """Subscribe ``handler`` for batches where ``bus`` hands them (True), else one event at a time."""
    batched = getattr(bus, "subscribe_batch", None)
    if batched is not None:
        batched(event_type, handler, name=name)
        return True

    async def one(ev: E) -> None:
        await handler((ev,))

    bus.subscribe(event_type, one, name=name)
    return False


def observe(bus: EventBus, event_type: Types[E], fn: Observer[E], *, name: str) -> bool:
    """Have ``fn`` called as events are published where ``bus`` has observers (True), else from a
    subscription of its own."""
    direct = getattr(bus, "observe", None)
    if direct is not None:
        direct(event_type, fn, name=name)
        return True

    async def one(ev: E) -> None:
        fn(ev)

    bus.subscribe(event_type, one, name=name)
    return False
