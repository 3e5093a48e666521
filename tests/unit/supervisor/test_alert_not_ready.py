"""The "not ready too long" alert is about breaks: an agent on an outbound call (click-to-dial, a
callback's or a preview contact's call) is not ready with the reason ``outbound`` until its wrap-up
form (docs/kpis.md), and was reported "not ready for 20 min" while talking to a customer. Found by
the supervisor's trial (the agent's state on the real Asterisk:
tests/asterisk/supervisor/test_scripted_day.py)."""

from __future__ import annotations

from typing import Any

from acd.alerts import AlertEngine, AlertKind, AlertRule, Scope
from agent_console.supervisor.alerting import snapshot_for_rules

RULE = AlertRule(id="agent-not-ready", kind=AlertKind.AGENT_NOT_READY_ABOVE, scope=Scope.GLOBAL, threshold=900)


def _board(*agents: tuple[str, str, str | None]) -> dict[str, Any]:
    window = {"service_level": None, "offered_counted": 0}
    return {"queues": [], "totals": {"window": window},
            "agents": [{"agent_id": a, "state": state, "reason": reason, "queues": ["support"]}
                       for a, state, reason in agents]}


def test_an_agent_on_an_outbound_call_is_not_on_a_break() -> None:
    now = 10_000.0
    board = _board(("1001", "not_ready", "outbound"), ("1002", "not_ready", "break"), ("1003", "on_call", None))
    snap = snapshot_for_rules(board, lambda agent: now - 1200, now, [])
    raised = AlertEngine([RULE]).evaluate(snap, now)
    assert [e.subject for e in raised] == ["agent:1002"]
    assert "not ready for 1200 s" in raised[0].message
