"""The alert runner with a controlled clock: a breach is raised to the supervisor, escalates to the
manager then the head of service while nobody acknowledges it, clears when it recovers; every step
is published, recorded in the audit log and pushed to the screens."""

from __future__ import annotations

from typing import Any

from acd.alerts import AlertEngine, AlertKind, AlertRule, Scope
from agent_console.supervisor.alerting import AlertRunner
from cti.events import Event
from tests.web.supervisor.conftest import Site


def board(ts: float, waiting: int) -> dict[str, Any]:
    empty = {"service_level": None, "offered_counted": 0}
    return {"ts": ts, "queues": [{"queue": "sales", "waiting": waiting, "longest_wait_s": 0.0, "window": empty}],
            "agents": [], "totals": {"window": empty}}


class Bus:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def publish(self, ev: Event) -> None:
        self.events.append(ev)


async def test_escalation_follows_the_clock_and_every_step_is_recorded(site: Site) -> None:
    rule = AlertRule(id="sales-waiting", kind=AlertKind.WAITING_ABOVE, scope=Scope.QUEUE, queue="sales",
                     threshold=3, ack_timeout_s=60)
    pushed: list[dict[str, Any]] = []
    bus = Bus()
    runner = AlertRunner(AlertEngine([rule]), bus, site.svc.audit, agent_since=lambda _a: None,  # type: ignore[arg-type]
                         load_cases=lambda: _no_cases(), push=pushed.append, every_s=3)
    t0 = 1_800_000_000.0
    # t0 + 402 comes within every_s of the evaluation at t0 + 400: only t0 + 404 sees the recovery.
    steps = ((t0, 5), (t0 + 30, 6), (t0 + 61, 6), (t0 + 125, 7), (t0 + 400, 7), (t0 + 402, 1), (t0 + 404, 1))
    for ts, waiting in steps:
        b = board(ts, waiting)
        await runner.on_board(b)
        if ts == t0 + 30:
            assert b["alerts"][0]["role"] == "supervisor" and b["alerts"][0]["value"] == 6
    names = [e.name for e in bus.events]
    assert names == ["alert.raised", "alert.escalated", "alert.escalated", "alert.cleared"]
    assert [getattr(e, "role", None) for e in bus.events] == ["supervisor", "manager", "head_of_service",
                                                               "head_of_service"]
    assert [f["event"]["type"] for f in pushed] == names
    audit = await site.svc.audit.list(target=f"alert:{bus.events[0].alert_id}")  # type: ignore[attr-defined]
    assert [a["action"] for a in reversed(audit)] == names
    assert all(a["actor"] == "system" for a in audit)
    assert audit[-1]["detail"]["role"] == "supervisor" and audit[-1]["detail"]["value"] == 5


async def _no_cases() -> list[Any]:
    return []


async def test_a_restarted_supervisor_service_takes_its_open_alerts_back(site: Site) -> None:
    """The engine stops with the seed's overdue-case alerts open (one acknowledged); the service a
    restarted engine builds on the same database shows the same alerts, and raises none again."""
    from agent_console.supervisor.service import SupervisorService

    await site.svc.wallboard.stop()  # the first engine stops; nothing evaluates in the background
    await site.svc.wallboard.refresh()  # its last evaluation: the overdue cases are open alerts
    before = {a["alert_id"]: a for a in site.svc.alerts.active() if a["kind"] == "case_overdue"}
    assert len(before) >= 2
    acked = await site.svc.alerts.acknowledge(next(iter(before)), "sup1", "supervisor")
    before[acked["alert_id"]] = acked
    raised_before = await site.svc.audit.list(action_prefix="alert.raised", limit=1000)

    old = site.svc
    again = SupervisorService(acd=site.engine.acd, db=site.engine.db, bus=site.engine.bus,
                              configs=site.engine.acd_config.queues, rules=old.alerts.engine.rules,
                              recipients=old.alerts.recipients, control=lambda: site.engine.ami.control,
                              tz=site.engine.settings.timezone)
    await again.restore()  # what the app's lifespan runs before the wallboard starts
    await again.wallboard.refresh()  # the first evaluation of the restarted engine
    after = {a["alert_id"]: a for a in again.alerts.active() if a["kind"] == "case_overdue"}
    assert set(after) == set(before)
    assert after[acked["alert_id"]]["state"] == "acknowledged"
    assert after[acked["alert_id"]]["acknowledged_by"] == "sup1"
    assert all(after[i]["raised_at"] == before[i]["raised_at"] for i in before)
    raised_after = await again.audit.list(action_prefix="alert.raised", limit=1000)
    assert [a["id"] for a in raised_after] == [a["id"] for a in raised_before]  # nothing raised twice
