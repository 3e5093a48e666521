"""A virtual-hold callback speaks the caller's language after an engine restart too (SQLite and
PostgreSQL, migration 0026_vhold_language): the language the caller was offered the key in is a
column of the entry's row, read back when a restarted engine puts the entry back, and the callback's
answered leg is given it before its question. Before, it lived in the engine's memory only and a
restarted engine's callback spoke the PBX's default language.

The store's journal (``crm_core.virtual_holds``) keeps the property that a release without the
language reads it after a downgrade: the entry's record carries no language (a release whose
``VirtualEntry`` has none could not build it), the language is a record of its own kind, which
such a release skips."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from sqlalchemy import inspect, update

from acd.calls import LiveCall
from acd.delivery import AcdService
from acd.model import QueueConfig
from acd.routing import Router
from acd.virtual_hold import VirtualEntry, VirtualHoldPolicy
from acd.virtual_hold_calls import ID_VAR
from acd.virtual_hold_pbx import VirtualHold
from crm_core.db import Database
from crm_core.journal import RowJournal
from crm_core.models import VirtualHold as VirtualHoldRow
from crm_core.revisions import alembic_config
from crm_core.virtual_holds import SqlVirtualHoldStore, _write, entry_row, open_entries, save_entry
from cti.ami.control import FakeCallControl
from cti.bus import InProcessBus
from tests.db.crm.test_virtual_holds import Clock
from tests.helpers import DatabaseAway
from tests.unit.acd.test_callback_language import Session

QUEUES = (QueueConfig("support"),)
POLICIES = {"support": VirtualHoldPolicy(confirm=True)}


def _engine(db: Database, bus: InProcessBus, clock: Clock, journal: Path | None = None
            ) -> tuple[AcdService, VirtualHold]:
    acd = AcdService(Router(QUEUES), FakeCallControl(), bus, clock=clock)
    return acd, VirtualHold(acd, POLICIES, SqlVirtualHoldStore(db, journal=journal))


async def _asked_in(vh: VirtualHold, entry_id: str) -> list[tuple[str, str]]:
    """The callback's answered leg (a trunk's Local channel, in the PBX's default language) asks its
    question: (sound, language) as played."""
    answer = Session({"channel": "Local/8613900000001@cti-external-0001;1", "language": "en"},
                     {ID_VAR: entry_id, "CTI_VH_CONFIRM": "1", "CTI_VH_PROMPT": "cti/vhold_confirm"}, keys="1")
    await vh.routes()["vhold-answer"](answer)
    return answer.played


async def _callers_press_the_key(acd: AcdService, vh: VirtualHold, clock: Clock) -> None:
    await acd.agent_login("1001", {}, ["support"])  # logged in, not ready: everyone waits
    for n, linkedid in enumerate(("zh-caller", "plain")):
        clock.now = 1_000.0 + n
        await acd.enqueue(LiveCall(linkedid, f"PJSIP/x-{n}", f"+861390000000{n + 1}", "support"))
    clock.now = 1_005.0
    assert await vh.accept("zh-caller", language="zh")
    assert await vh.accept("plain", language=None)


async def test_the_callback_s_language_comes_back_after_a_restart(db: Database, bus: InProcessBus) -> None:
    clock = Clock()
    acd, vh = _engine(db, bus, clock)
    await _callers_press_the_key(acd, vh, clock)
    async with db.session() as s:
        rows = {r: await entry_row(r, session=s) for r in ("zh-caller", "plain")}
    assert {r: row.language for r, row in rows.items() if row is not None} == {"zh-caller": "zh", "plain": None}

    clock.now = 2_000.0  # the engine restarts on the same database
    acd2, vh2 = _engine(db, bus, clock)
    await acd2.agent_login("1001", {}, ["support"])
    assert await vh2.recover() == 2
    assert {e.entry_id: e.language for e in vh2.entries.values()} == {"zh-caller": "zh", "plain": None}
    assert await _asked_in(vh2, "zh-caller") == [("cti/vhold_confirm", "zh")]
    assert await _asked_in(vh2, "plain") == [("cti/vhold_confirm", "en")]  # the PBX's default: nothing set


async def test_a_stored_language_that_is_no_sound_directory_is_not_restored(db: Database, bus: InProcessBus) -> None:
    """What reaches CHANNEL(language) is checked when it is read back too: a row edited by hand (or by
    anything but this engine) cannot put a line break or a path into the dialplan."""
    clock = Clock()
    acd, vh = _engine(db, bus, clock)
    await _callers_press_the_key(acd, vh, clock)
    async with db.session() as s:
        await s.execute(update(VirtualHoldRow).where(VirtualHoldRow.entry_id == "zh-caller")
                        .values(language="zh\r\nX"))
    async with db.session() as s:
        entries = await open_entries(session=s)
    assert [(e.entry_id, e.language) for e in entries] == [("zh-caller", None), ("plain", None)]


async def test_a_language_journaled_while_the_database_was_away_comes_back_and_an_older_release_reads_the_journal(
        db: Database, bus: InProcessBus, tmp_path: Path) -> None:
    journal = tmp_path / "state" / "virtual-hold.jsonl"
    clock = Clock()
    acd = AcdService(Router(QUEUES), FakeCallControl(), bus, clock=clock)
    down = SqlVirtualHoldStore(DatabaseAway(db), journal=journal)  # type: ignore[arg-type]
    vh = VirtualHold(acd, POLICIES, down)
    await _callers_press_the_key(acd, vh, clock)
    await down.stop()
    records = [json.loads(line) for line in journal.read_text(encoding="utf-8").splitlines()]
    entries = [r for r in records if r["kind"] == "entry"]
    assert {r["key"] for r in entries} == {"zh-caller", "plain"}
    assert not [r for r in entries if "language" in r["fields"]]  # what a release before 0026 builds an entry of
    assert [(r["kind"], r["fields"]) for r in records if r["kind"] != "entry"] == [
        ("language", {"entry_id": "zh-caller", "language": "zh"})]

    # A release without the language (downgraded with saves pending) reads a copy of the journal: its
    # only writer is the entry's; the language's record is skipped, the entries are written.
    older = tmp_path / "older" / "virtual-hold.jsonl"
    older.parent.mkdir()
    shutil.copy(journal, older)
    old = RowJournal(db, older, {"entry": _write}, name="virtual_hold.rows")
    await old.drain()
    await old.stop()
    async with db.session() as s:
        assert [(e.entry_id, e.language) for e in await open_entries(session=s)] == [
            ("zh-caller", None), ("plain", None)]

    clock.now = 2_000.0  # this release restarts on the journal: the language reaches the row
    acd2, vh2 = _engine(db, bus, clock, journal)
    await acd2.agent_login("1001", {}, ["support"])
    assert await vh2.recover() == 2
    assert vh2.entries["zh-caller"].language == "zh"
    assert await _asked_in(vh2, "zh-caller") == [("cti/vhold_confirm", "zh")]
    assert isinstance(vh2.store, SqlVirtualHoldStore)
    await vh2.store.stop()


async def _columns(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        return {c["name"] for c in await conn.run_sync(lambda c: inspect(c).get_columns("virtual_holds"))}


async def test_the_migration_adds_the_language_and_its_downgrade_drops_it_keeping_the_entries(
        db: Database) -> None:
    from alembic import command

    async with db.session() as s:
        await save_entry(VirtualEntry("zh-caller", "+8613900000001", "support", 1_002.0, language="zh"), session=s)
    assert "language" in await _columns(db)
    async with db.engine.begin() as conn:
        await conn.run_sync(lambda c: command.downgrade(alembic_config(c), "0025_customer_linked"))
    assert "language" not in await _columns(db)
    await db.upgrade()
    async with db.session() as s:  # the entry is kept; its language is unknown again: the PBX's default
        entries = await open_entries(session=s)
    assert [(e.entry_id, e.entered_at, e.language) for e in entries] == [("zh-caller", 1_002.0, None)]
