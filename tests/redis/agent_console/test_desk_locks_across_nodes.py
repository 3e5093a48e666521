"""What each engine node takes as a locked desk phone (bus: redis, a real redis-server, two Engines
on one CRM database): a deactivation or a new password handled by node A is node B's view at once.

Node B's view decides whether a locked phone's refused logins are expected (not counted towards the
failed-login alert, cti.security) and what B's users page shows; B read the locks only at its start
and at AMI reconnections, so until then the phone A locked counted as an attack on B (and a phone A
unlocked with a new password hid real wrong passwords)."""

from __future__ import annotations

import asyncio

import httpx

from callcenter.engine import Engine
from tests.redis.crm.test_customer_changes_across_nodes import nodes, own_redis

__all__ = ["nodes", "own_redis"]  # the fixtures: two engines on one CRM and one redis-server


async def _settles(check: object) -> bool:
    for _ in range(100):  # the other node reads the bus every 0.2-1 s
        if check():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.05)
    return False


async def test_a_lock_and_a_new_password_on_one_node_are_every_nodes_view_at_once(
        nodes: tuple[Engine, Engine, httpx.AsyncClient]) -> None:
    a, b, http = nodes
    from agent_console.desk_phones import MemoryDeskLocks

    a.desk_phones._locks = MemoryDeskLocks()  # the PBX both nodes share (no Asterisk in this tier)
    users = (await http.get("/api/admin/users")).json()
    agent6 = next(u for u in users if u["username"] == "agent6")
    assert b.desk_phones.locked == frozenset() == a.desk_phones.locked

    off = await http.patch(f"/api/admin/users/{agent6['id']}", json={"active": False})
    assert off.status_code == 200, off.text
    assert a.desk_phones.locked == {"1006"}
    assert await _settles(lambda: b.desk_phones.locked == {"1006"}), "node B does not know 1006 is locked"

    assert (await http.patch(f"/api/admin/users/{agent6['id']}", json={"active": True})).status_code == 200
    issued = await http.post(f"/api/admin/users/{agent6['id']}/desk-password")
    assert issued.status_code == 201, issued.text
    assert a.desk_phones.locked == frozenset()
    assert await _settles(lambda: b.desk_phones.locked == frozenset()), "node B still takes 1006 as locked"
