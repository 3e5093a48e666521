"""A caller a supervisor moved between queues, in the reports and in the live queue statistics
(docs/kpis.md, moved between queues): the call log keeps one interaction in the queue that last had
it, with the waits of both stays, so a report counts it once, there, answered within T on that sum;
the router's live figures count it the same (the queue it left only says ``moved``)."""

from __future__ import annotations

from pathlib import Path

from acd.kpis import interval_report
from acd.model import QueueConfig
from acd.routing import Router
from agent_console.supervisor.records import load_records
from crm_core.calllog import CallLogger
from crm_core.db import Database
from cti.journey import (
    AgentRinging,
    CallArrived,
    CallConnected,
    CallEnded,
    QueueEntered,
    QueueLeft,
    WrapUpDone,
)

T0 = 1_800_000_000.0  # a fixed instant: the report's period is around it
L = "moved.1"


async def _log(db: Database, tmp_path: Path) -> None:
    """Support 15 s, moved to billing by a supervisor, billing 10 s, answered: 25 s in all (T = 20 s)."""
    events = [CallArrived(ts=T0, linkedid=L, channel="PJSIP/trunk-1", caller_number="13800138000"),
              QueueEntered(ts=T0 + 10, linkedid=L, queue="support"),
              QueueLeft(ts=T0 + 25, linkedid=L, queue="support", reason="moved", waited_s=15.0, target="billing"),
              QueueEntered(ts=T0 + 25, linkedid=L, queue="billing"),
              AgentRinging(ts=T0 + 33, linkedid=L, agent_id="1003", queue="billing"),
              CallConnected(ts=T0 + 35, linkedid=L, agent_id="1003", queue="billing"),
              CallEnded(ts=T0 + 95, linkedid=L),
              WrapUpDone(ts=T0 + 100, linkedid=L, agent_id="1003", disposition="info_given", queue="billing")]
    logger = CallLogger(db, tmp_path)
    await logger.start()
    for ev in events:
        await logger.handle(ev)
    await logger.flush()
    await logger.stop()


def _live() -> Router:
    """The same call through the router (times from the caller's queue entry)."""
    r = Router([QueueConfig("support"), QueueConfig("billing")])
    r.enqueue(L, "support", T0 + 10)
    r.move_waiting(L, "billing", T0 + 25)
    r.agent_login("1003", {}, T0 + 30, queues=["billing"], ready=True)
    r.offer_answered(L, "1003", T0 + 35)
    return r


async def test_a_moved_call_counts_once_in_its_last_queue_with_both_waits_in_reports_and_live(
        db: Database, tmp_path: Path) -> None:
    await _log(db, tmp_path)
    records = await load_records(db, T0 - 3600, T0 + 3600)
    assert [(r.queue, r.wait_s, r.offered) for r in records] == [("billing", 25.0, True)]
    rows = {row.key: row.kpis for row in interval_report(records, interval="day", tz="UTC", group_by="queue")}
    assert set(rows) == {"billing"}  # support offered it nothing in the report
    billing = rows["billing"]
    assert (billing.offered, billing.answered, billing.answered_within_t, billing.service_level,
            billing.asa_s) == (1, 1, 0, 0.0, 25.0)
    live = _live()
    support, went = live.queue_snapshot("support", T0 + 40), live.queue_snapshot("billing", T0 + 40)
    assert (support.offered - support.moved, support.service_level, support.abandon_rate) == (0, None, None)
    assert (went.offered - went.moved, went.answered, went.answered_within_sl, went.service_level,
            went.asa_s) == (billing.offered, billing.answered, billing.answered_within_t, billing.service_level,
                            billing.asa_s)
