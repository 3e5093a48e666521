"""Desk phones of deactivated users are locked: their SIP password stops working at once, and stays
refused until an administrator issues the phone a new password.

A desk phone (PJSIP endpoint ``1001``..., ``pbx.agent_endpoints`` of them) authenticates with the
password ``cti pbx up`` wrote into pjsip.conf (``cti.sip_credentials``); it is the device's, not
the console session's, so ending a user's sessions left their desk phone registering and placing
calls. A desk endpoint is locked when it is the phone (``extension``, else agent id) of a
deactivated user and of no active one: the lock lives in Asterisk's AstDB, read before pjsip.conf
on every REGISTER and every call from the phone, and locking also ends the phone's registration
(``cti.ami.phone_secrets.AstDbDeskLocks``). No reload: the engine's AMI user may not reload
modules. The CRM keeps the locked endpoints (``crm_core.desk_locks``): reactivating the user, or
giving the extension to someone else, leaves the phone locked, since whoever was deactivated knows
its password. ``new_password`` is the way out: a new random password, written into AstDB in place
of the lock (and of pjsip.conf's), shown once to the administrator (docs/security.md).

Locks outlive the engine (AstDB persists; while no engine runs app_queue still rings desk phones),
so nothing is cleared at a stop. Each engine start, and each AMI reconnection (Asterisk may have
been replaced), writes the locks the CRM holds that AstDB lacks (``sync``, one Originate per 100
endpoints); a lock there already, and a password an administrator issued, are left as they are.
With several nodes, AstDB is the one store every node's Asterisk reads: the node that handles the
administrator's change writes the lock and tells the other nodes (``share_locks``: a
``DeskLocksChanged`` on the Redis bus), which re-read the CRM's locks at once (``reload``): what each
node's failed-login watch and users page take as locked is the same everywhere within the bus's delay.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Collection, Iterable
from typing import Any, Protocol

from crm_core import desk_locks, users
from crm_core.errors import DatabaseUnavailable
from cti.bus import EventBus
from cti.endpoints import agent_extensions
from cti.errors import CtiError
from cti.events import Event, event

log = logging.getLogger(__name__)

# Every user's phone extension and whether the user is active (crm_core.users.phones).
Holders = Callable[[], Awaitable[list[tuple[str, bool]]]]
PASSWORD_BYTES = 18  # 144 random bits, URL-safe: what cti.sip_credentials issues


class LockStore(Protocol):
    """Where the locked endpoints are kept (the CRM: ``crm_lock_store``)."""

    async def holders(self) -> list[tuple[str, bool]]: ...

    async def locked(self) -> set[str]: ...

    async def add(self, endpoints: Collection[str]) -> None: ...

    async def release(self, endpoint: str) -> None: ...


class DeskLocks(Protocol):
    """Where Asterisk learns which desk phones are locked (the AMI adapter: ``cti.ami.phone_secrets``)."""

    async def lock(self, endpoint: str) -> None: ...

    async def rekey(self, endpoint: str, password: str) -> None:
        """The endpoint's password is ``password`` from now on (in place of a lock, or of pjsip.conf's),
        and its registrations end."""

    async def lock_only(self, endpoints: Collection[str], span: tuple[int, int]) -> None:
        """Of the endpoints numbered ``span`` (first, last), lock ``endpoints``; a lock there already
        stays as it is (its password unchanged), and so does every other endpoint."""


class MemoryDeskLocks:
    """In-memory fake for tests without Asterisk."""

    def __init__(self) -> None:
        self.locked: set[str] = set()
        self.passwords: dict[str, str] = {}

    async def lock(self, endpoint: str) -> None:
        self.locked.add(endpoint)
        self.passwords.pop(endpoint, None)

    async def rekey(self, endpoint: str, password: str) -> None:
        self.locked.discard(endpoint)
        self.passwords[endpoint] = password

    async def lock_only(self, endpoints: Collection[str], span: tuple[int, int]) -> None:
        mine = {e for e in endpoints if span[0] <= int(e) <= span[1]}
        self.locked |= mine
        for e in mine:
            self.passwords.pop(e, None)


class MemoryLockStore:
    """In-memory fake of the CRM's locks."""

    def __init__(self, holders: list[tuple[str, bool]] | None = None) -> None:
        self.phones = list(holders or [])
        self.kept: set[str] = set()

    async def holders(self) -> list[tuple[str, bool]]:
        return list(self.phones)

    async def locked(self) -> set[str]:
        return set(self.kept)

    async def add(self, endpoints: Collection[str]) -> None:
        self.kept |= set(endpoints)

    async def release(self, endpoint: str) -> None:
        self.kept.discard(endpoint)


def desk_endpoints(count: int) -> frozenset[str]:
    """The desk phones ``cti pbx up`` writes: 1001, 1002, ... (``pbx.agent_endpoints``)."""
    return frozenset(agent_extensions(count))


def locked_endpoints(holders: Iterable[tuple[str, bool]], endpoints: frozenset[str]) -> frozenset[str]:
    """The desk endpoints held by a deactivated user and by no active one: those a change locks (an
    extension already handed on to an active user is that user's phone)."""
    holders = list(holders)
    active = {phone for phone, is_active in holders if is_active}
    return frozenset(phone for phone, is_active in holders
                     if not is_active and phone not in active and phone in endpoints)


class DeskPhoneLocks:
    """Keeps the desk phones' locks in Asterisk equal to what the CRM says."""

    def __init__(self, locks: DeskLocks, store: LockStore, endpoint_count: int, *,
                 issued: Callable[[str, str], None] | None = None,
                 changed: Callable[[], Awaitable[None]] | None = None) -> None:
        """``issued(endpoint, password)`` records a new password beside pjsip.conf's
        (``cti.sip_credentials.issued``); ``changed()`` tells the other nodes the locks changed."""
        self._locks, self._store = locks, store
        self._issued, self._changed = issued, changed
        self.endpoints = desk_endpoints(endpoint_count)
        self._span = (1001, 1000 + endpoint_count)
        # The endpoints the CRM says are locked, as last read: their refused logins are expected
        # (the phone retries), not counted as failed logins (cti.security).
        self.locked: frozenset[str] = frozenset()

    async def _locked_now(self) -> frozenset[str]:
        """The CRM's locks, with those of users deactivated since (written now)."""
        kept = await self._store.locked()
        new = locked_endpoints(await self._store.holders(), self.endpoints) - kept
        if new:
            await self._store.add(new)
        self.locked = frozenset(kept | new)
        return self.locked

    async def reload(self, fallback: Collection[str] | None = None) -> None:
        """Another node changed the locks (``changed``): read them again (AstDB is that node's work);
        the database away, ``fallback`` (what that node read)."""
        try:
            self.locked = frozenset(await self._store.locked())
        except DatabaseUnavailable:
            if fallback is not None:
                self.locked = frozenset(fallback)
            log.warning("desk phones: the locks changed on another node, the CRM is unavailable: %s",
                        "taken from that node" if fallback is not None else "kept as they were")

    async def refresh(self, phones: Iterable[str | None]) -> None:
        """After an administrator's change to users holding ``phones`` (before and after the change):
        lock those the CRM now says are locked. Nothing is unlocked here: a locked phone waits for
        ``new_password``. A failure to reach Asterisk is logged, not raised: the change itself is
        made, and the next ``sync`` (AMI back, or the next start) writes the lock."""
        wanted = {p for p in phones if p is not None and p in self.endpoints}
        if not wanted:
            return
        before = self.locked
        try:
            locked = await self._locked_now()
        except CtiError as err:  # the database went away after the change's commit
            log.error("desk phones: %s not updated (%s: %s); done at the next start or AMI reconnection",
                      ", ".join(sorted(wanted)), type(err).__name__, err)
            return
        if locked != before:
            await self._tell()
        try:
            for endpoint in sorted(wanted & locked):
                await self._locks.lock(endpoint)
                log.info("desk phones: %s locked (its user is deactivated)", endpoint)
        except CtiError as err:
            log.error("desk phones: %s not updated in Asterisk (%s: %s); done when AMI is back or at the next start",
                      ", ".join(sorted(wanted & locked)), type(err).__name__, err)

    async def new_password(self, endpoint: str) -> str:
        """A new random password for ``endpoint``, in force at once (its lock, if any, gone, its
        registrations ended): returned to be shown once. Asterisk first, then the CRM: when Asterisk
        cannot be reached the error is raised and the phone stays as it was."""
        if endpoint not in self.endpoints:
            raise ValueError(f"{endpoint} is not a desk phone of this PBX")
        password = secrets.token_urlsafe(PASSWORD_BYTES)
        await self._locks.rekey(endpoint, password)
        await self._store.release(endpoint)
        self.locked = self.locked - {endpoint}
        if self._issued is not None:
            try:  # in force in Asterisk already: a file that cannot be written does not lose it
                self._issued(endpoint, password)
            except (OSError, CtiError) as err:
                log.error("desk phones: %s's new password not recorded in sip-credentials.json (%s): a "
                          "re-rendered pjsip.conf keeps its old one, which AstDB's shadows", endpoint, err)
        await self._tell()
        log.info("desk phones: %s has a new password (unlocked)", endpoint)
        return password

    def set_changed(self, changed: Callable[[], Awaitable[None]]) -> None:
        self._changed = changed

    async def _tell(self) -> None:
        if self._changed is not None:
            try:
                await self._changed()
            except Exception:
                log.exception("desk phones: the other nodes were not told; they read the locks at their next sync")

    async def sync(self) -> None:
        """Write the locks the CRM holds that AstDB lacks (at the start and when AMI comes back)."""
        locked = await self._locked_now()
        await self._locks.lock_only(locked, self._span)
        log.info("desk phones: %d locked (deactivated users, or waiting for a new password)%s", len(locked),
                 f": {', '.join(sorted(locked))}" if locked else "")


class CrmLockStore:
    """The locks in the CRM (``crm_core.desk_locks``) and every user's phone (``crm_core.users.phones``)."""

    def __init__(self, db: Any) -> None:
        self._db = db

    async def holders(self) -> list[tuple[str, bool]]:
        async with self._db.session() as session:
            return await users.phones(session=session)

    async def locked(self) -> set[str]:
        async with self._db.session() as session:
            return await desk_locks.locked(session=session)

    async def add(self, endpoints: Collection[str]) -> None:
        async with self._db.session() as session:
            await desk_locks.add(session=session, endpoints=endpoints)

    async def release(self, endpoint: str) -> None:
        async with self._db.session() as session:
            await desk_locks.release(session=session, endpoint=endpoint)


@event("desk_phones.changed")
class DeskLocksChanged(Event):
    """The desk phones' locks changed on ``node`` (a deactivation, a new password): every node reads
    them again. ``locked``: the endpoints locked as that node read them (endpoint numbers only)."""

    node: str
    locked: tuple[str, ...] = ()


def share_locks(locks: DeskPhoneLocks, bus: EventBus, node: str) -> None:
    """With several nodes (``bus: redis``): a change of the locks on any node is read again by every
    other at once (its own comes back too and is skipped). Subscribe before the bus starts."""

    async def changed() -> None:
        await bus.publish(DeskLocksChanged(ts=time.time(), node=node, locked=tuple(sorted(locks.locked))))

    async def on_change(ev: DeskLocksChanged) -> None:
        if ev.node != node:
            await locks.reload(ev.locked)
            log.info("desk phones: the locks changed on node %s: %d locked here too", ev.node, len(locks.locked))

    locks.set_changed(changed)
    bus.subscribe(DeskLocksChanged, on_change, name="desk_phones.locks")

