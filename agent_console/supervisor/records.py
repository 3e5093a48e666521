"""CRM interactions as KPI call records: the one place an ``Interaction`` becomes an ``acd.kpis.CallRecord``.

Mapping (docs/supervisor.md): only inbound interactions with an outcome count; a call was *offered*
when it has a queue and its outcome is answered, abandoned in queue, voicemail, callback or failed
(IVR abandons never are); it entered the queue ``ivr_s`` after it started (the CRM keeps no separate
queue-entry time); ``resolved`` is the wrap-up's resolved-on-first-contact flag.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from acd.kpis import CallRecord, Outcome
from crm_core.db import Database
from crm_core.models import Interaction

_OUTCOMES = {o.value: o for o in Outcome}
_COLUMNS = (Interaction.linkedid, Interaction.direction, Interaction.started_at, Interaction.answered_at,
            Interaction.ended_at, Interaction.outcome, Interaction.queue, Interaction.agent_id,
            Interaction.ivr_s, Interaction.wait_s, Interaction.talk_s, Interaction.hold_s, Interaction.acw_s,
            Interaction.hold_count, Interaction.disposition, Interaction.resolved_first_contact,
            Interaction.case_id)


def _ts(value: datetime | None) -> float | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def _dur(value: Any) -> float:
    v = float(value or 0.0)
    return v if math.isfinite(v) and v > 0 else 0.0


def record_of(row: Any) -> CallRecord | None:
    """The KPI record of one interaction row (an ORM ``Interaction`` or a row of its columns);
    None for calls that do not count (outbound, internal, or not finished)."""
    outcome = _OUTCOMES.get(row.outcome or "")
    if outcome is None or (row.direction or "inbound") != "inbound":
        return None
    arrived = _ts(row.started_at) or 0.0
    offered = bool(row.queue) and outcome is not Outcome.ABANDONED_IVR
    if outcome is Outcome.ABANDONED_QUEUE and not offered:
        return None  # a queue abandon without a queue is a broken row: leave it out, never crash the board
    return CallRecord(
        linkedid=row.linkedid, arrived_at=arrived, outcome=outcome, offered=offered,
        queue=row.queue if offered else (row.queue or None), agent_id=row.agent_id,
        entered_queue_at=arrived + _dur(row.ivr_s) if offered else None, answered_at=_ts(row.answered_at),
        ended_at=_ts(row.ended_at), wait_s=_dur(row.wait_s), talk_s=_dur(row.talk_s), hold_s=_dur(row.hold_s),
        acw_s=_dur(row.acw_s), held=bool(row.hold_count), disposition=row.disposition,
        resolved=bool(row.resolved_first_contact), case_id=str(row.case_id) if row.case_id is not None else None,
    )


async def load_records(db: Database, since: float, until: float | None = None) -> list[CallRecord]:
    """Finished inbound calls that started in [since, until) (``until`` None: up to now), oldest first."""
    query = select(*_COLUMNS).where(Interaction.started_at >= datetime.fromtimestamp(since, UTC),
                                    Interaction.outcome.is_not(None))
    if until is not None:
        query = query.where(Interaction.started_at < datetime.fromtimestamp(until, UTC))
    async with db.session() as s:
        rows = (await s.execute(query.order_by(Interaction.started_at))).all()
    return [r for r in (record_of(row) for row in rows) if r is not None]
