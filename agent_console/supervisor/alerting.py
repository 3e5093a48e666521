"""Runs ``acd.alerts.AlertEngine`` against the live wallboard: evaluates the rules on each snapshot
(at most every ``every_s``), escalates unacknowledged alerts, publishes ``alert.*`` events on the
bus, records each step in the audit log and pushes it to the supervisors' screens at once.

The snapshot the rules see: per queue, calls waiting and the longest wait now (router) and the
service level and abandon rate over the rolling window (``offered_counted`` as its ``offered``);
globally the window's all-queue SL and abandon rate; agents with the time they entered their state
(``AgentClock``); open CRM cases with a due time (re-read every ``cases_every_s``).

On start-up ``restore`` rebuilds the alerts the previous run left open from their audit rows and
gives them back to the engine: they keep their ids, state, level and acknowledgement, are not raised
again, and those whose condition went away meanwhile clear at the first evaluation. A restored
level's clock starts when its step was recorded (at most one evaluation after it was due).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC
from typing import Any

from sqlalchemy import select

from acd.alerts import (
    AgentStatus,
    AlertAcknowledged,
    AlertEngine,
    AlertEvent,
    AlertKind,
    AlertRule,
    AlertState,
    AlertView,
    CaseStatus,
    QueueStatus,
    Snapshot,
    UnknownAlert,
)
from acd.recipients import Recipients, may_see, recipients_for
from agent_console.errors import Forbidden
from agent_console.supervisor.audit import AuditLog, record
from crm_core.db import Database
from crm_core.models import Case
from cti.bus import EventBus
from cti.events import to_wire
from cti.security import AuthFailuresAlarm

log = logging.getLogger(__name__)
OPEN_CASE_STATUSES = ("open", "in_progress", "pending")


def alert_view(v: AlertView, to: Sequence[str] = ()) -> dict[str, Any]:
    out = dataclasses.asdict(v)
    out["kind"], out["state"] = v.kind.value, v.state.value
    out["to"] = list(to)  # usernames it is addressed to so far (acd.recipients); empty: everyone
    return out


def snapshot_for_rules(board: dict[str, Any], agent_since: Callable[[str], float | None], now: float,
                       cases: Sequence[CaseStatus]) -> Snapshot:
    """The alert rules' view of one wallboard snapshot."""
    queues = [QueueStatus(queue=q["queue"], waiting=q["waiting"], longest_wait_s=q["longest_wait_s"],
                          service_level=q["window"]["service_level"], offered=q["window"]["offered_counted"],
                          abandon_rate=q["window"].get("abandon_rate"))
              for q in board["queues"]]
    agents = []
    for a in board["agents"]:
        since = agent_since(a["agent_id"])
        # Not ready "outbound" is an outbound call and its wrap-up form (docs/kpis.md): work, not a
        # break; the not-ready rules see the agent on a call.
        state = "on_call" if (a["state"], a.get("reason")) == ("not_ready", "outbound") else a["state"]
        agents.append(AgentStatus(agent_id=a["agent_id"], state=state, since=now if since is None else since,
                                  queues=tuple(a["queues"])))
    total = board["totals"]["window"]
    return Snapshot(queues=queues, agents=agents, open_cases=list(cases), service_level=total["service_level"],
                    offered=total["offered_counted"], abandon_rate=total.get("abandon_rate"))


def open_alerts_from(steps: Iterable[Mapping[str, Any]]) -> list[AlertView]:
    """Replay recorded alert steps (audit rows, oldest first): the alerts not cleared, as they stood.

    An ``alert.raised`` starts the alert afresh (ids made before alerts were restored may repeat);
    a row that cannot be read is logged and skipped.
    """
    alerts: dict[str, AlertView] = {}
    for row in steps:
        d = row["detail"]
        try:
            alert_id, action, at = str(d["alert_id"]), row["action"], float(d["ts"])
            v = alerts.get(alert_id)
            if action == "alert.raised":
                alerts[alert_id] = AlertView(
                    alert_id=alert_id, rule_id=d["rule_id"], kind=AlertKind(d["kind"]), queue=d["queue"],
                    subject=d["subject"], state=AlertState.RAISED, level=int(d["level"]), role=d["role"],
                    value=float(d["value"]), threshold=float(d["threshold"]), raised_at=at, level_since=at,
                    acknowledged_by=None, acknowledged_at=None, cleared_at=None)
            elif v is None:
                continue
            elif action == "alert.escalated":
                alerts[alert_id] = dataclasses.replace(v, state=AlertState.ESCALATED, level=int(d["level"]),
                                                       role=d["role"], value=float(d["value"]), level_since=at)
            elif action == "alert.acknowledged":
                alerts[alert_id] = dataclasses.replace(v, state=AlertState.ACKNOWLEDGED, acknowledged_by=d["by"],
                                                       acknowledged_at=at)
            elif action == "alert.cleared":
                del alerts[alert_id]
        except (KeyError, TypeError, ValueError) as err:
            log.warning("alerts: unreadable audit row %s (%s): %r", row.get("id"), row.get("action"), err)
    return list(alerts.values())


async def load_open_cases(db: Database) -> list[CaseStatus]:
    q = select(Case.id, Case.due_at, Case.category).where(Case.due_at.is_not(None),
                                                           Case.status.in_(OPEN_CASE_STATUSES))
    async with db.session() as s:
        rows = (await s.execute(q)).all()
    return [CaseStatus(case_id=str(r.id), due_at=(r.due_at if r.due_at.tzinfo else r.due_at.replace(tzinfo=UTC))
                       .timestamp()) for r in rows]


class AlertRunner:
    def __init__(self, engine: AlertEngine, bus: EventBus, audit: AuditLog, *,
                 agent_since: Callable[[str], float | None], load_cases: Callable[[], Any],
                 push: Callable[[dict[str, Any]], None], every_s: float = 3.0, cases_every_s: float = 30.0,
                 clock: Callable[[], float] = time.time, rules: Sequence[AlertRule] = (),
                 recipients: Recipients | None = None) -> None:
        self.engine, self.bus, self.audit = engine, bus, audit
        self._levels = {r.id: r.levels for r in rules}
        self.recipients: Recipients = recipients or {}
        self._agent_since, self._load_cases, self._push = agent_since, load_cases, push
        self.every_s, self.cases_every_s, self.clock = every_s, cases_every_s, clock
        self._last = float("-inf")
        self._cases: list[CaseStatus] = []
        self._cases_at = float("-inf")

    def subscribe_security(self) -> None:
        self.bus.subscribe(AuthFailuresAlarm, self.on_auth_failures, name="supervisor.security_alert")

    async def on_auth_failures(self, ev: AuthFailuresAlarm) -> None:
        """Repeated refused SIP logins from one address: recorded in the audit log and pushed to
        the administrators' screens (``policy.sees_security_alerts``) as a ``security_alert`` (not
        one of the rule-driven alerts of config/alerts.yaml: no level to escalate, nothing clears it)."""
        body = {"kind": "sip_auth_failures", "remote_address": ev.remote_address, "count": ev.count,
                "window_s": ev.window_s, "service": ev.service, "accounts": list(ev.accounts), "at": ev.ts}
        try:
            async with self.audit.db.session() as s:
                await record(s, actor="system", actor_role="system", action="alert.security",
                             target=f"address:{ev.remote_address}", detail=body, at=ev.ts)
        except Exception:
            log.exception("alerts: could not record the security alert for %s", ev.remote_address)
        self._push({"type": "security_alert", "event": body, "to": []})

    async def security_recent(self, within_s: float = 24 * 3600) -> list[dict[str, Any]]:
        """The security alerts of the last ``within_s`` (newest first, as pushed): a page opened after
        the push still shows them."""
        rows = await self.audit.list(action_prefix="alert.security", since=self.clock() - within_s, limit=20)
        return [r["detail"] for r in rows if r["action"] == "alert.security"]

    async def restore(self) -> list[AlertEvent]:
        """Give the engine back the alerts the audit log shows open; call it before the first evaluation."""
        views = open_alerts_from(await self.audit.open_alert_steps())
        last = await self.audit.last_alert_raised()
        issued = [last.removeprefix("alert:")] if last else []
        events = self.engine.restore(views, self.clock(), issued=issued)
        log.info("alerts: %d open alert(s) restored, %d cleared", len(self.engine.active()), len(events))
        if events:
            await self._emit(events, "system", "system")
        return events

    async def on_board(self, board: dict[str, Any]) -> None:
        """Wallboard listener: evaluate when due; the board gains the active alerts either way."""
        now = board["ts"]
        if now - self._last >= self.every_s:
            self._last = now
            await self.evaluate(board, now)
        board["alerts"] = self.active()

    async def evaluate(self, board: dict[str, Any], now: float) -> list[AlertEvent]:
        if now - self._cases_at >= self.cases_every_s:
            try:
                self._cases = await self._load_cases()
                self._cases_at = now
            except Exception:
                log.exception("alerts: could not read open cases")
        snap = snapshot_for_rules(board, self._agent_since, now, self._cases)
        events = [*self.engine.evaluate(snap, now), *self.engine.tick(now)]
        if events:
            await self._emit(events, "system", "system")
        return events

    async def acknowledge(self, alert_id: str, by: str, role: str) -> dict[str, Any]:
        view = self.engine.get(alert_id)
        if not may_see(self.view(view), by, role):
            raise Forbidden(f"alert {alert_id} is not addressed to {by}")
        ev: AlertAcknowledged = self.engine.acknowledge(alert_id, by, self.clock())
        await self._emit([ev], by, role)
        return self.view(self.engine.get(alert_id))

    def view(self, v: AlertView) -> dict[str, Any]:
        levels = self._levels.get(v.rule_id, (v.role,))
        return alert_view(v, recipients_for(self.recipients, levels, v.level, v.queue))

    def active(self) -> list[dict[str, Any]]:
        return [self.view(v) for v in self.engine.active()]

    def recent(self) -> list[dict[str, Any]]:
        return [self.view(v) for v in self.engine.recent_cleared()]

    async def _emit(self, events: Sequence[AlertEvent], actor: str, role: str) -> None:
        """Publish, record (one transaction for the batch) and push to the screens."""
        bodies = [json.loads(to_wire(ev)) for ev in events]
        for ev in events:
            await self.bus.publish(ev)
        try:
            async with self.audit.db.session() as s:
                for ev, body in zip(events, bodies, strict=True):
                    await record(s, actor=actor, actor_role=role, action=body["type"],
                                 target=f"alert:{ev.alert_id}", detail=body["data"], at=ev.ts)
        except Exception:
            log.exception("alerts: could not record %d alert step(s)", len(events))
        for ev, body in zip(events, bodies, strict=True):
            try:
                to = self.view(self.engine.get(ev.alert_id))["to"]
            except UnknownAlert:  # cleared on restore because its rule is gone: the engine never held it
                to = []
            self._push({"type": "alert", "event": body, "to": to})
