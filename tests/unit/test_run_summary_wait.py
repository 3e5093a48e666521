"""``cti run``'s summary loop wakes for a stop and for a fence at once, not at its next tick: a
fenced node (another took the routing lease) stops within moments instead of up to a tick later."""

from __future__ import annotations

import asyncio
import time

from callcenter.run import until_either


async def test_the_wait_ends_when_either_event_is_set_or_the_tick_passes() -> None:
    stop, fenced = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    for event in (fenced, stop):
        stop.clear()
        fenced.clear()
        loop.call_later(0.05, event.set)
        started = time.monotonic()
        await until_either(stop, fenced, 30.0)
        assert event.is_set() and time.monotonic() - started < 5.0
    stop.clear()
    fenced.clear()
    started = time.monotonic()
    await until_either(stop, fenced, 0.05)  # nothing set: the tick bounds it
    assert 0.04 <= time.monotonic() - started < 5.0
    assert len(asyncio.all_tasks()) == 1  # its waits do not outlive it
