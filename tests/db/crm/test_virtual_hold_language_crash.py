"""A virtual-hold entry saved just before a crash keeps its callback's language (SQLite and
PostgreSQL): the entry's record and its language's record are journaled in one flush (and written in
one transaction), so a crash right after the journal's flush, before the database write, leaves
both for the next start. Before, the language was journaled after the entry had been written: a
crash between the two left the entry in the journal without it, and the restarted engine called the
caller back in the PBX's default language."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from acd.virtual_hold import VirtualEntry
from crm_core.db import Database
from crm_core.journal import RowJournal
from crm_core.virtual_holds import SqlVirtualHoldStore, entry_row


class Crash(BaseException):
    """The engine's process dies here (nothing after it runs; no exception handler sees it)."""


async def test_an_entry_journaled_just_before_a_crash_keeps_its_language(
        db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    journal = tmp_path / "state" / "virtual-hold.jsonl"
    store = SqlVirtualHoldStore(db, journal=journal)

    async def crash(self: RowJournal, *args: Any, **kwargs: Any) -> bool:
        raise Crash  # after the journal's flush, before the database write

    monkeypatch.setattr(RowJournal, "_write_or_retry", crash)
    with pytest.raises(Crash):
        await store.save(VirtualEntry("zh-caller", "+8613900000001", "support", 1_002.0, language="zh"))
    monkeypatch.undo()
    await store.rows.stop()  # the process is gone: its journal is what it flushed
    kinds = [json.loads(line)["kind"] for line in journal.read_text(encoding="utf-8").splitlines()]
    assert kinds == ["entry", "language"], kinds  # was ["entry"]

    again = SqlVirtualHoldStore(db, journal=journal)  # the next start, on the same journal
    try:
        entries = await again.open_entries()
    finally:
        await again.stop()
    assert [(e.entry_id, e.language) for e in entries] == [("zh-caller", "zh")]  # was None: the default


async def test_the_language_is_journaled_once_with_the_entry_s_first_record(db: Database, tmp_path: Path) -> None:
    journal = tmp_path / "state" / "virtual-hold.jsonl"
    store = SqlVirtualHoldStore(db, journal=journal)
    entry = VirtualEntry("zh-caller", "+8613900000001", "support", 1_002.0, language="zh")
    await store.save(entry)
    await store.save(entry)  # a later save of the entry (its attempts): the language is not journaled again
    assert store.rows.written == 3
    await store.stop()
    async with db.session() as s:
        row = await entry_row("zh-caller", session=s)
    assert row is not None and row.language == "zh"
