"""A supervisor assigned queues hears only the calls of those queues, on the real Asterisk: agent
1001 serves general and support and talks to a caller of support; a supervisor of general (1001
is their agent too) is refused the listen with a 403 naming support, and Asterisk never sees a
ChanSpy; once the supervisor is given support, the same listen runs ChanSpy on 1001's leg."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from cti.journey import CallConnected
from tests.asterisk.security.conftest import Running
from tests.helpers import until

pytestmark = pytest.mark.asterisk


async def _assign(c: httpx.AsyncClient, queues: list[str]) -> None:
    r = await c.post("/api/auth/login", json={"username": "admin", "password": "admin-demo-1"})
    assert r.status_code == 200, r.text
    uid = next(u["id"] for u in (await c.get("/api/admin/users")).json() if u["username"] == "sup1")
    r = await c.patch(f"/api/admin/users/{uid}", json={"queues": queues})
    assert r.status_code == 200, r.text
    r = await c.post("/api/auth/login", json={"username": "sup1", "password": "sup1-demo-1"})
    assert r.status_code == 200, r.text


async def test_a_supervisor_of_general_cannot_listen_to_a_support_call(running: Running) -> None:
    eng = running.engine
    await eng.desk.login_queues("1001", ["support", "general"])
    await eng.desk.set_ready("1001")
    linkedid = await running.place_support_call(caller="cti-sim-caller-tone")
    await until(lambda: any(isinstance(e, CallConnected) and e.linkedid == linkedid for e in running.seen))
    await until(lambda: eng.acd.agent_calls("1001") and eng.acd.agent_calls("1001")[0].agent_channel)
    async with httpx.AsyncClient(base_url=eng.url, timeout=30) as c:
        await _assign(c, ["general"])
        r = await c.post("/api/supervisor/agents/1001/spy", json={"mode": "listen", "phone": "2001"})
        assert r.status_code == 403, r.text
        assert "'support'" in r.json()["detail"]["message"] and "general" in r.json()["detail"]["message"]
        assert "ChanSpy" not in running.pbx.cli("core show channels concise")
        assert "Local/2001@cti-sim-phone" not in running.pbx.cli("core show channels concise")
        assert [a for a in (await c.get("/api/supervisor/audit")).json() if a["action"].startswith("spy.")] == []
        await _assign(c, ["general", "support"])
        r = await c.post("/api/supervisor/agents/1001/spy", json={"mode": "listen", "phone": "2001"})
        assert r.status_code == 200, r.text
        spying = await until(lambda: "ChanSpy" in running.pbx.cli("core show channels concise")
                             and running.pbx.cli("core show channels concise"), timeout_s=10)
        assert "Local/2001@cti-sim-phone" in spying
        assert (await c.post("/api/supervisor/spy/stop")).status_code == 200
    assert eng.acd.calls[linkedid].status == "talking"


async def test_a_spy_into_a_colleagues_phone_is_refused_and_nothing_reaches_chanspy(running: Running) -> None:
    """``phone`` named agent 1002's desk phone: before, it rang with the ChanSpy of 1001's call behind
    it; now a 403 naming ``phone``, no channel to 1002 and no ChanSpy on the PBX, nothing audited."""
    eng = running.engine
    await eng.desk.login_queues("1001", ["support"])
    await eng.desk.set_ready("1001")
    linkedid = await running.place_support_call(caller="cti-sim-caller-tone")
    await until(lambda: any(isinstance(e, CallConnected) and e.linkedid == linkedid for e in running.seen))
    await until(lambda: eng.acd.agent_calls("1001") and eng.acd.agent_calls("1001")[0].agent_channel)
    async with httpx.AsyncClient(base_url=eng.url, timeout=30) as c:
        r = await c.post("/api/auth/login", json={"username": "sup1", "password": "sup1-demo-1"})
        assert r.status_code == 200, r.text
        r = await c.post("/api/supervisor/agents/1001/spy", json={"mode": "listen", "phone": "1002"})
        assert r.status_code == 403, r.text
        assert r.json()["detail"]["message"].startswith("phone: 1002 is the phone of "), r.text
        await asyncio.sleep(1.0)  # an Originate sent would show its channels by now
        channels = running.pbx.cli("core show channels concise")
        assert "ChanSpy" not in channels and "1002@cti-sim-phone" not in channels, channels
        assert [a for a in (await c.get("/api/supervisor/audit")).json() if a["action"].startswith("spy.")] == []
    assert eng.acd.calls[linkedid].status == "talking"
