"""Calls more than one agent worked on without a transfer, in the reports and on the wallboard
(docs/kpis.md, *Transferred calls*), as a transferred call counts:

- answered by A, whose softphone was lost and did not come back (the caller is put back in queue),
  then answered by B: each handled it once with their own talk and after-call work, the queue's
  answer with A, the contact with B. Before, only calls with a transfer had parts read, and the
  whole call was B's.
- answered by A, who consulted B (attended transfer) when the caller hung up: B wrapped up the
  call without talking with the caller. B handled it with that after-call work (their time, as
  occupancy counts it), neither the queue's answer nor the contact. Before, B's wrap-up was in no
  agent's row.

The parts of every such call come from one read of the segments, whatever the number of calls."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from acd.events import AgentWrapUpEnded
from acd.kpis import interval_report
from agent_console.supervisor.agents import AgentClock
from agent_console.supervisor.board import compute_board
from agent_console.supervisor.records import RecordCache, load_records
from crm_core.calllog import CallLogger
from crm_core.db import Database
from cti.events import Event
from cti.journey import (
    AgentRinging,
    CallArrived,
    CallConnected,
    CallEnded,
    HoldStarted,
    QueueEntered,
    WrapUpDone,
)

T0 = 1_800_000_000.0


def _lost(lid: str = "lost.1", t0: float = T0) -> list[Event]:
    """A answers at 15 after 5 s in support; A's softphone is lost and the caller put back at 75 (A's
    wrap-up runs out at 80); B answers at 88 (13 s more in support); the caller hangs up at 208 and
    B wraps up 20 s."""
    return [CallArrived(ts=t0, linkedid=lid, channel="PJSIP/trunk-1", caller_number="13800138000"),
            QueueEntered(ts=t0 + 10, linkedid=lid, queue="support"),
            AgentRinging(ts=t0 + 12, linkedid=lid, agent_id="1001", queue="support"),
            CallConnected(ts=t0 + 15, linkedid=lid, agent_id="1001", queue="support"),
            QueueEntered(ts=t0 + 75, linkedid=lid, queue="support"),
            AgentWrapUpEnded(ts=t0 + 80, linkedid=lid, agent_id="1001", reason="timer"),
            AgentRinging(ts=t0 + 85, linkedid=lid, agent_id="1002", queue="support"),
            CallConnected(ts=t0 + 88, linkedid=lid, agent_id="1002", queue="support"),
            CallEnded(ts=t0 + 208, linkedid=lid),
            WrapUpDone(ts=t0 + 228, linkedid=lid, agent_id="1002", disposition="info_given", queue="support",
                       resolved_first_contact=True),
            AgentWrapUpEnded(ts=t0 + 228, linkedid=lid, agent_id="1002", reason="ready")]


def _consulted(lid: str = "consult.1", t0: float = T0) -> list[Event]:
    """A answers at 15 after 5 s, holds the caller at 60 to consult B; the caller hangs up at 90.
    A wraps up 5 s (the contact: resolved), B, who never talked with the caller, 10 s."""
    return [CallArrived(ts=t0, linkedid=lid, channel="PJSIP/trunk-1", caller_number="13800138000"),
            QueueEntered(ts=t0 + 10, linkedid=lid, queue="support"),
            CallConnected(ts=t0 + 15, linkedid=lid, agent_id="1001", queue="support"),
            HoldStarted(ts=t0 + 60, linkedid=lid, agent_id="1001"),
            CallEnded(ts=t0 + 90, linkedid=lid),
            WrapUpDone(ts=t0 + 95, linkedid=lid, agent_id="1001", disposition="resolved", queue="support",
                       resolved_first_contact=True),
            AgentWrapUpEnded(ts=t0 + 95, linkedid=lid, agent_id="1001", reason="ready"),
            WrapUpDone(ts=t0 + 100, linkedid=lid, agent_id="1002", disposition="consulted", queue="support"),
            AgentWrapUpEnded(ts=t0 + 100, linkedid=lid, agent_id="1002", reason="ready")]


# (journey, (A's talk, hold, ACW), (B's talk, hold, ACW), the call's wait, B talked with the caller)
CASES: dict[str, tuple[Callable[[], list[Event]], tuple[float, ...], tuple[float, ...], float]] = {
    "lost softphone": (_lost, (60.0, 0.0, 5.0), (120.0, 0.0, 20.0), 18.0),
    "consulted": (_consulted, (45.0, 30.0, 5.0), (0.0, 0.0, 10.0), 5.0)}


async def _logged(db: Database, tmp_path: Path, events: list[Event]) -> None:
    logger = CallLogger(db, tmp_path)
    await logger.start()
    for ev in events:
        await logger.handle(ev)
    await logger.flush()
    await logger.stop()


@pytest.mark.parametrize("kind", sorted(CASES))
async def test_each_agent_who_worked_on_the_call_is_credited_their_own_part(
        db: Database, tmp_path: Path, kind: str) -> None:
    journey, a, b, wait = CASES[kind]
    await _logged(db, tmp_path, journey())
    records = await load_records(db, T0 - 3600, T0 + 3600)
    (total,) = [row.kpis for row in interval_report(records, interval="day", tz="UTC")]
    # The call: one offered, answered, handled call; its handle time is both agents' parts.
    assert (total.offered, total.answered, total.handled) == (1, 1, 1)
    assert total.aht_s == pytest.approx(sum(a) + sum(b))
    assert total.asa_s == pytest.approx(wait)
    by_agent = {row.key: row.kpis for row in interval_report(records, interval="day", tz="UTC", group_by="agent")}
    assert set(by_agent) == {"1001", "1002"}
    first, second = by_agent["1001"], by_agent["1002"]
    assert (first.handled, first.aht_s) == (1, pytest.approx(sum(a)))
    assert (second.handled, second.aht_s) == (1, pytest.approx(sum(b)))
    # The queue's answer is A's, who answered first.
    assert (first.offered, first.answered, second.offered, second.answered) == (1, 1, 0, 0)
    contact, other = (second, first) if kind == "lost softphone" else (first, second)
    assert (contact.resolved_issues, contact.resolved_first_contact, other.resolved_issues) == (1, 1, 0)
    # The wallboard reads the same parts.
    cached = await RecordCache(db, clock=lambda: T0 + 300).load(T0 - 3600)
    assert cached == records
    board = compute_board(now=T0 + 300, tz="UTC", window_min=60, queues=[], configs={}, sl_targets={}, agents=[],
                          names={"1001": "A", "1002": "B"}, clock=AgentClock(), calls=[], records=cached)
    assert {x["agent_id"]: x["handled_today"] for x in board["agents"]} == {"1001": 1, "1002": 1}
    assert board["totals"]["today"]["handled"] == 1


@contextmanager
def _selects(db: Database) -> Iterator[Counter[str]]:
    seen: Counter[str] = Counter()

    def before(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen[statement.split(None, 1)[0].upper()] += 1

    for engine in db.statement_engines:
        event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        for engine in db.statement_engines:
            event.remove(engine, "before_cursor_execute", before)


async def test_the_parts_of_many_calls_are_one_read(db: Database, tmp_path: Path) -> None:
    """Reports run over many calls: the calls' rows and their parts are two reads, not one per call
    (nor one per call of a few hundred)."""
    journeys = [_lost(f"lost.{n}", T0 + n) if n % 2 else _consulted(f"consult.{n}", T0 + n) for n in range(1, 13)]
    await _logged(db, tmp_path, [ev for journey in journeys for ev in journey])
    with _selects(db) as seen:
        records = await load_records(db, T0 - 3600, T0 + 3600)
    assert len(records) == 12 and all(len(r.parts) == 2 for r in records)
    assert seen["SELECT"] == 2, seen
    cache = RecordCache(db, clock=lambda: T0 + 300)
    with _selects(db) as seen:
        assert len(await cache.load(T0 - 3600)) == 12
    assert seen["SELECT"] == 2, seen
