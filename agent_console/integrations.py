"""Integrations' bearer tokens as principals (``agent_console.policy`` decides what they may do).

Two kinds, one mechanism (``security.authenticate`` asks ``IntegrationTokens.principal`` for a
bearer token before it reads it as a session):

* **Named tokens** an administrator issues (``POST /api/admin/integration-tokens``, audited):
  ``cti_it_`` and 43 random characters, shown once, kept as a SHA-256 only
  (``crm_core.integration_tokens``), revocable, with their last use. Role ``integration``: read
  only, ``recordings.audio`` when given at issue.
* **The settings' tokens** (``feed.integration_tokens``, from before named tokens existed): role
  ``feed_reader``, the event feed alone, as ever. Compared in constant time.

A named token's row is looked up once every ``cache_s`` (5 s: a revocation on another node takes
at most that long; on this node it is at once), its last use written at most every ``touch_every_s``
(60 s, so ``last_used_at`` is accurate to a minute and a busy integration writes nothing per
request). Tokens are never logged: the log and the audit name the token's id and name.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr

from agent_console.errors import NotAuthenticated
from agent_console.principal import Principal
from crm_core import audit
from crm_core import integration_tokens as store
from crm_core.db import Database
from crm_core.errors import DatabaseUnavailable

log = logging.getLogger(__name__)
PREFIX = store.PREFIX
FEED_READER = Principal(user_id=0, username="integration", role="feed_reader", agent_id=None,
                        display_name="feed.integration_tokens")


@dataclass(frozen=True, slots=True)
class _Known:
    principal: Principal | None  # None: no live token of that hash (unknown, or revoked)
    token_id: int | None
    read_at: float


class IntegrationTokens:
    """The named tokens of ``db`` and the settings' ``legacy`` ones, as principals."""

    def __init__(self, db: Database | None, legacy: Sequence[SecretStr] = (), *,
                 clock: Callable[[], float] = time.time, cache_s: float = 5.0, touch_every_s: float = 60.0) -> None:
        self.db = db
        self._legacy = [t.get_secret_value().encode() for t in legacy if t.get_secret_value()]
        self.clock = clock
        self.cache_s = cache_s
        self.touch_every_s = touch_every_s
        self._known: dict[str, _Known] = {}  # token hash -> what the database said, when
        self._touched: dict[int, float] = {}  # token id -> when its last use was written

    def is_legacy(self, token: str) -> bool:
        given = token.encode()
        return any(hmac.compare_digest(given, k) for k in self._legacy)

    async def principal(self, token: str) -> Principal | None:
        """The principal of an integration's ``token``; None for a token of neither kind (a session's);
        NotAuthenticated for a named token's form that names no live token (revoked, unknown)."""
        if self.is_legacy(token):
            return FEED_READER
        if not token.startswith(PREFIX) or self.db is None:
            return None
        key = store.digest(token)
        now = self.clock()
        known = self._known.get(key)
        if known is None or now - known.read_at >= self.cache_s:
            known = await self._read(token, key, known, now)
        if known.principal is None or known.token_id is None:
            raise NotAuthenticated("integration token unknown or revoked")
        await self._touch(known.token_id, now)
        return known.principal

    async def _read(self, token: str, key: str, before: _Known | None, now: float) -> _Known:
        assert self.db is not None
        try:
            async with self.db.session() as s:
                row = await store.active_by_token(session=s, token=token)
        except DatabaseUnavailable:
            if before is not None:  # the database away: what it said last (a revocation here is at once)
                return before
            raise
        if len(self._known) > 1000:
            self._known.clear()  # only hashes of tokens tried are kept; a flood of wrong ones starts over
        if row is None:
            known = _Known(None, None, now)
        else:
            who = Principal(user_id=-row.id, username=f"integration:{row.name}"[:64], role="integration",
                            agent_id=None, display_name=row.name,
                            grants=frozenset({"recordings.audio"}) if row.audio else frozenset())
            known = _Known(who, row.id, now)
        self._known[key] = known
        return known

    async def _touch(self, token_id: int, now: float) -> None:
        if now - self._touched.get(token_id, float("-inf")) < self.touch_every_s:
            return
        self._touched[token_id] = now
        assert self.db is not None
        try:
            async with self.db.session() as s:
                await store.touch(session=s, token_id=token_id, at=datetime.fromtimestamp(now, UTC))
                await s.commit()
        except DatabaseUnavailable:
            log.warning("integration token %d: its last use could not be written (database unavailable)", token_id)

    # -- administration ----------------------------------------------------------------------------

    async def issue(self, *, name: str, audio: bool, by: Principal) -> tuple[dict[str, Any], str]:
        """A new named token: its view and the token, which is never shown again."""
        assert self.db is not None
        token = PREFIX + secrets.token_urlsafe(32)
        async with self.db.session() as s:
            row = await store.add(session=s, name=name, token=token, audio=audio, created_by=by.username)
            audit.record(s, actor=by.username, actor_role=by.role, action="integration_token.created",
                         target=f"integration_token:{row.id}", detail={"name": name, "audio": audio})
            view = store.view(row)
            await s.commit()
        log.info("integration token %d (%s) issued by %s", row.id, name, by.username)
        return view, token

    async def listed(self) -> list[dict[str, Any]]:
        assert self.db is not None
        async with self.db.session() as s:
            return [store.view(r) for r in await store.listed(session=s)]

    async def revoke(self, token_id: int, *, by: Principal) -> dict[str, Any]:
        """Revoke a named token: refused at once on this node, within ``cache_s`` on the others."""
        assert self.db is not None
        async with self.db.session() as s:
            row, changed = await store.revoke(session=s, token_id=token_id, by=by.username)
            if changed:
                audit.record(s, actor=by.username, actor_role=by.role, action="integration_token.revoked",
                             target=f"integration_token:{row.id}", detail={"name": row.name})
            view = store.view(row)
            await s.commit()
        self._known = {k: v for k, v in self._known.items() if v.token_id != token_id}
        if changed:
            log.info("integration token %d (%s) revoked by %s", token_id, row.name, by.username)
        return view
