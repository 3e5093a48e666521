"""Desk phones of deactivated users are locked: their SIP password stops working at once.

A desk phone (PJSIP endpoint ``1001``..., ``pbx.agent_endpoints`` of them) authenticates with the
password ``cti pbx up`` wrote into pjsip.conf (``cti.sip_credentials``); it is the device's, not
the console session's, so ending a user's sessions left their desk phone registering and placing
calls. Now a desk endpoint is locked while it is the phone (``extension``, else agent id) of a
deactivated user and of no active one: the lock lives in Asterisk's AstDB, read before pjsip.conf
on every REGISTER and every call from the phone, and locking also ends the phone's registration
(``cti.ami.phone_secrets.AstDbDeskLocks``). No reload: the engine's AMI user may not reload
modules. Reactivating the user unlocks the endpoint and the same password works again; an
administrator who must assume the departed user knows it rotates it (docs/security.md).

Locks outlive the engine (AstDB persists; while no engine runs app_queue still rings desk phones),
so nothing is cleared at a stop. Each engine start, and each AMI reconnection (Asterisk may have
been replaced), makes AstDB match the CRM (``sync``, one Originate per 100 endpoints): a lock that
failed to reach Asterisk is written then, one there already is left as it is. With several nodes,
AstDB is the one store every node's Asterisk reads: the node that handles the administrator's
change writes the lock, and a node taking over syncs at its start.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection, Iterable
from typing import Any, Protocol

from cti.errors import CtiError

log = logging.getLogger(__name__)

# Every user's phone extension and whether the user is active (crm_core.users.phones).
Holders = Callable[[], Awaitable[list[tuple[str, bool]]]]


class DeskLocks(Protocol):
    """Where Asterisk learns which desk phones are locked (the AMI adapter: ``cti.ami.phone_secrets``)."""

    async def lock(self, endpoint: str) -> None: ...

    async def unlock(self, endpoint: str) -> None: ...

    async def lock_only(self, endpoints: Collection[str], span: tuple[int, int]) -> None:
        """Of the endpoints numbered ``span`` (first, last), lock exactly ``endpoints``; a lock
        there already stays as it is (its password unchanged)."""


class MemoryDeskLocks:
    """In-memory fake for tests without Asterisk."""

    def __init__(self) -> None:
        self.locked: set[str] = set()

    async def lock(self, endpoint: str) -> None:
        self.locked.add(endpoint)

    async def unlock(self, endpoint: str) -> None:
        self.locked.discard(endpoint)

    async def lock_only(self, endpoints: Collection[str], span: tuple[int, int]) -> None:
        self.locked = {e for e in self.locked if not span[0] <= int(e) <= span[1]} | {
            e for e in endpoints if span[0] <= int(e) <= span[1]}


def desk_endpoints(count: int) -> frozenset[str]:
    """The desk phones ``cti pbx up`` writes: 1001, 1002, ... (``pbx.agent_endpoints``)."""
    return frozenset(str(n) for n in range(1001, 1001 + count))


def locked_endpoints(holders: Iterable[tuple[str, bool]], endpoints: frozenset[str]) -> frozenset[str]:
    """The desk endpoints held by a deactivated user and by no active one (an extension handed on to
    an active user is that user's phone now)."""
    holders = list(holders)
    active = {phone for phone, is_active in holders if is_active}
    return frozenset(phone for phone, is_active in holders
                     if not is_active and phone not in active and phone in endpoints)


class DeskPhoneLocks:
    """Keeps the desk phones' locks in Asterisk equal to what the CRM says."""

    def __init__(self, locks: DeskLocks, holders: Holders, endpoint_count: int) -> None:
        self._locks, self._holders = locks, holders
        self.endpoints = desk_endpoints(endpoint_count)
        self._span = (1001, 1000 + endpoint_count)
        # The endpoints the CRM says are locked, as last read: their refused logins are expected
        # (the phone retries), not counted as failed logins (cti.security).
        self.locked: frozenset[str] = frozenset()

    async def refresh(self, phones: Iterable[str | None]) -> None:
        """After an administrator's change to users holding ``phones`` (before and after the change):
        lock or unlock each of them as the CRM now says. A failure is logged, not raised: the change
        itself is made, and the next ``sync`` (AMI back, or the next start) writes the lock."""
        wanted = {p for p in phones if p is not None and p in self.endpoints}
        if not wanted:
            return
        try:
            locked = locked_endpoints(await self._holders(), self.endpoints)
            self.locked = locked
            for endpoint in sorted(wanted):
                if endpoint in locked:
                    await self._locks.lock(endpoint)
                    log.info("desk phones: %s locked (its user is deactivated)", endpoint)
                else:
                    await self._locks.unlock(endpoint)
        except CtiError as err:
            log.error("desk phones: %s not updated in Asterisk (%s: %s); done when AMI is back or at the next start",
                      ", ".join(sorted(wanted)), type(err).__name__, err)

    async def sync(self) -> None:
        """Lock exactly the endpoints the CRM says (at the start and when AMI comes back)."""
        locked = locked_endpoints(await self._holders(), self.endpoints)
        self.locked = locked
        await self._locks.lock_only(locked, self._span)
        log.info("desk phones: %d locked (deactivated users)%s", len(locked),
                 f": {', '.join(sorted(locked))}" if locked else "")


def crm_phone_holders(db: Any) -> Holders:
    """Every user's phone and whether the user is active, from the CRM (``crm_core.db.Database``)."""
    from crm_core import users

    async def holders() -> list[tuple[str, bool]]:
        async with db.session() as session:
            return await users.phones(session=session)

    return holders
