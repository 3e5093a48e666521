"""Database statements per call journey (issue 19: the engine's CPU per call is mostly database
work): the IVR's caller look-up and the agent's wrap-up stay within a budget of statements, and
the look-up's in-memory answers never outlive a change to the customer."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event

from acd.calls import LiveCall
from acd.delivery import AcdService
from acd.model import QueueConfig
from acd.routing import Router
from agent_console.desk import EngineDesk
from agent_console.ports import WrapUpInput
from crm_core import catalog, customers, wrapups
from crm_core.db import Database
from crm_core.directory import SqlCustomerDirectory
from crm_core.models import CustomerPhone
from crm_core.schemas import CustomerIn, CustomerPatch, DispositionIn, PhoneIn
from cti.ami.control import FakeCallControl
from cti.bus import InProcessBus

# Per inbound call after the first (the disposition catalog is fresh): the IVR's look-up 1 (a
# second look-up of the same caller within the fresh window: 0), the wrap-up 2 (one read for
# "done already?", the interaction id and a callback to settle; the audit row). It was 2 + 4.
LOOKUP_BUDGET, WRAPUP_BUDGET = 1, 2


@contextmanager
def _counting(db: Database) -> Iterator[Counter[str]]:
    seen: Counter[str] = Counter()

    def before(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen[statement.split(None, 1)[0].upper()] += 1

    for engine in db.statement_engines:  # the session's and, on SQLite, that of db.run
        event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        for engine in db.statement_engines:
            event.remove(engine, "before_cursor_execute", before)


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_one_call_journey_stays_within_its_statement_budget(db: Database, tmp_path: Path) -> None:
    async with db.session() as s:
        await catalog.create_disposition(session=s, data=DispositionIn(code="resolved", label="Resolved"))
        for n in range(3):
            await customers.create_customer(session=s, data=CustomerIn(
                name=f"Caller {n}", phones=[PhoneIn(number=f"1380013800{n}")]))
    bus = InProcessBus()
    await bus.start()
    acd = AcdService(Router([QueueConfig(name="support")]), FakeCallControl(), bus)
    desk = EngineDesk(acd, db, bus, journal=tmp_path / "wrapups.jsonl")
    await desk.journal.start()
    directory = SqlCustomerDirectory(db, fresh_s=30.0)
    try:
        for n in range(3):
            linkedid, number = f"L-{n}", f"+861380013800{n}"
            with _counting(db) as lookups:
                who = await directory.lookup_by_number(number)
                again = await directory.lookup_by_number(number)  # the pop, a callback request...
            assert who is not None and who.name == f"Caller {n}" and again == who
            acd.wrapups[("1001", linkedid)] = LiveCall(
                linkedid=linkedid, caller_channel="PJSIP/trunk-1", caller_number=number, queue="support",
                customer_id=who.customer_id, status="ended", agent_id="1001", agent_channel="PJSIP/1001-1",
                answered_at=1000.0)
            with _counting(db) as wrapup:
                result = await desk.wrap_up("1001", linkedid, WrapUpInput(disposition="resolved", notes="ok"))
            assert result["case_id"] is None and "pending" not in result
            # Counted on every engine that runs statements (never zero: each caller is new here).
            assert 1 <= sum(lookups.values()) <= LOOKUP_BUDGET, lookups
            if n:  # the first wrap-up also reads the disposition catalog
                assert 1 <= sum(wrapup.values()) <= WRAPUP_BUDGET, wrapup
        # The wrap-up is still idempotent: the same one again writes nothing.
        with _counting(db) as replay:
            async with db.session() as s:
                again_result = await wrapups.apply_wrap_up(s, {"agent_id": "1001", "linkedid": "L-1"},
                                                           policy=desk.callback_policy)
        assert again_result["interaction_id"] is None and replay == Counter({"SELECT": 1})
    finally:
        await desk.journal.stop()
        await bus.stop()


async def test_fresh_caller_answers_end_with_any_change_to_the_customer(db: Database) -> None:
    async with db.session() as s:
        c = await customers.create_customer(session=s, data=CustomerIn(name="Li Wei", phones=[
            PhoneIn(number="13800138000")]))
        cid = c.id
    clock = _Clock()
    directory = SqlCustomerDirectory(db, fresh_s=30.0, clock=clock)
    assert (await directory.lookup_by_number("13800138000")).name == "Li Wei"  # type: ignore[union-attr]
    async with db.session() as s:  # renamed on this node: forgotten at once
        await customers.update_customer(session=s, customer_id=cid, patch=CustomerPatch(name="Li Wei Jr"))
    assert (await directory.lookup_by_number("+8613800138000")).name == "Li Wei Jr"  # type: ignore[union-attr]
    async with db.session() as s:  # the number moved away: nobody
        await customers.update_customer(session=s, customer_id=cid, patch=CustomerPatch(
            phones=[PhoneIn(number="13900139000")]))
    assert await directory.lookup_by_number("13800138000") is None
    async with db.session() as s:  # a second customer on a number (written before it was refused): nobody either
        wang = await customers.create_customer(session=s, data=CustomerIn(name="Wang"))
        s.add(CustomerPhone(customer_id=wang.id, e164="+8613900139000", shared_before=True))
    assert await directory.lookup_by_number("13900139000") is None
    # Another node (its own Database on the same store) writes: seen within the fresh window.
    other = Database(db.url)
    try:
        assert await directory.lookup_by_number("13700137000") is None
        async with other.session() as s:
            await customers.create_customer(session=s, data=CustomerIn(name="Zhao", phones=[
                PhoneIn(number="13700137000")]))
        assert await directory.lookup_by_number("13700137000") is None  # still the fresh answer
        clock.now += 31
        assert (await directory.lookup_by_number("13700137000")).name == "Zhao"  # type: ignore[union-attr]
    finally:
        await other.dispose()
