"""Agent state history: one append-only row per state change, so occupancy and utilization can be
reported for any past interval and survive a restart (written by the supervisor package from
``agent.state_changed``; migration 0003)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, Index, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.models import Base


class AgentStateRow(Base):
    __tablename__ = "agent_state_log"
    __table_args__ = (Index("ix_agent_state_log_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))  # logged_out, available, reserved, on_call, wrap_up, not_ready
    reason: Mapped[str | None] = mapped_column(String(40))
    at: Mapped[float] = mapped_column(Float)  # epoch seconds the agent entered the state


async def append_state(*, session: AsyncSession, agent_id: str, state: str, reason: str | None, at: float) -> None:
    session.add(AgentStateRow(agent_id=agent_id, state=state, reason=reason, at=at))


def state_key(agent_id: str, state: str, at: float) -> str:
    """The idempotency key of one state change: an agent enters one state once at one instant."""
    return f"agent_state:{agent_id}:{state}:{at!r}"


async def write_state_once(session: AsyncSession, key: str, fields: dict[str, Any]) -> None:
    """``crm_core.journal`` writer: the row unless a row of that agent, state and time exists (the
    key is made of those; no column of its own, so no migration)."""
    agent_id, state, at = str(fields["agent_id"]), str(fields["state"]), float(fields["at"])
    found = await session.scalar(select(AgentStateRow.id).where(
        AgentStateRow.agent_id == agent_id, AgentStateRow.state == state, AgentStateRow.at == at).limit(1))
    if found is None:
        await append_state(session=session, agent_id=agent_id, state=state, reason=fields.get("reason"), at=at)


async def states_between(*, session: AsyncSession, since: float, until: float) -> list[AgentStateRow]:
    """Every change in [since, until), oldest first."""
    stmt = (select(AgentStateRow).where(AgentStateRow.at >= since, AgentStateRow.at < until)
            .order_by(AgentStateRow.at, AgentStateRow.id))
    return list((await session.scalars(stmt)).all())
