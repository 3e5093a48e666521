"""Account numbers are one whatever their case (migration 0022), on SQLite and PostgreSQL: "ab123"
finds "AB123" by the account filter, the free-text search and the IVR's account-and-PIN check; a
second customer cannot take "ab123" beside "AB123" (409 naming account_number), by the application's
check or, two writers at once, by the database's index; the stored spelling is kept as given."""

from __future__ import annotations

import secrets

import pytest
from sqlalchemy.exc import IntegrityError

from crm_core import customers
from crm_core.db import Database
from crm_core.errors import Conflict
from crm_core.models import Customer
from crm_core.schemas import CustomerIn, CustomerPatch


async def test_look_ups_match_any_case(db: Database) -> None:
    pin = f"{secrets.randbelow(10**6):06d}"
    async with db.session() as s:
        made = await customers.create_customer(session=s, data=CustomerIn(name="Case Co", account_number="AB123x",
                                                                          pin=pin))
        await s.commit()
    async with db.session() as s:
        for given in ("ab123X", "AB123X", "aB123x"):
            found, total = await customers.search_customers(session=s, account_number=given)
            assert [c.id for c in found] == [made.id] and total == 1, given
            found, _ = await customers.search_customers(session=s, q=given)
            assert [c.id for c in found] == [made.id], given
        assert (await customers.search_customers(session=s, account_number="AB124x"))[1] == 0
        verified = await customers.verify_account_pin(session=s, account_number="ab123x", pin=pin)
        assert verified is not None and verified.id == made.id
        assert verified.account_number == "AB123x"  # kept as written


async def test_one_account_whatever_the_case(db: Database) -> None:
    async with db.session() as s:
        first = await customers.create_customer(session=s, data=CustomerIn(name="A", account_number="ERP-0042"))
        other = await customers.create_customer(session=s, data=CustomerIn(name="B"))
        await s.commit()
    async with db.session() as s:
        with pytest.raises(Conflict) as err:
            await customers.create_customer(session=s, data=CustomerIn(name="C", account_number="erp-0042"))
        assert err.value.field == "account_number"
    async with db.session() as s:
        with pytest.raises(Conflict):
            await customers.update_customer(session=s, customer_id=other.id,
                                            patch=CustomerPatch(account_number="Erp-0042"))
    async with db.session() as s:  # its own account in another case: fine, the new spelling kept
        await customers.update_customer(session=s, customer_id=first.id, patch=CustomerPatch(account_number="erp-0042"))
        await s.commit()
    async with db.session() as s:  # past the application's check (two writers at once): the index refuses
        s.add(Customer(name="D", account_number="ERP-0042"))
        with pytest.raises(IntegrityError):
            await s.flush()
        await s.rollback()


async def test_the_migration_stops_naming_accounts_spelt_two_ways_and_downgrades(db: Database) -> None:
    """Migration 0022: down to 0021 (no case-insensitive index, no tokens, no callback id), two
    spellings of one account written, the upgrade stops naming them; one renamed, it goes through."""
    from alembic import command
    from sqlalchemy import inspect, text

    from crm_core.revisions import alembic_config

    async with db.engine.begin() as conn:
        await conn.run_sync(lambda c: command.downgrade(alembic_config(c), "0021_desk_locks"))
        tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
        columns = await conn.run_sync(lambda c: [x["name"] for x in inspect(c).get_columns("interactions")])
        assert "integration_tokens" not in tables and "callback_id" not in columns
        await conn.execute(text("INSERT INTO customers (name, account_number, emails, tier, lifecycle, language, tags, "
                                "custom_fields, notes, pin_failures, created_at, updated_at) VALUES "
                                "('A', 'AB123', '[]', 'standard', 'new', 'zh-CN', '[]', '{}', '', 0, "
                                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP), ('B', 'ab123', '[]', 'standard', 'new', "
                                "'zh-CN', '[]', '{}', '', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
    with pytest.raises(RuntimeError, match=r"differ only in case.*ab123"):
        await db.upgrade()
    async with db.engine.begin() as conn:
        await conn.execute(text("UPDATE customers SET account_number = 'ab124' WHERE name = 'B'"))
    await db.upgrade()
    async with db.session() as s:
        found, _ = await customers.search_customers(session=s, account_number="AB124")
        assert [c.name for c in found] == ["B"]
