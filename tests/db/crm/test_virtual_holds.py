"""Virtual-hold entries outlive an engine restart (SQLite and PostgreSQL): the entries a first engine
saved -- a caller who pressed the key, a web request, one whose callback was missed once -- are put
back by a second engine at their original places, ahead of callers who came later, and a failed or
connected entry is not."""

from __future__ import annotations

from pathlib import Path

from acd.calls import LiveCall
from acd.delivery import AcdService
from acd.model import QueueConfig
from acd.routing import Router
from acd.virtual_hold import EntryState, VirtualEntry, VirtualHoldPolicy
from acd.virtual_hold_pbx import VirtualHold
from crm_core.db import Database
from crm_core.virtual_holds import SqlVirtualHoldStore, entry_row
from cti.ami.control import FakeCallControl
from cti.bus import InProcessBus
from tests.helpers import DatabaseAway

QUEUES = (QueueConfig("support"),)
POLICIES = {"support": VirtualHoldPolicy()}


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def _engine(db: Database, bus: InProcessBus, clock: Clock) -> tuple[AcdService, VirtualHold]:
    acd = AcdService(Router(QUEUES), FakeCallControl(), bus, clock=clock)
    return acd, VirtualHold(acd, POLICIES, SqlVirtualHoldStore(db))


async def test_entries_come_back_at_their_place_after_a_restart(db: Database, bus: InProcessBus) -> None:
    clock = Clock()
    acd, vh = _engine(db, bus, clock)
    await acd.agent_login("1001", {}, ["support"])  # logged in, not ready: everyone waits
    for n, (linkedid, number) in enumerate((("ahead", "+8613900000001"), ("pressed", "+8613900000002"))):
        clock.now = 1_000.0 + n
        await acd.enqueue(LiveCall(linkedid, f"PJSIP/x-{n}", number, "support"))
    clock.now = 1_005.0
    assert await vh.accept("pressed")
    clock.now = 1_006.0
    web = await vh.request("013900000003", "support")  # a national number, stored in E.164
    assert web.number == "+8613900000003"
    clock.now = 1_007.0
    missed = await vh.request("+8613900000004", "support")
    vh.entries[missed.entry_id].attempts.append({"at": 1_007.5, "result": "busy", "linkedid": "cb-1",
                                                  "agent_id": "1001"})
    await vh.store.save(vh.entries[missed.entry_id])
    gone = VirtualEntry("failed-one", "+8613900000005", "support", 999.0, state=EntryState.FAILED)
    await vh.store.save(gone)
    assert acd.router.waiting("support") == ["ahead", "pressed", web.entry_id, missed.entry_id]

    # The engine restarts: the caller on the line is taken back by acd.recovery; the entries by vh.
    clock.now = 2_000.0
    acd2, vh2 = _engine(db, bus, clock)
    await acd2.agent_login("1001", {}, ["support"])
    assert await vh2.recover() == 3
    await acd2.enqueue(LiveCall("later", "PJSIP/x-9", "+8613900000009", "support"))
    await acd2.restore_waiting(LiveCall("ahead", "PJSIP/x-0", "+8613900000001", "support", queued_at=1_000.0))
    assert acd2.router.waiting("support") == ["ahead", "pressed", web.entry_id, missed.entry_id, "later"]
    assert [acd2.router.call(c).virtual for c in acd2.router.waiting("support")] == [False, True, True, True, False]
    assert vh2.entries[missed.entry_id].attempts[0]["result"] == "busy"  # its attempts count on
    async with db.session() as s:
        row = await entry_row("pressed", session=s)
        assert row is not None and (row.source, row.origin_linkedid, row.state) == ("queue", "pressed", "virtual")
        web_row = await entry_row(web.entry_id, session=s)
        assert web_row is not None and (web_row.source, web_row.origin_linkedid) == ("web", None)


async def test_entries_accepted_while_the_database_is_away_come_back_after_a_restart(
        db: Database, bus: InProcessBus, tmp_path: Path) -> None:
    """A caller pressed the key (and hung up) and a web request was answered while the database was
    away: the entries lived only in memory (the save raised, or the web request was refused), and a
    restart before the database came back lost the caller's place. They are journaled first now."""
    journal = tmp_path / "state" / "virtual-hold.jsonl"
    clock = Clock()
    acd = AcdService(Router(QUEUES), FakeCallControl(), bus, clock=clock)
    down = SqlVirtualHoldStore(DatabaseAway(db), journal=journal)  # type: ignore[arg-type]
    vh = VirtualHold(acd, POLICIES, down)
    await acd.agent_login("1001", {}, ["support"])
    await acd.enqueue(LiveCall("pressed", "PJSIP/x-1", "+8613900000002", "support"))
    clock.now = 1_005.0
    assert await vh.accept("pressed")
    web = await vh.request("+8613900000003", "support")  # answered: its place is kept
    await down.stop()

    clock.now = 2_000.0  # the engine restarts; the database is back
    acd2 = AcdService(Router(QUEUES), FakeCallControl(), bus, clock=clock)
    store = SqlVirtualHoldStore(db, journal=journal)
    vh2 = VirtualHold(acd2, POLICIES, store)
    await acd2.agent_login("1001", {}, ["support"])
    assert await vh2.recover() == 2
    assert acd2.router.waiting("support") == ["pressed", web.entry_id]
    await store.stop()
    async with db.session() as s:
        row = await entry_row("pressed", session=s)
        assert row is not None and (row.number, row.state) == ("+8613900000002", "virtual")
