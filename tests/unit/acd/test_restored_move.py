"""A caller a supervisor moved to another queue and taken back by a restarted engine keeps the waits
of its stays before the move for its new queue's live figures (docs/kpis.md, moved between queues):
that queue counts its answer or abandon on the sum of its stays, as the reports do and as it would
have without the restart. The move's carried wait rides in the caller's queue entry (``CTI_ACD``
v5, acd.recovery). Before, the restored call carried none, and the new queue counted the answer or
abandon on its own stay only."""

from __future__ import annotations

import dataclasses

import pytest

from acd.calls import LiveCall
from acd.decisions import Overflow
from acd.delivery import AcdService
from acd.model import QueueConfig
from acd.recovery import ENTRY_VAR, QueueEntry, decode_entry, encode_entry
from acd.routing import Router
from callcenter.recovery import _live
from cti.ami.control import FakeCallControl
from cti.bus import InProcessBus

from .helpers import of, ready_agent

T0 = 1_800_000_000.0


def _configs() -> list[QueueConfig]:
    return [QueueConfig("support"), QueueConfig("general", overflow_to="sales", overflow_after_s=300.0),
            QueueConfig("sales")]


def test_the_router_restores_the_moved_wait_and_counts_the_answer_on_the_sum() -> None:
    r = Router(_configs())
    r.restore_waiting("L1", "general", 230.0, entered_at=100.0, queue_entered_at=200.0, moved_wait_s=100.0)
    ready_agent(r, "g", {}, 240.0, queues=["general"])
    r.offer_answered("L1", "g", 245.0)
    went = r.queue_snapshot("general", 250.0)
    assert (went.answered, went.answered_within_sl, went.asa_s) == (1, 0, 145.0)  # 100 s in support + 45 s here


def test_a_restored_moved_caller_who_hangs_up_is_judged_short_on_the_sum() -> None:
    r = Router(_configs())
    r.restore_waiting("L1", "general", 203.0, entered_at=196.0, queue_entered_at=200.0, moved_wait_s=4.0)
    r.caller_hung_up("L1", 203.0)  # 3 s here, 7 s in all: over the 5 s of a short abandon
    went = r.queue_snapshot("general", 204.0)
    assert (went.abandoned, went.abandoned_short) == (1, 0)


def test_a_restored_moved_caller_moved_again_carries_every_stay() -> None:
    r = Router(_configs())
    r.restore_waiting("L1", "general", 230.0, entered_at=100.0, queue_entered_at=200.0, moved_wait_s=100.0)
    out = r.move_waiting("L1", "sales", 240.0)
    assert [(d.wait_s, d.carried_s) for d in of(out, Overflow)] == [(40.0, 140.0)]


def test_a_put_back_caller_carries_no_moved_wait() -> None:
    """Put back after an answer: its queue counted its answer; nothing carried from before counts again."""
    r = Router(_configs())
    r.restore_waiting("L1", "general", 230.0, entered_at=100.0, queue_entered_at=200.0, put_back_at=210.0,
                      moved_wait_s=100.0)
    out = r.move_waiting("L1", "sales", 240.0)
    assert [(d.wait_s, d.carried_s) for d in of(out, Overflow)] == [(30.0, 0.0)]


def test_an_entry_with_a_moved_wait_is_v5_and_reads_back() -> None:
    moved = QueueEntry("L1", "general", 100.0, 2, 7, {"zh": 1}, "+8613900000000", queue_entered_at=160.0,
                       moved_wait_s=60.0)
    text = encode_entry(moved)
    assert text == "v5|L1|general|100.000|2|7|zh:1|160.000||60.000|+8613900000000"
    assert "," not in text and text.split("|")[2:4] == ["general", "100.000"]  # what the dialplan CUTs
    assert decode_entry(text) == moved
    put_back = dataclasses.replace(moved, put_back_at=170.0)
    assert decode_entry(encode_entry(put_back)) == put_back
    # Without a moved wait the entry stays as older engines read it.
    assert encode_entry(dataclasses.replace(moved, moved_wait_s=0.0)).startswith("v3|")
    for bad in ("v5|a|b|1|0|||1||x|", "v5|a|b|1|0|||1||2", "v5|a|b|1|0|||1|y|2|"):
        assert decode_entry(bad) is None


@pytest.mark.parametrize("ending", ["answered", "abandoned"])
async def test_a_caller_moved_by_a_supervisor_and_restored_counts_as_without_the_restart(ending: str) -> None:
    """30 s in support, moved to general, the engine dies; the next one takes the caller back and it is
    answered (or hangs up) 3 s after the move: general counts 33 s, the call's wait in the reports
    (over T = 20 s; no short abandon), not the 3 s of its stay."""
    control = FakeCallControl()
    now = [T0]
    first = AcdService(Router(_configs()), control, InProcessBus(), clock=lambda: now[0])
    await first.enqueue(LiveCall(linkedid="L1", caller_channel="PJSIP/trunk-1", caller_number="138",
                                 queue="support"))
    now[0] = T0 + 30.0
    await first.decide(lambda t: first.router.move_waiting("L1", "general", t))
    assert first.calls["L1"].moved_wait_s == 30.0
    now[0] = T0 + 31.0
    await first.stop()  # waits for the entry's write
    entry = decode_entry(control.variables[("PJSIP/trunk-1", ENTRY_VAR)])
    assert entry is not None and (entry.queue, entry.moved_wait_s) == ("general", 30.0)

    now[0] = T0 + 32.0
    again = AcdService(Router(_configs()), FakeCallControl(), InProcessBus(), clock=lambda: now[0])
    await again.restore_waiting(_live(entry, "PJSIP/trunk-1"))
    now[0] = T0 + 33.0
    if ending == "answered":
        ready_agent(again.router, "g", {}, now[0], queues=["general"])
        again.router.offer_answered("L1", "g", now[0])
    else:
        await again.decide(lambda t: again.router.caller_hung_up("L1", t))
    went = again.router.queue_snapshot("general", now[0])
    if ending == "answered":
        assert (went.answered, went.answered_within_sl, went.asa_s) == (1, 0, pytest.approx(33.0))
    else:
        assert (went.abandoned, went.abandoned_short) == (1, 0)
    await again.stop()


async def test_an_overflow_or_a_put_back_resets_the_carried_wait() -> None:
    """An overflow counted the call in the queue it left: the next queue counts its own stay."""
    control = FakeCallControl()
    now = [T0]
    acd = AcdService(Router(_configs()), control, InProcessBus(), clock=lambda: now[0])
    await acd.enqueue(LiveCall(linkedid="L1", caller_channel="PJSIP/trunk-1", caller_number="138", queue="support"))
    now[0] = T0 + 30.0
    await acd.decide(lambda t: acd.router.move_waiting("L1", "general", t))
    now[0] = T0 + 340.0
    await acd.decide(acd.router.tick)  # general overflows to sales after 300 s
    assert (acd.calls["L1"].queue, acd.calls["L1"].moved_wait_s) == ("sales", 0.0)
    await acd.stop()
    entry = decode_entry(control.variables[("PJSIP/trunk-1", ENTRY_VAR)])
    assert entry is not None and (entry.queue, entry.moved_wait_s) == ("sales", 0.0)
