"""The ``CustomerDirectory`` port: who is calling. The CRM adapter implements it; tests use the fake."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class CallerIdentity:
    customer_id: int
    name: str
    tier: str = "standard"
    language: str | None = None
    account_number: str | None = None
    cached: bool = False  # from the directory's recent-customers cache: the CRM was away


class CustomerDirectory(Protocol):
    """Look callers up by number, or verify an account number and PIN. Raises
    ``ivr.errors.DirectoryUnavailable`` when it cannot answer (the CRM is away)."""

    async def lookup_by_number(self, e164_or_raw: str) -> CallerIdentity | None: ...

    async def verify_account(self, account_number: str, pin: str) -> CallerIdentity | None: ...


@dataclass
class InMemoryDirectory:
    """Fake directory: ``numbers`` maps caller numbers to identities, ``accounts`` maps an account
    number to (pin, identity)."""

    numbers: dict[str, CallerIdentity] = field(default_factory=dict)
    accounts: dict[str, tuple[str, CallerIdentity]] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)  # (method, key) seen; never the PIN

    async def lookup_by_number(self, e164_or_raw: str) -> CallerIdentity | None:
        self.calls.append(("lookup_by_number", e164_or_raw))
        return self.numbers.get(e164_or_raw)

    async def verify_account(self, account_number: str, pin: str) -> CallerIdentity | None:
        self.calls.append(("verify_account", account_number))
        # Account numbers match whatever their case, as the CRM's (crm_core.customers).
        entry = next((v for k, v in self.accounts.items() if k.lower() == account_number.lower()), None)
        if entry is None or not hmac.compare_digest(entry[0], pin):
            return None
        return entry[1]
