"""A call agent A answered and transferred to agent B, in the reports (docs/kpis.md, *Transferred
calls*): for the queue and the totals it is one offered, answered and handled call whose handle time
is every agent's talk, hold and after-call work; per agent each of them handled it once, with their
own talk, hold and ACW. The queue's answer (offered, answered, ASA, SL) is A's, who answered it; the
contact (disposition, FCR, CSAT) is B's, whose wrap-up completed it."""

from __future__ import annotations

from pathlib import Path

import pytest

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
    CallTransferred,
    HoldEnded,
    HoldStarted,
    QueueEntered,
    WrapUpDone,
)

T0 = 1_800_000_000.0
L = "xfer.1"


def _blind() -> list[Event]:
    """A answers at 15 after 5 s in support, blind-transfers to billing at 75; B answers at 83 (7.9 s
    in billing); the caller hangs up at 203. A wraps up 5 s, B 20 s."""
    return [CallArrived(ts=T0, linkedid=L, channel="PJSIP/trunk-1", caller_number="13800138000"),
            QueueEntered(ts=T0 + 10, linkedid=L, queue="support"),
            AgentRinging(ts=T0 + 12, linkedid=L, agent_id="1001", queue="support"),
            CallConnected(ts=T0 + 15, linkedid=L, agent_id="1001", queue="support"),
            CallTransferred(ts=T0 + 75, linkedid=L, from_agent="1001", target="billing", target_kind="queue"),
            QueueEntered(ts=T0 + 75.1, linkedid=L, queue="billing"),
            AgentRinging(ts=T0 + 80, linkedid=L, agent_id="1002", queue="billing"),
            CallConnected(ts=T0 + 83, linkedid=L, agent_id="1002", queue="billing"),
            WrapUpDone(ts=T0 + 80, linkedid=L, agent_id="1001", disposition="transferred", queue="support"),
            AgentWrapUpEnded(ts=T0 + 80, linkedid=L, agent_id="1001", reason="ready"),
            CallEnded(ts=T0 + 203, linkedid=L),
            WrapUpDone(ts=T0 + 223, linkedid=L, agent_id="1002", disposition="info_given", queue="billing",
                       resolved_first_contact=True),
            AgentWrapUpEnded(ts=T0 + 223, linkedid=L, agent_id="1002", reason="ready")]


def _attended() -> list[Event]:
    """A answers at 15, consults B with the caller on hold 60..90 and completes the transfer at 90;
    B talks until 200. A wraps up 5 s, B 23 s."""
    return [CallArrived(ts=T0, linkedid=L, channel="PJSIP/trunk-1", caller_number="13800138000"),
            QueueEntered(ts=T0 + 10, linkedid=L, queue="support"),
            CallConnected(ts=T0 + 15, linkedid=L, agent_id="1001", queue="support"),
            HoldStarted(ts=T0 + 60, linkedid=L, agent_id="1001"),
            HoldEnded(ts=T0 + 90, linkedid=L, agent_id="1001"),
            CallTransferred(ts=T0 + 90, linkedid=L, from_agent="1001", target="1002", target_kind="agent",
                            kind="attended"),
            CallConnected(ts=T0 + 90, linkedid=L, agent_id="1002"),
            WrapUpDone(ts=T0 + 95, linkedid=L, agent_id="1001", disposition="transferred", queue="support"),
            AgentWrapUpEnded(ts=T0 + 95, linkedid=L, agent_id="1001", reason="ready"),
            CallEnded(ts=T0 + 200, linkedid=L),
            WrapUpDone(ts=T0 + 223, linkedid=L, agent_id="1002", disposition="info_given", queue="support",
                       resolved_first_contact=True),
            AgentWrapUpEnded(ts=T0 + 223, linkedid=L, agent_id="1002", reason="ready")]


# (journey, (A's talk, hold, ACW), (B's talk, hold, ACW), the call's wait)
CASES = {"blind": (_blind, (60.0, 0.0, 5.0), (120.0, 0.0, 20.0), 12.9),
         "attended": (_attended, (45.0, 30.0, 5.0), (110.0, 0.0, 23.0), 5.0)}


@pytest.mark.parametrize("kind", sorted(CASES))
async def test_each_agent_of_a_transferred_call_is_credited_their_own_part(
        db: Database, tmp_path: Path, kind: str) -> None:
    journey, a, b, wait = CASES[kind]
    logger = CallLogger(db, tmp_path)
    await logger.start()
    for ev in journey():
        await logger.handle(ev)
    await logger.flush()
    await logger.stop()
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
    assert (first.held_calls, second.held_calls) == ((1, 0) if a[1] else (0, 0))
    # The queue's answer is A's; the contact (its resolution) B's: each counted once.
    assert (first.offered, first.answered, second.offered, second.answered) == (1, 1, 0, 0)
    assert (first.resolved_issues, second.resolved_issues, second.resolved_first_contact) == (0, 1, 1)
    # A report of one agent is that agent's row.
    (only,) = [row.kpis for row in interval_report(records, interval="day", tz="UTC", agents=["1001"])]
    assert (only.handled, only.aht_s) == (1, pytest.approx(sum(a)))
    # The wallboard reads the same parts: each agent handled the call today, as in the report.
    cached = await RecordCache(db, clock=lambda: T0 + 300).load(T0 - 3600)
    assert cached == records
    board = compute_board(now=T0 + 300, tz="UTC", window_min=60, queues=[], configs={}, sl_targets={}, agents=[],
                          names={"1001": "A", "1002": "B"}, clock=AgentClock(), calls=[], records=cached)
    assert {a["agent_id"]: a["handled_today"] for a in board["agents"]} == {"1001": 1, "1002": 1}
    assert board["totals"]["today"]["handled"] == 1
