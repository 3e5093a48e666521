"""Softphone passwords on several engine nodes (bus: redis) against a real redis-server: one revoked
on any node is revoked on the node that issued it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from agent_console.phone import MemoryPhoneSecrets, PhoneService
from agent_console.security import Principal
from cti.redis_bus import RedisStreamsBus
from cti.settings import load_settings

AGENT = Principal(user_id=7, username="alice", role="agent", agent_id="1001", display_name="Alice")


async def _extension_of(agent_id: str) -> str | None:
    return agent_id


@pytest.fixture
async def buses(redis_url: str) -> AsyncIterator[tuple[RedisStreamsBus, RedisStreamsBus]]:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    a, b = (RedisStreamsBus(redis_url, stream_prefix=prefix, group=f"{prefix}:{node}", consumer=node, block_ms=200)
            for node in ("node-a", "node-b"))
    try:
        yield a, b
    finally:
        await a.stop()
        await b.stop()


async def _gone(astdb: MemoryPhoneSecrets, endpoint: str) -> bool:
    for _ in range(100):  # 5 s: the other node reads the bus every 200 ms at most
        if endpoint not in astdb.passwords:
            return True
        await asyncio.sleep(0.05)
    return False


async def test_a_password_revoked_on_one_node_is_revoked_on_the_node_that_issued_it(
        buses: tuple[RedisStreamsBus, RedisStreamsBus]) -> None:
    """An administrator deactivates the agent on node A; node B had issued the agent's softphone
    password. A's revoke found nothing of its own to delete, B kept it in AstDB (the softphone kept
    registering) and kept handing the same password out again."""
    settings = load_settings(web={"session_secret": "test-secret-0123456789"}, pbx={"agent_endpoints": 5})
    astdb = MemoryPhoneSecrets()  # the one Asterisk both nodes write to
    bus_a, bus_b = buses
    node_a = PhoneService(settings, astdb, _extension_of, bus=bus_a)
    node_b = PhoneService(settings, astdb, _extension_of, bus=bus_b)
    await bus_a.start()
    await bus_b.start()

    first = await node_b.issue(AGENT)
    assert astdb.passwords == {"web1001": first.password}
    await node_a.revoke("1001")
    assert await _gone(astdb, "web1001")
    again = await node_b.issue(AGENT)  # a new login: a new password, not the revoked one
    assert again.password != first.password and astdb.passwords == {"web1001": again.password}

    # The revoking node's own password goes at once, as on a single node.
    staff = Principal(user_id=9, username="sup1", role="supervisor", agent_id="1002")
    mine = await node_a.issue(staff)
    await node_a.revoke("1002")
    assert "web1002" not in astdb.passwords and mine.password not in astdb.passwords.values()
