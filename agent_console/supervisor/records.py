"""CRM interactions as KPI call records: the one place an ``Interaction`` becomes an ``acd.kpis.CallRecord``.

Mapping (docs/supervisor.md): only inbound interactions with an outcome count; a call was *offered*
when it has a queue and did not end in the IVR (IVR abandons never are), except a virtual-hold
callback call (dnis ``CALLBACK_DNIS``): it carries the queue its agent answered for but never entered
a queue, the caller's first call being the offered one (docs/callbacks.md); it entered the queue
``ivr_s`` after it started (the CRM keeps no separate queue-entry time); ``resolved`` is the wrap-up's
resolved-on-first-contact flag.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, distinct, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from acd.agent_parts import AgentPart, Piece, parts_of
from acd.kpis import CallRecord, Outcome
from acd.virtual_hold import CALLBACK_DNIS
from crm_core.db import Database
from crm_core.models import Interaction, Segment

_OUTCOMES = {o.value: o for o in Outcome}
_COLUMNS = (Interaction.linkedid, Interaction.direction, Interaction.started_at, Interaction.answered_at,
            Interaction.ended_at, Interaction.outcome, Interaction.queue, Interaction.agent_id,
            Interaction.ivr_s, Interaction.wait_s, Interaction.talk_s, Interaction.hold_s, Interaction.acw_s,
            Interaction.hold_count, Interaction.disposition, Interaction.resolved_first_contact,
            Interaction.case_id, Interaction.csat, Interaction.dialled_number)


def _ts(value: datetime | None) -> float | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def _dur(value: Any) -> float:
    v = float(value or 0.0)
    return v if math.isfinite(v) and v > 0 else 0.0


def record_of(row: Any, parts: tuple[AgentPart, ...] = ()) -> CallRecord | None:
    """The KPI record of one interaction row (an ORM ``Interaction`` or a row of its columns);
    None for calls that do not count (outbound, internal, or not finished). ``parts``: its agents'
    own parts when several worked on it (``load_parts``)."""
    outcome = _OUTCOMES.get(row.outcome or "")
    if outcome is None or (row.direction or "inbound") != "inbound":
        return None
    arrived = _ts(row.started_at) or 0.0
    offered = (bool(row.queue) and outcome is not Outcome.ABANDONED_IVR
               and getattr(row, "dialled_number", None) != CALLBACK_DNIS)
    if outcome is Outcome.ABANDONED_QUEUE and not offered:
        return None  # a queue abandon without a queue is a broken row: leave it out, never crash the board
    return CallRecord(
        linkedid=row.linkedid, arrived_at=arrived, outcome=outcome, offered=offered,
        queue=row.queue if offered else (row.queue or None), agent_id=row.agent_id,
        entered_queue_at=arrived + _dur(row.ivr_s) if offered else None, answered_at=_ts(row.answered_at),
        ended_at=_ts(row.ended_at), wait_s=_dur(row.wait_s), talk_s=_dur(row.talk_s), hold_s=_dur(row.hold_s),
        acw_s=_dur(row.acw_s), held=bool(row.hold_count), disposition=row.disposition,
        resolved=bool(row.resolved_first_contact), case_id=str(row.case_id) if row.case_id is not None else None,
        csat=getattr(row, "csat", None), parts=parts,
    )


_PART_KINDS = ("talk", "consult", "hold", "wrapup")
_AGENT_KINDS = ("talk", "consult", "wrapup")  # an agent who did any worked on the call (acd.agent_parts)


async def load_parts(session: AsyncSession, *where: ColumnElement[bool]) -> dict[int, tuple[AgentPart, ...]]:
    """The agents' own parts (``acd.agent_parts``) of the interactions that match ``where``, by
    interaction id, from their talk, hold and wrap-up segments; only calls that more than one agent
    talked with, consulted on or wrapped up (a transfer, an answer again after a lost softphone, a
    consulted agent's consultation or wrap-up) get any. One read, whatever the number of calls: the database picks those
    calls out of the segments of the interactions matching ``where``."""
    among = select(Interaction.id).where(*where)
    several = (select(Segment.interaction_id)
               .where(Segment.interaction_id.in_(among), Segment.kind.in_(_AGENT_KINDS),
                      Segment.agent_id.is_not(None))
               .group_by(Segment.interaction_id)
               .having(func.count(distinct(Segment.agent_id)) > 1))
    query = select(Segment.interaction_id, Segment.kind, Segment.agent_id, Segment.started_at,
                   Segment.ended_at, Segment.duration_s, Segment.disposition).where(
        Segment.interaction_id.in_(several), Segment.kind.in_(_PART_KINDS))
    pieces: dict[int, list[Piece]] = {}
    for row in (await session.execute(query)).all():
        pieces.setdefault(row.interaction_id, []).append(Piece(
            row.kind, row.agent_id, _ts(row.started_at) or 0.0, _ts(row.ended_at), _dur(row.duration_s),
            row.disposition))
    parts = {i: parts_of(p) for i, p in pieces.items()}
    return {i: p for i, p in parts.items() if len(p) > 1}


async def load_records(db: Database, since: float, until: float | None = None) -> list[CallRecord]:
    """Finished inbound calls that started in [since, until) (``until`` None: up to now), oldest first;
    a call several agents worked on with its agents' own parts (a report by agent credits each their own)."""
    where = [Interaction.started_at >= datetime.fromtimestamp(since, UTC), Interaction.outcome.is_not(None)]
    if until is not None:
        where.append(Interaction.started_at < datetime.fromtimestamp(until, UTC))
    query = select(*_COLUMNS, Interaction.id).where(*where)
    async with db.session() as s:
        rows = (await s.execute(query.order_by(Interaction.started_at))).all()
        parts = await load_parts(s, *where)
    return [r for r in (record_of(row, parts.get(row.id, ())) for row in rows) if r is not None]


# How long before the wallboard's start (local midnight, or its rolling window's start) a call may
# have started and still count there: it counts when it entered the queue (after the IVR), so a caller
# who dialled in at 23:59 and queued at 00:01 is one of the new day's calls. Reading that far back
# (on the indexed start time) and keeping the calls that ended since finds them; an IVR stay longer
# than this is not a caller's.
STRADDLE_S = 6 * 3600.0


def _since_clause(since: float) -> Any:
    """Interactions that may count since ``since``: started since, or started up to ``STRADDLE_S``
    before and ended since (a call that entered the queue after ``since`` ended after it)."""
    start = datetime.fromtimestamp(since, UTC)
    return and_(Interaction.started_at >= datetime.fromtimestamp(since - STRADDLE_S, UTC),
                or_(Interaction.started_at >= start, Interaction.ended_at >= start))


def _may_count(record: CallRecord, since: float) -> bool:
    return record.arrived_at >= since or (record.ended_at is not None and record.ended_at >= since)


class RecordCache:
    """Today's records for the wallboard (and those that may count since ``load``'s ``since``:
    ``STRADDLE_S``), read incrementally: after one full read, each refresh
    reads only interactions updated since the last one seen (minus ``overlap_s``, for clocks and
    transactions that commit out of order); a full read every ``full_every_s`` drops rows that
    were deleted."""

    def __init__(self, db: Database, *, full_every_s: float = 300.0, overlap_s: float = 10.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.db, self.full_every_s, self.overlap_s, self.clock = db, full_every_s, overlap_s, clock
        self._by_id: dict[str, CallRecord] = {}
        self._since = math.inf
        self._mark: datetime | None = None
        self._full_at = -math.inf
        self._resets = 0  # a reset during a read: that read's mark must not stand
        self.full_reads = 0
        self.partial_reads = 0

    def reset(self) -> None:
        """Read everything again next time (rows may have been deleted), also when a read is under
        way (it began before the rows changed)."""
        self._mark = None
        self._resets += 1

    async def load(self, since: float) -> list[CallRecord]:
        now, resets = self.clock(), self._resets
        full = self._mark is None or since < self._since or now - self._full_at >= self.full_every_s
        where = [_since_clause(since)]
        if full:
            where.append(Interaction.outcome.is_not(None))
        else:
            assert self._mark is not None
            where.append(Interaction.updated_at >= self._mark - timedelta(seconds=self.overlap_s))
        query = select(*_COLUMNS, Interaction.updated_at, Interaction.id).where(*where)
        async with self.db.session() as s:
            rows = (await s.execute(query)).all()
            parts = await load_parts(s, *where)
        if full:
            self._by_id, self._full_at = {}, now
            self.full_reads += 1
        else:
            self.partial_reads += 1
        for row in rows:
            rec = record_of(row, parts.get(row.id, ()))
            if rec is None:
                self._by_id.pop(row.linkedid, None)
            else:
                self._by_id[row.linkedid] = rec
            mark = row.updated_at if row.updated_at.tzinfo else row.updated_at.replace(tzinfo=UTC)
            if self._mark is None or mark > self._mark:
                self._mark = mark
        if self._mark is None:
            self._mark = datetime.fromtimestamp(now, UTC)
        if since > self._since or full:
            self._by_id = {k: r for k, r in self._by_id.items() if _may_count(r, since)}
        self._since = since
        if self._resets != resets:
            self._mark = None
        return sorted(self._by_id.values(), key=lambda r: r.at)


class CaseContacts:
    """Contacts on a CRM case in the FCR repeat window before the wallboard's records (``days``
    before ``since`` up to now), so the live FCR sees a repeat of a case first called about before
    today, as a report does. Re-read every ``every_s`` (only calls with a case are read); the
    wallboard's own records cover what is newer, as long as ``every_s`` is shorter than the time
    between ``since`` and now (at least the rolling window)."""

    def __init__(self, db: Database, *, days: float = 7.0, every_s: float = 300.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.db, self.days, self.every_s, self.clock = db, days, every_s, clock
        self._records: list[CallRecord] = []
        self._since = math.inf
        self._read_at = -math.inf
        self.reads = 0

    def reset(self) -> None:
        self._read_at = -math.inf

    async def load(self, since: float) -> list[CallRecord]:
        now = self.clock()
        start = since - self.days * 86400.0
        if start < self._since or now - self._read_at >= self.every_s:
            query = select(*_COLUMNS).where(Interaction.started_at >= datetime.fromtimestamp(start, UTC),
                                            Interaction.case_id.is_not(None), Interaction.outcome.is_not(None))
            async with self.db.session() as s:
                rows = (await s.execute(query)).all()
            self._records = [r for r in (record_of(row) for row in rows) if r is not None]
            self._since, self._read_at = start, now
            self.reads += 1
        return [r for r in self._records if r.arrived_at >= start]


def with_case_contacts(records: list[CallRecord], earlier: list[CallRecord]) -> list[CallRecord]:
    """``records`` and the contacts of ``earlier`` they do not hold (a record read more recently
    wins), in time order."""
    known = {r.linkedid for r in records}
    return sorted([*records, *(r for r in earlier if r.linkedid not in known)], key=lambda r: r.at)
