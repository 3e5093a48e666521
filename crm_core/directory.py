"""The real adapter of the IVR's ``CustomerDirectory`` port, on the CRM database.

While the database is away, number look-ups answer from a bounded cache of recently seen numbers
(the identity then says ``cached``) and everything else raises ``DirectoryUnavailable``, which the
IVR records on the call (the agent's pop shows the CRM was away). PINs are never cached: an account
+ PIN identification needs the database. A customer's saved change or creation (``CustomerChanged``,
published on the engine's bus: with ``bus: redis`` every node hears it) drops the numbers cached as
theirs and those that are theirs now (a number cached as "not a customer", or as another
customer's, must not answer so during an outage once it is theirs); when their numbers cannot be
read then, every "not a customer" goes too.

With ``fresh_s`` > 0 a number looked up less than ``fresh_s`` ago is answered from memory without
a database round trip (a caller is looked up by the IVR and again by whoever asks during the call).
Any customer or phone written through this node's ``Database`` (an ORM flush or commit touching
``Customer`` / ``CustomerPhone``) makes every such answer stale at once; a write on another node
is seen at most ``fresh_s`` later, or at once when it comes with a ``CustomerChanged`` (the API's
changes and creations do).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import bindparam, event, select

from crm_core.customers import PinPolicy, verify_account_pin
from crm_core.db import Database
from crm_core.errors import DatabaseUnavailable
from crm_core.events import CustomerChanged
from crm_core.models import Customer, CustomerPhone
from crm_core.phones import known_e164
from crm_core.recent import RecentCache
from ivr.directory import CallerIdentity
from ivr.errors import DirectoryUnavailable

log = logging.getLogger(__name__)


# One Core statement, built once (no ORM objects, no eager-loaded phones). Two rows at most: a
# number shared by several customers (a switchboard, a family phone) identifies nobody.
_BY_NUMBER = (select(Customer.id, Customer.name, Customer.tier, Customer.language, Customer.account_number)
              .join(CustomerPhone, CustomerPhone.customer_id == Customer.id)
              .where(CustomerPhone.e164 == bindparam("e164")).order_by(Customer.id).limit(2))
_NUMBERS_OF = select(CustomerPhone.e164).where(CustomerPhone.customer_id == bindparam("customer_id"))


def identity_of(customer: Customer) -> CallerIdentity:
    return CallerIdentity(customer_id=customer.id, name=customer.name, tier=customer.tier,
                          language=customer.language, account_number=customer.account_number)


class SqlCustomerDirectory:
    """Who is calling: by caller number (only when it names exactly one customer) or by account + PIN."""

    def __init__(self, db: Database, *, recent: RecentCache[str, CallerIdentity | None] | None = None,
                 pin_policy: PinPolicy | None = None, fresh_s: float = 0.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.db = db
        # 20,000 numbers of the last 12 hours: a day's callers of a mid-size centre, a few MB.
        self.recent: RecentCache[str, CallerIdentity | None] = recent or RecentCache(20_000, 12 * 3600.0)
        self.pin_policy = pin_policy or PinPolicy()
        self.fresh_s, self.clock = fresh_s, clock
        self.generation = 0  # bumped by every customer/phone write through ``db``
        self._fresh: dict[str, tuple[float, int, CallerIdentity | None]] = {}
        if fresh_s > 0:
            event.listen(db.session_class, "after_flush", self._after_flush)
            event.listen(db.session_class, "after_commit", self._after_commit)

    def _after_flush(self, session: Any, _context: Any) -> None:
        if any(isinstance(o, (Customer, CustomerPhone)) for o in (*session.new, *session.dirty, *session.deleted)):
            session.info["customers_written"] = True
            self._forget()

    def _after_commit(self, session: Any) -> None:
        # Again at commit: a look-up that read the old rows between the flush and the commit must
        # not stand (it noted the generation before it read).
        if session.info.pop("customers_written", False):
            self._forget()

    def _forget(self) -> None:
        self.generation += 1
        self._fresh.clear()

    async def customer_changed(self, ev: CustomerChanged) -> None:
        """A customer's saved change or creation (on any node, through the bus): the numbers
        remembered for the outage as theirs, and those that are theirs now, are forgotten (read
        again at their next look-up), so a number they gave up never identifies them and one they
        were given never says "not a customer" while the CRM is away. Their numbers unreadable: every
        "not a customer" is forgotten too."""
        self._forget()
        numbers: set[str] | None
        try:
            rows = await self.db.run_read(lambda conn: conn.execute(_NUMBERS_OF, {"customer_id": ev.customer_id}).all())
            numbers = {str(r[0]) for r in rows}
        except DatabaseUnavailable:
            numbers = None
            log.warning("customer %d changed: the CRM is unavailable, every number cached as no customer's is "
                        "forgotten", ev.customer_id)
        for key, identity in self.recent.items():
            if identity is not None and identity.customer_id == ev.customer_id:
                self.recent.drop(key)
            elif numbers is None and identity is None:
                self.recent.drop(key)
            elif numbers and known_e164(key) in numbers:
                self.recent.drop(key)

    async def lookup_by_number(self, e164_or_raw: str) -> CallerIdentity | None:
        e164 = known_e164(e164_or_raw)
        if not e164:
            return None
        now = self.clock()
        hit = self._fresh.get(e164)
        if hit is not None and now - hit[0] < self.fresh_s and hit[1] == self.generation:
            return hit[2]
        generation = self.generation
        try:
            rows = await self.db.run_read(lambda conn: conn.execute(_BY_NUMBER, {"e164": e164}).all())
            identity = (CallerIdentity(customer_id=rows[0][0], name=rows[0][1], tier=rows[0][2],
                                       language=rows[0][3], account_number=rows[0][4]) if len(rows) == 1 else None)
        except DatabaseUnavailable as err:
            seen, cached = self.recent.get(e164_or_raw)
            if not seen:
                raise DirectoryUnavailable(f"the CRM is unavailable ({err.message})") from err
            log.info("ivr: CRM unavailable; caller number answered from the recent-customers cache")
            return dataclasses.replace(cached, cached=True) if cached is not None else None
        self.recent.put(e164_or_raw, identity)
        if self.fresh_s > 0 and generation == self.generation:
            if len(self._fresh) >= self.recent.size:
                self._fresh.clear()  # bounded; it refills within ``fresh_s``
            self._fresh[e164] = (now, generation, identity)
        return identity

    async def verify_account(self, account_number: str, pin: str) -> CallerIdentity | None:
        try:
            async with self.db.session() as session:
                customer = await verify_account_pin(session=session, account_number=account_number, pin=pin,
                                                    policy=self.pin_policy)
                return identity_of(customer) if customer else None
        except DatabaseUnavailable as err:
            raise DirectoryUnavailable(f"the CRM is unavailable ({err.message})") from err
