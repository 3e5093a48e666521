"""The wallboard snapshot, pure: router views, live calls, the agent clock and call records in, a
JSON-ready dict out (fields in docs/supervisor.md).

KPIs are ``acd.kpis.summarize`` over the rolling window (``window_min``) and over today (local
midnight in ``tz``), with each queue's own SL threshold (``service_level_s`` and ``short_abandon_s``
from queues.yaml) and SL target (its ``sl_below`` alert rule, else 80 %). FCR issues are built over
every record given, earlier contacts on a case included (the FCR repeat window before today), and
each counts where its first contact is, as in a report.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from acd.kpis import (
    AgentTime,
    CallRecord,
    KpiPolicy,
    KpiSummary,
    bucket_start,
    first_contact_issues,
    in_window,
    issues_by_first,
    per_agent,
    summarize,
)
from acd.model import PHONE_OFFLINE, AgentState, AgentView, QueueConfig
from acd.stats import QueueSnapshot, WaitingCall
from agent_console.supervisor.agents import AgentClock

AGENT_STATES = ("logged_out", "available", "reserved", "on_call", "wrap_up", "not_ready")
# Agent counts: the states, and the available agents whose phone is unreachable (a closed console,
# a softphone unregistered) apart -- the ACD offers them no call (AgentView.counted_state).
AGENT_COUNTS = (*AGENT_STATES, PHONE_OFFLINE)
CALLBACK_COUNTS = ("pending", "due", "overdue", "claimed")


@dataclasses.dataclass(frozen=True, slots=True)
class LiveCallView:
    """What the board shows of a live call (from ``acd.delivery.LiveCall``)."""

    linkedid: str
    queue: str
    status: str
    agent_id: str | None
    caller_number: str
    queued_at: float
    answered_at: float | None


def kpi_dict(k: KpiSummary) -> dict[str, Any]:
    return dataclasses.asdict(k)


def policy_for(cfg: QueueConfig | None, sl_target: float) -> KpiPolicy:
    if cfg is None:
        return KpiPolicy(sl_target=sl_target)
    return KpiPolicy(sl_seconds=cfg.service_level_s, short_abandon_s=cfg.short_abandon_s, sl_target=sl_target)


def callback_counts(counts: Mapping[str, int] | None) -> dict[str, int]:
    return {k: int((counts or {}).get(k, 0)) for k in CALLBACK_COUNTS}


def compute_board(*, now: float, tz: str, window_min: float, queues: Sequence[QueueSnapshot],
                  configs: Mapping[str, QueueConfig], sl_targets: Mapping[str, float],
                  agents: Sequence[AgentView], names: Mapping[str, str], clock: AgentClock,
                  calls: Iterable[LiveCallView], records: Sequence[CallRecord],
                  agent_times: Sequence[AgentTime] = (), window_times: Sequence[AgentTime] = (),
                  callbacks: Mapping[str, Mapping[str, int]] | None = None,
                  inactive: Collection[str] = (), waiting: Sequence[WaitingCall] = ()) -> dict[str, Any]:
    """One wallboard snapshot (see docs/supervisor.md for the fields). ``callbacks``: open callback
    counts per queue ("" for personal ones), as ``crm_core.callbacks.open_counts`` gives them.
    ``records`` may reach back before today (earlier contacts on a case): only FCR sees those.
    ``agent_times``: agent time per 15-minute bucket since midnight (today's occupancy and
    utilization); ``window_times``: that of exactly the rolling window (``AgentClock.window``).
    ``inactive``: agent ids of deactivated users, left off the board once logged out (their calls
    stay in the figures). ``waiting``: the callers waiting now (``AcdService.waiting_calls``), listed
    as ``waiting_calls``."""
    callbacks = callbacks or {}
    midnight = bucket_start(now, "day", tz)
    day = [r for r in records if midnight <= r.at <= now]
    window = in_window(records, now, window_min)
    issue_of = issues_by_first(records, KpiPolicy().fcr_days)

    def kpis(recs: Sequence[CallRecord], pol: KpiPolicy, times: Sequence[AgentTime] = ()) -> dict[str, Any]:
        return kpi_dict(summarize(recs, pol, times, first_contact_issues(recs, issue_of)))

    live = list(calls)
    talking_by_queue: dict[str, int] = {}
    for c in live:
        if c.status in ("talking", "held"):
            talking_by_queue[c.queue] = talking_by_queue.get(c.queue, 0) + 1
    by_state_in: dict[str, dict[str, int]] = {q.queue: dict.fromkeys(AGENT_COUNTS, 0) for q in queues}
    for a in agents:
        for qn in a.queues:
            if qn in by_state_in:
                by_state_in[qn][a.counted_state] += 1
    out_queues = []
    for q in queues:
        target = sl_targets.get(q.queue, 0.8)
        pol = policy_for(configs.get(q.queue), target)
        q_day = [r for r in day if r.queue == q.queue]
        q_win = [r for r in window if r.queue == q.queue]
        out_queues.append({
            "queue": q.queue, "waiting": q.waiting, "ringing": q.ringing,
            "virtual_waiting": q.virtual_waiting,  # virtual hold: to be called back at their turn, not on the line
            "talking": talking_by_queue.get(q.queue, 0), "longest_wait_s": round(q.longest_wait_s, 1),
            "sl_seconds": pol.sl_seconds, "sl_target": target,
            "agents": by_state_in.get(q.queue, {}), "logged_in": q.agents_logged_in,
            "available": q.agents_available,
            "window": kpis(q_win, pol), "today": kpis(q_day, pol),
            "callbacks": callback_counts(callbacks.get(q.queue)),
        })
    handled_today: dict[str, int] = {}
    for r in (part for rec in day for part in per_agent(rec)):  # several agents: each handled it
        if r.handled and r.agent_id:
            handled_today[r.agent_id] = handled_today.get(r.agent_id, 0) + 1
    current: dict[str, LiveCallView] = {}
    for c in live:
        if c.agent_id and c.status in ("ringing", "talking", "held"):
            current.setdefault(c.agent_id, c)
    out_agents = []
    for a in sorted(agents, key=lambda v: v.agent_id):
        if a.agent_id in inactive and a.state is AgentState.LOGGED_OUT:
            continue  # deactivated (one still at work, offboarded mid-call, stays until logged out)
        since = clock.since(a.agent_id)
        call = current.get(a.agent_id)
        out_agents.append({
            "agent_id": a.agent_id, "name": names.get(a.agent_id, ""), "state": a.state.value, "reason": a.reason,
            "since": since, "time_in_state_s": round(now - since, 1) if since is not None else None,
            "queues": list(a.queues), "skills": dict(a.skills), "not_ready_after_call": a.not_ready_after_call,
            "phone_offline": not a.registered,
            "call": None if call is None else {
                "linkedid": call.linkedid, "queue": call.queue, "status": call.status,
                "caller_number": call.caller_number,
                "since": call.answered_at if call.answered_at is not None else call.queued_at},
            "handled_today": handled_today.get(a.agent_id, 0),
        })
    known = {a.agent_id for a in agents}
    for agent_id in sorted(set(names) - known - set(inactive)):  # in the CRM, not logged in since the start
        out_agents.append({"agent_id": agent_id, "name": names[agent_id], "state": "logged_out", "reason": None,
                           "since": None, "time_in_state_s": None, "queues": [], "skills": {},
                           "not_ready_after_call": None, "phone_offline": False, "call": None,
                           "handled_today": handled_today.get(agent_id, 0)})
    out_agents.sort(key=lambda a: str(a["agent_id"]))
    default = KpiPolicy()
    day_times = [t for t in agent_times if t.at + 900 > midnight]  # local midnight is on a 15-minute bucket
    return {
        "type": "wallboard", "ts": now, "tz": tz, "window_min": window_min,
        "totals": {
            "waiting": sum(q.waiting for q in queues), "ringing": sum(q.ringing for q in queues),
            "virtual_waiting": sum(q.virtual_waiting for q in queues),
            "talking": sum(1 for c in live if c.status in ("talking", "held")),
            "longest_wait_s": round(max((q.longest_wait_s for q in queues), default=0.0), 1),
            "agents": {s: sum(1 for a in agents if a.counted_state == s) for s in AGENT_COUNTS},
            "window": kpis(window, default, window_times),
            "today": kpis(day, default, day_times),
            # every open callback: personal ones and those of queues the router no longer has too
            "callbacks": {k: sum(callback_counts(c)[k] for c in callbacks.values()) for k in CALLBACK_COUNTS},
        },
        "queues": out_queues, "agents": out_agents,
        "waiting_calls": [{"linkedid": w.call_id, "queue": w.queue, "position": w.position,
                           "caller_number": w.caller_number,
                           "waited_s": round(w.waited_s, 1), "since": w.since, "priority": w.priority,
                           "virtual": w.virtual} for w in waiting],
    }
