"""The ring both feed stores serve live readers from (``crm_core.feed_ring``), on an in-memory store:
a reader's heartbeat comes ``idle_s`` after the last thing it was given, whatever else the feed
carries; readers that wait, time out or go away leave nothing behind."""

from __future__ import annotations

import asyncio
import time

from crm_core.feed_ring import RingFeed, Row


class _Ring(RingFeed):
    """A store that never had anything older than its ring."""

    def __init__(self, *, poll_s: float = 1.0) -> None:
        super().__init__(recent=1000, poll_s=poll_s)

    async def _older(self, after: int, limit: int, types: frozenset[str] | None) -> list[Row]:
        return []

    def add(self, type_: str) -> None:
        cursor = self.head + 1
        self._publish([(cursor, type_, f'{{"cursor":"{cursor}","type":"{type_}"}}')])


async def _first_heartbeat(feed: _Ring, types: frozenset[str] | None, idle_s: float) -> tuple[float, list[int]]:
    """Seconds from the reader's start to its first heartbeat, and the rows it got before it."""
    got: list[int] = []
    started = time.monotonic()
    async for row in feed.follow(feed.head, types=types, idle_s=idle_s):
        if row is None:
            return time.monotonic() - started, got
        got.append(row[0])
    raise AssertionError("the feed ended")


async def test_a_reader_of_one_type_gets_its_heartbeat_while_other_types_flow() -> None:
    """An SSE client reading ``types=call.ended`` on a busy engine: every other event woke its reader,
    which found nothing of its type and started its idle wait again, so no keepalive ever came and
    the client's read timeout (httpx: 5 s) or the proxy's closed the stream. (Failed before: no
    heartbeat within 3x idle_s.)"""
    feed = _Ring()
    reader = asyncio.create_task(_first_heartbeat(feed, frozenset({"call.ended"}), idle_s=0.3))
    await asyncio.sleep(0)
    try:
        async with asyncio.timeout(0.9):
            while not reader.done():
                feed.add("call.answered")
                await asyncio.sleep(0.02)
    except TimeoutError:
        reader.cancel()
        raise AssertionError("no heartbeat within 0.9 s of a reader idle for 0.3 s") from None
    waited, got = await reader
    assert got == []
    assert 0.28 <= waited < 0.75


async def test_a_heartbeat_comes_idle_s_after_the_last_row_not_after_the_poll() -> None:
    """The heartbeat follows the last row given by ``idle_s`` (the SSE stream's 4 s keepalive must
    come before a client's 5 s read timeout), however the store's poll interval falls."""
    feed = _Ring(poll_s=1.0)
    got: list[tuple[float, int | None]] = []
    started = time.monotonic()

    async def read() -> None:
        async for row in feed.follow(feed.head, idle_s=0.4):
            got.append((time.monotonic() - started, None if row is None else row[0]))
            if row is None:
                return

    reader = asyncio.create_task(read())
    await asyncio.sleep(0.1)
    feed.add("call.answered")
    await asyncio.wait_for(reader, 2)
    (row_at, cursor), (beat_at, beat) = got
    assert (cursor, beat) == (1, None)
    assert 0.38 <= beat_at - row_at < 0.75  # not at the poll, 1 s after the reader started (0.9 s after the row)


async def test_readers_that_time_out_or_go_away_leave_no_waiter_behind() -> None:
    """A quiet feed (nights) with readers polling every few milliseconds, and readers cancelled
    while they wait (SSE clients disconnecting): what waits on the next event stays one entry per
    reader still waiting."""
    feed = _Ring(poll_s=0.005)

    async def read() -> None:
        async for _row in feed.follow(feed.head, idle_s=0.01):
            pass

    readers = [asyncio.create_task(read()) for _ in range(20)]
    await asyncio.sleep(0.2)  # about 40 polls and 20 heartbeats each, nothing published
    for task in readers[10:]:
        task.cancel()
    await asyncio.gather(*readers[10:], return_exceptions=True)
    await asyncio.sleep(0.02)
    assert len(feed._waiting) <= 10
    feed.add("call.answered")
    await asyncio.sleep(0.02)
    for task in readers[:10]:
        task.cancel()
    await asyncio.gather(*readers[:10], return_exceptions=True)
    assert len(feed._waiting) == 0


async def test_a_reader_woken_by_rows_is_not_woken_again_by_its_timer() -> None:
    """A reader that events keep waking has looked at the store at each of them: its poll timer,
    ringing meanwhile, moves on without waking it (a hundred SSE clients woken together by their
    timers once a second, in the middle of the traffic, would hold the loop for a burst's time)."""
    feed = _Ring(poll_s=0.02)
    sleeps = 0
    real = feed._next_rows

    def counted() -> asyncio.Future[None]:
        nonlocal sleeps
        sleeps += 1
        return real()

    feed._next_rows = counted  # type: ignore[method-assign]
    got: list[int] = []

    async def read() -> None:
        async for row in feed.follow(feed.head, idle_s=5):
            assert row is not None
            got.append(row[0])

    reader = asyncio.create_task(read())
    await asyncio.sleep(0)
    for _ in range(60):  # 0.3 s: fifteen poll intervals
        feed.add("call.answered")
        await asyncio.sleep(0.005)
    reader.cancel()
    await asyncio.gather(reader, return_exceptions=True)
    assert got == list(range(1, 61))
    assert sleeps <= 61  # once before each event and after the last: no wake for the timer


async def test_follow_batches_gives_the_rows_read_at_once_in_one_list() -> None:
    """What the SSE stream reads: a reader behind by more than a page catches up a page (500 rows) at
    a time, then gets each publish's rows as one list, in order, nothing twice."""
    feed = _Ring()
    for _ in range(1203):
        feed.add("call.answered")
    sizes: list[int] = []
    cursors: list[int] = []

    async def read() -> None:
        async for rows in feed.follow_batches(0, idle_s=5):
            assert rows
            sizes.append(len(rows))
            cursors.extend(r[0] for r in rows)
            if cursors[-1] == 1208:
                return

    reader = asyncio.create_task(read())
    await asyncio.sleep(0.05)
    cursor = feed.head
    feed._publish([(cursor + n, "call.ended", "{}") for n in range(1, 6)])
    await asyncio.wait_for(reader, 2)
    assert sizes == [500, 500, 203, 5]
    assert cursors == list(range(1, 1209))
