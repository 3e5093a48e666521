"""The audit log of supervisor interventions and alert steps (table ``supervisor_audit``, migration 0002).

A database table rather than a file: it is queried by agent, action and time from the console, and
it lives and is backed up with the CRM. The application only appends; the caller owns the
transaction (``record`` takes a session), except ``AuditLog.append`` which is its own unit of work.

An alert's steps are rows with target ``alert:<id>`` and the event's fields in ``detail``: enough to
rebuild, after a restart, every alert whose last step is not ``alert.cleared`` (``open_alert_steps``).

With a ``journal`` (``crm_core.journal``), ``append`` survives a database outage: the row is
journaled first and written exactly once when the database is back (its idempotency key rides in
``detail.idempotency_key``); meanwhile ``append`` answers the entry with ``id`` None and
``pending`` True.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.audit import AuditEntry
from crm_core.db import Database
from crm_core.journal import RowJournal

ALERT_STEPS = ("alert.raised", "alert.escalated", "alert.acknowledged", "alert.cleared")


def _view(e: AuditEntry) -> dict[str, Any]:
    return {"id": e.id, "at": e.at.astimezone(UTC).isoformat(), "actor": e.actor, "actor_role": e.actor_role,
            "action": e.action, "target": e.target,
            "detail": {k: v for k, v in (e.detail or {}).items() if k != "idempotency_key"}}


async def record(session: AsyncSession, *, actor: str, actor_role: str, action: str, target: str,
                 detail: dict[str, Any] | None = None, at: float | None = None) -> AuditEntry:
    entry = AuditEntry(actor=actor, actor_role=actor_role, action=action, target=target, detail=detail or {})
    if at is not None:
        entry.at = datetime.fromtimestamp(at, UTC)
    session.add(entry)
    await session.flush()
    return entry


async def write_audit_once(session: AsyncSession, key: str, fields: dict[str, Any]) -> None:
    """``crm_core.journal`` writer: the row unless one with this idempotency key exists."""
    at = float(fields["at"])
    same = await session.scalars(select(AuditEntry).where(
        AuditEntry.action == fields["action"], AuditEntry.target == fields["target"],
        AuditEntry.at == datetime.fromtimestamp(at, UTC)))
    if any((e.detail or {}).get("idempotency_key") == key for e in same):
        return
    await record(session, actor=fields["actor"], actor_role=fields["actor_role"], action=fields["action"],
                 target=fields["target"], detail={**(fields.get("detail") or {}), "idempotency_key": key}, at=at)


class AuditLog:
    def __init__(self, db: Database, *, journal: Path | None = None, rows: RowJournal | None = None) -> None:
        self.db = db
        # The supervisor shares one journal for its audit rows and its agent state history.
        self.rows = rows if rows is not None else (
            RowJournal(db, journal, {"audit": write_audit_once}, name="supervisor.audit") if journal else None)
        if self.rows is not None and "audit" not in self.rows.writers:
            self.rows.writers["audit"] = write_audit_once

    async def append(self, *, actor: str, actor_role: str, action: str, target: str,
                     detail: dict[str, Any] | None = None, at: float | None = None) -> dict[str, Any]:
        if self.rows is None:
            async with self.db.session() as s:
                entry = await record(s, actor=actor, actor_role=actor_role, action=action, target=target,
                                     detail=detail, at=at)
                return _view(entry)
        at = at if at is not None else datetime.now(UTC).timestamp()
        key = f"audit:{uuid.uuid4().hex}"
        fields = {"actor": actor, "actor_role": actor_role, "action": action, "target": target,
                  "detail": detail or {}, "at": at}
        written = await self.rows.submit("audit", key, fields)
        return {"id": None, "at": datetime.fromtimestamp(at, UTC).isoformat(), "actor": actor,
                "actor_role": actor_role, "action": action, "target": target,
                "detail": dict(detail or {}), "pending": not written}

    async def open_alert_steps(self) -> list[dict[str, Any]]:
        """Every step of the alerts whose last recorded step is not ``alert.cleared``, oldest first.

        Read once at start-up: it groups every alert row ever recorded by target.
        """
        steps = AuditEntry.action.in_(ALERT_STEPS)
        last = select(func.max(AuditEntry.id).label("id")).where(steps).group_by(AuditEntry.target).subquery()
        still_open = (select(AuditEntry.target).join(last, AuditEntry.id == last.c.id)
                      .where(AuditEntry.action != "alert.cleared"))
        q = select(AuditEntry).where(steps, AuditEntry.target.in_(still_open)).order_by(AuditEntry.id)
        async with self.db.session() as s:
            rows = (await s.scalars(q)).all()
        return [_view(e) for e in rows]

    async def last_alert_raised(self) -> str | None:
        """The target of the most recently recorded ``alert.raised``."""
        q = select(AuditEntry.target).where(AuditEntry.action == "alert.raised").order_by(AuditEntry.id.desc())
        async with self.db.session() as s:
            return await s.scalar(q.limit(1))

    async def list(self, *, target: str | None = None, action_prefix: str | None = None,
                   since: float | None = None, limit: int = 200) -> list[dict[str, Any]]:
        """Newest first."""
        q = select(AuditEntry)
        if target:
            q = q.where(AuditEntry.target == target)
        if action_prefix:
            q = q.where(AuditEntry.action.startswith(action_prefix, autoescape=True))
        if since is not None:
            q = q.where(AuditEntry.at >= datetime.fromtimestamp(since, UTC))
        async with self.db.session() as s:
            rows = (await s.scalars(q.order_by(AuditEntry.id.desc()).limit(max(1, min(limit, 1000))))).all()
        return [_view(e) for e in rows]
