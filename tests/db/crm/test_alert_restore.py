"""Open alerts survive an engine restart: a new runner and engine on the same database take them
back from the audit log (same id, level, acknowledgement) instead of raising them again, and one
whose condition went away while the engine was down is cleared, once."""

from __future__ import annotations

from typing import Any

from acd.alerts import AlertEngine, AlertKind, AlertRule, Scope
from agent_console.supervisor.alerting import AlertRunner
from agent_console.supervisor.audit import AuditLog
from crm_core.db import Database
from cti.events import Event

SALES = AlertRule(id="sales-waiting", kind=AlertKind.WAITING_ABOVE, scope=Scope.QUEUE, queue="sales",
                  threshold=3, ack_timeout_s=60)
SUPPORT = AlertRule(id="support-waiting", kind=AlertKind.WAITING_ABOVE, scope=Scope.QUEUE, queue="support",
                    threshold=3, ack_timeout_s=60)
T0 = 1_800_000_000.0


class Bus:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def publish(self, ev: Event) -> None:
        self.events.append(ev)


def board(ts: float, sales: int, support: int) -> dict[str, Any]:
    empty = {"service_level": None, "offered_counted": 0}
    return {"ts": ts, "agents": [], "totals": {"window": empty},
            "queues": [{"queue": q, "waiting": n, "longest_wait_s": 0.0, "window": empty}
                       for q, n in (("sales", sales), ("support", support))]}


async def _no_cases() -> list[Any]:
    return []


def runner(db: Database, bus: Bus, now: list[float]) -> AlertRunner:
    """What the supervisor service builds at start-up: a fresh engine, nothing in memory."""
    return AlertRunner(AlertEngine([SALES, SUPPORT]), bus, AuditLog(db), agent_since=lambda _a: None,  # type: ignore[arg-type]
                       load_cases=_no_cases, push=lambda _f: None, every_s=3, clock=lambda: now[0],
                       rules=[SALES, SUPPORT])


async def test_open_alerts_survive_a_restart(db: Database) -> None:
    now = [T0]
    first_bus = Bus()
    first = runner(db, first_bus, now)
    assert await first.restore() == []  # an empty log: nothing to take back
    await first.on_board(board(T0, sales=5, support=6))  # both raised to the supervisor
    await first.on_board(board(T0 + 61, sales=5, support=6))  # both escalated to the manager
    support_id = next(a["alert_id"] for a in first.active() if a["rule_id"] == SUPPORT.id)
    now[0] = T0 + 70
    await first.acknowledge(support_id, "mgr1", "supervisor")
    before = {a["alert_id"]: a for a in first.active()}
    assert {(a["state"], a["level"]) for a in before.values()} == {("escalated", 1), ("acknowledged", 1)}
    # The engine stops here. While it is down, the sales queue recovers; support still breaches.

    now[0] = T0 + 100
    bus = Bus()
    second = runner(db, bus, now)
    assert await second.restore() == []
    after = {a["alert_id"]: a for a in second.active()}
    # Same ids, states, levels, roles, raise times, acknowledgements; the manager level's clock
    # starts when its step was recorded (the evaluation at T0 + 61) rather than when it was due.
    assert {i: a["level_since"] for i, a in after.items()} == dict.fromkeys(before, T0 + 61)
    assert after == {i: {**a, "level_since": T0 + 61} for i, a in before.items()}
    events = await second.evaluate(board(T0 + 100, sales=0, support=9), T0 + 100)
    sales_id = next(i for i in before if i != support_id)
    assert [(e.name, e.alert_id) for e in events] == [("alert.cleared", sales_id)]
    # Support stays acknowledged: it is neither raised again nor escalated further.
    for t in (T0 + 103, T0 + 200, T0 + 400):
        assert await second.evaluate(board(t, sales=0, support=9), t) == []
    [still] = second.active()
    assert (still["alert_id"], still["state"], still["acknowledged_by"]) == (support_id, "acknowledged", "mgr1")

    audit = await AuditLog(db).list(action_prefix="alert.", limit=1000)
    steps = [(a["action"], a["target"]) for a in reversed(audit)]
    assert steps.count(("alert.raised", f"alert:{support_id}")) == 1
    assert steps.count(("alert.raised", f"alert:{sales_id}")) == 1
    assert steps.count(("alert.cleared", f"alert:{sales_id}")) == 1
    assert sum(action == "alert.raised" for action, _ in steps) == 2

    # A third start sees only support open; a new sales breach is a new alert with an unused id.
    now[0] = T0 + 500
    third = runner(db, Bus(), now)
    await third.restore()
    assert [a["alert_id"] for a in third.active()] == [support_id]
    [raised] = await third.evaluate(board(T0 + 500, sales=7, support=9), T0 + 500)
    assert raised.name == "alert.raised" and raised.alert_id not in before


async def test_escalation_goes_on_after_a_restart(db: Database) -> None:
    now = [T0]
    first = runner(db, Bus(), now)
    await first.on_board(board(T0, sales=5, support=0))
    [alert_id] = [a["alert_id"] for a in first.active()]
    # Restarted after 50 s: the supervisor level had 10 s left, then the manager gets 60 s.
    now[0] = T0 + 50
    bus = Bus()
    second = runner(db, bus, now)
    await second.restore()
    assert await second.evaluate(board(T0 + 50, sales=5, support=0), T0 + 50) == []
    [up] = await second.evaluate(board(T0 + 60, sales=5, support=0), T0 + 60)
    assert (up.name, up.alert_id, getattr(up, "role", None)) == ("alert.escalated", alert_id, "manager")
    [top] = await second.evaluate(board(T0 + 120, sales=5, support=0), T0 + 120)
    assert (top.alert_id, getattr(top, "role", None)) == (alert_id, "head_of_service")
    actions = [a["action"] for a in reversed(await AuditLog(db).list(target=f"alert:{alert_id}"))]
    assert actions == ["alert.raised", "alert.escalated", "alert.escalated"]


async def test_an_alert_whose_rule_is_gone_is_cleared_on_restart(db: Database) -> None:
    now = [T0]
    first = runner(db, Bus(), now)
    await first.on_board(board(T0, sales=0, support=5))
    [alert_id] = [a["alert_id"] for a in first.active()]
    bus = Bus()
    second = AlertRunner(AlertEngine([SALES]), bus, AuditLog(db), agent_since=lambda _a: None,  # type: ignore[arg-type]
                         load_cases=_no_cases, push=lambda _f: None, clock=lambda: T0 + 30, rules=[SALES])
    [cleared] = await second.restore()
    assert (cleared.name, cleared.alert_id) == ("alert.cleared", alert_id) and second.active() == []
    third = runner(db, Bus(), now)
    assert await third.restore() == [] and third.active() == []  # its record is closed
