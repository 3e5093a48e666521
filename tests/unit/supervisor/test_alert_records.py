"""The open alerts rebuilt from their recorded steps (the audit rows ``AlertRunner._emit`` writes:
action = the event's name, detail = its fields) are the alerts the engine had."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

from acd.alerts import (
    AlertEngine,
    AlertEvent,
    AlertKind,
    AlertRule,
    AlertState,
    CaseStatus,
    QueueStatus,
    Scope,
    Snapshot,
)
from agent_console.supervisor.alerting import open_alerts_from
from cti.events import to_wire

WAIT = AlertRule(id="support-wait", kind=AlertKind.LONGEST_WAIT_ABOVE, scope=Scope.QUEUE, queue="support",
                 threshold=60, ack_timeout_s=120)
CASE = AlertRule(id="overdue", kind=AlertKind.CASE_OVERDUE, scope=Scope.GLOBAL, threshold=0)


def rows(events: Sequence[AlertEvent]) -> list[dict[str, Any]]:
    out = []
    for ev in events:
        body = json.loads(to_wire(ev))
        out.append({"id": len(out) + 1, "action": body["type"], "target": f"alert:{ev.alert_id}",
                    "detail": body["data"]})
    return out


def snap(wait: float, cases: Sequence[str] = ()) -> Snapshot:
    return Snapshot(queues=[QueueStatus(queue="support", waiting=1, longest_wait_s=wait)],
                    open_cases=[CaseStatus(case_id=c, due_at=0) for c in cases])


def test_replayed_records_are_the_engines_open_alerts() -> None:
    eng = AlertEngine([WAIT, CASE])
    events: list[AlertEvent] = [*eng.evaluate(snap(100, ["C-1", "C-2", "C-3"]), now=10)]
    events += eng.tick(135)  # every alert up one level, clocks from 130
    events.append(eng.acknowledge("overdue:case:C-1:2", by="sup-wang", now=140))
    events += eng.evaluate(snap(100, ["C-1", "C-2"]), now=150)  # C-3 recovered
    views = open_alerts_from(rows(events))
    by_id = {v.alert_id: v for v in views}
    assert set(by_id) == {v.alert_id for v in eng.active()}
    for live in eng.active():
        # Everything as the engine had it, except that the level's clock starts when its step was
        # recorded (the tick at 135), not when it was due (130), and the value is the last recorded
        # one (evaluations change it without an event; the next one after the restart refreshes it).
        got = by_id[live.alert_id]
        assert (live.level, live.level_since, got.value) == (1, 130, 100 if live.rule_id == WAIT.id else 10)
        assert got == dataclasses.replace(live, level_since=135, value=got.value)
    assert by_id["overdue:case:C-1:2"].state is AlertState.ACKNOWLEDGED
    assert by_id["overdue:case:C-1:2"].acknowledged_at == 140


def test_an_id_raised_again_starts_afresh_and_unreadable_rows_are_skipped() -> None:
    first = AlertEngine([WAIT])
    old = rows([*first.evaluate(snap(100), now=0), *first.tick(130)])
    # A run from before restores existed gave out the same id again for a new episode.
    second = AlertEngine([WAIT])
    new = rows(second.evaluate(snap(90), now=500))
    broken = {"id": 99, "action": "alert.escalated", "target": "alert:x", "detail": {"alert_id": "x"}}
    bad_kind = {**old[0], "detail": {**old[0]["detail"], "alert_id": "y", "kind": "nonsense"}}
    [view] = open_alerts_from([*old, broken, bad_kind, *new])
    assert (view.alert_id, view.state, view.level, view.raised_at, view.value) == (
        "support-wait:queue:support:1", AlertState.RAISED, 0, 500, 90)
    assert open_alerts_from([*old, *rows(first.evaluate(snap(0), now=200))]) == []
