"""The supervisor side assembled from the engine's parts: wallboard, alerts, interventions, reports.

Built by ``install.install_supervisor`` (or by tests from the same parts). Owns no transport: the
REST router (``http``) and the websocket call its methods.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from acd.alerts import AlertEngine, AlertKind, AlertRule, Scope
from acd.delivery import AcdService
from acd.events import AgentPhoneReachability, AgentStateChanged
from acd.kpis import GroupBy, Interval, KpiPolicy, ReportRow, bucket_start, interval_report
from acd.model import QueueConfig
from acd.recipients import Recipients
from acd.reports import check_report_size, report_csv
from acd.staffing import staff
from agent_console import policy, queue_scope
from agent_console.errors import Forbidden, InvalidInput
from agent_console.queue_scope import EVERY_QUEUE, QueueScope, scope_of
from agent_console.security import Principal
from agent_console.supervisor.agents import AgentClock
from agent_console.supervisor.alerting import AlertRunner, load_open_cases
from agent_console.supervisor.audit import AuditLog
from agent_console.supervisor.board import LiveCallView, compute_board, kpi_dict, policy_for
from agent_console.supervisor.callbacks import SupervisorCallbacks
from agent_console.supervisor.charts import trend_chart
from agent_console.supervisor.history import AgentHistory
from agent_console.supervisor.interventions import Interventions
from agent_console.supervisor.records import CaseContacts, RecordCache, load_records, with_case_contacts
from agent_console.supervisor.wallboard import Wallboard
from crm_core import users
from crm_core.agent_log import state_key, write_state_once
from crm_core.callbacks import Policy
from crm_core.db import Database
from crm_core.errors import DatabaseUnavailable
from crm_core.journal import RowJournal
from crm_core.models import User
from cti.ami.control import CallControl
from cti.bus import EventBus, subscribe_batch

log = logging.getLogger(__name__)


def sl_targets_of(rules: Sequence[AlertRule]) -> dict[str, float]:
    """Each queue's SL target: the threshold of its ``sl_below`` rule (80 % when it has none)."""
    return {r.queue: r.threshold for r in rules
            if r.kind is AlertKind.SL_BELOW and r.scope is Scope.QUEUE and r.queue}


class SupervisorService:
    def __init__(self, *, acd: AcdService, db: Database, bus: EventBus, configs: Sequence[QueueConfig],
                 rules: Sequence[AlertRule], control: Callable[[], CallControl], tz: str = "UTC",
                 window_min: float = 60.0, every_s: float = 1.0, records_every_s: float = 2.0,
                 alerts_every_s: float = 3.0, phone_kind: Callable[[], str] = lambda: "sim",
                 clock: Callable[[], float] = time.time, recipients: Recipients | None = None,
                 callback_policy: Policy | None = None, journal: Path | None = None) -> None:
        ZoneInfo(tz)  # fails early on a bad zone name
        self.acd, self.db, self.bus, self.tz, self.clock = acd, db, bus, tz, clock
        self.window_min = window_min
        self.configs: Mapping[str, QueueConfig] = {c.name: c for c in configs}
        self.sl_targets = sl_targets_of(rules)
        # Periods kept whole for the rolling window's exact figures (AgentClock.window).
        self.agent_clock = AgentClock(exact_s=max(2 * 3600.0, window_min * 60.0 + 900.0))
        self.names: dict[str, str] = {}
        self.inactive: frozenset[str] = frozenset()  # agent ids of deactivated users: off the board
        self.crm_skills: dict[str, dict[str, int]] = {}  # agent id -> skills in the CRM (for the logged-out)
        # user id -> assigned queues, re-read with the records: the websocket's scope (REST reads its own)
        self.assigned: dict[int, list[str]] | None = None
        # Agent state history and audit rows are journaled (``journal``: a JSON-lines file in the
        # state directory) and written once the database takes them: an outage loses none.
        self.rows = RowJournal(db, journal, {"agent_state": write_state_once}, name="supervisor.rows")
        self.history = AgentHistory(db, self.rows, clock=clock)
        self.audit = AuditLog(db, rows=self.rows)
        self.record_cache = RecordCache(db, clock=clock)
        self.case_contacts = CaseContacts(db, days=KpiPolicy().fcr_days, clock=clock)
        self.callbacks = SupervisorCallbacks(db, policy=callback_policy, clock=clock,
                                             on_change=lambda: self.wallboard.invalidate_records())
        self.wallboard = Wallboard(snapshot=self._board, load=self._load, every_s=every_s,
                                   records_every_s=records_every_s, since_of=self._records_since, clock=clock,
                                   scoped=self.scoped_view)
        self.alerts = AlertRunner(AlertEngine(rules), bus, self.audit, agent_since=self.agent_clock.since,
                                  load_cases=lambda: load_open_cases(db), push=self._push,
                                  every_s=alerts_every_s, clock=clock, rules=rules, recipients=recipients)
        self.wallboard.listeners.append(self.alerts.on_board)
        self.interventions = Interventions(acd, control, bus, self.audit, phone_kind=phone_kind, clock=clock)

    # -- wiring ------------------------------------------------------------------------------------
    def subscribe(self) -> None:
        now = self.clock()
        for a in self.acd.agents():
            self.agent_clock.seed(a.agent_id, a.state.value, now, a.registered, reason=a.reason)
        # Every state waiting is taken at once: ~5 per call, and each was a worker wake-up, a
        # journal flush and a database transaction of its own; now one of each per batch. Phone
        # reachability in the same subscription: its order with the states is kept.
        kinds: tuple[type[AgentStateChanged | AgentPhoneReachability], ...] = (AgentStateChanged,
                                                                               AgentPhoneReachability)
        subscribe_batch(self.bus, kinds, self._on_states, name="supervisor.agent_clock")
        self.alerts.subscribe_security()  # repeated refused SIP logins (cti.security)

    async def _on_state(self, ev: AgentStateChanged) -> None:
        await self._on_states((ev,))

    async def _on_states(self, evs: Sequence[AgentStateChanged | AgentPhoneReachability]) -> None:
        rows = []
        for ev in evs:
            at = ev.since or ev.ts
            if isinstance(ev, AgentPhoneReachability):
                reachable = ev.reachable
                self.agent_clock.phone(ev.agent_id, reachable, at)
            else:
                reachable = ev.phone_reachable
                self.agent_clock.changed(ev.agent_id, ev.state, at, reachable, reason=ev.reason)
            # A reachability change is a row of the agent's unchanged state (and reason): the last
            # row still says the state, as the recovery reads it.
            rows.append((state_key(ev.agent_id, ev.state, at, reachable),
                         {"agent_id": ev.agent_id, "state": ev.state, "reason": ev.reason, "at": at,
                          "phone_reachable": reachable}))
        try:
            await self.rows.submit_many("agent_state", rows)
        except Exception:  # the journal itself failed (disk full): the history has a gap
            log.exception("supervisor: could not journal %d agent state changes (first: agent %s -> %s)",
                          len(evs), evs[0].agent_id, evs[0].state)

    async def restore(self) -> None:
        """Rebuild the agent clock and the open alerts from the recorded history (a restart loses no
        occupancy and raises no alert twice)."""
        await self.rows.start()  # rows journaled before a restart go in first
        await self.close_downtime()  # done already when the engine started (with its heartbeat)
        await self.alerts.restore()
        now = self.clock()
        for agent_id, state, at, reachable, reason in await self.history.between(now - 8 * 86400.0, now):
            self.agent_clock.changed(agent_id, state, at, reachable, reason=reason)
        for a in self.acd.agents():
            self.agent_clock.changed(a.agent_id, a.state.value, max(now, a.idle_since), a.registered, reason=a.reason)

    async def close_downtime(self, last_beat: float | None = None) -> int:
        """``AgentHistory.close_downtime``; the live clock takes the rows it writes."""
        return await self.history.close_downtime(last_beat, self.agent_clock)

    async def engine_stopping(self, agents: Sequence[str], at: float | None = None) -> int:
        """``AgentHistory.engine_stopping``; the live clock takes the rows it writes."""
        return await self.history.engine_stopping(agents, self.agent_clock, at)

    async def _report_agent_times(self, start: float, end: float) -> list[Any]:
        """Agent time for a past interval, from the recorded history (a day back for the state then)."""
        clock = AgentClock(keep_s=float("inf"))
        for agent_id, state, at, reachable, reason in await self.history.between(start - 86400.0, end):
            # nothing before the interval counts
            clock.changed(agent_id, state, max(at, start), reachable, reason=reason)
        # The clock's periods are its 15-minute buckets; the first one holds only time from ``start``
        # on, so it starts there (a report keeps agent time from its start: a From inside a quarter
        # hour lost that quarter's time).
        return [dataclasses.replace(t, at=max(t.at, start)) for t in clock.times(end, since=start) if t.at < end]

    def _records_since(self, now: float) -> float:
        return min(bucket_start(now, "day", self.tz), now - self.window_min * 60.0)

    async def _load(self, since: float) -> Any:
        # The FCR repeat window before ``since``: contacts on a case, so a repeat of a case first
        # called about before today belongs to that issue (as in a report), not to today's.
        records = with_case_contacts(await self.record_cache.load(since), await self.case_contacts.load(since))
        async with self.db.session() as s:
            rows = (await s.execute(select(User.agent_id, User.display_name, User.active, User.skills)
                                    .where(User.agent_id.is_not(None)))).all()
            self.assigned = await users.all_supervised_queues(session=s)
        self.names = {r.agent_id: r.display_name for r in rows}
        self.crm_skills = {r.agent_id: dict(r.skills or {}) for r in rows}
        self.inactive = frozenset(r.agent_id for r in rows if not r.active)
        await self.callbacks.refresh_counts(self.clock())  # at its own, slower pace
        return records

    def _board(self, now: float, records: Sequence[Any], scope: QueueScope = EVERY_QUEUE) -> dict[str, Any]:
        """The snapshot of what ``scope`` oversees: its queues, the calls, records, callers waiting and
        callbacks of those, the agents serving them (totals of exactly that)."""
        calls = [LiveCallView(c.linkedid, c.queue, c.status, c.agent_id, c.caller_number, c.queued_at,
                              c.answered_at) for c in self.acd.calls.values()]
        agents, names = self.acd.agents(), self.names
        agent_times = self.agent_clock.times(now, since=self._records_since(now))
        window_times = self.agent_clock.window(now, since=now - self.window_min * 60.0)
        queues, waiting, callbacks = self.acd.queue_snapshots(now), self.acd.waiting_calls(now), self.callbacks.counts
        if not scope.everything:
            served = self.served_map()
            mine = {a for a, qs in served.items() if queue_scope.oversees_agent(scope, qs)}
            agents = [a for a in agents if a.agent_id in mine]
            names = {a: n for a, n in names.items() if a in mine}
            agent_times = [t for t in agent_times if t.agent in mine]
            window_times = [t for t in window_times if t.agent in mine]
            calls = [c for c in calls if scope.sees(c.queue)]
            records = [r for r in records if scope.sees(r.queue)]
            queues = [q for q in queues if scope.sees(q.queue)]
            waiting = [w for w in waiting if scope.sees(w.queue)]
            callbacks = {q: c for q, c in callbacks.items() if scope.sees(q)}
        return compute_board(now=now, tz=self.tz, window_min=self.window_min,
                             queues=queues, configs=self.configs,
                             sl_targets=self.sl_targets, agents=agents, names=names,
                             clock=self.agent_clock, calls=calls, records=records,
                             agent_times=agent_times, window_times=window_times,
                             callbacks=callbacks, inactive=self.inactive, waiting=waiting)

    # -- supervisors' queues (agent_console.queue_scope.QueueScope) ---------------------------------------
    def served_map(self) -> dict[str, set[str]]:
        """Every agent's queues (``queue_scope.queues_served``): from the ACD for those it knows (their
        queues now and their live skills), from the CRM's skills for the others."""
        known = self.acd.queue_names()
        out = {a: queue_scope.queues_served((), skills, known) for a, skills in self.crm_skills.items()}
        out.update({a.agent_id: queue_scope.queues_served(a.queues, a.skills, known) for a in self.acd.agents()})
        return out

    async def scope_of(self, who: Principal) -> QueueScope:
        """``who``'s queues, read now (a REST request): an assignment just changed applies at once.
        The database away: the assignment last read with the records (the wallboard keeps working
        through an outage, docs/resilience.md), nothing before the first read."""
        try:
            return await scope_of(self.db, who)
        except DatabaseUnavailable:
            return self.cached_scope(who.user_id, who.role)

    def cached_scope(self, user_id: int, role: str) -> QueueScope:
        """``who``'s queues as last read with the records (the websocket's frames, every
        ``records_every_s``): nothing for a supervisor before the first read."""
        if role != "supervisor":
            return queue_scope.scope_for(role, ())
        if self.assigned is None:
            return QueueScope(frozenset())
        return queue_scope.scope_for(role, self.assigned.get(user_id, ()))

    def scoped_view(self, snap: dict[str, Any], scope: QueueScope) -> dict[str, Any]:
        """A snapshot as ``scope`` sees it: computed again over the scope's queues and agents (its
        totals are theirs), with the alerts about them."""
        if scope.everything:
            return snap
        board = self._board(snap["ts"], self.wallboard.records, scope)
        if "alerts" in snap:
            board["alerts"] = snap["alerts"]
        return queue_scope.scoped_board(scope, board, self.served_map())

    def overseen_agents(self, scope: QueueScope) -> set[str]:
        return {a for a, qs in self.served_map().items() if queue_scope.oversees_agent(scope, qs)}

    def sees_alert(self, scope: QueueScope, alert: Mapping[str, Any]) -> bool:
        return scope.everything or queue_scope.sees_alert(scope, alert, self.overseen_agents(scope))

    def _push(self, frame: dict[str, Any]) -> None:
        """An alert's step to the screens of those it is addressed to who oversee its queue or agent;
        a security alert to those the access policy shows them (``policy.sees_security_alerts``)."""
        def visible(f: dict[str, Any], scope: QueueScope, role: str) -> bool:
            if f.get("type") == "security_alert":
                return policy.sees_security_alerts(role)
            return f.get("type") != "alert" or self.sees_alert(scope, f.get("event", {}).get("data", {}))
        self.wallboard.push(frame, visible)

    async def check_agent(self, who: Principal, agent_id: str, scope: QueueScope | None = None) -> QueueScope:
        """Forbidden unless ``agent_id`` serves one of ``who``'s queues; returns the scope."""
        scope = scope or await self.scope_of(who)
        if not scope.everything:
            queue_scope.check_agent_scope(scope, agent_id, self.served_map().get(agent_id, set()))
        return scope

    async def check_skills(self, who: Principal, agent_id: str, skills: Mapping[str, int]) -> None:
        """The agent in scope, and no skill named like another team's queue given, changed or taken."""
        scope = await self.check_agent(who, agent_id)
        if scope.everything:
            return
        before = {a.agent_id: a.skills for a in self.acd.agents()}.get(agent_id) or self.crm_skills.get(agent_id, {})
        queue_scope.check_skills_scope(scope, before, skills, self.acd.queue_names())

    async def move_call(self, who: Principal, linkedid: str, queue: str) -> dict[str, Any]:
        """Move a waiting caller to ``queue`` (422 naming ``queue`` when it is none of the configured
        ones; 403 unless ``who`` oversees both queues); the board is pushed at once."""
        names = self.acd.queue_names()
        if queue not in names:
            raise InvalidInput("queue", f"no queue {queue!r}; the queues are {', '.join(names)}")
        call = self.acd.calls.get(linkedid)
        queue_scope.check_queue_scope(await self.scope_of(who), [call.queue or None if call else None, queue])
        entry = await self.interventions.move_call(who, linkedid, queue)
        await self.wallboard.refresh()
        return entry

    def invalidate_records(self) -> None:
        """Re-read every record at the next snapshot (after rows were deleted or rewritten)."""
        self.record_cache.reset()
        self.case_contacts.reset()
        self.wallboard.invalidate_records()

    async def board(self) -> dict[str, Any]:
        return self.wallboard.latest or await self.wallboard.refresh()

    async def phone_of(self, who: Principal, phone: str | None) -> tuple[str, str | None]:
        """The extension to ring for a spy (the named one, else the user's own) and the user's
        phone kind (users.phone_kind; None: the engine's default). A named phone is the user's own
        or one no other active user has (their extension, else their agent id, as crm_core.users
        gives phones): Forbidden naming ``phone`` for a colleague's, who would pick up into a spy."""
        async with self.db.session() as s:
            row = (await s.execute(select(User.extension, User.phone_kind).where(User.id == who.user_id))).first()
            owner = (await s.execute(select(User.username, User.extension).where(
                func.coalesce(User.extension, User.agent_id) == phone, User.active.is_(True),
                User.id != who.user_id).order_by(User.id).limit(1))).first() if phone else None
        ext, kind = (row[0], row[1]) if row is not None else (None, None)
        if owner is not None:
            whose = f"{owner[0]!r}" + ("" if owner[1] else " (their agent id)")
            raise Forbidden(f"phone: {phone} is the phone of {whose}: a spy rings your own phone or one no user "
                            "has")
        if phone:
            return phone, kind
        if not ext:
            raise InvalidInput("phone", "you have no phone extension in the CRM: name the phone to ring")
        return ext, kind

    # -- reports -------------------------------------------------------------------------------------
    def _range(self, start: str | None, end: str | None) -> tuple[float, float]:
        now = self.clock()
        s = parse_time(start, self.tz, "start") if start else bucket_start(now, "day", self.tz)
        e = parse_time(end, self.tz, "end") if end else now
        if e <= s:
            raise InvalidInput("end", "must be after start")
        if e - s > 93 * 86400:
            raise InvalidInput("end", "a report covers at most 93 days")
        return s, e

    async def report(self, *, interval: Interval, group_by: GroupBy | None, start: str | None, end: str | None,
                     queues: Sequence[str] = (), agents: Sequence[str] = (),
                     scope: QueueScope = EVERY_QUEUE) -> tuple[list[ReportRow], float, float]:
        """``scope``: the agent time counted is only that of the agents it oversees (``queues`` must
        be within it already: ``queue_scope.report_queues``); a report of some queues counts that of
        the agents serving them, whoever reads it."""
        s, e = self._range(start, end)
        check_report_size(s, e, interval, self.tz)  # 422 naming interval before any row is read
        # FCR needs the contacts on the same case within the repeat window on either side of the
        # period (an earlier contact makes one in the period a repeat; a later one breaks its FCR);
        # interval_report counts only the period's calls and builds the issues over all of them.
        window = KpiPolicy().fcr_days * 86400.0
        records = await load_records(self.db, s - window, e + window)
        # Per queue its own thresholds, as on the wallboard (board.policy_for); totals 80/20.
        per_queue = {name: policy_for(cfg, self.sl_targets.get(name, 0.8)) for name, cfg in self.configs.items()}
        rows = interval_report(records, interval=interval, tz=self.tz, group_by=group_by, policy=KpiPolicy(),
                               agent_times=self._scoped_times(await self._report_agent_times(s, e), scope,
                                                              queues),
                               start=s, end=e,
                               queues=queues or None, agents=agents or None, queue_policies=per_queue)
        return rows, s, e

    def _scoped_times(self, times: list[Any], scope: QueueScope, queues: Sequence[str] = ()) -> list[Any]:
        """The agent time of the agents ``scope`` oversees who serve one of ``queues`` (none: any)."""
        wanted = QueueScope(frozenset(queues)) if queues else EVERY_QUEUE
        if scope.everything and wanted.everything:
            return times
        served = self.served_map()
        return [t for t in times if queue_scope.oversees_agent(scope, served.get(t.agent, ()))
                and queue_scope.oversees_agent(wanted, served.get(t.agent, ()))]

    @staticmethod
    def report_json(rows: Sequence[ReportRow]) -> list[dict[str, Any]]:
        return [{"start": r.start, "start_local": r.start_local, "interval": r.interval, "group_by": r.group_by,
                 "key": r.key, "kpis": kpi_dict(r.kpis)} for r in rows]

    report_csv = staticmethod(report_csv)

    def sl_target_of(self, queues: Sequence[str]) -> float:
        """The SL target the rows of a report of ``queues`` were computed with: the queue's own for
        one configured queue (as ``report``'s per-queue policies), else the totals' 80 %."""
        if len(set(queues)) == 1 and queues[0] in self.configs:
            return self.sl_targets.get(queues[0], 0.8)
        return KpiPolicy().sl_target

    @staticmethod
    def report_chart(rows: Sequence[ReportRow], field: str, kind: str = "line", *, target: float = 0.8,
                     title: str | None = None, target_label: str = "target") -> str:
        return trend_chart(rows, field, kind, target=target, title=title, target_label=target_label)

    @staticmethod
    def staffing(**kwargs: Any) -> dict[str, Any]:
        return staff(**kwargs).to_dict()


def parse_time(text: str, tz: str, field: str) -> float:
    """Epoch seconds, or ISO 8601 (a date or a date-time; local time in ``tz`` when no offset)."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(field, "an ISO 8601 date or date-time, or epoch seconds") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=ZoneInfo(tz))
    return dt.astimezone(UTC).timestamp()
