"""The agent websocket: snapshot on (re)connect, actions, authorization, bad input, fan-out limits."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

import pytest
import websockets
from starlette.websockets import WebSocketState

from agent_console.fakes import FakeCrm, FakeDesk
from agent_console.hub import CLOSE_REPLACED, CLOSE_SLOW, AgentHub
from agent_console.protocol import MAX_FRAME_BYTES, PROTOCOL_VERSION
from agent_console.security import Principal
from agent_console.service import ConsoleService
from cti.bus import InProcessBus
from tests.helpers import until
from tests.web.console.conftest import Console, recv, send


async def ready_agent(console: Console, user: str = "alice") -> Any:
    ws = await console.ws(await console.login(user))
    hello = await recv(ws, "hello")
    assert hello["protocol_version"] == PROTOCOL_VERSION
    await send(ws, type="queues_login", queues=["support"], ref="q")
    await send(ws, type="ready", ref="r")
    while (await recv(ws, "state"))["state"]["state"] != "available":
        pass
    return ws


async def live_call(console: Console, agent_id: str) -> str:
    call_id = await console.demo.desk.offer_call(agent_id, caller_number="+8613800138000")
    await console.demo.bus.drain()
    await console.demo.desk.answer(call_id)
    await console.demo.bus.drain()
    return call_id


async def test_hello_then_actions_are_acked_and_state_frames_follow(console: Console) -> None:
    ws = await console.ws(await console.login("alice"))
    assert ws.protocol.extensions == []  # the client offers permessage-deflate; the console declines it
    hello = await recv(ws, "hello")
    assert hello["agent"]["agent_id"] == "a1001" and hello["state"]["state"] == "logged_out"
    assert {r["code"] for r in hello["catalog"]["reasons"]} >= {"break", "lunch"}
    await send(ws, type="queues_login", queues=["support", "billing"], ref="1")
    assert await recv(ws, "ack") == {"type": "ack", "ref": "1", "action": "queues_login", "result": None}
    state = (await recv(ws, "state"))["state"]
    assert state["state"] == "not_ready" and state["queues"] == ["billing", "support"]
    await send(ws, type="not_ready", reason="lunch", ref="2")
    assert (await recv(ws, "state"))["state"]["reason"] == "lunch"
    await send(ws, type="ping", ref="p")
    pong = await recv(ws, "pong")
    assert pong["ref"] == "p"


async def test_offer_pops_the_right_customer(console: Console) -> None:
    ws = await ready_agent(console)
    await console.demo.desk.offer_call("a1001", caller_number="+441632960123", queue="billing")
    offer = (await recv(ws, "offer"))["offer"]
    pop = offer["pop"]
    assert pop["complete"] is True
    assert pop["customer"]["name"] == "Emma Clarke" and pop["customer"]["tier"] == "platinum"
    assert pop["queue"] == "billing" and pop["waited_s"] == 12.0
    assert pop["open_cases"][0]["subject"] == "Refund double charge"
    assert pop["script"]["title"] == "Billing" and pop["articles"][0]["id"] == "KB-7"
    assert len(pop["interactions"]) <= 5


async def test_unknown_caller_pop_names_the_number(console: Console) -> None:
    ws = await ready_agent(console)
    await console.demo.desk.offer_call("a1001", caller_number="+15550100999")
    pop = (await recv(ws, "offer"))["offer"]["pop"]
    assert pop["customer"] is None and pop["caller_number"] == "+15550100999" and pop["interactions"] == []


async def test_agent_cannot_touch_another_agents_call(console: Console) -> None:
    bob = await ready_agent(console, "bob")
    alice = await ready_agent(console, "alice")
    call_id = await live_call(console, "a1002")
    for msg in ({"type": "hangup", "call_id": call_id}, {"type": "hold", "call_id": call_id},
                {"type": "dtmf", "call_id": call_id, "digits": "1"},
                {"type": "transfer", "call_id": call_id, "target_kind": "queue", "target": "sales"},
                {"type": "wrap_up", "call_id": call_id, "disposition": "sale"}):
        await send(alice, **msg, ref=msg["type"])
        err = await recv(alice, "error")
        assert err["code"] == "not_your_call" and err["ref"] == msg["type"]
    alice_token = await console.login("alice")
    for path, body in ((f"/api/calls/{call_id}/hangup", None),
                       (f"/api/calls/{call_id}/wrap-up", {"disposition": "sale", "notes": "x"})):
        r = await console.http.post(path, json=body, headers=console.auth(alice_token))
        assert r.status_code == 403 and r.json()["detail"]["code"] == "not_your_call"
    assert console.demo.desk.calls[call_id].status == "talking"
    assert not [a for a in console.demo.desk.actions if a[0] == "hangup"]
    # Both connections are still healthy, and bob may act on his own call.
    await send(alice, type="ping", ref="still")
    assert (await recv(alice, "pong"))["ref"] == "still"
    await send(bob, type="hangup", call_id=call_id, ref="mine")
    assert (await recv(bob, "ack"))["ref"] == "mine"


async def test_missing_call_is_404_and_illegal_step_409(console: Console) -> None:
    token = await console.login("alice")
    r = await console.http.post("/api/calls/nope/hangup", headers=console.auth(token))
    assert r.status_code == 404 and r.json()["detail"]["code"] == "call_not_found"
    r = await console.http.post("/api/agent/state", json={"state": "ready"}, headers=console.auth(token))
    assert r.status_code == 409 and "logged out" in r.json()["detail"]["message"]
    r = await console.http.post("/api/agent/state", json={"state": "paused"}, headers=console.auth(token))
    assert r.status_code == 422 and r.json()["detail"]["field"] == "state"


@pytest.mark.parametrize(("frame", "code", "field"), [
    ('{"type": "teleport"}', "unknown_type", "type"),
    ("not json", "bad_json", None),
    ("[1, 2]", "bad_frame", None),
    ("[" * 5000 + "]" * 5000, "bad_json", None),  # 10 KB, nested past the parser's recursion limit
    ('{"type": "ping", "x": ' + "[" * 5000 + "]" * 5000 + "}", "bad_json", None),
    ('{"type": "ping", "ref": "\\ud800"}', "bad_json", None),  # a lone surrogate: no UTF-8 for the answer
    ('{"type": "hangup", "call_id": "c1", "\\udfff": 1}', "bad_json", None),
    ('{"type": "not_ready"}', "invalid_field", "reason"),
    ('{"type": "not_ready", "reason": "Lunch Break!"}', "invalid_field", "reason"),
    ('{"type": "hangup", "call_id": "c1", "force": true}', "invalid_field", "force"),
    ('{"type": "dtmf", "call_id": "c1", "digits": "12x"}', "invalid_field", "digits"),
    ('{"type": "dial", "number": "123\\r\\nAction: Originate"}', "invalid_field", "number"),
    ('{"type": "transfer", "call_id": "c", "target_kind": "moon", "target": "x"}', "invalid_field", "target_kind"),
    ('{"type": "wrap_up", "call_id": "c", "disposition": "sale", "callback_at": "2030-01-01T10:00:00"}',
     "invalid_field", "callback_at"),
    ('{"type": "wrap_up", "call_id": "c", "disposition": "sale", "case": {"subject": "a\\nb"}}',
     "invalid_field", "case.subject"),
])
async def test_bad_frames_get_an_error_and_the_connection_stays_healthy(console: Console, frame: str, code: str,
                                                                       field: str | None) -> None:
    ws = await console.ws(await console.login("alice"))
    await recv(ws, "hello")
    await ws.send(frame)
    err = await recv(ws)
    assert err["type"] == "error" and err["code"] == code and err["field"] == field, err
    await send(ws, type="ping", ref="after")
    assert (await recv(ws))["type"] == "pong"


async def test_oversized_and_binary_frames(console: Console) -> None:
    ws = await console.ws(await console.login("alice"))
    await recv(ws, "hello")
    await ws.send(json.dumps({"type": "ping", "pad": "x" * (MAX_FRAME_BYTES + 10)}))
    err = await recv(ws)
    assert err["code"] == "frame_too_large" and str(MAX_FRAME_BYTES) in err["message"]
    await ws.send(b'{"type": "ping", "ref": "bin"}')
    assert (await recv(ws))["ref"] == "bin"
    await send(ws, type="ping")
    assert (await recv(ws))["type"] == "pong"
    # Past the server's hard limit (1 MiB) the frame is not even read: close 1009.
    await ws.send("x" * (2 * 1024 * 1024))
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await recv(ws)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


async def test_wrap_up_checks_callback_time_and_disposition(console: Console) -> None:
    tomorrow = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    ws = await ready_agent(console)
    call_id = await live_call(console, "a1001")
    await send(ws, type="hangup", call_id=call_id, ref="h")
    await recv(ws, "ack")
    await send(ws, type="wrap_up", call_id=call_id, disposition="sale", callback_at="2001-01-01T00:00:00Z", ref="w")
    err = await recv(ws, "error")
    assert err["code"] == "invalid_input" and err["field"] == "callback_at"
    await send(ws, type="wrap_up", call_id=call_id, disposition="sale", callback_at="2099-01-01T00:00:00Z", ref="w1")
    assert "within a year" in (await recv(ws, "error"))["message"]
    await send(ws, type="wrap_up", call_id=call_id, disposition="bogus", ref="w2")
    assert (await recv(ws, "error"))["field"] == "disposition"
    await send(ws, type="wrap_up", call_id=call_id, disposition="sale", notes="Sold the 1000 plan",
               case={"subject": "Install fibre", "priority": "high"}, callback_at=tomorrow,
               not_ready_reason="after_call_work", ref="w3")
    ack = await recv(ws, "ack")
    assert ack["result"]["case_id"] is not None and ack["result"]["callback_id"] is not None
    state = None
    while state is None or state["state"] != "not_ready":
        state = (await recv(ws, "state"))["state"]
    assert state["reason"] == "after_call_work"
    crm = console.demo.crm
    row = next(r for r in crm.book[1]["interactions"] if r.get("call_id") == call_id)
    assert row["disposition"] == "sale" and row["notes"] == "Sold the 1000 plan"
    assert any(c["subject"] == "Install fibre" for c in crm.book[1]["open_cases"])


async def test_reconnect_gets_snapshot_with_current_offer_and_call(console: Console) -> None:
    token = await console.login("alice")
    ws = await ready_agent(console)
    call_id = await console.demo.desk.offer_call("a1001", caller_number="+8613800138000")
    await recv(ws, "offer")
    await ws.close()
    again = await console.ws(token)
    hello = await recv(again, "hello")
    assert hello["state"]["state"] == "reserved"
    assert hello["offer"]["call_id"] == call_id
    assert hello["offer"]["pop"]["customer"]["name"] == "李伟 Li Wei"
    await console.demo.desk.answer(call_id)
    await recv(again, "call")
    await again.close()
    third = await console.ws(token)
    hello = await recv(third, "hello")
    assert hello["offer"] is None and hello["state"]["state"] == "on_call"
    assert hello["calls"][0]["status"] == "talking"
    assert hello["calls"][0]["pop"]["customer"]["id"] == 1


async def test_second_connection_replaces_the_first(console: Console) -> None:
    token = await console.login("alice")
    first = await console.ws(token)
    await recv(first, "hello")
    second = await console.ws(token)
    await recv(second, "hello")
    assert (await recv(first, "bye"))["reason"] == "replaced"
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await recv(first)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == CLOSE_REPLACED
    await send(second, type="ping")
    assert (await recv(second))["type"] == "pong"


async def test_rest_actions_reach_the_websocket(console: Console) -> None:
    token = await console.login("alice")
    ws = await console.ws(token)
    await recv(ws, "hello")
    r = await console.http.post("/api/agent/queues/login", json={"queues": []}, headers=console.auth(token))
    assert r.status_code == 200 and r.json() == {"action": "queues_login", "result": None}
    assert (await recv(ws, "state"))["state"]["state"] == "not_ready"
    snap = await console.http.get("/api/agent/snapshot", headers=console.auth(token))
    assert snap.json()["state"]["state"] == "not_ready"
    found = await console.http.get("/api/customers", params={"q": "clarke"}, headers=console.auth(token))
    assert [c["id"] for c in found.json()] == [2]


async def test_a_console_that_stops_reading_is_dropped_not_buffered(console: Console) -> None:
    """Over a real socket: a client that stops reading fills the kernel's buffers, then uvicorn's
    transport pauses and its ``send`` waits, so the hub's bounded queue fills and the client is dropped
    (4008). Were sends never to wait, every frame would pile up in the server's transport buffer
    instead and nothing would bound a slow console's memory."""
    hub = console.demo.app.state.console.hub
    ws = await console.ws(await console.login("alice"), compression=None, max_queue=1)
    await recv(ws, "hello")
    agent_id = next(iter(hub.conns))
    conn = hub.conns[agent_id]
    frame = json.dumps({"type": "pong", "pad": "x" * 65536})  # the client reads none of these
    sent = 0
    while hub.dropped_slow == 0 and sent < 4000:
        hub._send(agent_id, frame)
        sent += 1
        await asyncio.sleep(0)
    assert hub.dropped_slow == 1 and conn.closing == CLOSE_SLOW
    assert sent <= hub.queue_size + 400  # the queue, plus what the kernel and the transport's 64 KB hold


# -- the hub alone, with a stub socket -------------------------------------------------------------

class StubSocket:
    """Enough of Starlette's WebSocket for the hub; ``send_text`` can be made to stall."""

    application_state = WebSocketState.CONNECTED

    def __init__(self, stall: bool = False) -> None:
        self.sent: list[dict[str, Any]] = []
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.stall = stall
        self.closed: int | None = None

    async def receive(self) -> dict[str, Any]:
        return await self.inbox.get()

    async def send_text(self, text: str) -> None:
        if self.stall:
            await asyncio.Event().wait()
        self.sent.append(json.loads(text))

    async def close(self, code: int = 1000) -> None:
        self.closed = code
        self.inbox.put_nowait({"type": "websocket.disconnect"})


class SlowPops(FakeCrm):
    async def build_pop(self, linkedid: str, agent_id: str, offer_info: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0.2)
        return await super().build_pop(linkedid, agent_id, offer_info)


async def _hub(pops: Any = None, **kw: Any) -> tuple[AgentHub, FakeDesk, InProcessBus]:
    bus = InProcessBus()
    crm = FakeCrm()
    desk = FakeDesk(bus, crm, answer_after_s=None)
    hub = AgentHub(desk=desk, pops=pops or crm, service=ConsoleService(desk), **kw)
    hub.subscribe(bus)
    await bus.start()
    return hub, desk, bus


async def test_slow_client_is_dropped_without_stalling_others() -> None:
    hub, desk, bus = await _hub(queue_size=8)
    slow, fast = StubSocket(stall=True), StubSocket()
    tasks = [asyncio.create_task(hub.serve(slow, Principal(1, "a", "agent", "a1"))),
             asyncio.create_task(hub.serve(fast, Principal(2, "b", "agent", "a2")))]
    await asyncio.sleep(0.05)
    for _ in range(20):  # 40 state frames for a1 (login + not_ready each), a1 reads none of them
        await desk.login_queues("a1", [])
        await desk.set_not_ready("a1", "break")
    await desk.login_queues("a2", [])
    await bus.drain()
    await asyncio.sleep(0.05)
    assert hub.dropped_slow == 1 and "a1" not in hub.conns
    assert slow.closed == CLOSE_SLOW
    assert [f["type"] for f in fast.sent] == ["hello", "state"]
    fast.inbox.put_nowait({"type": "websocket.disconnect"})
    await asyncio.wait_for(asyncio.gather(*tasks), 2)
    await bus.stop()


async def _offered(pops: Any = None, **kw: Any) -> tuple[AgentHub, FakeDesk, InProcessBus, StubSocket,
                                                         asyncio.Task[None], str]:
    """A hub with agent a1 connected (hello sent), logged in and ready, and one call offered to it."""
    hub, desk, bus = await _hub(pops=pops, **kw)
    ws = StubSocket()
    task = asyncio.create_task(hub.serve(ws, Principal(1, "a", "agent", "a1")))
    await asyncio.sleep(0.05)
    await desk.login_queues("a1", [])
    await desk.set_ready("a1")
    call_id = await desk.offer_call("a1", caller_number="+8613800138000")
    await bus.drain()
    return hub, desk, bus, ws, task, call_id


async def _hang_up(hub: AgentHub, bus: InProcessBus, ws: StubSocket, task: asyncio.Task[None]) -> None:
    ws.inbox.put_nowait({"type": "websocket.disconnect"})
    await asyncio.wait_for(task, 2)
    await hub.shutdown()
    await bus.stop()


async def test_slow_crm_sends_placeholder_offer_then_pop() -> None:
    hub, _desk, bus, ws, task, call_id = await _offered(SlowPops(), pop_timeout_s=0.02)
    # The pop frame follows the CRM's 0.2 s: waited for (a fixed 0.4 s left 0.2 s of margin, less
    # than a loaded machine's stall, after which the pop was built but not yet sent).
    await until(lambda: any(f["type"] == "pop" for f in ws.sent), 5, "the pop frame")
    kinds = [f["type"] for f in ws.sent]
    assert kinds[-2:] == ["offer", "pop"]
    assert ws.sent[-2]["offer"]["pop"]["complete"] is False
    assert ws.sent[-1]["call_id"] == call_id and ws.sent[-1]["pop"]["customer"]["id"] == 1
    assert hub.snaps["a1"].offer is not None and hub.snaps["a1"].offer.pop.complete is True
    await _hang_up(hub, bus, ws, task)


async def test_offer_view_is_built_once_with_the_crm_pop(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CRM that answers in time: no placeholder pop is built, the one offer frame holds the real pop."""
    import agent_console.snapshots as snapshots_mod

    built: list[str] = []
    real = snapshots_mod.placeholder

    def counting(ev: Any) -> Any:
        built.append(ev.linkedid)
        return real(ev)

    monkeypatch.setattr(snapshots_mod, "placeholder", counting)
    hub, _desk, bus, ws, task, call_id = await _offered(pop_timeout_s=5.0)
    await until(lambda: any(f["type"] == "offer" for f in ws.sent), 5, "the offer frame")
    offers = [f for f in ws.sent if f["type"] == "offer"]
    assert len(offers) == 1 and offers[0]["offer"]["call_id"] == call_id
    assert offers[0]["offer"]["pop"]["complete"] is True and offers[0]["offer"]["pop"]["customer"]["id"] == 1
    assert built == []
    await _hang_up(hub, bus, ws, task)


async def test_hello_during_the_crm_look_up_shows_the_offer_then_the_pop_follows() -> None:
    hub, desk, bus, ws, task, call_id = await _offered(SlowPops(), pop_timeout_s=5.0)
    hello = await hub.hello(Principal(1, "a", "agent", "a1"))  # a reconnect while the CRM looks up
    assert hello.offer is not None and hello.offer.call_id == call_id and hello.offer.pop.complete is False
    await until(lambda: any(f["type"] == "offer" for f in ws.sent), 5, "the offer frame, after the CRM's pop")
    offers = [f for f in ws.sent if f["type"] == "offer"]
    assert len(offers) == 1 and offers[0]["offer"]["pop"]["complete"] is True  # not the placeholder
    assert hub.snaps["a1"].offer is hello.offer and hello.offer.pop.complete is True
    # withdrawn while pending (nothing read it): the snapshot forgets it and no offer frame goes out
    await desk.withdraw(call_id)
    second = await desk.offer_call("a1", caller_number="+8613800138001")
    await bus.drain()
    assert hub.snaps["a1"].offer_call_id() == second
    await desk.withdraw(second)
    await bus.drain()
    assert hub.snaps["a1"].offer is None
    await asyncio.sleep(0.3)
    assert [f["offer"]["call_id"] for f in ws.sent if f["type"] == "offer"] == [call_id]
    assert ws.sent[-1]["type"] in ("offer_withdrawn", "state")
    await _hang_up(hub, bus, ws, task)


async def test_rate_limit_answers_with_an_error() -> None:
    hub, _desk, bus = await _hub(rate_per_s=1.0, burst=3.0)
    ws = StubSocket()
    task = asyncio.create_task(hub.serve(ws, Principal(1, "a", "agent", "a1")))
    for i in range(5):
        ws.inbox.put_nowait({"type": "websocket.receive", "text": json.dumps({"type": "ping", "ref": str(i)})})
    await asyncio.sleep(0.1)
    kinds = [f["type"] for f in ws.sent]
    assert kinds.count("pong") == 3 and kinds.count("error") == 2
    assert ws.sent[-1]["code"] == "rate_limited"
    ws.inbox.put_nowait({"type": "websocket.disconnect"})
    await asyncio.wait_for(task, 2)
    await bus.stop()


async def test_websocket_closes_when_the_session_expires() -> None:
    hub, _desk, bus = await _hub()
    ws = StubSocket()
    await asyncio.wait_for(hub.serve(ws, Principal(1, "a", "agent", "a1"), expires_at=hub.clock() + 0.1), 2)
    assert [f["type"] for f in ws.sent] == ["hello", "bye"]
    assert ws.sent[-1]["reason"] == "session_expired" and ws.closed == 4001
    await bus.stop()


async def test_a_not_ready_pressed_during_a_call_reaches_the_console_at_once() -> None:
    """The ACD keeps the agent on the call and announces what comes after it (AgentNotReadyPending):
    the console showed nothing until the wrap-up ended."""
    from acd.events import AgentNotReadyPending

    hub, desk, bus, ws, task, call_id = await _offered()
    await desk.answer(call_id)
    await bus.drain()
    await bus.publish(AgentNotReadyPending(ts=1.0, agent_id="a1", reason="break"))
    await bus.drain()
    await asyncio.sleep(0.05)
    last = [f for f in ws.sent if f["type"] == "state"][-1]["state"]
    assert (last["state"], last["not_ready_after_call"]) == ("on_call", "break")
    await bus.publish(AgentNotReadyPending(ts=2.0, agent_id="a1", reason=None))  # withdrawn (ready pressed)
    await bus.drain()
    await asyncio.sleep(0.05)
    last = [f for f in ws.sent if f["type"] == "state"][-1]["state"]
    assert (last["state"], last["not_ready_after_call"]) == ("on_call", None)
    await _hang_up(hub, bus, ws, task)


async def test_a_step_asterisk_refused_shows_our_words_on_the_socket(console: Console, monkeypatch: Any,
                                                                     caplog: Any) -> None:
    """An AMI action Asterisk refused that no desk step wrapped reached the agent's error frame as
    Asterisk's own text; the frame says so in our words, the engine's log keeps Asterisk's."""
    import logging

    from cti.errors import AmiActionFailed

    alice = await ready_agent(console, "alice")
    call_id = await live_call(console, "a1001")

    async def refused(*args: Any, **kwargs: Any) -> None:
        raise AmiActionFailed("Hold: Channel specified does not exist")

    monkeypatch.setattr(console.demo.desk, "hold", refused)
    with caplog.at_level(logging.WARNING):
        await send(alice, type="hold", call_id=call_id, ref="h")
        err = await recv(alice, "error")
    assert err["code"] == "ami_action_failed" and "does not exist" not in err["message"], err
    assert "the phone system refused" in err["message"], err
    assert "Hold: Channel specified does not exist" in caplog.text and "agent a1001: hold" in caplog.text
