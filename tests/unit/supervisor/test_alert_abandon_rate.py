"""The abandon-rate alert (``abandon_rate_above``): a queue's (or the centre's) abandoned share of
the offered calls over the wallboard's rolling window, as docs/kpis.md defines the abandon rate
(short abandons under the queue's threshold excluded from both counts), above the rule's threshold
raises an alert once ``min_offered`` calls were offered; it clears at or below the threshold."""

from __future__ import annotations

from typing import Any

import pytest

from acd import alert_config
from acd.alert_rules import AlertKind, AlertRule, QueueStatus, Scope, Snapshot, breaches
from acd.alerts import AlertCleared, AlertEngine, AlertRaised
from acd.errors import InvalidRequest
from acd.kpis import CallRecord, KpiPolicy, Outcome, summarize
from acd.stats import QueueStats
from agent_console.supervisor.alerting import snapshot_for_rules
from agent_console.supervisor.board import kpi_dict

RULE = AlertRule(id="support-abandon", kind=AlertKind.ABANDON_RATE_ABOVE, scope=Scope.QUEUE, queue="support",
                 threshold=0.1, min_offered=10)


def rate(abandon_rate: float | None, offered: int, queue: str = "support") -> Snapshot:
    return Snapshot(queues=[QueueStatus(queue=queue, abandon_rate=abandon_rate, offered=offered)])


# (abandon rate, offered) -> the breach the rule sees (None: none)
@pytest.mark.parametrize(("abandon_rate", "offered", "seen"), [
    (0.2, 9, None),  # 9 offered: below min_offered
    (0.2, 10, 0.2),
    (0.1, 50, None),  # at the threshold is not above it
    (0.11, 50, 0.11),
    (None, 0, None),  # nothing offered in the window: no rate
    (0.0, 50, None),
])
def test_a_queues_abandon_rate_above_the_threshold_is_a_breach(abandon_rate: float | None, offered: int,
                                                                seen: float | None) -> None:
    assert breaches(RULE, rate(abandon_rate, offered), now=0) == ({} if seen is None else {"queue:support": seen})


def test_another_queues_rate_is_not_this_rules() -> None:
    assert breaches(RULE, rate(0.5, 100, queue="billing"), now=0) == {}


def test_the_global_rule_reads_the_centres_rate() -> None:
    rule = AlertRule(id="g", kind=AlertKind.ABANDON_RATE_ABOVE, scope=Scope.GLOBAL, threshold=0.05, min_offered=20)
    busy = Snapshot(queues=[QueueStatus(queue="support", abandon_rate=0.9, offered=100)], abandon_rate=0.06,
                    offered=20)
    assert breaches(rule, busy, now=0) == {"global": 0.06}
    assert breaches(rule, Snapshot(abandon_rate=0.06, offered=19), now=0) == {}


def test_raised_once_then_cleared_when_the_rate_recovers() -> None:
    eng = AlertEngine([RULE])
    [raised] = eng.evaluate(rate(0.25, 12), now=100)
    assert isinstance(raised, AlertRaised)
    assert (raised.kind, raised.subject, raised.value, raised.threshold, raised.role) == (
        "abandon_rate_above", "queue:support", 0.25, 0.1, "supervisor")
    assert raised.message == "support: abandon rate 25% above 10%"
    assert eng.evaluate(rate(0.3, 13), now=103) == []  # the same episode: its value follows
    assert eng.active()[0].value == 0.3
    [cleared] = eng.evaluate(rate(0.1, 20), now=106)
    assert isinstance(cleared, AlertCleared) and cleared.alert_id == raised.alert_id


def test_the_rate_the_rule_reads_excludes_short_abandons_as_the_kpi_does() -> None:
    """The wallboard's window figures, as ``acd.kpis.summarize`` counts them for the queue's own
    short-abandon threshold (8 s here): 2 answered, 1 abandon after 30 s, 2 short abandons (3 s and
    8 s: at the threshold is short). The rate is 1 / 3, not 3 / 5."""
    records = [CallRecord(linkedid=f"a{i}", arrived_at=0, outcome=Outcome.ANSWERED, offered=True, queue="support",
                          wait_s=5) for i in range(2)]
    records += [CallRecord(linkedid=f"x{w}", arrived_at=0, outcome=Outcome.ABANDONED_QUEUE, offered=True,
                           queue="support", wait_s=w) for w in (30, 3, 8)]
    window = kpi_dict(summarize(records, KpiPolicy(short_abandon_s=8)))
    board: dict[str, Any] = {"queues": [{"queue": "support", "waiting": 0, "longest_wait_s": 0.0, "window": window}],
                             "agents": [], "totals": {"window": window}}
    snap = snapshot_for_rules(board, lambda _a: None, 0.0, [])
    assert (snap.queues[0].abandon_rate, snap.queues[0].offered) == (pytest.approx(1 / 3), 3)
    assert (snap.abandon_rate, snap.offered) == (pytest.approx(1 / 3), 3)
    rule = AlertRule(id="r", kind=AlertKind.ABANDON_RATE_ABOVE, scope=Scope.QUEUE, queue="support", threshold=0.3,
                     min_offered=3)
    assert breaches(rule, snap, now=0) == {"queue:support": pytest.approx(1 / 3)}
    assert breaches(AlertRule(id="r", kind=AlertKind.ABANDON_RATE_ABOVE, scope=Scope.QUEUE, queue="support",
                              threshold=0.3, min_offered=4), snap, now=0) == {}  # 5 offered, 3 counted


def test_the_routers_live_queue_figures_fit_the_rule() -> None:
    stats = QueueStats()
    for _ in range(4):
        stats.entered()
    stats.answered_after(3)
    for wait in (30, 40, 50):
        stats.abandoned_after(wait)
    snap = stats.snapshot("support", waiting=0, ringing=0, connected=0, longest_wait_s=0, agents_logged_in=1,
                          agents_available=1)
    rule = AlertRule(id="r", kind=AlertKind.ABANDON_RATE_ABOVE, scope=Scope.QUEUE, queue="support", threshold=0.5)
    assert breaches(rule, Snapshot(queues=[snap]), now=0) == {"queue:support": 0.75}


@pytest.mark.parametrize("threshold", [1, 1.5, 10, -0.1])
def test_a_threshold_that_is_no_fraction_is_refused_naming_the_field(threshold: float) -> None:
    with pytest.raises(InvalidRequest) as info:
        AlertRule(id="r", kind=AlertKind.ABANDON_RATE_ABOVE, scope=Scope.QUEUE, queue="support", threshold=threshold)
    assert info.value.field == "threshold"


def test_the_config_file_names_the_rule_and_the_field() -> None:
    rules, problems = alert_config.parse_alert_rules({"rules": [
        {"id": "ok", "kind": "abandon_rate_above", "scope": "queue", "queue": "support", "threshold": 0.1,
         "min_offered": 10},
        {"id": "pct", "kind": "abandon_rate_above", "scope": "queue", "queue": "support", "threshold": 10},
        {"id": "few", "kind": "abandon_rate_above", "scope": "global", "threshold": 0.1, "min_offered": 2.5},
    ]}, "alerts.yaml")
    assert [r.id for r in rules] == ["ok"] and rules[0].kind is AlertKind.ABANDON_RATE_ABOVE
    assert problems == [
        "alerts.yaml: rules[1] (pct).threshold: an abandon rate is a fraction in [0, 1) (0.1 = 10 %)",
        "alerts.yaml: rules[2] (few).min_offered: expected a whole number (got 2.5)",
    ]
