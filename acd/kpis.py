"""Contact-center KPIs over recorded calls, exactly as docs/kpis.md defines them.

Pure functions: call records and agent time in, figures out; nothing is read from a clock or a
database. Every summary carries the thresholds it used and how abandons were counted.

Counting rules (stated once, used everywhere):
- *Offered* = calls that entered a queue; IVR-only calls (including IVR abandons) are counted apart;
  a call an agent answered without a queue (a virtual-hold callback call) is neither: only handled.
- A call is *answered within T* when its queue wait is <= T seconds.
- A *short abandon* is a queue abandon whose wait is <= ``short_abandon_s``. With
  ``exclude_short_abandons`` they leave the denominators of SL and abandon rate and the abandon
  count; otherwise they count like any other abandon. The average queue time is always over every
  offered call, short abandons included (its definition has no exclusion).
- Voicemail / callback chosen while queued count as offered and not answered; so does a caller who
  pressed the virtual-hold key, also when its callback reaches an agent (that callback call is
  handled, never offered; ``acd.stats`` counts the same live: docs/kpis.md).
- *Handled* = answered calls (queued or not) with an agent; AHT = (talk + hold + ACW) / handled,
  where talk excludes hold and ACW is the agents' time in the wrap-up state for the call (the call
  log's fold), the time occupancy and utilization count as handling (``AgentTime.handle_s``).
- FCR: contacts on the same case within ``fcr_days`` of the previous one form one issue; an issue
  is resolved when any of its contacts is; it is resolved on first contact when it has exactly one
  contact and that contact is resolved (a repeat contact, the next one on the case within
  ``fcr_days``, makes it an issue of two). Contacts without a case are issues of their own.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from acd.agent_parts import AgentPart
from acd.errors import InvalidRequest

Interval = Literal["15m", "30m", "60m", "day", "week"]
GroupBy = Literal["queue", "agent", "disposition", "outcome"]
INTERVALS: tuple[Interval, ...] = ("15m", "30m", "60m", "day", "week")
GROUPINGS: tuple[GroupBy, ...] = ("queue", "agent", "disposition", "outcome")
_MINUTES = {"15m": 15, "30m": 30, "60m": 60}


class Outcome(enum.StrEnum):
    ANSWERED = "answered"
    ABANDONED_IVR = "abandoned_ivr"
    ABANDONED_QUEUE = "abandoned_queue"
    VOICEMAIL = "voicemail"
    CALLBACK_REQUESTED = "callback_requested"
    FAILED = "failed"
    SYSTEM_FAILURE = "system_failure"  # cut by a PBX crash: reported, never an abandon


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CallRecord:
    """One finished call as the KPIs see it (durations in seconds, times since the epoch)."""

    linkedid: str
    arrived_at: float
    outcome: Outcome
    offered: bool = False  # entered a queue
    queue: str | None = None
    agent_id: str | None = None
    entered_queue_at: float | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    wait_s: float = 0.0  # time in queue until answered or gone
    talk_s: float = 0.0  # excluding hold
    hold_s: float = 0.0
    acw_s: float = 0.0
    held: bool = False
    disposition: str | None = None
    resolved: bool = False  # the wrap-up's resolved flag
    case_id: str | None = None
    csat: int | None = None  # the caller's survey answer 1-5 after the call (docs/recording.md)
    # Agents who each talked with the caller, consulted on the call or wrapped it up (a transfer, an
    # answer again after a lost softphone, a consultation): their own parts, for the per-agent figures
    # (acd.agent_parts); empty when one agent (``agent_id``) or none handled the call.
    parts: tuple[AgentPart, ...] = ()
    contact: bool = True  # False: another agent's part of a transferred call, not the customer's contact

    def __post_init__(self) -> None:
        for name in ("wait_s", "talk_s", "hold_s", "acw_s"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise InvalidRequest(name, f"call {self.linkedid}: must be a finite number >= 0 (got {value})")
        if self.outcome is Outcome.ABANDONED_QUEUE and not self.offered:
            raise InvalidRequest("offered", f"call {self.linkedid}: a queue abandon must have entered a queue")
        if self.outcome is Outcome.ABANDONED_IVR and self.offered:
            raise InvalidRequest("offered", f"call {self.linkedid}: an IVR abandon never entered a queue")
        if self.offered and not self.queue:
            raise InvalidRequest("queue", f"call {self.linkedid}: an offered call names its queue")

    @property
    def at(self) -> float:
        """When the call counts: entering the queue for offered calls, arrival otherwise."""
        return self.entered_queue_at if self.entered_queue_at is not None else self.arrived_at

    @property
    def handled(self) -> bool:
        return self.outcome is Outcome.ANSWERED and self.agent_id is not None

    @property
    def was_held(self) -> bool:
        return self.held or self.hold_s > 0

    @property
    def handle_s(self) -> float:
        return self.talk_s + self.hold_s + self.acw_s


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AgentTime:
    """An agent's time over one period starting at ``at`` (seconds)."""

    agent: str
    logged_in_s: float
    available_idle_s: float
    handle_s: float
    at: float = 0.0


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class KpiPolicy:
    """Thresholds every figure states."""

    sl_seconds: float = 20.0
    sl_target: float = 0.8
    short_abandon_s: float = 5.0
    exclude_short_abandons: bool = True  # as the live queue statistics (acd.stats) do
    fcr_days: float = 7.0

    def describe(self) -> str:
        short = "excluded" if self.exclude_short_abandons else "counted"
        return (f"SL = answered within {self.sl_seconds:g} s / offered (target {self.sl_target:.0%}); "
                f"abandons count in the denominator; short abandons (<= {self.short_abandon_s:g} s) {short}; "
                f"IVR abandons reported apart; FCR repeat window {self.fcr_days:g} days; handled and AHT: "
                f"inbound calls only; occupancy and utilization: handling time, agents' own outbound calls included")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class KpiSummary:
    """Counts and rates for a set of calls; a rate is None when its denominator is zero."""

    offered: int
    offered_counted: int  # offered minus excluded short abandons: the denominator of SL and abandon rate
    answered: int
    answered_within_t: int
    abandoned_queue: int  # minus excluded short abandons
    short_abandons: int
    abandoned_ivr: int
    ivr_only: int  # never offered nor handled: ended in the IVR (voicemail, callback, abandon...)
    voicemail: int
    callback_requested: int
    failed: int
    system_failures: int  # calls cut by a PBX crash: out of SL and abandon figures, counted here
    handled: int
    held_calls: int
    service_level: float | None
    asa_s: float | None
    abandon_rate: float | None
    avg_queue_time_s: float | None
    aht_s: float | None
    avg_hold_s: float | None
    max_wait_s: float
    occupancy: float | None
    utilization: float | None
    fcr: float | None
    resolved_issues: int
    resolved_first_contact: int
    csat_answers: int  # surveyed calls with an answer
    csat_avg: float | None  # mean score 1-5
    csat_satisfied: float | None  # share of answers 4 or 5 (the usual "CSAT %")
    sl_seconds: float
    sl_target: float
    short_abandon_s: float
    short_abandons_excluded: bool
    basis: str


@dataclasses.dataclass(frozen=True, slots=True)
class FcrIssue:
    """One customer issue: its first contact, whether it was resolved, and whether on first contact."""

    first: CallRecord
    resolved: bool
    first_contact: bool


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def fcr_issues(records: Iterable[CallRecord], days: float = 7.0) -> list[FcrIssue]:
    """Split contacts into issues (see the module docstring) in time order."""
    window = days * 86400.0
    by_case: dict[str, list[CallRecord]] = {}
    issues: list[FcrIssue] = []
    for r in records:
        if not r.contact:
            continue
        if r.case_id is not None:
            by_case.setdefault(r.case_id, []).append(r)
        elif r.handled:
            issues.append(FcrIssue(r, r.resolved, r.resolved))
    for contacts in by_case.values():
        contacts.sort(key=lambda c: c.at)
        episode: list[CallRecord] = []
        for c in [*contacts, None]:
            if episode and (c is None or c.at - episode[-1].at > window):
                first = episode[0]
                resolved = any(e.resolved for e in episode)
                single = len(episode) == 1 and first.resolved
                issues.append(FcrIssue(first, resolved, single))
                episode = []
            if c is not None:
                episode.append(c)
    issues.sort(key=lambda i: i.first.at)
    return issues


def issues_by_first(records: Iterable[CallRecord], days: float = 7.0) -> dict[str, FcrIssue]:
    """``fcr_issues`` keyed by the linkedid of each issue's first contact."""
    return {i.first.linkedid: i for i in fcr_issues(records, days)}


def first_contact_issues(records: Iterable[CallRecord], issue_of: Mapping[str, FcrIssue]) -> list[FcrIssue]:
    """The issues (of ``issues_by_first`` over a wider set of contacts) whose first contact is one of
    ``records``: a figure over some calls counts each issue once, where it started."""
    return [issue_of[r.linkedid] for r in records if r.contact and r.linkedid in issue_of]


def summarize(records: Sequence[CallRecord], policy: KpiPolicy = KpiPolicy(),
              agent_times: Sequence[AgentTime] = (), issues: Sequence[FcrIssue] | None = None) -> KpiSummary:
    """Every KPI of docs/kpis.md over ``records`` (and occupancy/utilization over ``agent_times``).

    ``issues`` lets a caller pass FCR issues computed over a wider set than ``records`` (so a repeat
    contact in a later interval still breaks FCR); by default they come from ``records``.
    """
    offered = [r for r in records if r.offered]
    short = [r for r in offered if r.outcome is Outcome.ABANDONED_QUEUE and r.wait_s <= policy.short_abandon_s]
    excluded = {id(r) for r in short} if policy.exclude_short_abandons else set()
    # A call the PBX cut says nothing about the caller's patience or the agents' speed.
    excluded |= {id(r) for r in offered if r.outcome is Outcome.SYSTEM_FAILURE}
    counted = [r for r in offered if id(r) not in excluded]
    answered = [r for r in offered if r.outcome is Outcome.ANSWERED]
    within = [r for r in answered if r.wait_s <= policy.sl_seconds]
    abandoned = [r for r in counted if r.outcome is Outcome.ABANDONED_QUEUE]
    handled = [r for r in records if r.handled]
    held = [r for r in handled if r.was_held]
    handle_total = sum(t.handle_s for t in agent_times)
    idle_total = sum(t.available_idle_s for t in agent_times)
    logged_total = sum(t.logged_in_s for t in agent_times)
    if issues is None:
        issues = fcr_issues(records, policy.fcr_days)
    resolved = [i for i in issues if i.resolved]
    first = [i for i in resolved if i.first_contact]
    outcomes = [r.outcome for r in records]
    scores = [r.csat for r in records if r.csat is not None]
    return KpiSummary(
        offered=len(offered),
        offered_counted=len(counted),
        answered=len(answered),
        answered_within_t=len(within),
        abandoned_queue=len(abandoned),
        short_abandons=len(short),
        abandoned_ivr=outcomes.count(Outcome.ABANDONED_IVR),
        ivr_only=sum(1 for r in records if not r.offered and not r.handled),
        voicemail=outcomes.count(Outcome.VOICEMAIL),
        callback_requested=outcomes.count(Outcome.CALLBACK_REQUESTED),
        failed=outcomes.count(Outcome.FAILED),
        system_failures=outcomes.count(Outcome.SYSTEM_FAILURE),
        handled=len(handled),
        held_calls=len(held),
        service_level=_ratio(len(within), len(counted)),
        asa_s=_ratio(sum(r.wait_s for r in answered), len(answered)),
        abandon_rate=_ratio(len(abandoned), len(counted)),
        avg_queue_time_s=_ratio(sum(r.wait_s for r in offered), len(offered)),
        aht_s=_ratio(sum(r.handle_s for r in handled), len(handled)),
        avg_hold_s=_ratio(sum(r.hold_s for r in held), len(held)),
        max_wait_s=max((r.wait_s for r in offered), default=0.0),
        occupancy=_ratio(handle_total, handle_total + idle_total),
        utilization=_ratio(handle_total, logged_total),
        fcr=_ratio(len(first), len(resolved)),
        resolved_issues=len(resolved),
        resolved_first_contact=len(first),
        csat_answers=len(scores),
        csat_avg=_ratio(sum(scores), len(scores)),
        csat_satisfied=_ratio(sum(1 for x in scores if x >= 4), len(scores)),
        sl_seconds=policy.sl_seconds, sl_target=policy.sl_target,
        short_abandon_s=policy.short_abandon_s,
        short_abandons_excluded=policy.exclude_short_abandons,
        basis=policy.describe(),
    )


def per_agent(record: CallRecord) -> list[CallRecord]:
    """``record`` as the per-agent figures count it: itself when one agent (or none) handled it, else
    one record per agent's part (``acd.agent_parts``): the queue's answer (offered, its wait) with the
    agent who answered first, the contact (disposition, FCR, CSAT) with the record's own agent."""
    if len(record.parts) < 2:
        return [record]
    ids = [p.agent_id for p in record.parts]
    contact = record.agent_id if record.agent_id in ids else ids[-1]
    out = []
    for n, part in enumerate(record.parts):
        answered, own = n == 0, part.agent_id == contact
        out.append(dataclasses.replace(
            record, agent_id=part.agent_id, talk_s=part.talk_s, hold_s=part.hold_s, acw_s=part.acw_s,
            held=part.held, parts=(), offered=record.offered and answered,
            wait_s=record.wait_s if answered else 0.0, contact=own,
            disposition=part.disposition or (record.disposition if own else None),
            resolved=record.resolved and own, case_id=record.case_id if own else None,
            csat=record.csat if own else None))
    return out


def longest_wait(waiting_since: Iterable[float], now: float) -> float:
    """Age in seconds of the oldest call now waiting (0.0 when none waits)."""
    return max((max(0.0, now - t) for t in waiting_since), default=0.0)


# -- time: intervals, rolling window, today ----------------------------------------------------

def _zone(tz: ZoneInfo | str) -> ZoneInfo:
    return tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)


def bucket_start(ts: float, interval: Interval, tz: ZoneInfo | str) -> float:
    """Start (epoch seconds) of the interval holding ``ts``, aligned on the wall clock of ``tz``.

    Days start at local midnight and weeks on Monday; on a DST change the local day is 23 or 25 h.
    """
    zone = _zone(tz)
    local = datetime.fromtimestamp(ts, zone)
    if interval in _MINUTES:
        step = _MINUTES[interval]
        # fold is kept so the repeated hour of a DST fall-back maps to its own instant.
        start = local.replace(minute=local.minute - local.minute % step, second=0, microsecond=0)
        return start.timestamp()
    if interval == "day":
        day = local.date()
    elif interval == "week":
        day = local.date() - timedelta(days=local.weekday())
    else:
        raise InvalidRequest("interval", f"must be one of {', '.join(INTERVALS)} (got {interval!r})")
    return datetime(day.year, day.month, day.day, tzinfo=zone).timestamp()


def next_bucket(start: float, interval: Interval, tz: ZoneInfo | str) -> float:
    """Start of the interval after the one starting at ``start``."""
    if interval in _MINUTES:
        return bucket_start(start + _MINUTES[interval] * 60, interval, tz)
    zone = _zone(tz)
    day = datetime.fromtimestamp(start, zone).date() + timedelta(days=1 if interval == "day" else 7)
    return datetime(day.year, day.month, day.day, tzinfo=zone).timestamp()


def in_window(records: Iterable[CallRecord], now: float, minutes: float) -> list[CallRecord]:
    """Calls that count within the last ``minutes`` minutes up to ``now``."""
    since = now - minutes * 60.0
    return [r for r in records if since < r.at <= now]


def today(records: Iterable[CallRecord], now: float, tz: ZoneInfo | str) -> list[CallRecord]:
    """Calls that count since local midnight of ``now`` in ``tz``."""
    midnight = bucket_start(now, "day", tz)
    return [r for r in records if midnight <= r.at <= now]


# -- interval reports --------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ReportRow:
    """One interval (and group) of a report."""

    start: float
    start_local: str  # ISO 8601 with the zone's offset
    interval: Interval
    group_by: GroupBy | None
    key: str  # the queue / agent / disposition / outcome; "" for ungrouped rows or when absent
    kpis: KpiSummary


def _key_of(group_by: GroupBy | None) -> Callable[[CallRecord], str]:
    if group_by is None:
        return lambda r: ""
    if group_by == "queue":
        return lambda r: r.queue or ""
    if group_by == "agent":
        return lambda r: r.agent_id or ""
    if group_by == "disposition":
        return lambda r: r.disposition or ""
    if group_by == "outcome":
        return lambda r: r.outcome.value
    raise InvalidRequest("group_by", f"must be one of {', '.join(GROUPINGS)} (got {group_by!r})")


def interval_report(records: Sequence[CallRecord], *, interval: Interval, tz: ZoneInfo | str,
                    group_by: GroupBy | None = None, policy: KpiPolicy = KpiPolicy(),
                    agent_times: Sequence[AgentTime] = (), start: float | None = None,
                    end: float | None = None, queues: Iterable[str] | None = None,
                    agents: Iterable[str] | None = None,
                    queue_policies: Mapping[str, KpiPolicy] | None = None) -> list[ReportRow]:
    """KPIs per interval (and per group), in time then key order.

    ``start``/``end`` bound the report to [start, end); ungrouped reports then list every interval
    in range, empty ones included (so charts show gaps as zeros). ``queues``/``agents`` filter.
    ``queue_policies``: each queue's own thresholds, used for a row whose calls are all of one queue
    (grouped by queue, or a report of one queue), as the wallboard's per-queue figures; ``policy``
    for every other row (totals: 80/20).
    Grouped by agent, or filtered on ``agents``, a call several agents handled (a transfer, ...)
    counts for each of them with their own part (``acd.kpis.per_agent``).
    Occupancy and utilization come from ``agent_times``: per agent when grouped by agent, for the
    whole team when ungrouped, and None for other groupings (agent time has no queue/disposition).
    FCR issues are computed over all ``records`` and counted in the interval of their first contact.
    """
    if interval not in INTERVALS:
        raise InvalidRequest("interval", f"must be one of {', '.join(INTERVALS)} (got {interval!r})")
    if start is not None and end is not None and end <= start:
        raise InvalidRequest("end", "must be after start")
    zone = _zone(tz)
    key_of = _key_of(group_by)
    queue_set = set(queues) if queues is not None else None
    agent_set = set(agents) if agents is not None else None

    def keep(at: float) -> bool:
        return (start is None or at >= start) and (end is None or at < end)

    split = group_by == "agent" or agent_set is not None
    chosen = [part for rec in records for part in per_agent(rec)] if split else records
    chosen = [r for r in chosen if keep(r.at)
              and (queue_set is None or r.queue in queue_set)
              and (agent_set is None or r.agent_id in agent_set)]
    issue_of = issues_by_first(records, policy.fcr_days)
    groups: dict[tuple[float, str], list[CallRecord]] = {}
    for r in chosen:
        groups.setdefault((bucket_start(r.at, interval, zone), key_of(r)), []).append(r)
    times: dict[tuple[float, str], list[AgentTime]] = {}
    if group_by in (None, "agent"):
        for t in agent_times:
            if keep(t.at) and (agent_set is None or t.agent in agent_set):
                times.setdefault((bucket_start(t.at, interval, zone), t.agent if group_by else ""), []).append(t)
    if group_by is None and start is not None and end is not None:
        b = bucket_start(start, interval, zone)
        while b < end:
            groups.setdefault((b, ""), [])
            b = next_bucket(b, interval, zone)
    policies = queue_policies or {}
    only = next(iter(queue_set)) if queue_set is not None and len(queue_set) == 1 else None

    def policy_of(key: str) -> KpiPolicy:
        queue = key if group_by == "queue" else only
        return policies.get(queue, policy) if queue is not None else policy

    rows = []
    for key in sorted(set(groups) | set(times)):
        recs = groups.get(key, [])
        issues = first_contact_issues(recs, issue_of)
        rows.append(ReportRow(
            start=key[0], start_local=datetime.fromtimestamp(key[0], zone).isoformat(), interval=interval,
            group_by=group_by, key=key[1], kpis=summarize(recs, policy_of(key[1]), times.get(key, []), issues),
        ))
    return rows
