"""The event feed's store on SQLite and PostgreSQL: batched, ordered cursors; nothing accepted is
lost across a crash; retention pruning keeps cursors monotonic."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from crm_core.db import Database
from crm_core.feed import EventFeed
from cti.bus import InProcessBus
from cti.journey import CallArrived, CallConnected, CallEnded, IvrFinished
from tests.leaks import shows


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _journey(n: int) -> list[object]:
    out: list[object] = []
    for i in range(n):
        cid = f"call-{i}"
        out += [CallArrived(ts=i, linkedid=cid, channel="PJSIP/x", caller_number="+3312345678"),
                IvrFinished(ts=i + 0.1, linkedid=cid, flow="main", outcome="queue",
                            path=({"node": "pin", "input": "97531"},), attributes={"pin": "97531"}),
                CallConnected(ts=i + 0.2, linkedid=cid, agent_id="a1", queue="support"),
                CallEnded(ts=i + 0.3, linkedid=cid)]
    return out


async def test_bus_events_become_ordered_rows_without_secrets(db: Database, tmp_path: Path) -> None:
    bus = InProcessBus()
    feed = EventFeed(db, tmp_path, batch_size=7)
    feed.subscribe(bus)
    await feed.start()
    await bus.start()
    for ev in _journey(20):
        await bus.publish(ev)  # type: ignore[arg-type]
    await bus.publish(CallEnded(ts=30, linkedid="consult-1", merged=("call-19",)))  # a conference's fold
    await bus.drain()
    await feed.flush()
    rows = await feed.page(0, 1000)
    feed._ring.clear()  # the same answer from the database as from the ring
    from_db = await feed.page(0, 1000)
    await bus.stop()
    await feed.stop()
    assert rows == from_db
    assert [r[0] for r in rows] == sorted({r[0] for r in rows})
    bodies = [json.loads(r[2]) for r in rows]
    assert [b["type"] for b in bodies[:4]] == ["call.arrived", "call.ivr_finished", "call.answered", "call.ended"]
    assert [b["call_id"] for b in bodies[:80:4]] == [f"call-{i}" for i in range(20)]
    assert [(b["type"], b["call_id"], b["data"]["merged_into"]) for b in bodies[80:]] == [
        ("call.ended", "consult-1", None), ("call.ended", "call-19", "consult-1")]  # the folded call ends too
    assert all(b["cursor"] == str(r[0]) and b["v"] == 1 for b, r in zip(bodies, rows, strict=True))
    assert not shows("97531", "".join(r[2] for r in rows))  # neither the PIN nor the IVR's keys
    assert feed.batches >= 80 // 7
    assert feed.outbox.writes == 1  # the bus handed the 81 events over as one batch: one journal write


async def test_accepted_events_survive_a_crash_exactly_once(db: Database, tmp_path: Path) -> None:
    crashed = EventFeed(db, tmp_path, flush_interval_s=3600)  # the writer never gets to write
    await crashed.start()
    events = _journey(5)
    for ev in events[:3]:
        await crashed.handle(ev)  # type: ignore[arg-type]
    crashed._ring.clear()
    assert await crashed.page(0) == []
    for t in crashed._tasks:  # the process dies: no flush, no compaction
        t.cancel()
    await asyncio.sleep(0)
    await crashed.outbox.close()

    revived = EventFeed(db, tmp_path)
    await revived.start()
    for ev in events[3:]:
        await revived.handle(ev)  # type: ignore[arg-type]
    await revived.flush()
    await revived.stop()
    again = EventFeed(db, tmp_path)  # a second restart replays nothing twice
    await again.start()
    await again.stop()
    rows = await again.page(0, 100)
    assert [json.loads(r[2])["ts"] for r in rows] == [float(e.ts) for e in events]  # type: ignore[attr-defined]


async def test_retention_prunes_old_rows_and_cursors_never_restart(db: Database, tmp_path: Path) -> None:
    clock = Clock()
    feed = EventFeed(db, tmp_path, retention_s=24 * 3600, clock=clock, prune_every_s=3600)
    await feed.start()
    for ev in _journey(2):
        await feed.handle(ev)  # type: ignore[arg-type]
    await feed.flush()
    clock.now += 23 * 3600
    assert await feed.prune() == 0
    clock.now += 2 * 3600
    assert await feed.prune() == 7  # everything but the newest row, which holds the high-water mark
    feed._ring.clear()
    kept = await feed.page(0)
    assert len(kept) == 1 and kept[0][0] == 8
    await feed.handle(CallEnded(ts=9.0, linkedid="later"))
    await feed.flush()
    assert await feed.prune() == 1  # row 8 is no longer the newest
    clock.now += 25 * 3600
    assert await feed.prune() == 0  # row 9 is old but the newest
    await feed.stop()
    restarted = EventFeed(db, tmp_path, clock=clock)
    await restarted.start()
    await restarted.handle(CallEnded(ts=10.0, linkedid="after-restart"))
    await restarted.flush()
    await restarted.stop()
    restarted._ring.clear()
    assert [r[0] for r in await restarted.page(0)] == [9, 10]


async def test_readers_at_the_head_wait_for_the_ring_not_the_database(db: Database, tmp_path: Path) -> None:
    """A hundred readers joining a fresh feed (empty ring) at its head: before, each one asked the
    database, and they queued on its connection pool long enough to hold the first events back
    (the p99 tail of bench/event_feed.py)."""
    feed = EventFeed(db, tmp_path)
    await feed.start()
    asked: list[int] = []
    real = feed._older

    async def older(after: int, limit: int, types: frozenset[str] | None) -> list[tuple[int, str, str]]:
        asked.append(after)
        return await real(after, limit, types)

    feed._older = older  # type: ignore[method-assign]

    async def first_row(since: int) -> str:
        async for row in feed.follow(since, idle_s=5):
            assert row is not None
            return row[2]
        raise AssertionError("the feed ended")

    readers = [asyncio.create_task(first_row(feed.head)) for _ in range(100)]
    await asyncio.sleep(0.05)  # every reader has started and waits
    await feed.handle(CallConnected(ts=1.0, linkedid="c1", agent_id="a1", queue="support"))
    got = await asyncio.wait_for(asyncio.gather(*readers), 5)
    await feed.stop()
    assert {json.loads(g)["call_id"] for g in got} == {"c1"}
    assert asked == []


async def test_a_reader_of_one_type_steps_past_the_rows_it_skipped(db: Database, tmp_path: Path) -> None:
    """A webhook for a rare type must not re-scan the ring from its last match at every event."""
    feed = EventFeed(db, tmp_path)
    await feed.start()
    asked: list[int] = []
    real = feed.page

    async def page(after: int, limit: int = 500, types: frozenset[str] | None = None) -> list[tuple[int, str, str]]:
        asked.append(after)
        return await real(after, limit, types)

    feed.page = page  # type: ignore[method-assign]
    got: list[str] = []

    async def read() -> None:
        async for row in feed.follow(feed.head, types=frozenset({"call.ended"}), idle_s=5):
            assert row is not None
            got.append(json.loads(row[2])["call_id"])
            if len(got) == 2:
                return

    reader = asyncio.create_task(read())
    for i in range(50):
        await feed.handle(CallConnected(ts=i, linkedid=f"c{i}", agent_id="a1", queue="support"))
        await asyncio.sleep(0)
    await feed.handle(CallEnded(ts=50, linkedid="c1"))
    await asyncio.sleep(0)
    await feed.handle(CallEnded(ts=51, linkedid="c2"))
    await asyncio.wait_for(reader, 5)
    await feed.stop()
    assert got == ["c1", "c2"]
    assert asked == sorted(asked) and len(set(asked)) == len(asked)  # never the same stretch twice


async def test_a_restored_database_never_hands_out_a_cursor_twice(db: Database, tmp_path: Path) -> None:
    """A database restored from a backup holds fewer events than the feed handed out: the feed took
    its next cursor from the table (the backup's newest + 1) and gave the events after the restore
    cursors that readers already held for other events. A webhook receiver dedupes on the cursor
    (docs/event-feed.md), so it dropped them as seen; a client resuming from such a cursor skipped
    them. The journal in ``var/`` (kept through a restore) remembers the highest cursor handed out."""
    from sqlalchemy import delete

    from crm_core.feed import FeedEventRow

    before = EventFeed(db, tmp_path)
    await before.start()
    for ev in _journey(1):  # cursors 1..4
        await before.handle(ev)  # type: ignore[arg-type]
    await before.stop()
    assert before.head == 4
    async with db.session() as s:  # the backup was taken when only the first event was stored
        await s.execute(delete(FeedEventRow).where(FeedEventRow.id > 1))

    after = EventFeed(db, tmp_path)
    await after.start()
    before_new = [await after.gap(n) for n in (1, 3, 4)]  # no new event yet
    await after.handle(CallEnded(ts=9, linkedid="call-new"))  # type: ignore[arg-type]
    await after.flush()
    after._ring.clear()
    rows = await after.page(0)
    resumed = await after.page(4)  # a receiver that had seen up to 4 before the restore
    gaps = [await after.gap(n) for n in (1, 4, 5)]
    await after.stop()
    assert gaps == [{"since": "1", "oldest": "5"}, None, None]  # at 1 it missed 2..4, lost by the restore
    assert before_new == [{"since": "1", "oldest": "5"}, {"since": "3", "oldest": "5"}, None]
    assert [r[0] for r in rows] == [1, 5]  # not 2, a cursor readers held for another event
    assert [json.loads(r[2])["call_id"] for r in resumed] == ["call-new"]


async def test_a_cursor_of_an_event_not_yet_stored_is_not_refused(db: Database, tmp_path: Path) -> None:
    """Readers get events from the ring before the writer stores them (the engine gathers inserts for
    1 s): a page's last cursor, sent back at once, was above the table's newest row and refused
    as a cursor this store never handed out (422)."""
    feed = EventFeed(db, tmp_path, flush_interval_s=3600)  # the writer gathers: nothing stored yet
    await feed.start()
    try:
        for ev in _journey(1):
            await feed.handle(ev)  # type: ignore[arg-type]
        first = await feed.page(0, 2)
        assert [r[0] for r in first] == [1, 2]
        assert await feed.gap(2) is None  # not CursorAhead
        assert [r[0] for r in await feed.page(2)] == [3, 4]
        assert await feed.gap(4) is None
    finally:
        await feed.stop()


async def test_followers_get_every_event_while_the_writer_still_gathers(db: Database, tmp_path: Path) -> None:
    """The table's gather window (the engine's FEED_GATHER_S) is no part of the feed's latency: a
    follower (what the SSE stream and each webhook run) gets every event from the ring while none
    of them is stored yet, and the table gets them all at the flush."""
    feed = EventFeed(db, tmp_path, flush_interval_s=3600)  # the writer gathers: nothing stored yet
    await feed.start()
    try:
        async def rows(since: int, count: int) -> list[int]:
            got: list[int] = []
            async for row in feed.follow(since, idle_s=5):
                assert row is not None, "the follower waited for a stored row"
                got.append(row[0])
                if len(got) == count:
                    return got
            raise AssertionError("the feed ended")

        reader = asyncio.create_task(rows(feed.head, 8))
        for ev in _journey(2):
            await feed.handle(ev)  # type: ignore[arg-type]
        assert await asyncio.wait_for(reader, 5) == [1, 2, 3, 4, 5, 6, 7, 8]
        assert feed.stored == 0
        await feed.flush()
        assert feed.stored == 8
    finally:
        await feed.stop()
