"""Agent state history: one append-only row per state change, so occupancy and utilization can be
reported for any past interval and survive a restart (written by the supervisor package from
``agent.state_changed``; migration 0003)."""

from __future__ import annotations

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


async def states_between(*, session: AsyncSession, since: float, until: float) -> list[AgentStateRow]:
    """Every change in [since, until), oldest first."""
    stmt = (select(AgentStateRow).where(AgentStateRow.at >= since, AgentStateRow.at < until)
            .order_by(AgentStateRow.at, AgentStateRow.id))
    return list((await session.scalars(stmt)).all())
