"""The IVR's customer directory on the CRM: wrong PINs lock an account's PIN identification across
calls; while the database is away, recently seen callers are still recognised (marked cached) and
the rest go on unidentified with a clear marker, never an error that ends the call."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from crm_core import customers
from crm_core.audit import AuditEntry
from crm_core.customers import PinPolicy
from crm_core.db import Database
from crm_core.directory import SqlCustomerDirectory
from crm_core.models import Customer
from crm_core.schemas import CustomerIn, PhoneIn
from ivr import stepper as s
from ivr.directory import CallerIdentity
from ivr.driver import _lookup
from ivr.errors import DirectoryUnavailable
from tests.db.crm.pg import ControlledPostgres


def _customer(name: str, number: str, **kw: object) -> CustomerIn:
    return CustomerIn(name=name, phones=[PhoneIn(number=number)], **kw)  # type: ignore[arg-type]


async def test_wrong_pins_across_calls_lock_the_account_for_a_while(db: Database) -> None:
    async with db.session() as session:
        await customers.create_customer(session=session, data=_customer("Li Wei", "13800138000",
                                                                        account_number="100001", pin="1234"))
    directory = SqlCustomerDirectory(db, pin_policy=PinPolicy(max_failures=3, lock_for=timedelta(minutes=15)))
    assert await directory.verify_account("100001", "0000") is None  # three calls, one wrong PIN each
    assert await directory.verify_account("100001", "1111") is None
    assert await directory.verify_account("100001", "2222") is None
    # Locked: even the right PIN does not identify the caller now.
    assert await directory.verify_account("100001", "1234") is None
    async with db.session() as session:
        row = await session.scalar(select(Customer).where(Customer.account_number == "100001"))
        assert row is not None and row.pin_locked_until is not None
        assert row.pin_locked_until > datetime.now(UTC) + timedelta(minutes=14)
        audit = list(await session.scalars(select(AuditEntry).where(AuditEntry.action == "customer.pin_locked")))
        assert [a.target for a in audit] == [f"customer:{row.id}"]
        assert "1234" not in str(audit[0].detail) and "2222" not in str(audit[0].detail)
        row.pin_locked_until = datetime.now(UTC) - timedelta(seconds=1)  # the lock runs out
    who = await directory.verify_account("100001", "1234")
    assert who is not None and who.name == "Li Wei"


async def test_a_right_pin_resets_the_count(db: Database) -> None:
    async with db.session() as session:
        await customers.create_customer(session=session, data=_customer("Emma", "13900139000",
                                                                        account_number="100002", pin="4321"))
    directory = SqlCustomerDirectory(db, pin_policy=PinPolicy(max_failures=2))
    assert await directory.verify_account("100002", "0000") is None
    assert await directory.verify_account("100002", "4321") is not None
    assert await directory.verify_account("100002", "0000") is None  # one failure again, not two
    assert await directory.verify_account("100002", "4321") is not None


async def test_database_outage_recent_callers_cached_others_marked() -> None:
    pg = ControlledPostgres()
    try:
        db = Database(pg.url)
        await db.upgrade()
        async with db.session() as session:
            await customers.create_customer(session=session, data=_customer("Li Wei", "13800138000",
                                                                            account_number="100001", pin="1234"))
        directory = SqlCustomerDirectory(db)
        seen = await directory.lookup_by_number("+8613800138000")
        assert seen is not None and not seen.cached
        assert await directory.lookup_by_number("+8613700000000") is None  # not a customer
        await asyncio.to_thread(pg.stop)
        try:
            again = await directory.lookup_by_number("+8613800138000")
            assert again is not None and again.cached and again.customer_id == seen.customer_id
            assert await directory.lookup_by_number("+8613700000000") is None  # known not to be one
            with pytest.raises(DirectoryUnavailable):
                await directory.lookup_by_number("+8613600000000")  # never seen: cannot say
            with pytest.raises(DirectoryUnavailable):
                await directory.verify_account("100001", "1234")  # PINs are never cached
            # What the IVR makes of it: a marker on the call, never a failed call.
            cached = await _lookup(directory, s.Lookup(kind="caller_id", value="+8613800138000"))
            assert cached.identity is not None and cached.crm == "cached"
            unknown = await _lookup(directory, s.Lookup(kind="caller_id", value="+8613600000000"))
            assert unknown.identity is None and unknown.crm == "unavailable"
        finally:
            await asyncio.to_thread(pg.start)
        back = await directory.lookup_by_number("+8613800138000")
        assert back is not None and not back.cached
        await db.dispose()
    finally:
        pg.remove()


def test_the_stepper_puts_the_crm_marker_on_the_call() -> None:
    ident = CallerIdentity(customer_id=7, name="Li Wei", cached=True)
    assert s.LookupResult(ident, crm="cached").crm == "cached"
