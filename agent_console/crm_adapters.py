"""Real adapters of the agent console's ports on the CRM database: ``UserStore`` (argon2 login),
``SessionStore`` (sessions ended in the database), ``CustomerSearch`` (cards, history, open
cases). The ``PopSource`` adapter is ``crm_core.screenpop.SqlPopSource``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from agent_console.security import Principal
from crm_core import cases, customers, users
from crm_core.db import Database
from crm_core.errors import DatabaseUnavailable, NotFound
from crm_core.recent import RecentCache
from crm_core.screenpop import case_view, customer_card, customer_history

log = logging.getLogger(__name__)


class SqlUserStore:
    """Who may log in to the console; unknown users cost the same argon2 work as known ones.

    A database outage does not lock out the users who logged in recently: each successful login
    keeps the user's argon2 hash and principal for ``outage_ttl_s`` (bounded LRU, memory only), and
    while the database is unavailable a password that matches that hash logs in (verified in a
    thread, off the event loop). Nobody else does: they get the 503 as before. A failed password
    against the database drops the cached entry, and so do an administrator's deactivation, role
    change or password reset on this node (``forget``) and a session check that finds the user
    deactivated, or their password or role changed elsewhere (``SqlSessionStore``).
    """

    def __init__(self, db: Database, *, outage_ttl_s: float = 8 * 3600.0, cache_size: int = 1000) -> None:
        self.db = db
        self.recent: RecentCache[str, tuple[str, Principal]] = RecentCache(cache_size, outage_ttl_s)

    async def authenticate(self, username: str, password: str) -> Principal | None:
        try:
            async with self.db.session() as session:
                user = await users.authenticate(session=session, username=username, password=password)
                if user is None:
                    self.recent.drop(username)
                    return None
                who = Principal(user_id=user.id, username=user.username, role=user.role,  # type: ignore[arg-type]
                                agent_id=user.agent_id, display_name=user.display_name)
                stored = user.password_hash
        except DatabaseUnavailable:
            found, entry = self.recent.get(username)
            if not found or entry is None:
                raise
            if not await asyncio.to_thread(users.verify_secret, entry[0], password):
                return None
            log.warning("login of %s while the database is unavailable: checked against the recent login",
                        username)
            return entry[1]
        self.recent.put(username, (stored, who))
        return who

    def forget(self, username: str) -> None:
        """No more logins from memory for ``username`` (deactivated, demoted, password reset)."""
        self.recent.drop(username)

    def forget_user_id(self, user_id: int) -> None:
        for username, (_, who) in self.recent.items():
            if who.user_id == user_id:
                self.recent.drop(username)

    def forget_changed(self, credentials: Mapping[int, tuple[str, str]]) -> None:
        """Drop the logins whose user's password hash or role is no longer the one remembered
        (``credentials``: user id -> both, as the database holds them now): a reset or a demotion
        made on another node, or by ``cti users reset-password``."""
        for username, (stored, who) in self.recent.items():
            now = credentials.get(who.user_id)
            if now is not None and now != (stored, who.role):
                self.recent.drop(username)


class SqlSessionStore:
    """Session checks and ends on the users table (``crm_core.users``): shared by every node. A check
    that finds the user deactivated, or their password hash or role no longer the one remembered,
    also drops the login ``logins`` remembers for outages, so an account disabled, reset or demoted
    on another node (or by ``cti users reset-password``) stops working here too."""

    def __init__(self, db: Database, logins: SqlUserStore | None = None) -> None:
        self.db = db
        self.logins = logins

    async def session_problems(self, checks: Sequence[tuple[int, float]]) -> list[str | None]:
        async with self.db.session() as session:
            problems, credentials = await users.session_checks(session=session, checks=checks)
        if self.logins is not None:
            for (user_id, _), problem in zip(checks, problems, strict=True):
                if problem == "user deactivated":
                    self.logins.forget_user_id(user_id)
            self.logins.forget_changed(credentials)
        return problems

    async def end_sessions(self, user_id: int, at: float) -> None:
        async with self.db.session() as session:
            await users.end_sessions(session=session, user_id=user_id, at=at)


class SqlCustomerSearch:
    """Customer cards for the console's search box and customer panel."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def search(self, query: str, limit: int = 20) -> list[dict[str, Any]]:
        async with self.db.session() as session:
            found, _ = await customers.search_customers(session=session, q=query.strip()[:100] or None,
                                                        limit=max(1, min(limit, 100)))
            return [customer_card(c) for c in found]

    async def customer(self, customer_id: int) -> dict[str, Any] | None:
        async with self.db.session() as session:
            try:
                c = await customers.get_customer(session=session, customer_id=customer_id)
            except NotFound:
                return None
            history = await customer_history(session=session, customer_id=c.id)
            open_cases, _ = await cases.list_cases(session=session, customer_id=c.id, open_only=True, limit=20)
            return {"customer": customer_card(c), "interactions": history,
                    "open_cases": [case_view(x) for x in open_cases]}

    async def history(self, customer_id: int, limit: int = 20) -> list[dict[str, Any]]:
        async with self.db.session() as session:
            return await customer_history(session=session, customer_id=customer_id, limit=max(1, min(limit, 200)))
