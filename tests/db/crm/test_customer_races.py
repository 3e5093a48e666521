"""Two commands giving one phone number (or one account number) to two customers at the same
moment, on SQLite and PostgreSQL: each checks that the number is free before it writes, so both
checks passed and both wrote it. Here one command is held between its check and its write while
the other runs to its commit: one wins, the other is a Conflict (409) naming the field."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from crm_core import customers
from crm_core.db import Database
from crm_core.errors import Conflict
from crm_core.models import Customer, CustomerPhone
from crm_core.schemas import CustomerIn, CustomerPatch, PhoneIn


def _held_after(monkeypatch: pytest.MonkeyPatch, check: str, first: Callable[[], Awaitable[Any]]) -> None:
    """``customers.<check>`` runs ``first`` to its end after the held command's own check passed."""
    real = getattr(customers, check)
    held = {"done": False}

    async def check_then_let_the_other_in(*args: Any, **kw: Any) -> None:
        await real(*args, **kw)
        if not held["done"]:
            held["done"] = True
            await first()

    monkeypatch.setattr(customers, check, check_then_let_the_other_in)


async def _create(db: Database, name: str, **fields: Any) -> Customer:
    async with db.session() as s:
        return await customers.create_customer(session=s, data=CustomerIn(name=name, **fields))


async def _owners(db: Database, e164: str) -> list[int]:
    async with db.session() as s:
        return list((await s.scalars(select(CustomerPhone.customer_id).where(CustomerPhone.e164 == e164))).all())


async def test_two_creates_with_one_phone_number_at_once(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    other = asyncio.ensure_future(asyncio.sleep(0))

    async def first() -> None:
        nonlocal other
        other = asyncio.ensure_future(_create(db, "Wang", phones=[PhoneIn(number="13800138000")]))
        await asyncio.wait([other], timeout=2)

    _held_after(monkeypatch, "_check_phones", first)
    with pytest.raises(Conflict) as lost:
        await _create(db, "Li", phones=[PhoneIn(number="13900139000"), PhoneIn(number="138 0013 8000")])
    assert lost.value.field == "phones[1].number" and lost.value.http_status == 409, lost.value
    wang = await other
    assert await _owners(db, "+8613800138000") == [wang.id]
    async with db.session() as s:  # nothing of the loser was left behind
        assert await s.scalar(select(func.count(Customer.id)).where(Customer.name == "Li")) == 0


async def test_an_update_adding_a_number_while_a_create_takes_it(db: Database,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    li = await _create(db, "Li", phones=[PhoneIn(number="13900139000")])
    other = asyncio.ensure_future(asyncio.sleep(0))

    async def first() -> None:
        nonlocal other
        other = asyncio.ensure_future(_create(db, "Wang", phones=[PhoneIn(number="13800138000")]))
        await asyncio.wait([other], timeout=2)

    _held_after(monkeypatch, "_check_phones", first)
    with pytest.raises(Conflict) as lost:
        async with db.session() as s:
            await customers.update_customer(session=s, customer_id=li.id, patch=CustomerPatch(
                phones=[PhoneIn(number="13900139000"), PhoneIn(number="13800138000")]), actor="sup1")
    assert lost.value.field == "phones[1].number", lost.value
    wang = await other
    assert await _owners(db, "+8613800138000") == [wang.id]
    assert await _owners(db, "+8613900139000") == [li.id]


async def test_two_creates_with_one_account_number_at_once(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    other = asyncio.ensure_future(asyncio.sleep(0))

    async def first() -> None:
        nonlocal other
        other = asyncio.ensure_future(_create(db, "Wang", account_number="100001"))
        await asyncio.wait([other], timeout=2)

    _held_after(monkeypatch, "_check_account", first)
    with pytest.raises(Conflict) as lost:
        await _create(db, "Li", account_number="100001")
    assert lost.value.field == "account_number", lost.value
    wang = await other
    async with db.session() as s:
        assert list(await s.scalars(select(Customer.id).where(Customer.account_number == "100001"))) == [wang.id]


async def test_numbers_two_customers_shared_before_stay_with_both(db: Database) -> None:
    """A number two customers had before it was refused (old data): each keeps it through an edit,
    and a third customer still cannot take it."""
    li = await _create(db, "Li", phones=[PhoneIn(number="13800138000")])
    wang = await _create(db, "Wang")
    async with db.session() as s:
        await s.execute(CustomerPhone.__table__.insert().values(customer_id=wang.id, e164="+8613800138000",
                                                                label="home", shared_before=True))
    async with db.session() as s:
        await customers.update_customer(session=s, customer_id=wang.id, patch=CustomerPatch(
            phones=[PhoneIn(number="13800138000", label="mobile"), PhoneIn(number="13700137000")]))
        await customers.update_customer(session=s, customer_id=li.id, patch=CustomerPatch(name="Li Na"))
    assert sorted(await _owners(db, "+8613800138000")) == sorted([li.id, wang.id])
    with pytest.raises(Conflict) as third:
        await _create(db, "Zhao", phones=[PhoneIn(number="+8613800138000")])
    assert third.value.field == "phones[0].number"



async def test_the_migration_marks_numbers_already_shared_and_refuses_new_sharing(db: Database) -> None:
    """Data written before migration 0020 may give one number to several customers: the upgrade
    keeps it with each (marked ``shared_before``, out of the unique index), and refuses any other
    second row of a number; the downgrade drops both again."""
    from alembic import command
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    from crm_core.revisions import alembic_config

    li = await _create(db, "Li", phones=[PhoneIn(number="13800138000")])
    wang = await _create(db, "Wang", phones=[PhoneIn(number="13900139000")])
    async with db.engine.begin() as conn:
        await conn.run_sync(lambda c: command.downgrade(alembic_config(c), "0019_supervisor_queues"))
    async with db.engine.begin() as conn:
        await conn.execute(text("INSERT INTO customer_phones (customer_id, e164, label) VALUES "
                                f"({wang.id}, '+8613800138000', 'home')"))
    await db.upgrade()
    async with db.engine.begin() as conn:
        rows = (await conn.execute(text("SELECT customer_id, e164, shared_before FROM customer_phones "
                                        "ORDER BY id"))).all()
    assert [(r[0], r[1], bool(r[2])) for r in rows] == [
        (li.id, "+8613800138000", True), (wang.id, "+8613900139000", False), (wang.id, "+8613800138000", True)]
    with pytest.raises(IntegrityError):
        async with db.engine.begin() as conn:
            await conn.execute(text(f"INSERT INTO customer_phones (customer_id, e164, label) VALUES "
                                    f"({li.id}, '+8613900139000', 'work')"))
    async with db.engine.begin() as conn:
        await conn.run_sync(lambda c: command.downgrade(alembic_config(c), "0019_supervisor_queues"))
        await conn.execute(text(f"INSERT INTO customer_phones (customer_id, e164, label) VALUES "
                                f"({li.id}, '+8613900139000', 'work')"))
