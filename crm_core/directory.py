"""The real adapter of the IVR's ``CustomerDirectory`` port, on the CRM database.

While the database is away, number look-ups answer from a bounded cache of recently seen numbers
(the identity then says ``cached``) and everything else raises ``DirectoryUnavailable``, which the
IVR records on the call (the agent's pop shows the CRM was away). PINs are never cached: an account
+ PIN identification needs the database.
"""

from __future__ import annotations

import dataclasses
import logging

from crm_core.customers import PinPolicy, customers_by_number, verify_account_pin
from crm_core.db import Database
from crm_core.errors import DatabaseUnavailable
from crm_core.models import Customer
from crm_core.recent import RecentCache
from ivr.directory import CallerIdentity
from ivr.errors import DirectoryUnavailable

log = logging.getLogger(__name__)


def identity_of(customer: Customer) -> CallerIdentity:
    return CallerIdentity(customer_id=customer.id, name=customer.name, tier=customer.tier,
                          language=customer.language, account_number=customer.account_number)


class SqlCustomerDirectory:
    """Who is calling: by caller number (only when it names exactly one customer) or by account + PIN."""

    def __init__(self, db: Database, *, recent: RecentCache[str, CallerIdentity | None] | None = None,
                 pin_policy: PinPolicy | None = None) -> None:
        self.db = db
        # 20,000 numbers of the last 12 hours: a day's callers of a mid-size centre, a few MB.
        self.recent: RecentCache[str, CallerIdentity | None] = recent or RecentCache(20_000, 12 * 3600.0)
        self.pin_policy = pin_policy or PinPolicy()

    async def lookup_by_number(self, e164_or_raw: str) -> CallerIdentity | None:
        try:
            async with self.db.session() as session:
                found = await customers_by_number(session=session, number=e164_or_raw)
                # A number shared by several customers (a switchboard, a family phone) identifies nobody.
                identity = identity_of(found[0]) if len(found) == 1 else None
        except DatabaseUnavailable as err:
            seen, cached = self.recent.get(e164_or_raw)
            if not seen:
                raise DirectoryUnavailable(f"the CRM is unavailable ({err.message})") from err
            log.info("ivr: CRM unavailable; caller number answered from the recent-customers cache")
            return dataclasses.replace(cached, cached=True) if cached is not None else None
        self.recent.put(e164_or_raw, identity)
        return identity

    async def verify_account(self, account_number: str, pin: str) -> CallerIdentity | None:
        try:
            async with self.db.session() as session:
                customer = await verify_account_pin(session=session, account_number=account_number, pin=pin,
                                                    policy=self.pin_policy)
                return identity_of(customer) if customer else None
        except DatabaseUnavailable as err:
            raise DirectoryUnavailable(f"the CRM is unavailable ({err.message})") from err
