"""Named integration tokens' storage (migration 0022) on SQLite and PostgreSQL: only the hash is
kept; a token becomes a read-only principal; its last use is written at most once a minute; a
revocation holds at once on the node that made it and within the cache's seconds on another."""

from __future__ import annotations

from sqlalchemy import select

from agent_console.errors import NotAuthenticated
from agent_console.integrations import IntegrationTokens
from agent_console.principal import Principal
from crm_core.audit import AuditEntry
from crm_core.db import Database
from crm_core.integration_tokens import IntegrationToken, digest

ADMIN = Principal(user_id=1, username="admin", role="admin", agent_id=None)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


async def _refused(tokens: IntegrationTokens, token: str) -> bool:
    try:
        await tokens.principal(token)
    except NotAuthenticated:
        return True
    return False


async def test_a_token_is_kept_as_its_hash_and_reads_as_an_integration(db: Database) -> None:
    clock = Clock()
    node_a = IntegrationTokens(db, clock=clock)
    node_b = IntegrationTokens(db, clock=clock)
    view, token = await node_a.issue(name="warehouse", audio=False, by=ADMIN)
    _, audio_token = await node_a.issue(name="archive", audio=True, by=ADMIN)
    assert token != audio_token and view["name"] == "warehouse" and "token" not in view
    async with db.session() as s:
        rows = (await s.scalars(select(IntegrationToken).order_by(IntegrationToken.id))).all()
        assert [r.token_hash for r in rows] == [digest(token), digest(audio_token)]
        assert all(token not in (r.hint, r.token_hash) and len(r.hint) < 16 for r in rows)
        assert [a.action for a in (await s.scalars(select(AuditEntry))).all()] == ["integration_token.created"] * 2

    who = await node_b.principal(token)
    assert who is not None and (who.role, who.username, who.grants) == ("integration", "integration:warehouse",
                                                                        frozenset())
    heard = await node_b.principal(audio_token)
    assert heard is not None and heard.grants == frozenset({"recordings.audio"})
    assert await node_b.principal("v1.not-an-integration-token.x") is None  # a session's: not ours
    first_use = (await node_a.listed())[0]["last_used_at"]
    assert first_use == clock.now

    clock.now += 30  # within the minute: not written again
    await node_b.principal(token)
    assert (await node_a.listed())[0]["last_used_at"] == first_use
    clock.now += 31
    await node_b.principal(token)
    assert (await node_a.listed())[0]["last_used_at"] == clock.now

    revoked = await node_a.revoke(view["id"], by=ADMIN)
    assert revoked["active"] is False and revoked["revoked_by"] == "admin"
    assert await _refused(node_a, token)  # the node that revoked it: at once
    assert not await _refused(node_b, token)  # another node: its cached answer, for a few seconds
    clock.now += node_b.cache_s
    assert await _refused(node_b, token)
    assert not await _refused(node_b, audio_token)  # the other token lives on
    again = await node_a.revoke(view["id"], by=ADMIN)
    assert again["revoked_at"] == revoked["revoked_at"]
    async with db.session() as s:
        actions = sorted(a.action for a in (await s.scalars(select(AuditEntry))).all())
    assert actions == ["integration_token.created"] * 2 + ["integration_token.revoked"]
