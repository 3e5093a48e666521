"""Agent state history: one append-only row per state change, so occupancy and utilization can be
reported for any past interval and survive a restart (written by the supervisor package from
``agent.state_changed`` and ``agent.phone_reachability``; migrations 0003 and 0016). Each row also
says whether the agent's phone was reachable: a change of reachability alone is a row of the
agent's unchanged state (an available agent whose phone is unreachable is not available idle)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Boolean, Float, Index, String, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.models import Base

# The reason of the ``logged_out`` row an engine's end writes for every agent it stopped counting
# (docs/kpis.md, "Agent time"): a clean stop writes it at the stop; after a crash the next engine
# writes it at the dead engine's last heartbeat or the last row it recorded, whichever is later. An
# engine that is down does not know what agents do: their time in state ends there. The next engine
# restores the state recorded before it (``last_states``; its recovery reads more of the history:
# ``callcenter.recovery_agents.last_states``).
ENGINE_DOWN = "engine_down"


class AgentStateRow(Base):
    __tablename__ = "agent_state_log"
    __table_args__ = (Index("ix_agent_state_log_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))  # logged_out, available, reserved, on_call, wrap_up, not_ready
    reason: Mapped[str | None] = mapped_column(String(40))
    at: Mapped[float] = mapped_column(Float)  # epoch seconds the agent entered the state
    # whether the agent's phone was registered from ``at`` on (rows before migration 0016: yes)
    phone_reachable: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


async def append_state(*, session: AsyncSession, agent_id: str, state: str, reason: str | None, at: float,
                       phone_reachable: bool = True) -> None:
    session.add(AgentStateRow(agent_id=agent_id, state=state, reason=reason, at=at, phone_reachable=phone_reachable))


def state_key(agent_id: str, state: str, at: float, phone_reachable: bool = True) -> str:
    """The idempotency key of one row: an agent enters one state (and phone reachability) once at
    one instant."""
    return f"agent_state:{agent_id}:{state}:{at!r}" + ("" if phone_reachable else ":phone_offline")


async def write_state_once(session: AsyncSession, key: str, fields: dict[str, Any]) -> None:
    """``crm_core.journal`` writer: the row unless a row of that agent, state, reachability and time
    exists (the key is made of those; no column of its own). Rows journaled before the phone's
    reachability was recorded have no such field: reachable."""
    agent_id, state, at = str(fields["agent_id"]), str(fields["state"]), float(fields["at"])
    reachable = bool(fields.get("phone_reachable", True))
    found = await session.scalar(select(AgentStateRow.id).where(
        AgentStateRow.agent_id == agent_id, AgentStateRow.state == state, AgentStateRow.at == at,
        AgentStateRow.phone_reachable == reachable).limit(1))
    if found is None:
        await append_state(session=session, agent_id=agent_id, state=state, reason=fields.get("reason"), at=at,
                           phone_reachable=reachable)


async def states_between(*, session: AsyncSession, since: float, until: float) -> list[AgentStateRow]:
    """Every change in [since, until), oldest first."""
    stmt = (select(AgentStateRow).where(AgentStateRow.at >= since, AgentStateRow.at < until)
            .order_by(AgentStateRow.at, AgentStateRow.id))
    return list((await session.scalars(stmt)).all())


def engine_down(state: str, reason: str | None) -> bool:
    """A row that says where an engine stopped counting, not what the agent did."""
    return state == "logged_out" and reason == ENGINE_DOWN


def last_states(rows: Iterable[AgentStateRow]) -> dict[str, tuple[str, str | None]]:
    """Each agent's last recorded state and reason, oldest rows first in ``rows``: what they were
    doing when the engine went down (its ``engine_down`` rows are passed over)."""
    last: dict[str, tuple[str, str | None]] = {}
    for r in rows:
        if not engine_down(r.state, r.reason):
            last[r.agent_id] = (r.state, r.reason)
    return last
