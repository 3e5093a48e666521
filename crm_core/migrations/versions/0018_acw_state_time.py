"""after-call work of stored calls: the agents' recorded wrap-up state time (docs/kpis.md)

Calls logged before the ACD published the end of each call's wrap-up (``agent.wrapup_ended``)
counted after-call work up to the wrap-up form: none when no form came, and past the wrap-up state
when the form came after it. Where the agent state history (``agent_state_log``) recorded the
agent's wrap-up for the call (a ``wrap_up`` row within a few seconds of the segment's start), its
end (the agent's next state) caps the segment, or ends it when no form came; the interaction's
``acw_s`` is summed again, and the end is added to the call's stored events as an
``agent.wrapup_ended`` with reason ``state_log``, so that the call logger folding the call again (a
late event) keeps it. Calls without such a row (no agent history then, outbound calls) are left
as they are. The downgrade keeps the corrected figures.

Revision ID: 0018_acw_state_time
Revises: 0017_agent_phone_reachable
Create Date: 2026-12-05 18:00:00
"""

from __future__ import annotations

import bisect
import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from crm_core.models import UtcDateTime

revision = "0018_acw_state_time"
down_revision = "0017_agent_phone_reachable"
branch_labels = None
depends_on = None

# The ACD enters wrap-up when it learns of the hang-up (or the transfer), milliseconds after the
# call log's end of the agent's talk; an earlier or much later wrap_up row is another call's.
_BEFORE_S = 1.0
_AFTER_S = 5.0

_SEG = sa.table("interaction_segments", sa.column("id", sa.Integer), sa.column("interaction_id", sa.Integer),
                sa.column("kind", sa.String), sa.column("agent_id", sa.String),
                sa.column("started_at", UtcDateTime(timezone=True)), sa.column("ended_at", UtcDateTime(timezone=True)),
                sa.column("duration_s", sa.Float), sa.column("detail", sa.JSON))
_STATES = sa.table("agent_state_log", sa.column("agent_id", sa.String), sa.column("state", sa.String),
                   sa.column("at", sa.Float))
_CALLS = sa.table("interactions", sa.column("id", sa.Integer), sa.column("linkedid", sa.String),
                  sa.column("acw_s", sa.Float), sa.column("events", sa.Text))


def _epoch(value: datetime) -> float:
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def _state_end(history: list[tuple[float, str]], times: list[float], started: float) -> float | None:
    """When the agent left the wrap-up that started with the segment, if the history recorded it."""
    i = bisect.bisect_left(times, started - _BEFORE_S)
    while i < len(history) and history[i][0] <= started + _AFTER_S and history[i][1] != "wrap_up":
        i += 1
    if i == len(history) or history[i][0] > started + _AFTER_S:
        return None
    for at, state in history[i + 1:]:
        if state != "wrap_up":  # a wrap_up row again: the phone's reachability changed meanwhile
            return at
    return None  # still in wrap-up when the history ends


def _key(event: dict[str, Any]) -> str:
    return json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def upgrade() -> None:
    conn = op.get_bind()
    agents = conn.execute(sa.select(_SEG.c.agent_id).distinct().where(
        _SEG.c.kind == "wrapup", _SEG.c.agent_id.is_not(None))).scalars().all()
    ends: dict[int, list[dict[str, Any]]] = {}  # interaction id -> the wrap-up ends to add to its events
    for agent in agents:
        history = [(float(at), str(state)) for at, state in conn.execute(
            sa.select(_STATES.c.at, _STATES.c.state).where(_STATES.c.agent_id == agent)
            .order_by(_STATES.c.at))]
        if not history:
            continue
        times = [at for at, _ in history]
        for seg in conn.execute(sa.select(_SEG).where(_SEG.c.kind == "wrapup", _SEG.c.agent_id == agent)).all():
            started = _epoch(seg.started_at)
            end = _state_end(history, times, started)
            if end is None or (seg.ended_at is not None and _epoch(seg.ended_at) <= end):
                continue
            end = max(end, started)
            conn.execute(sa.update(_SEG).where(_SEG.c.id == seg.id).values(
                ended_at=datetime.fromtimestamp(end, UTC), duration_s=round(end - started, 3),
                detail={**(seg.detail or {}), "ended_by": "state_log"}))
            ends.setdefault(seg.interaction_id, []).append(
                {"type": "agent.wrapup_ended", "data": {"agent_id": agent, "reason": "state_log", "ts": end}})
    for interaction_id, added in ends.items():
        call = conn.execute(sa.select(_CALLS.c.linkedid, _CALLS.c.events).where(_CALLS.c.id == interaction_id)).one()
        events = {_key(e): e for e in json.loads(call.events or "[]")}
        for e in added:
            e["data"]["linkedid"] = call.linkedid
            events[_key(e)] = e
        acw = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(_SEG.c.duration_s), 0.0)).where(
            _SEG.c.interaction_id == interaction_id, _SEG.c.kind == "wrapup")).scalar_one()
        conn.execute(sa.update(_CALLS).where(_CALLS.c.id == interaction_id).values(
            acw_s=round(float(acw), 3), events="[" + ",".join(sorted(events)) + "]"))


def downgrade() -> None:
    pass  # the corrected after-call work stays: the figures it replaced were wrong
