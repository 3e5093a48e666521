"""The SIP desk phones locked until an administrator issues them a new password (migration 0021).

A desk endpoint is locked when its user is deactivated (``agent_console.desk_phones``) and stays
locked, whoever holds it later and whatever their active flag, until ``release``: the one way out
is a new password (``POST /api/admin/users/{id}/desk-password``). The old password was known to the
person deactivated, so a reactivation must not bring it back. The caller owns the transaction."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import String, delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.models import Base, utcnow


class DeskLock(Base):
    __tablename__ = "desk_locks"

    endpoint: Mapped[str] = mapped_column(String(32), primary_key=True)
    locked_at: Mapped[datetime] = mapped_column(default=utcnow)


async def locked(*, session: AsyncSession) -> set[str]:
    return set((await session.scalars(select(DeskLock.endpoint))).all())


async def add(*, session: AsyncSession, endpoints: Iterable[str]) -> list[str]:
    """Lock ``endpoints``; returns those that were not locked yet."""
    new = sorted(set(endpoints) - await locked(session=session))
    session.add_all(DeskLock(endpoint=e) for e in new)
    return new


async def release(*, session: AsyncSession, endpoint: str) -> None:
    await session.execute(delete(DeskLock).where(DeskLock.endpoint == endpoint))
