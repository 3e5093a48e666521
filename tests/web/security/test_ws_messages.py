"""Every message of the agent websocket goes through the access policy and the desk's ownership
check: each type that names a call (derived from ``protocol.ClientMessage``, so a new one fails
here until it is listed) sent by one agent for another agent's live call is an ``error`` frame
``not_your_call``, and nothing reaches the PBX. Who may not hold the desk (an integration token, a
user without an agent id) gets no agent websocket; an agent gets no supervisor websocket. The real
app of an unstarted Engine, served by uvicorn, seeded SQLite CRM."""

from __future__ import annotations

import asyncio
import json
import time
import typing
from typing import Any

import pytest
import websockets

from acd.calls import LiveCall
from agent_console import protocol
from agent_console.demo import serve
from cti.ami.control import FakeCallControl
from tests.web.security.conftest import Site

pytestmark = pytest.mark.web

# One valid frame body for each message type that names a call.
CALL_FRAMES: dict[str, dict[str, Any]] = {
    "hangup": {}, "hold": {}, "resume": {}, "cancel_consult": {}, "conference": {},
    "transfer": {"target_kind": "number", "target": "8610557"},
    "call_attributes": {"tags": ["vip"]},
    "dtmf": {"digits": "1"},
    "wrap_up": {"disposition": "info_given"},
}


def _call_types() -> set[str]:
    union = typing.get_args(typing.get_args(protocol.ClientMessage)[0])
    return {typing.get_args(m.model_fields["type"].annotation)[0] for m in union if "call_id" in m.model_fields}


def test_the_table_names_every_message_that_acts_on_a_call() -> None:
    assert _call_types() == set(CALL_FRAMES)
    assert set(protocol.CLIENT_TYPES) >= set(CALL_FRAMES)


async def _recv(ws: Any, kind: str, within: float = 5.0) -> dict[str, Any]:
    async with asyncio.timeout(within):
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == kind:
                return frame  # type: ignore[no-any-return]


async def _token(site: Site, username: str) -> str:
    c = await site.login(username)
    return str(c.headers["Authorization"]).removeprefix("Bearer ")


async def test_an_agent_cannot_act_on_another_agents_call_through_any_message(site: Site) -> None:
    eng = site.engine
    control = FakeCallControl()
    eng.ami.control = control  # type: ignore[assignment]
    await eng.acd.agent_login("1002", {"support": 3}, ["support"], ready=True)
    eng.acd.calls["L7"] = LiveCall(linkedid="L7", caller_channel="PJSIP/trunk-0007", caller_number="+8613800000007",
                                   queue="support", status="talking", agent_id="1002",
                                   agent_channel="Local/1002@cti-sim-phone-00000007;1", answered_at=time.time())
    token = await _token(site, "agent1")
    async with serve(site.app, "127.0.0.1", site.port):
        async with websockets.connect(f"ws://127.0.0.1:{site.port}/ws/agent?token={token}",
                                      origin=f"http://127.0.0.1:{site.port}", close_timeout=1) as ws:  # type: ignore[arg-type]
            await _recv(ws, "hello")
            for kind, body in CALL_FRAMES.items():
                await ws.send(json.dumps({"type": kind, "call_id": "L7", "ref": kind, **body}))
                err = await _recv(ws, "error")
                assert (err["code"], err["ref"]) == ("not_your_call", kind), err
    assert control.calls == []
    assert eng.acd.calls["L7"].status == "talking" and eng.acd.calls["L7"].agent_id == "1002"


async def test_who_holds_no_desk_gets_no_agent_websocket_and_an_agent_no_supervisor_one(site: Site) -> None:
    admin = await site.login("admin")
    r = await admin.post("/api/admin/integration-tokens", json={"name": "warehouse"})
    assert r.status_code == 201, r.text
    integration = r.json()["token"]
    agent = await _token(site, "agent1")
    async with serve(site.app, "127.0.0.1", site.port):
        for path, token in (("/ws/agent", integration), ("/ws/supervisor", agent), ("/ws/supervisor", integration),
                            ("/ws/agent", None)):
            url = f"ws://127.0.0.1:{site.port}{path}" + (f"?token={token}" if token else "")
            with pytest.raises(websockets.exceptions.WebSocketException) as caught:
                async with websockets.connect(url, origin=f"http://127.0.0.1:{site.port}",  # type: ignore[arg-type]
                                              close_timeout=1) as ws:
                    await _recv(ws, "hello", within=3)
            closed = caught.value
            code = getattr(getattr(closed, "rcvd", None), "code", None) or getattr(
                getattr(closed, "response", None), "status_code", None)
            assert code in (1008, 403, 401), (path, token is not None, repr(closed))
