"""Customers: create, read, update and search (phone / name / e-mail / account number), PIN checks.

Who may change what is the web layer's policy; this module audits every change of a customer's
identity (PIN, phone numbers -- the caller-ID match --, tier) in the same unit of work, and refuses
(Conflict, naming it) a phone number or account number that is already another customer's, for every
caller. The check reads before it writes; two commands at once both pass it, and the database's
unique indexes (``customers.account_number``, ``ux_customer_phones_e164``) refuse the second write,
which becomes the same Conflict (each new number is written on its own so that it names its field).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, String, cast, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core import audit
from crm_core.audit import AuditEntry
from crm_core.errors import Conflict, NotFound
from crm_core.models import Customer, CustomerPhone, utcnow
from crm_core.phones import to_e164, try_e164
from crm_core.schemas import CustomerIn, CustomerPatch, PhoneIn
from crm_core.users import hash_secret_async, verify_secret_async

IDENTITY_FIELDS = ("pin", "account_number", "phones", "tier")  # audited changes (never the PIN itself)

log = logging.getLogger(__name__)

def like_pattern(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, with the LIKE wildcards in it escaped."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _phones(phones: list[PhoneIn]) -> dict[str, tuple[str, CustomerPhone]]:
    """E.164 -> (the field that first gave it, its row), in the order given."""
    seen: dict[str, tuple[str, CustomerPhone]] = {}
    for i, p in enumerate(phones):
        field = f"phones[{i}].number"
        e164 = to_e164(p.number, field=field)
        seen.setdefault(e164, (field, CustomerPhone(e164=e164, label=p.label)))
    return seen


_INDEX_NAMES = {"account_number": ("ux_customers_account_ci",)}


async def _flush(session: AsyncSession, field: str, column: str, value: str) -> None:
    """Flush; the database's unique index on ``column`` refusing it (another command gave that value
    to another customer after this one's check) is the same Conflict as the check's."""
    try:
        await session.flush()
    except IntegrityError as err:
        # SQLite names the index refusing it, PostgreSQL the constraint: the column's, or for an
        # account number in another case the case-insensitive index of migration 0022.
        if not any(name in str(err.orig) for name in (column, *_INDEX_NAMES.get(column, ()))):
            raise
        raise Conflict(field, f"{value} belongs to another customer") from None


async def _add_phones(session: AsyncSession, customer: Customer, new: list[tuple[str, CustomerPhone]]) -> None:
    """Each new number written on its own, so a refusal names its field."""
    for field, phone in new:
        customer.phones.append(phone)
        await _flush(session, field, "e164", phone.e164)


async def _check_phones(session: AsyncSession, phones: list[PhoneIn], *, kept: frozenset[str] = frozenset()) -> None:
    """Conflict naming the first number already on another customer: the IVR, the pop and the call
    log match a caller's number only when it names exactly one customer, so a second customer on it
    would make its owner's calls anonymous. ``kept``: numbers the customer has already (a number two
    customers shared before this rule, or an import wrote, stays with each of them: those rows are
    ``shared_before``, left out of the unique index, and still read here, so nobody else gets it)."""
    wanted: dict[str, int] = {}
    for i, p in enumerate(phones):
        wanted.setdefault(to_e164(p.number, field=f"phones[{i}].number"), i)
    new = [e for e in wanted if e not in kept]
    if not new:
        return
    taken = set((await session.scalars(select(CustomerPhone.e164).where(CustomerPhone.e164.in_(new)))).all())
    if taken:
        e164 = min(taken, key=wanted.__getitem__)
        raise Conflict(f"phones[{wanted[e164]}].number", f"{e164} belongs to another customer")


def _account_is(account: str) -> Any:
    """An account number matches whatever its case (``AB123`` is ``ab123``): the same ``lower`` the
    unique index ``ux_customers_account_ci`` of migration 0022 is on, so both databases use it.
    Account numbers are ASCII (the schema's pattern): SQLite's and PostgreSQL's ``lower`` agree."""
    return func.lower(Customer.account_number) == account.lower()


async def _check_account(session: AsyncSession, account: str | None, customer_id: int | None = None) -> None:
    if account is None:
        return
    stmt = select(Customer.id).where(_account_is(account))
    other = await session.scalar(stmt)
    if other is not None and other != customer_id:
        raise Conflict("account_number", f"{account!r} belongs to another customer")


async def create_customer(*, session: AsyncSession, data: CustomerIn) -> Customer:
    await _check_account(session, data.account_number)
    await _check_phones(session, data.phones)
    fields = data.model_dump(exclude={"phones", "pin"})
    customer = Customer(**fields, phones=[], pin_hash=await hash_secret_async(data.pin) if data.pin else None)
    session.add(customer)
    await _flush(session, "account_number", "account_number", repr(data.account_number))
    await _add_phones(session, customer, list(_phones(data.phones).values()))
    return customer


async def get_customer(*, session: AsyncSession, customer_id: int) -> Customer:
    customer = await session.get(Customer, customer_id)
    if customer is None:
        raise NotFound("customer", customer_id)
    return customer


async def update_customer(*, session: AsyncSession, customer_id: int, patch: CustomerPatch, actor: str = "system",
                          actor_role: str = "") -> Customer:
    """Apply ``patch``; each identity field changed gets an audit row (never the PIN itself)."""
    customer = await get_customer(session=session, customer_id=customer_id)
    changes = patch.model_dump(exclude_unset=True)
    before = {"phones": sorted(p.e164 for p in customer.phones), "tier": customer.tier,
              "pin": customer.pin_hash is not None, "account_number": customer.account_number}
    if "account_number" in changes:
        await _check_account(session, changes["account_number"], customer_id)
    added: list[tuple[str, CustomerPhone]] = []
    if "phones" in changes:
        await _check_phones(session, patch.phones or [], kept=frozenset(p.e164 for p in customer.phones))
        wanted = _phones(patch.phones or [])
        customer.phones[:] = [p for p in customer.phones if p.e164 in wanted]
        have = {p.e164 for p in customer.phones}
        for p in customer.phones:
            p.label = wanted[p.e164][1].label
        added = [row for e, row in wanted.items() if e not in have]
    if "pin" in changes:
        customer.pin_hash = await hash_secret_async(changes["pin"]) if changes["pin"] else None
    for name, value in changes.items():
        if name not in ("phones", "pin"):
            setattr(customer, name, value)
    await _flush(session, "account_number", "account_number", repr(customer.account_number))
    await _add_phones(session, customer, added)
    after = {"phones": sorted(p.e164 for p in customer.phones), "tier": customer.tier,
             "pin": customer.pin_hash is not None, "account_number": customer.account_number}
    for name in IDENTITY_FIELDS:
        if name not in changes:
            continue
        if name == "pin":
            detail: dict[str, object] = {"field": "pin", "had_pin": before["pin"], "has_pin": after["pin"]}
        elif before[name] == after[name]:
            continue
        else:
            detail = {"field": name, "before": before[name], "after": after[name]}
        audit.record(session, actor=actor, actor_role=actor_role, action="customer.identity",
                     target=f"customer:{customer_id}", detail=detail)
    await session.flush()
    return customer


_JSON_SYNTAX = '"\\[]'


def _search(stmt: Select[Any], *, q: str | None, phone: str | None, name: str | None,
            account_number: str | None, tier: str | None) -> Select[Any]:
    """Every input is a bound parameter; LIKE wildcards in it are escaped."""
    if phone:
        e164 = try_e164(phone)
        digits = "".join(ch for ch in phone if ch.isdigit())
        sub = select(CustomerPhone.customer_id)
        sub = sub.where(CustomerPhone.e164 == e164) if e164 else sub.where(
            CustomerPhone.e164.like(like_pattern(digits or phone), escape="\\"))
        stmt = stmt.where(Customer.id.in_(sub))
    if name:
        stmt = stmt.where(func.lower(Customer.name).like(like_pattern(name.lower()), escape="\\"))
    if account_number:
        stmt = stmt.where(_account_is(account_number))
    if tier:
        stmt = stmt.where(Customer.tier == tier)
    if q:
        e164 = try_e164(q)
        conds = [func.lower(Customer.name).like(like_pattern(q.lower()), escape="\\"),
                 func.lower(func.coalesce(Customer.company, "")).like(like_pattern(q.lower()), escape="\\"),
                 _account_is(q)]
        if not any(ch in q for ch in _JSON_SYNTAX):
            # The e-mails are a JSON list (["a@b.example","c@d.example"]: crm_core.db writes it compact and
            # unescaped), searched as its text on SQLite and PostgreSQL alike; a query holding the list's
            # own syntax would match that instead of an address, so it does not search e-mails.
            conds.append(func.lower(cast(Customer.emails, String)).like(like_pattern(q.lower()), escape="\\"))
        if e164:
            conds.append(Customer.id.in_(select(CustomerPhone.customer_id).where(CustomerPhone.e164 == e164)))
        stmt = stmt.where(or_(*conds))
    return stmt


async def search_customers(*, session: AsyncSession, q: str | None = None, phone: str | None = None,
                           name: str | None = None, account_number: str | None = None,
                           tier: str | None = None, offset: int = 0, limit: int = 50) -> tuple[list[Customer], int]:
    filters = {"q": q, "phone": phone, "name": name, "account_number": account_number, "tier": tier}
    total = await session.scalar(_search(select(func.count(Customer.id)), **filters)) or 0
    stmt = _search(select(Customer), **filters).order_by(Customer.name, Customer.id).offset(offset).limit(limit)
    return list((await session.scalars(stmt)).all()), total


async def customers_by_number(*, session: AsyncSession, number: str) -> list[Customer]:
    e164 = try_e164(number)
    if not e164:
        return []
    stmt = select(Customer).join(CustomerPhone).where(CustomerPhone.e164 == e164).order_by(Customer.id)
    return list((await session.scalars(stmt)).unique().all())


@dataclass(frozen=True, slots=True)
class PinPolicy:
    """``max_failures`` wrong PINs in a row (across calls) lock the account's PIN identification
    for ``lock_for``; a right PIN resets the count."""

    max_failures: int = 5
    lock_for: timedelta = timedelta(minutes=15)


async def verify_account_pin(*, session: AsyncSession, account_number: str, pin: str,
                             policy: PinPolicy = PinPolicy(), now: datetime | None = None) -> Customer | None:
    """The customer when the PIN is right and the account is not locked. The argon2 check runs in a
    thread (never on the event loop), and costs the same whether or not the account exists."""
    now = now or utcnow()
    customer = await session.scalar(select(Customer).where(_account_is(account_number)))
    ok = await verify_secret_async(customer.pin_hash if customer else None, pin)
    if customer is None:
        return None
    if customer.pin_locked_until is not None and customer.pin_locked_until > now:
        log.warning("ivr: PIN identification of account %s is locked until %s", customer.account_number,
                    customer.pin_locked_until.isoformat(timespec="seconds"))
        return None
    if ok:
        customer.pin_failures, customer.pin_locked_until = 0, None
        return customer
    customer.pin_failures = (customer.pin_failures or 0) + 1
    if customer.pin_failures >= policy.max_failures:
        customer.pin_locked_until, customer.pin_failures = now + policy.lock_for, 0
        log.warning("ivr: %d wrong PINs in a row for account %s: PIN identification locked for %s",
                    policy.max_failures, customer.account_number, policy.lock_for)
        until = customer.pin_locked_until.isoformat()
        session.add(AuditEntry(actor="ivr", actor_role="system", action="customer.pin_locked",
                               target=f"customer:{customer.id}",
                               detail={"failures": policy.max_failures, "until": until}))
    return None
