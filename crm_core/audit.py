"""The audit log: one append-only row per supervisor intervention, per alert step, and per change
of a customer's identity (PIN, phone numbers, tier: ``customer.identity``).

Defined on the CRM's declarative ``Base`` (migration 0002); written by ``agent_console.supervisor.audit``
and ``record`` below. Rows are never updated or deleted by the application.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.models import Base, utcnow


class AuditEntry(Base):
    __tablename__ = "supervisor_audit"
    __table_args__ = (Index("ix_supervisor_audit_target_at", "target", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64))  # username, or "system" for alerts
    actor_role: Mapped[str] = mapped_column(String(16), default="")
    action: Mapped[str] = mapped_column(String(40), index=True)  # spy.listen, agent.force_not_ready, alert.raised...
    target: Mapped[str] = mapped_column(String(128), default="")  # agent:1001, alert:<id>
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


def record(session: AsyncSession, *, actor: str, actor_role: str, action: str, target: str,
           detail: dict[str, Any] | None = None) -> AuditEntry:
    """Add one audit row to the caller's unit of work (committed, or rolled back, with the change)."""
    entry = AuditEntry(actor=actor[:64], actor_role=actor_role[:16], action=action, target=target[:128],
                       detail=dict(detail or {}))
    session.add(entry)
    return entry
