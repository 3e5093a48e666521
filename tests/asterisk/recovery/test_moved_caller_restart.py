"""A caller moved to another queue (support overflows to general) and taken back by the next engine
on the real Asterisk: the queue entry the first engine wrote on the caller's channel (``CTI_ACD``,
read back by AMI Getvar) carries both its first entry and its move, and the restarted engine counts
the caller's stay in general from the move (its ``call.queue_left`` says that stay's wait) while the
caller keeps its first entry for its place and total wait (docs/kpis.md). Before, the entry held the
first entry only and the restored stay's wait included the time waited in support."""

from __future__ import annotations

import asyncio
import dataclasses
import time

from acd.recovery import ENTRY_VAR, decode_entry
from cti.journey import QueueEntered, QueueLeft
from tests.asterisk.recovery.restarts import Restarts
from tests.helpers import english_customer_number, place_call, until


async def test_a_moved_caller_restored_after_a_restart_waits_in_its_queue_from_its_move(
        restarts: Restarts) -> None:
    await restarts.seed()
    seen = restarts.seen
    first = restarts.engine()
    queues = first.router._queues
    # Nobody is logged in: support's no-agents action would move the caller at once; an overflow after 3 s.
    queues["support"] = dataclasses.replace(queues["support"], overflow_after_s=3.0, overflow_to="general",
                                            no_agents_action=None)
    await first.start()
    number = await english_customer_number(first)
    entered = await place_call(first, lambda: [e for e in seen if isinstance(e, QueueEntered)], number)
    lid, channel = entered.linkedid, entered.channel
    await until(lambda: any(isinstance(e, QueueLeft) and e.reason == "overflow" for e in seen), timeout_s=15,
                what="the overflow to general")
    # QueueEntered(general) follows QueueLeft(overflow) on the bus: wait for it too, not only the leave.
    moved = (await until(lambda: next((e for e in seen if isinstance(e, QueueEntered) and e.queue == "general"),
                                      None), timeout_s=5, what="the caller's entry into general")).ts
    first_entry = first.acd.calls[lid].queued_at

    async def written() -> str | None:
        return await first.ami.control.get_var(channel, ENTRY_VAR)

    deadline = time.monotonic() + 5.0
    while not ((await written()) or "").startswith("v3|"):
        assert time.monotonic() < deadline, await written()
        await asyncio.sleep(0.1)
    entry = decode_entry(await written())
    assert entry is not None and entry.queue == "general"
    assert abs(entry.entered_at - first_entry) < 0.01 and abs((entry.queue_entered_at or 0) - moved) < 0.01
    assert moved - first_entry >= 2.9
    await first.stop()  # the caller stays in Asterisk, on music

    second = await restarts.start()
    report = second.recovery_report
    assert report is not None and lid in report.waiting
    call = second.router.call(lid)
    # The entry keeps its times to the millisecond: compared within 10 ms, not rounded (rounding
    # 0.3049 and its stored 0.305 to two places gave 0.30 and 0.31).
    assert call.queue == "general"
    assert abs(call.enqueued_at - first_entry) < 0.01 and abs(call.entered_queue_at - moved) < 0.01, (
        call.enqueued_at, first_entry, call.entered_queue_at, moved)
    await asyncio.sleep(1.0)
    before = len(seen)
    await second.ami.control.hangup(channel)
    await until(lambda: any(isinstance(e, QueueLeft) for e in seen[before:]), what="the caller leaving general")
    left = next(e for e in seen[before:] if isinstance(e, QueueLeft))
    gone = time.time()
    assert (left.queue, left.reason) == ("general", "abandoned")
    assert abs(left.waited_s - (left.ts - moved)) < 0.5, (left.waited_s, left.ts - moved)
    assert left.waited_s < gone - first_entry - 2.5  # not from the first entry in support


async def test_a_caller_a_supervisor_moved_keeps_its_earlier_wait_for_its_new_queue_after_a_restart(
        restarts: Restarts) -> None:
    """A supervisor's move is no overflow: the queue the caller went to counts its abandon (or answer)
    with the waits of its stays before the move (docs/kpis.md). The entry on the caller's channel
    (``v5``) carries them to the next engine; before, the restored call carried none and general
    counted the abandon on its own stay only."""
    await restarts.seed()
    seen = restarts.seen
    first = restarts.engine()
    queues = first.router._queues
    queues["support"] = dataclasses.replace(queues["support"], no_agents_action=None)  # nobody is logged in
    await first.start()
    number = await english_customer_number(first)
    entered = await place_call(first, lambda: [e for e in seen if isinstance(e, QueueEntered)], number)
    lid, channel = entered.linkedid, entered.channel
    first_entry = first.acd.calls[lid].queued_at
    await asyncio.sleep(2.0)  # a wait in support the move carries (bounded below by the waited_s check)
    await first.acd.decide(lambda t: first.router.move_waiting(lid, "general", t))
    await until(lambda: any(isinstance(e, QueueLeft) and e.reason == "moved" for e in seen), what="the move")
    support_stay = next(e.waited_s for e in seen if isinstance(e, QueueLeft) and e.reason == "moved")
    assert support_stay >= 1.9

    async def written() -> str | None:
        return await first.ami.control.get_var(channel, ENTRY_VAR)

    deadline = time.monotonic() + 5.0
    while not ((await written()) or "").startswith("v5|"):
        assert time.monotonic() < deadline, await written()
        await asyncio.sleep(0.1)
    entry = decode_entry(await written())
    assert entry is not None and entry.queue == "general"
    assert abs(entry.moved_wait_s - support_stay) < 0.01
    await first.stop()  # the caller stays in Asterisk, on music

    second = await restarts.start()
    report = second.recovery_report
    assert report is not None and lid in report.waiting
    before = len(seen)
    await second.ami.control.hangup(channel)
    await until(lambda: any(isinstance(e, QueueLeft) for e in seen[before:]), what="the caller leaving general")
    left = next(e for e in seen[before:] if isinstance(e, QueueLeft))
    assert (left.queue, left.reason) == ("general", "abandoned")
    general = second.router._stats["general"]
    assert general.abandoned == 1
    # Both stays, as the reports count the call: support's before the move and general's own.
    assert abs(general.wait_abandoned_s - (support_stay + left.waited_s)) < 0.01, (
        general.wait_abandoned_s, support_stay, left.waited_s)
    assert abs(general.wait_abandoned_s - (left.ts - first_entry)) < 0.5
