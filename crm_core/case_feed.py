"""Case changes for the public feed: a follower of the cases' history table.

Every change to a case writes one history row (``case_events``, ``crm_core.cases._record``) in the
transaction that makes it, whichever way it came: the CRM API, an agent's wrap-up (journaled ones
included, made when the database is back), the seed. So the history is what this follows, not the
API: it reads the rows written since its cursor, in id order, and publishes a ``CaseChanged`` for
each; the feed maps it to ``case.changed`` (``crm_core.feed_events``).

- **Cursor.** Kept in ``feed_sources`` after each batch is published. A crash between the two
  publishes that batch again: at least once; ``event_id`` (the history row's id) tells a repeat.
  On its very first start the follower begins at the newest row: a database's past is not replayed.
  (The cursor is read at ``start()``; with the database away then, at the first poll that reaches it.)
- **Ids committed out of order.** On PostgreSQL a transaction can commit a lower id after a higher
  one was read. Ids skipped over stay "holes" that are looked for again at every poll for
  ``hole_ttl_s`` (a rolled-back id never appears and is dropped then). The holes are kept with the
  cursor, so a restart (a crash, a stop, another node taking over) still looks for them; their
  time starts again at the restart.
- **One node.** The engine starts it on the node that routes (after the routing lease), as it does
  the webhooks: with several nodes the feed gets each change once.
- **Private.** A note's text, an escalation's reason and the case's subject and description are free
  text about a customer: they stay in the CRM (``GET /api/crm/cases/{id}`` has them).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import JSON, BigInteger, Connection, String, func, insert, select, update
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.db import Database
from crm_core.events import CaseChanged
from crm_core.models import Base, Case, CaseEvent
from cti.errors import CtiError
from cti.events import Event
from cti.tasks import cancel_and_wait

log = logging.getLogger(__name__)
_MAX_HOLES = 1000


class FeedSource(Base):
    """Where a follower of a table for the feed has got to (one row per follower)."""

    __tablename__ = "feed_sources"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    cursor: Mapped[int] = mapped_column(BigInteger, default=0)
    holes: Mapped[list[int] | None] = mapped_column(JSON, nullable=True)  # ids read past, still looked for


_STEPS = (select(CaseEvent.id, CaseEvent.case_id, CaseEvent.at, CaseEvent.actor, CaseEvent.action, CaseEvent.detail,
                 Case.customer_id).join(Case, Case.id == CaseEvent.case_id).order_by(CaseEvent.id))


def case_changed(row: Any) -> CaseChanged:
    """The bus event of one history row (id, case_id, at, actor, action, detail, customer_id); pure."""
    d: dict[str, Any] = row.detail or {}
    action = row.action
    status = d.get("new") if action == "status" else None
    return CaseChanged(
        ts=row.at.timestamp(), event_id=row.id, case_id=row.case_id, action=action, actor=row.actor,
        customer_id=row.customer_id, status=status, previous_status=d.get("old") if status else None,
        fields=tuple(d.get("fields") or ()) if action == "updated" else (),
        owner_id=d.get("new") if action == "assigned" else d.get("owner_id") if action == "created" else None,
        priority=d.get("priority") if action == "created" else None,
        escalation_level=d.get("level") if action == "escalated" else None)


def _load_cursor(conn: Connection, name: str) -> tuple[int, list[int]]:
    """The cursor and the holes kept with it."""
    row = conn.execute(select(FeedSource.cursor, FeedSource.holes).where(FeedSource.name == name)).first()
    if row is not None:
        return int(row.cursor), [int(i) for i in row.holes or ()]
    newest = int(conn.execute(select(func.max(CaseEvent.id))).scalar() or 0)
    conn.execute(insert(FeedSource).values(name=name, cursor=newest, holes=[]))
    log.info("case feed: first start; changes after history row %d go to the feed", newest)
    return newest, []


def _save_cursor(conn: Connection, name: str, cursor: int, holes: list[int]) -> None:
    """Keep the cursor and its holes; a saved cursor only moves forward (a follower behind, that of a
    node fenced by another, must not save over the one ahead)."""
    conn.execute(update(FeedSource).where(FeedSource.name == name, FeedSource.cursor <= cursor)
                 .values(cursor=cursor, holes=holes))


class CaseHistoryFollower:
    NAME = "case_events"

    def __init__(self, db: Database, publish: Callable[[Event], Awaitable[None]], *, poll_s: float = 1.0,
                 batch: int = 200, hole_ttl_s: float = 60.0, retry_max_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.db, self.publish = db, publish
        self.poll_s, self.batch, self.hole_ttl_s, self.retry_max_s = poll_s, batch, hole_ttl_s, retry_max_s
        self.clock = clock
        self.cursor: int | None = None  # read from feed_sources by start() or the first poll
        self.holes: dict[int, float] = {}  # id skipped over -> when first missed
        self._saved: tuple[int, list[int]] | None = None  # what feed_sources holds, as last read or written
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # The cursor now, not at the first poll: on a first start, every change after this is published.
        try:
            await self._load()
        except CtiError as err:  # the database away: read at the first poll that reaches it
            log.warning("case feed: %s; the cursor is read when the database is back", err)
        self._task = asyncio.create_task(self._run(), name="case-history-follower")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def poll(self) -> int:
        """One round: publish what was written since the cursor; the number published. Core
        statements on the database's threads: an idle poll, once a second, costs ~0.4 ms of CPU
        (0.04 ms a call at 10 calls/s)."""
        after = self.cursor if self.cursor is not None else await self._load()
        holes = list(self.holes)
        rows = await self.db.run_read(lambda conn: self._read(conn, after, holes))
        events = [case_changed(row) for row in rows]
        for ev in events:
            await self.publish(ev)
        self._advance([ev.event_id for ev in events])
        await self._save()
        return len(events)

    async def _load(self) -> int:
        cursor, holes = await self.db.run(lambda conn: _load_cursor(conn, self.NAME))
        now = self.clock()
        self.cursor, self.holes = cursor, dict.fromkeys(holes, now)
        self._saved = (cursor, sorted(holes))
        return cursor

    async def _save(self) -> None:
        """Keep the cursor and the holes, when either changed (an idle poll writes nothing)."""
        assert self.cursor is not None
        state = (self.cursor, sorted(self.holes))
        if state != self._saved:
            await self.db.run(lambda conn: _save_cursor(conn, self.NAME, *state))
            self._saved = state

    def _read(self, conn: Connection, after: int, holes: list[int]) -> list[Any]:
        rows = list(conn.execute(_STEPS.where(CaseEvent.id > after).limit(self.batch)).all())
        if holes:  # committed late, below the cursor (PostgreSQL), or never (rolled back)
            rows = sorted(list(conn.execute(_STEPS.where(CaseEvent.id.in_(holes))).all()) + rows, key=lambda r: r.id)
        return rows

    def _advance(self, ids: list[int]) -> None:
        now = self.clock()
        for i in ids:
            self.holes.pop(i, None)
        cursor = self.cursor or 0
        for i in sorted(i for i in ids if i > cursor):
            if i - cursor <= _MAX_HOLES:  # a wider jump is no transaction in flight (a sequence reset)
                for missing in range(cursor + 1, i):
                    self.holes.setdefault(missing, now)
            cursor = i
        self.cursor = cursor
        self._expire_holes()

    def _expire_holes(self) -> None:
        now = self.clock()
        for i in [i for i, since in self.holes.items() if now - since > self.hole_ttl_s]:
            del self.holes[i]

    async def _run(self) -> None:
        delay = self.poll_s
        while True:
            try:
                full = await self.poll() >= self.batch
                delay = self.poll_s
                if full:
                    continue  # more is waiting
            except CtiError as err:  # the database, or the bus, away (DatabaseUnavailable, BusUnavailable)
                delay = min(delay * 2, self.retry_max_s)
                log.warning("case feed: %s; trying again in %.0f s", err, delay)
            except Exception:
                delay = min(delay * 2, self.retry_max_s)
                log.exception("case feed: poll failed; trying again in %.0f s", delay)
            await asyncio.sleep(delay)
