"""Preview callbacks as supervisors see them: the open counts on the wallboard (re-read every
``every_s``, not on every 1 s snapshot), the list of every callback (JSON or CSV) and cancelling
one, recorded in the audit log in the same transaction.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from acd.reports import Cell, to_csv
from agent_console.errors import Forbidden, TargetNotFound
from agent_console.protocol import CallbackState
from agent_console.queue_scope import EVERY_QUEUE, QueueScope
from agent_console.security import Principal
from agent_console.supervisor.audit import record
from crm_core import callbacks
from crm_core.db import Database
from crm_core.errors import NotFound
from crm_core.models import Callback, Customer, epoch

log = logging.getLogger(__name__)

StateFilter = Literal["open", "pending", "claimed", "done", "failed", "cancelled", "all"]


class SupervisorCallbackView(BaseModel):
    """A callback as a supervisor sees it. ``queue`` null: the personal callback of ``agent_id``."""

    id: int
    number: str = Field(description="E.164")
    queue: str | None = None
    agent_id: str | None = None
    customer_id: int | None = None
    customer_name: str | None = None
    case_id: int | None = None
    due_at: float = Field(description="Epoch seconds.")
    overdue: bool = Field(description="Pending and due more than 15 minutes ago.")
    state: CallbackState
    attempts: int
    max_attempts: int
    claimed_by: str | None = None
    claimed_at: float | None = None
    called_at: float | None = Field(None, description="When the claimer's call was placed (until its wrap-up).")
    last_call_id: str | None = None
    note: str = ""
    created_at: float
    updated_at: float


CSV_COLUMNS: tuple[str, ...] = tuple(SupervisorCallbackView.model_fields)


def callback_view(cb: Callback, customer_name: str | None, now: datetime,
                  overdue_after: timedelta = callbacks.OVERDUE_AFTER) -> SupervisorCallbackView:
    return SupervisorCallbackView(
        id=cb.id, number=cb.number, queue=cb.queue, agent_id=cb.agent_id, customer_id=cb.customer_id,
        customer_name=customer_name, case_id=cb.case_id, due_at=cb.due_at.timestamp(),
        overdue=cb.state == "pending" and cb.due_at <= now - overdue_after, state=cb.state,
        attempts=cb.attempts, max_attempts=cb.max_attempts, claimed_by=cb.claimed_by,
        claimed_at=epoch(cb.claimed_at), called_at=epoch(cb.called_at), last_call_id=cb.last_linkedid,
        note=cb.note, created_at=cb.created_at.timestamp(), updated_at=cb.updated_at.timestamp())


def _iso(epoch: float | None, zone: ZoneInfo) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, zone).isoformat()


def callbacks_csv(views: Sequence[SupervisorCallbackView], tz: str = "UTC") -> str:
    """One row per callback; times in ISO 8601 in the centre's zone ``tz``, with its offset (as the
    reports' CSV and the pages); cells that look like formulas (a ``+`` number too) are quoted with
    ``'`` (``acd.reports.to_csv``)."""
    zone = ZoneInfo(tz)
    table: list[list[Cell]] = []
    for v in views:
        row = v.model_dump()
        for k in ("due_at", "claimed_at", "called_at", "created_at", "updated_at"):
            row[k] = _iso(row[k], zone)
        table.append([row[c] for c in CSV_COLUMNS])
    return to_csv(CSV_COLUMNS, table)


class SupervisorCallbacks:
    """The supervisors' side of the callbacks. Like the agents' list, every read first ends the claims
    that ran out (``crm_core.callbacks.expire_claims`` under ``policy``), so neither the wallboard's
    counts nor the list show a claim nobody is working."""

    def __init__(self, db: Database, *, every_s: float = 10.0,
                 overdue_after: timedelta = callbacks.OVERDUE_AFTER, policy: callbacks.Policy | None = None,
                 clock: Callable[[], float] = time.time, on_change: Callable[[], Any] = lambda: None) -> None:
        self.db, self.every_s, self.overdue_after, self.clock = db, every_s, overdue_after, clock
        self.policy = policy or callbacks.Policy()
        self._on_change = on_change  # the wallboard reads again at its next snapshot
        self.counts: dict[str, dict[str, int]] = {}
        self._counts_at = float("-inf")

    async def refresh_counts(self, now: float) -> dict[str, dict[str, int]]:
        """The open counts per queue, re-read when ``every_s`` passed since the last read."""
        if now - self._counts_at >= self.every_s:
            try:
                async with self.db.session() as s:
                    await self._expire(s, datetime.fromtimestamp(now, UTC))
                    self.counts = await callbacks.open_counts(session=s, now=datetime.fromtimestamp(now, UTC),
                                                              overdue_after=self.overdue_after)
                self._counts_at = now
            except Exception:  # the database may be away: the board keeps the last counts
                log.exception("wallboard: could not count open callbacks")
        return self.counts

    async def _expire(self, s: AsyncSession, now: datetime) -> None:
        if await callbacks.expire_claims(session=s, now=now, claim_timeout=self.policy.claim_timeout,
                                         call_timeout=self.policy.call_timeout):
            self.invalidate()  # the wallboard's counts are stale (when counting, they are read next)
            self._on_change()

    def invalidate(self) -> None:
        """Count again at the next snapshot (after a callback changed here)."""
        self._counts_at = float("-inf")

    async def list(self, *, state: StateFilter = "open", queue: str | None = None, limit: int = 200,
                   queues: Sequence[str] | None = None) -> list[SupervisorCallbackView]:
        """``queues``: only callbacks of those (a supervisor's; None: every callback, personal ones too)."""
        states = (None if state == "all" else callbacks.OPEN_STATES if state == "open" else (state,))
        now = datetime.fromtimestamp(self.clock(), UTC)
        async with self.db.session() as s:
            await self._expire(s, now)
            rows = await callbacks.find_callbacks(session=s, states=states, queue=queue or None, limit=limit,
                                                  queues=queues)
            return [callback_view(cb, name, now, self.overdue_after) for cb, name in rows]

    async def cancel(self, who: Principal, callback_id: int, reason: str,
                     scope: QueueScope = EVERY_QUEUE) -> SupervisorCallbackView:
        """Cancel it and write the audit row ``callback.cancel`` in one transaction; Forbidden for a
        callback of a queue ``scope`` does not oversee."""
        now = datetime.fromtimestamp(self.clock(), UTC)
        async with self.db.session() as s:
            try:
                before = await callbacks.get_callback(session=s, callback_id=callback_id)
            except NotFound:
                raise TargetNotFound(f"no callback {callback_id}") from None
            if not scope.sees(before.queue):
                raise Forbidden(f"callback {callback_id} is of queue {before.queue or '(none: personal)'}, not one "
                                f"of your queues (you oversee {scope.describe()})")
            state, claimed_by = before.state, before.claimed_by
            cb = await callbacks.cancel(session=s, callback_id=callback_id, actor=who.username, now=now)
            await record(s, actor=who.username, actor_role=who.role, action="callback.cancel",
                         target=f"callback:{cb.id}", at=now.timestamp(),
                         detail={"reason": reason, "state": state, "claimed_by": claimed_by, "queue": cb.queue,
                                 "agent_id": cb.agent_id, "number": cb.number})
            customer = await s.get(Customer, cb.customer_id) if cb.customer_id is not None else None
            view = callback_view(cb, customer.name if customer is not None else None, now, self.overdue_after)
        self.invalidate()
        self._on_change()
        return view
