"""The virtual-hold entries in the CRM (``VirtualHold`` rows): the ACD's ``VirtualHoldStore`` port
(``acd.virtual_hold_pbx``) on the database, so that an entry outlives an engine restart, and the record of
each callback attempt. Services take the session as a keyword argument and never commit; the
store is the unit of work (one transaction per save). Each save goes through a ``RowJournal`` in
the state directory first: a caller who pressed the key (and hung up) or a web request answered
202 while the database is away is written when it is back, after a restart too.

The journal stays readable by a release without the entry's ``language`` (migration 0026; a
downgrade with saves pending): the entry's record carries no language, since such a release builds
its ``VirtualEntry`` from the record's fields and would refuse one it has no field for; the language
is a record of its own kind (``language``), which such a release skips (an unknown kind) and this
one journals with the entry's, in the same write, and writes after it in the same transaction."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from acd.virtual_hold import OPEN_STATES, EntryState, VirtualEntry, callback_language
from crm_core.db import Database
from crm_core.journal import RowJournal
from crm_core.models import Customer, VirtualHold


async def save_entry(entry: VirtualEntry, *, session: AsyncSession) -> VirtualHold:
    """Insert or update the row of ``entry`` (by its ACD id)."""
    row = (await session.scalars(select(VirtualHold).where(VirtualHold.entry_id == entry.entry_id))).first()
    if row is None:
        customer_id = entry.customer_id
        if customer_id is not None and await session.get(Customer, customer_id) is None:
            customer_id = None  # an unknown customer is left off, the entry kept
        row = VirtualHold(entry_id=entry.entry_id, source=entry.source, number=entry.number, queue=entry.queue,
                          customer_id=customer_id, priority=entry.priority, skills=entry.skills,
                          entered_at=entry.entered_at, queue_entered_at=entry.queue_entered_at,
                          put_back_at=entry.put_back_at, moved_wait_s=entry.moved_wait_s,
                          origin_linkedid=entry.entry_id if entry.source == "queue" else None,
                          language=callback_language(entry.language))
        session.add(row)
    row.queue, row.state = entry.queue, entry.state.value
    row.attempts = [dict(a) for a in entry.attempts]
    row.connected_linkedid = entry.connected_linkedid
    await session.flush()
    return row


async def set_language(entry_id: str, language: str | None, *, session: AsyncSession) -> None:
    """The language the entry's callback speaks (a sound directory's name; anything else: none)."""
    await session.execute(update(VirtualHold).where(VirtualHold.entry_id == entry_id)
                          .values(language=callback_language(language)).execution_options(synchronize_session=False))


async def open_entries(*, session: AsyncSession) -> list[VirtualEntry]:
    rows = (await session.scalars(select(VirtualHold).where(VirtualHold.state.in_([s.value for s in OPEN_STATES]))
                                  .order_by(VirtualHold.entered_at, VirtualHold.id))).all()
    return [_entry(r) for r in rows]


async def entry_row(entry_id: str, *, session: AsyncSession) -> VirtualHold | None:
    return (await session.scalars(select(VirtualHold).where(VirtualHold.entry_id == entry_id))).first()


def _entry(row: VirtualHold) -> VirtualEntry:
    skills: dict[str, Any] | None = row.skills
    return VirtualEntry(row.entry_id, row.number, row.queue, row.entered_at, row.priority,
                        {k: int(v) for k, v in skills.items()} if skills else None, row.customer_id, row.source,
                        EntryState(row.state), list(row.attempts or []), row.connected_linkedid,
                        queue_entered_at=row.queue_entered_at, put_back_at=row.put_back_at,
                        moved_wait_s=row.moved_wait_s or 0.0,
                        language=callback_language(row.language))  # checked again: it reaches the dialplan


def _fields(entry: VirtualEntry) -> dict[str, Any]:
    # Not its language: a release whose VirtualEntry has none could not read the record back (its own
    # record, ``_language_fields``).
    fields = {**dataclasses.asdict(entry), "state": entry.state.value}
    fields.pop("language", None)
    return fields


def _language_fields(entry: VirtualEntry) -> dict[str, Any]:
    return {"entry_id": entry.entry_id, "language": entry.language}


async def _write(session: AsyncSession, key: str, fields: dict[str, Any]) -> None:
    await save_entry(VirtualEntry(**{**fields, "state": EntryState(fields["state"])}), session=session)


async def _write_language(session: AsyncSession, key: str, fields: dict[str, Any]) -> None:
    await set_language(str(fields["entry_id"]), fields.get("language"), session=session)


class SqlVirtualHoldStore:
    """``acd.virtual_hold_pbx.VirtualHoldStore`` on the CRM database, each save journaled first
    (``journal``: a file in the state directory; None keeps waiting saves in memory only)."""

    def __init__(self, db: Database, journal: Path | None = None) -> None:
        self.db = db
        self.rows = RowJournal(db, journal, {"entry": _write, "language": _write_language}, name="virtual_hold.rows")
        self._languages: dict[str, str] = {}  # entry id -> the language journaled for it (open entries)

    async def save(self, entry: VirtualEntry) -> None:
        """Journaled (flushed to disk), then written; a database away: written when it is back. The
        language once per entry (it does not change), with the entry's first record: one write and
        flush of the journal, one transaction (a crash between two would leave the entry without it)."""
        records = [("entry", entry.entry_id, _fields(entry))]
        language = None
        if entry.state not in OPEN_STATES:
            self._languages.pop(entry.entry_id, None)
        elif entry.language and self._languages.get(entry.entry_id) != entry.language:
            language = entry.language
            records.append(("language", f"{entry.entry_id}#language", _language_fields(entry)))
        await self.rows.submit_records(records, "virtual-hold entry")
        if language is not None:
            self._languages[entry.entry_id] = language

    async def open_entries(self) -> list[VirtualEntry]:
        """The open entries, once the saves an earlier run left in the journal are written."""
        await self.rows.start()
        await self.rows.drain()
        async with self.db.session() as s:
            entries = await open_entries(session=s)
        self._languages.update((e.entry_id, e.language) for e in entries if e.language)
        return entries

    async def stop(self) -> None:
        await self.rows.stop()
