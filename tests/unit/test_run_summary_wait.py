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


def test_the_summary_is_a_live_line_on_a_terminal_and_a_line_a_minute_at_most_elsewhere() -> None:
    """Under a service manager (stdout a pipe or a file: systemd's journal) a line every 2 s was
    43,200 lines a day of the same counts, each starting with a carriage return."""
    from callcenter.run import SummaryLine

    term = SummaryLine(tty=True)
    live = term.render(0.0, "waiting=0")
    assert live is not None and live.startswith("\r") and live.endswith("  waiting=0"), live
    assert term.render(2.0, "waiting=0") is not None  # the terminal's line is redrawn in place

    piped = SummaryLine(tty=False)
    first = piped.render(0.0, "waiting=0")
    assert first is not None and not first.startswith("\r") and first.endswith("waiting=0\n")
    assert piped.render(2.0, "waiting=0") is None  # unchanged: nothing
    assert piped.render(30.0, "waiting=1") is None  # changed, but within the minute
    assert piped.render(60.0, "waiting=1") is not None
    assert piped.render(200.0, "waiting=1") is None  # unchanged however long
    assert piped.render(201.0, "waiting=2") is not None  # changed after the minute: at once
    demo = SummaryLine(tty=False, every_s=0.0)  # the demo without a terminal: every change
    assert demo.render(0.0, "talking=0") is not None and demo.render(2.0, "talking=1") is not None
    assert demo.render(4.0, "talking=1") is None
