"""Small pure rules of the CRM: phone normalisation, case transitions, search terms, the outbox file."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from crm_core.calllog import CallLogger
from crm_core.cases import TRANSITIONS, next_status
from crm_core.catalog import search_terms
from crm_core.customers import like_pattern
from crm_core.db import Database
from crm_core.errors import IllegalCaseStep, InvalidField
from crm_core.outbox import DiskThread, Outbox
from crm_core.phones import to_e164, try_e164
from cti.bus import InProcessBus
from cti.journey import CallArrived, IvrFinished, QueueEntered


@pytest.mark.parametrize(("raw", "e164"), [
    ("13800138000", "+8613800138000"), ("+86 138 0013 8000", "+8613800138000"), ("008613800138000", "+8613800138000"),
    ("010-6552-9988", "+861065529988"), ("(021) 6552 9988", "+862165529988"), ("+1 415 555 2671", "+14155552671"),
    ("+44 20 7946 0958", "+442079460958")])
def test_phone_numbers_become_e164(raw: str, e164: str) -> None:
    assert to_e164(raw) == e164


@pytest.mark.parametrize("raw", ["", "abc", "12", "+999 1234"])
def test_bad_phone_numbers_name_the_field(raw: str) -> None:
    with pytest.raises(InvalidField) as err:
        to_e164(raw, field="phones[0].number")
    assert err.value.field == "phones[0].number"
    assert try_e164(raw) is None


def test_case_transition_table() -> None:
    for current, allowed in TRANSITIONS.items():
        for wanted in TRANSITIONS:
            if wanted == current or wanted in allowed:
                assert next_status(current, wanted) == wanted
            else:
                with pytest.raises(IllegalCaseStep):
                    next_status(current, wanted)


def test_search_terms_and_like_escaping() -> None:
    assert search_terms("退款流程 Refund, policy!") == ["退款", "款流", "流程", "refund", "policy"]
    assert search_terms("%' OR 1=1 --") == ["or"]
    assert like_pattern("50%_off\\") == "%50\\%\\_off\\\\%"


async def test_outbox_survives_a_torn_last_line(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.jsonl")
    assert box.open() == []
    box.append('{"type":"call.ended","data":{"ts":1.0,"linkedid":"a"}}')
    await box.sync()
    await box.close()
    with (tmp_path / "o.jsonl").open("a") as fh:
        fh.write('{"type":"call.ended","da')  # the engine died in the middle of a write
    again = Outbox(tmp_path / "o.jsonl")
    assert again.open() == [{"type": "call.ended", "data": {"ts": 1.0, "linkedid": "a"}}]
    await again.compact(['{"x":1}'])
    again.append('{"x":2}')
    await again.close()
    assert (tmp_path / "o.jsonl").read_text() == '{"x":1}\n{"x":2}\n'


async def test_outbox_interval_policy_flushes_in_the_background(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.jsonl", sync="interval", interval_s=0.01)
    box.open()
    box.append('{"x":1}')
    box.append('{"x":2}')
    assert box._synced_at == 0
    for _ in range(100):
        await asyncio.sleep(0.01)
        if box._synced_at == 2:
            break
    assert box._synced_at == 2
    await box.close()


async def test_flushes_asked_for_during_a_flush_share_the_next_one_in_order() -> None:
    disk = DiskThread("test-disk")
    ran: list[str] = []
    running, go_on = threading.Event(), threading.Event()

    def flush() -> str:
        ran.append("flush")
        running.set()
        go_on.wait(10)
        return "flushed"

    first = disk.submit(flush, flush=True)
    await asyncio.to_thread(running.wait, 10)  # the first fdatasync runs: the next ones queue up
    queued = [disk.submit(flush, flush=True) for _ in range(5)]
    other = disk.submit(lambda: ran.append("compact") or "compacted")  # not merged across other work
    last = disk.submit(flush, flush=True)
    go_on.set()
    assert await asyncio.gather(first, *queued, other, last) == ["flushed"] * 6 + ["compacted", "flushed"]
    assert ran == ["flush", "flush", "compact", "flush"]  # five requests made during a flush: one more
    disk.stop()
    assert await disk.submit(lambda: "again") == "again"  # a stopped thread starts again when needed
    disk.stop()


async def test_group_flushes_keep_their_gap_and_the_events_are_live_meanwhile(tmp_path: Path) -> None:
    logger = CallLogger(Database(f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}"), tmp_path, group_gap_s=0.2)
    logger.outbox.open()
    await logger.handle_batch([CallArrived(ts=1.0, linkedid="c1", channel="PJSIP/t-1", caller_number="+33123")])
    assert logger.outbox.flushes == 1  # the first batch after a quiet spell is flushed at once
    started = time.monotonic()
    second = asyncio.create_task(logger.handle_batch([QueueEntered(ts=2.0, linkedid="c1", queue="sales")]))
    await asyncio.sleep(0)
    live = logger.live("c1")
    assert live is not None and live.fields["queue"] == "sales"  # screen pops see it before the flush
    assert not second.done() and logger.outbox.flushes == 1  # not acknowledged: waits out the gap
    await second
    assert logger.outbox.flushes == 2 and time.monotonic() - started >= 0.15
    logger.group_gap_s = 60.0  # a big batch (high load) is flushed at once: the gap never caps the rate
    big = [CallArrived(ts=3.0, linkedid=f"b{i}", channel=f"PJSIP/t-{i}", caller_number="+33123") for i in range(100)]
    await asyncio.wait_for(logger.handle_batch(big), 10)
    assert logger.outbox.flushes == 3 and logger.outbox.appended == 102
    await logger.outbox.close()


async def test_a_group_batch_is_written_and_flushed_in_one_trip_to_the_outbox_thread(tmp_path: Path) -> None:
    """Issue 19: each trip between the loop and the outbox's thread costs a wake-up on both sides;
    a batch's journal write and its flush go together (before: one trip each)."""
    logger = CallLogger(Database(f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}"), tmp_path, group_gap_s=0.0)
    outbox = logger.outbox
    outbox.open()
    trips: list[object] = []
    submit = outbox._disk.submit

    def counted(fn: object, **kw: bool) -> asyncio.Future[object]:
        trips.append(fn)
        return submit(fn, **kw)  # type: ignore[arg-type]

    outbox._disk.submit = counted  # type: ignore[method-assign]
    await logger.handle_batch([CallArrived(ts=1.0, linkedid="c1", channel="PJSIP/t-1", caller_number="+33123"),
                               QueueEntered(ts=2.0, linkedid="c1", queue="sales")])
    assert len(trips) == 1
    assert (outbox.writes, outbox.flushes, outbox.appended) == (1, 1, 2)
    await logger.handle_batch([QueueEntered(ts=3.0, linkedid="c1", queue="billing")])
    assert len(trips) == 2 and (outbox.writes, outbox.flushes, outbox.appended) == (2, 2, 3)
    await outbox.sync()  # everything appended is flushed already: no trip
    assert len(trips) == 2
    assert len((tmp_path / "calllog-outbox.jsonl").read_text().splitlines()) == 3
    await outbox.close()


async def test_live_view_shows_events_the_bus_holds_during_the_flush_gap(tmp_path: Path) -> None:
    """What the bus published while the logger waits out its flush gap is not handed to it yet (it
    sits in the subscription's inbox): a screen pop built then must still see the IVR path."""
    bus = InProcessBus()
    logger = CallLogger(Database(f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}"), tmp_path, group_gap_s=0.5)
    logger.outbox.open()
    logger.subscribe(bus)
    await bus.start()
    try:
        await bus.publish(CallArrived(ts=1.0, linkedid="c1", channel="PJSIP/t-1", caller_number="+33123"))
        await bus.drain()  # flushed at once: the next small batch waits out the gap
        await bus.publish(CallArrived(ts=2.0, linkedid="c2", channel="PJSIP/t-2", caller_number="+33124"))
        await asyncio.sleep(0.02)  # the logger took c2's arrival and sleeps in its gap
        path = ({"node": "menu", "at": 3.0, "input": "2"}, {"node": "pin", "at": 4.0, "input": "1234"})
        await bus.publish(IvrFinished(ts=5.0, linkedid="c1", flow="main", outcome="queue", path=path, queue="billing"))
        await bus.publish(CallArrived(ts=6.0, linkedid="c3", channel="PJSIP/t-3", caller_number="+33125"))
        await asyncio.sleep(0.02)
        assert logger.outbox.flushes == 1 and bus.queue_depths()["crm.calllog"] == 2  # still in the gap
        live = logger.live("c1")
        assert live is not None and live.fields["queue"] == "billing"
        assert [(s["node"], s["input"]) for s in live.fields["ivr_path"]] == [("menu", "2"), ("pin", "****")]
        arrived = logger.live("c3")  # a call the logger has not been handed anything of yet
        assert arrived is not None and arrived.fields["caller_number"] == "+33125"
        await bus.drain()
        live = logger.live("c1")
        assert live is not None and [s["input"] for s in live.fields["ivr_path"]] == ["2", "****"]
        assert logger.outbox.flushes == 3 and logger.outbox.appended == 4
        assert len(logger._unhanded) == 0  # nothing kept once the handler took them
    finally:
        await bus.stop()
        await logger.outbox.close()


async def test_the_logger_observes_only_a_bus_that_has_observers(tmp_path: Path) -> None:
    subscribed: list[str] = []

    class Plain:  # no observe(), no subscribe_batch(): one subscription, nothing kept on the side
        def subscribe(self, event_type: object, handler: object, *, name: str) -> None:
            subscribed.append(name)

    logger = CallLogger(Database(f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}"), tmp_path)
    logger.subscribe(Plain())  # type: ignore[arg-type]
    assert subscribed == ["crm.calllog"]
    bus = InProcessBus()
    logger.subscribe(bus)
    assert [name for name in bus.stats() if name not in bus.queue_depths()] == ["crm.calllog.live"]  # observers
