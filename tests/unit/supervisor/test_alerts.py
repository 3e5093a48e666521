"""Escalation alerts with a controlled clock, the alert state machine and config/alerts.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from acd import alerts
from acd.alerts import (
    AgentStatus,
    AlertAcknowledged,
    AlertCleared,
    AlertEngine,
    AlertEscalated,
    AlertKind,
    AlertRaised,
    AlertRule,
    AlertState,
    CaseStatus,
    QueueStatus,
    Scope,
    Snapshot,
)
from acd.errors import InvalidRequest
from acd.stats import QueueStats
from cti.errors import ConfigError
from cti.events import from_wire, to_wire
from cti.settings import load_settings

WAIT = AlertRule(id="support-wait", kind=AlertKind.LONGEST_WAIT_ABOVE, scope=Scope.QUEUE, queue="support",
                 threshold=60, ack_timeout_s=120)


def waiting(longest: float, queue: str = "support") -> Snapshot:
    return Snapshot(queues=[QueueStatus(queue=queue, waiting=1 if longest else 0, longest_wait_s=longest)])


def test_raise_escalate_to_the_top_then_clear() -> None:
    eng = AlertEngine([WAIT])
    assert eng.evaluate(waiting(60), now=1000) == []  # at the limit is not above it
    [raised] = eng.evaluate(waiting(61), now=1001)
    assert isinstance(raised, AlertRaised)
    assert (raised.role, raised.level, raised.queue, raised.subject, raised.value) == (
        "supervisor", 0, "support", "queue:support", 61)
    assert "longest wait 61 s above 60 s" in raised.message
    # The condition persists: no second alert, however often it is evaluated.
    for t in range(1002, 1100, 7):
        assert eng.evaluate(waiting(61 + t - 1001), now=t) == []
    assert eng.tick(1120.9) == []
    [up] = eng.tick(1121)
    assert isinstance(up, AlertEscalated)
    assert (up.role, up.previous_role, up.level, up.alert_id) == ("manager", "supervisor", 1, raised.alert_id)
    assert eng.tick(1200) == []
    [top] = eng.tick(1241)
    assert (top.role, top.level) == ("head_of_service", 2)
    assert eng.tick(5000) == []  # nowhere higher to go
    assert eng.get(raised.alert_id).state is AlertState.ESCALATED
    [cleared] = eng.evaluate(waiting(0), now=5001)
    assert isinstance(cleared, AlertCleared)
    assert (cleared.role, cleared.acknowledged) == ("head_of_service", False)
    assert eng.active() == [] and eng.get(raised.alert_id).cleared_at == 5001
    assert [v.alert_id for v in eng.recent_cleared()] == [raised.alert_id]
    # A new breach after recovery is a new episode.
    [again] = eng.evaluate(waiting(90), now=6000)
    assert isinstance(again, AlertRaised) and again.alert_id != raised.alert_id and again.role == "supervisor"


def test_acknowledge_stops_escalation_until_it_clears() -> None:
    eng = AlertEngine([WAIT])
    [raised] = eng.evaluate(waiting(100), now=0)
    [up] = eng.tick(120)
    assert up.role == "manager"
    ack = eng.acknowledge(raised.alert_id, by="mgr-li", now=130)
    assert isinstance(ack, AlertAcknowledged)
    assert (ack.by, ack.role, ack.level) == ("mgr-li", "manager", 1)
    assert eng.tick(10_000) == []
    assert eng.evaluate(waiting(500), now=10_001) == []  # acknowledged, still shown, not raised again
    [view] = eng.active()
    assert (view.state, view.acknowledged_by, view.value) == (AlertState.ACKNOWLEDGED, "mgr-li", 500)
    with pytest.raises(alerts.IllegalAlertTransition):
        eng.acknowledge(raised.alert_id, by="someone", now=10_002)
    [cleared] = eng.evaluate(waiting(0), now=10_003)
    assert isinstance(cleared, AlertCleared) and cleared.acknowledged
    with pytest.raises(alerts.IllegalAlertTransition):
        eng.acknowledge(raised.alert_id, by="late", now=10_004)
    with pytest.raises(alerts.UnknownAlert):
        eng.acknowledge("nope", by="x", now=1)


def test_late_tick_escalates_level_by_level_on_schedule() -> None:
    eng = AlertEngine([WAIT])
    [raised] = eng.evaluate(waiting(100), now=0)
    events = eng.tick(250)  # both timeouts (120, 240) have passed
    assert [(e.role, e.level) for e in events if isinstance(e, AlertEscalated)] == [
        ("manager", 1), ("head_of_service", 2)]
    assert eng.get(raised.alert_id).level_since == 240


def test_transition_table_is_explicit() -> None:
    legal = set(alerts.TRANSITIONS)
    for state in AlertState:
        for action in alerts.AlertAction:
            if (state, action) not in legal:
                a = alerts._Alert("x", WAIT, "queue:support", 1.0, 0.0, state=state)
                with pytest.raises(alerts.IllegalAlertTransition):
                    a.step(action)
    assert not any(s is AlertState.CLEARED for s, _ in legal)


def test_every_kind_and_scope() -> None:
    rules = [
        AlertRule(id="sl", kind=AlertKind.SL_BELOW, scope=Scope.QUEUE, queue="billing", threshold=0.8, min_offered=5),
        AlertRule(id="gsl", kind=AlertKind.SL_BELOW, scope=Scope.GLOBAL, threshold=0.75),
        AlertRule(id="gwait", kind=AlertKind.WAITING_ABOVE, scope=Scope.GLOBAL, threshold=5,
                  levels=("manager", "head_of_service")),
        AlertRule(id="glong", kind=AlertKind.LONGEST_WAIT_ABOVE, scope=Scope.GLOBAL, threshold=100),
        AlertRule(id="nr", kind=AlertKind.AGENT_NOT_READY_ABOVE, scope=Scope.QUEUE, queue="sales", threshold=900),
        AlertRule(id="case", kind=AlertKind.CASE_OVERDUE, scope=Scope.GLOBAL, threshold=0),
    ]
    eng = AlertEngine(rules)
    snap = Snapshot(
        queues=[QueueStatus(queue="billing", waiting=3, longest_wait_s=40, service_level=0.5, offered=4),
                QueueStatus(queue="sales", waiting=3, longest_wait_s=150, service_level=0.9, offered=20)],
        agents=[AgentStatus(agent_id="a1", state="not_ready", since=0, queues=("sales",)),
                AgentStatus(agent_id="a2", state="not_ready", since=0, queues=("billing",)),
                AgentStatus(agent_id="a3", state="available", since=0, queues=("sales",))],
        open_cases=[CaseStatus(case_id="C-1", due_at=900), CaseStatus(case_id="C-2", due_at=2000)],
        service_level=0.7, offered=24,
    )
    raised = {(e.rule_id, e.subject, e.role) for e in eng.evaluate(snap, now=1000)}
    # billing SL 50 % is ignored: only 4 offered (< 5). a2 is not in sales; C-2 is not due yet.
    assert raised == {("gsl", "global", "supervisor"), ("gwait", "global", "manager"),
                      ("glong", "global", "supervisor"), ("nr", "agent:a1", "supervisor"),
                      ("case", "case:C-1", "supervisor")}
    busier = Snapshot(queues=[QueueStatus(queue="billing", waiting=0, service_level=0.5, offered=5)],
                      open_cases=snap.open_cases, service_level=0.7, offered=25)
    events = eng.evaluate(busier, now=2001)
    assert {(type(e).__name__, e.rule_id, e.subject) for e in events} == {
        ("AlertRaised", "sl", "queue:billing"), ("AlertRaised", "case", "case:C-2"),
        ("AlertCleared", "gwait", "global"), ("AlertCleared", "glong", "global"), ("AlertCleared", "nr", "agent:a1")}


def test_live_queue_snapshot_of_acd_stats_fits_the_rules() -> None:
    stats = QueueStats()
    for wait in (10, 30, 40):
        stats.entered()
        stats.answered_after(wait)
    snap = stats.snapshot("support", waiting=2, ringing=0, connected=1, longest_wait_s=75, agents_logged_in=2,
                          agents_available=0)
    eng = AlertEngine([WAIT, AlertRule(id="sl", kind=AlertKind.SL_BELOW, scope=Scope.QUEUE, queue="support",
                                       threshold=0.8)])
    assert {e.rule_id for e in eng.evaluate(Snapshot(queues=[snap]), now=0)} == {"support-wait", "sl"}


def test_events_travel_on_the_wire() -> None:
    eng = AlertEngine([WAIT])
    [raised] = eng.evaluate(waiting(61), now=1.5)
    assert from_wire(to_wire(raised)) == raised
    assert raised.name == "alert.raised" and AlertEscalated.name == "alert.escalated"
    assert AlertAcknowledged.name == "alert.acknowledged" and AlertCleared.name == "alert.cleared"


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"scope": Scope.GLOBAL}, "queue"),
    ({"queue": None}, "queue"),
    ({"threshold": -1}, "threshold"),
    ({"kind": AlertKind.SL_BELOW, "threshold": 80}, "threshold"),
    ({"ack_timeout_s": 0}, "ack_timeout_s"),
    ({"levels": ()}, "levels"),
    ({"levels": ("a", "a")}, "levels"),
])
def test_bad_rules_name_the_field(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {"id": "r", "kind": AlertKind.WAITING_ABOVE, "scope": Scope.QUEUE,
                               "queue": "support", "threshold": 3, **kwargs}
    with pytest.raises(InvalidRequest) as info:
        AlertRule(**args)  # type: ignore[arg-type]
    assert info.value.field == field


def test_shipped_alerts_yaml_is_valid_and_covers_the_demo_queues() -> None:
    settings = load_settings()
    assert alerts.check_alerts(settings) == []
    rules = alerts.load_alert_rules(alerts.alerts_file(settings))
    assert {r.queue for r in rules if r.kind is AlertKind.SL_BELOW and r.queue} == {
        "support", "billing", "sales", "general"}
    assert {r.kind for r in rules} == set(AlertKind)
    AlertEngine(rules)


def test_check_alerts_names_file_rule_and_field(tmp_path: Path) -> None:
    (tmp_path / "alerts.yaml").write_text(yaml.safe_dump({
        "defaults": {"ack_timeout_s": 60, "colour": "red"},
        "rules": [
            {"id": "a", "kind": "sl_below", "scope": "queue", "queue": "support", "threshold": 0.8},
            {"id": "a", "kind": "waiting_above", "scope": "global", "threshold": 3},
            {"id": "b", "kind": "sl_above", "scope": "queue", "queue": "support", "threshold": 0.8},
            {"id": "c", "kind": "waiting_above", "scope": "queue", "queue": "nowhere", "threshold": 3},
            {"id": "d", "kind": "waiting_above", "scope": "queue", "queue": "support", "threshold": "x"},
            {"id": "e", "kind": "waiting_above", "scope": "global", "threshold": 1, "levels": [], "extra": 1},
        ],
    }))
    (tmp_path / "queues.yaml").write_text(yaml.safe_dump({"queues": {"support": {}, "billing": {}}}))
    settings = load_settings(config_dir=tmp_path)
    problems = alerts.check_alerts(settings)
    path = str(tmp_path / "alerts.yaml")
    assert all(p.startswith(path) for p in problems)
    text = "\n".join(problems)
    for needle in ("defaults.colour: unknown key", "rules[1] (a).id: duplicate", "rules[2] (b).kind",
                   "rule 'c'.queue: 'nowhere' is not a queue", "rules[4] (d).threshold: expected a number",
                   "rules[5] (e).extra: unknown key", "rules[5] (e).levels"):
        assert needle in text, needle
    assert len(problems) == 7
    with pytest.raises(ConfigError, match="invalid alert rules"):
        alerts.load_alert_rules(tmp_path / "alerts.yaml")
    (tmp_path / "alerts.yaml").write_text("rules: [")
    assert "not valid YAML" in alerts.check_alerts(settings)[0]
    assert "cannot read" in alerts.check_alerts(load_settings(config_dir=tmp_path / "none"))[0]
