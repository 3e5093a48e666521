"""The supervisor audit log: one append-only row per intervention and per alert step.

Defined on the CRM's declarative ``Base`` (migration 0002); written by ``agent_console.supervisor.audit``.
Rows are never updated or deleted by the application.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
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
