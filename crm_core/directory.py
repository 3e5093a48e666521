"""The real adapter of the IVR's ``CustomerDirectory`` port, on the CRM database."""

from __future__ import annotations

from crm_core.customers import customers_by_number, verify_account_pin
from crm_core.db import Database
from crm_core.models import Customer
from ivr.directory import CallerIdentity


def identity_of(customer: Customer) -> CallerIdentity:
    return CallerIdentity(customer_id=customer.id, name=customer.name, tier=customer.tier,
                          language=customer.language, account_number=customer.account_number)


class SqlCustomerDirectory:
    """Who is calling: by caller number (only when it names exactly one customer) or by account + PIN."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def lookup_by_number(self, e164_or_raw: str) -> CallerIdentity | None:
        async with self.db.session() as session:
            found = await customers_by_number(session=session, number=e164_or_raw)
            # A number shared by several customers (a switchboard, a family phone) identifies nobody.
            return identity_of(found[0]) if len(found) == 1 else None

    async def verify_account(self, account_number: str, pin: str) -> CallerIdentity | None:
        async with self.db.session() as session:
            customer = await verify_account_pin(session=session, account_number=account_number, pin=pin)
            return identity_of(customer) if customer else None
