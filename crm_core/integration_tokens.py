"""Named integration API tokens (migration 0022): long-lived, revocable, read-only credentials for
warehouses and CRM syncs (docs/api.md, "Integration tokens"; who may do what: agent_console.policy).

Only a token's SHA-256 is kept, never the token: a token is 256 bits of randomness, so a fast hash
is as good as argon2 against a stolen database and costs nothing on every request. ``hint`` is
the token's first characters, to recognise it in the list. A revoked row stays (revoked_at, by
whom) so the list and the audit log tell its story. The caller owns the transaction.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Index, String, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.errors import NotFound
from crm_core.models import Base, epoch, utcnow

PREFIX = "cti_it_"  # every named token starts so: told apart from a session token without a look-up


class IntegrationToken(Base):
    __tablename__ = "integration_tokens"
    __table_args__ = (Index("ux_integration_tokens_hash", "token_hash", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    token_hash: Mapped[str] = mapped_column(String(64))
    hint: Mapped[str] = mapped_column(String(16))
    audio: Mapped[bool] = mapped_column(Boolean, default=False)  # may download recordings' audio
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_by: Mapped[str | None] = mapped_column(String(64), default=None)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def view(row: IntegrationToken) -> dict[str, Any]:
    """A token as the administrators' list shows it: never the token nor its hash."""
    return {"id": row.id, "name": row.name, "hint": row.hint, "audio": row.audio, "created_by": row.created_by,
            "created_at": epoch(row.created_at), "last_used_at": epoch(row.last_used_at),
            "revoked_at": epoch(row.revoked_at), "revoked_by": row.revoked_by, "active": row.revoked_at is None}


async def add(*, session: AsyncSession, name: str, token: str, audio: bool, created_by: str) -> IntegrationToken:
    row = IntegrationToken(name=name, token_hash=digest(token), hint=token[:len(PREFIX) + 4], audio=audio,
                           created_by=created_by, created_at=utcnow())
    session.add(row)
    await session.flush()
    return row


async def listed(*, session: AsyncSession) -> list[IntegrationToken]:
    return list((await session.scalars(select(IntegrationToken).order_by(IntegrationToken.id))).all())


async def get(*, session: AsyncSession, token_id: int) -> IntegrationToken:
    row = await session.get(IntegrationToken, token_id)
    if row is None:
        raise NotFound("integration token", token_id)
    return row


async def active_by_token(*, session: AsyncSession, token: str) -> IntegrationToken | None:
    """The live (not revoked) row of ``token``, found by its hash."""
    return await session.scalar(select(IntegrationToken).where(IntegrationToken.token_hash == digest(token),
                                                                IntegrationToken.revoked_at.is_(None)))


async def revoke(*, session: AsyncSession, token_id: int, by: str) -> tuple[IntegrationToken, bool]:
    """Revoke a token; (its row, whether this call revoked it: False when it was revoked already)."""
    row = await get(session=session, token_id=token_id)
    if row.revoked_at is not None:
        return row, False
    row.revoked_at, row.revoked_by = utcnow(), by[:64]
    await session.flush()
    return row, True


async def touch(*, session: AsyncSession, token_id: int, at: datetime) -> None:
    await session.execute(update(IntegrationToken).where(IntegrationToken.id == token_id).values(last_used_at=at))
