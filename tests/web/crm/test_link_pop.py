"""A call linked to another customer during the call (``PUT /api/crm/interactions/{id}/customer``):
the consoles showing the call -- its agent's, a consulted agent's -- get a ``pop`` frame with the
linked customer's card and history, a reload's ``hello`` shows it, and the engine's ACD call names
the linked customer. A real Engine (not started:
no PBX) over a seeded SQLite CRM, its console served by uvicorn; the ACD's console events are
published on the engine's bus as the ACD publishes them."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from acd.calls import LiveCall
from acd.events import AgentCallUpdate, AgentOffer
from agent_console.demo import serve
from callcenter.engine import Engine
from crm_core.models import Interaction
from tests.web.console.conftest import recv
from tests.web.engines import seeded_engine

CALLER = "+8613711112222"


@dataclass
class Site:
    engine: Engine
    http: httpx.AsyncClient
    base: str
    tokens: dict[str, str]

    async def login(self, user: str) -> str:
        if user not in self.tokens:
            password = f"{user}-demo" if user.startswith("agent") else f"{user}-demo-1"
            r = await self.http.post("/api/auth/login", json={"username": user, "password": password})
            assert r.status_code == 200, r.text
            self.tokens[user] = r.json()["token"]
        return self.tokens[user]

    async def as_(self, user: str, method: str, path: str, **kw: Any) -> httpx.Response:
        token = await self.login(user)
        return await self.http.request(method, path, headers={"Authorization": f"Bearer {token}"}, **kw)

    async def ws(self, user: str) -> ClientConnection:
        url = self.base.replace("http", "ws") + f"/ws/agent?token={await self.login(user)}"
        return await websockets.connect(url, max_size=4 * 1024 * 1024, close_timeout=1.0)


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async with seeded_engine(tmp_path) as engine:
        assert engine.app is not None
        port = engine.settings.web.port
        await engine.bus.start()
        try:
            async with serve(engine.app, "127.0.0.1", port):
                base = f"http://127.0.0.1:{port}"
                async with httpx.AsyncClient(base_url=base, timeout=10) as http:
                    yield Site(engine, http, base, {})
        finally:
            await engine.bus.stop()


async def _customer(site: Site, name: str, number: str) -> int:
    r = await site.as_("sup1", "POST", "/api/crm/customers", json={"name": name, "phones": [{"number": number}]})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def _interaction(site: Site, linkedid: str, customer_id: int, *, ago_s: float, notes: str = "") -> int:
    async with site.engine.db.session() as s:
        row = Interaction(linkedid=linkedid, caller_number=CALLER, customer_id=customer_id, agent_id="1001",
                          queue="support", started_at=datetime.now(UTC) - timedelta(seconds=ago_s), notes=notes)
        s.add(row)
        await s.flush()
        return row.id


async def _on_the_call(site: Site, ws: ClientConnection, agent_id: str, linkedid: str, customer_id: int) -> None:
    """The ACD offers the call to ``agent_id`` (the IVR's customer) and the agent talks."""
    now = time.time()
    await site.engine.bus.publish(AgentOffer(ts=now, agent_id=agent_id, linkedid=linkedid, queue="support",
                                             caller_number=CALLER, customer_id=customer_id, waited_s=7.0))
    offer = (await recv(ws, "offer", within=10))["offer"]
    assert offer["pop"]["customer"]["id"] == customer_id and offer["pop"]["complete"] is True
    await site.engine.bus.publish(AgentCallUpdate(ts=now, agent_id=agent_id, linkedid=linkedid, status="talking",
                                                  peer_number=CALLER, customer_id=customer_id, queue="support",
                                                  started_at=now))
    call = (await recv(ws, "call", within=10))["call"]
    assert call["status"] == "talking" and call["pop"]["customer"]["id"] == customer_id


async def test_a_link_pops_the_linked_customer_on_every_console_showing_the_call(site: Site) -> None:
    ivr = await _customer(site, "Zhao Lei", "13711112222")
    linked = await _customer(site, "Qian Hua", "13711113333")
    await _interaction(site, "L-before", linked, ago_s=86400, notes="asked about the refund")
    interaction_id = await _interaction(site, "L-now", ivr, ago_s=30)
    agent, consulted = await site.ws("agent1"), await site.ws("agent2")
    for ws in (agent, consulted):
        await recv(ws, "hello")
    await _on_the_call(site, agent, "1001", "L-now", ivr)
    await _on_the_call(site, consulted, "1002", "L-now", ivr)  # consulted during the call
    # The engine's ACD holds the call (routed with the IVR's customer).
    site.engine.acd.calls["L-now"] = LiveCall(linkedid="L-now", caller_channel="PJSIP/trunk-1", caller_number=CALLER,
                                              queue="support", status="talking", agent_id="1001", customer_id=ivr)

    r = await site.as_("agent1", "PUT", f"/api/crm/interactions/{interaction_id}/customer",
                       json={"customer_id": linked})
    assert r.status_code == 200 and r.json()["customer_id"] == linked, r.text
    # The ACD's call names the linked customer once the link is answered (a transfer now offers them).
    assert site.engine.acd.calls["L-now"].customer_id == linked

    for ws, notes in ((agent, "asked about the refund"), (consulted, "")):  # another agent's notes: blank
        frame = await recv(ws, "pop", within=10)
        pop = frame["pop"]
        assert frame["call_id"] == pop["call_id"] == "L-now"
        assert pop["customer"]["id"] == linked and pop["customer"]["name"] == "Qian Hua"
        assert [(h["call_id"], h["notes"]) for h in pop["interactions"]] == [("L-before", notes)]
        assert (pop["waited_s"], pop["caller_number"], pop["queue"]) == (7.0, CALLER, "support")  # the call's own
    await agent.close()
    again = await site.ws("agent1")  # a reload
    hello = json.loads(await again.recv())
    assert hello["type"] == "hello"
    assert [(c["call_id"], c["customer_id"], c["pop"]["customer"]["id"]) for c in hello["calls"]] == [
        ("L-now", linked, linked)]
    await again.close()
    await consulted.close()
    # What the CRM's own screen pop reads agrees.
    screen = await site.as_("agent1", "GET", "/api/crm/screenpop/L-now")
    assert screen.status_code == 200 and screen.json()["customer"]["id"] == linked, screen.text
