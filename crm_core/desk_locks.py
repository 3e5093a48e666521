"""The SIP desk phones locked until an administrator issues them a new password (migration 0021).

A desk endpoint is locked when its user is deactivated (``agent_console.desk_phones``) and stays
locked, whoever holds it later and whatever their active flag, until ``release``: the one way out
is a new password (``POST /api/admin/users/{id}/desk-password``). The old password was known to the
person deactivated, so a reactivation must not bring it back. The caller owns the transaction."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import String, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.models import Base, utcnow


class DeskLock(Base):
    __tablename__ = "desk_locks"

    endpoint: Mapped[str] = mapped_column(String(32), primary_key=True)
    locked_at: Mapped[datetime] = mapped_column(default=utcnow)


async def locked(*, session: AsyncSession) -> set[str]:
    return set((await session.scalars(select(DeskLock.endpoint))).all())


async def add(*, session: AsyncSession, endpoints: Iterable[str]) -> None:
    """Lock ``endpoints``; one locked already stays as it is. The database's primary key decides,
    not a look-up first: two nodes (or a start's sync and an administrator's change) may add one at
    the same moment."""
    rows = [{"endpoint": e, "locked_at": utcnow()} for e in sorted(set(endpoints))]
    if not rows:
        return
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    await session.execute(insert(DeskLock).on_conflict_do_nothing(index_elements=["endpoint"]), rows)


async def release(*, session: AsyncSession, endpoint: str) -> None:
    await session.execute(delete(DeskLock).where(DeskLock.endpoint == endpoint))
