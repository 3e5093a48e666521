"""The wire (agent_console/wire.py) on a real uvicorn websockets-sansio server: offer frames go out
as UTF-8 bytes past the ASGI layers, and everything uvicorn's ``send`` would wait for or refuse
still goes the ASGI way."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from starlette.types import Message, Scope

from acd.events import AgentOffer
from agent_console import protocol as p
from agent_console.hub import CLOSE_SLOW
from agent_console.wire import SCOPE_KEY, Wire, WireMiddleware, wire_of
from tests.web.console.conftest import Console, recv


@pytest.fixture
def wire_sends(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """What every ``Wire.send_text`` answered (True: written on the wire)."""
    answers: list[bool] = []
    real = Wire.send_text

    def spy(self: Wire, data: bytes) -> bool:
        answers.append(real(self, data))
        return answers[-1]

    monkeypatch.setattr(Wire, "send_text", spy)
    return answers


async def test_an_offer_goes_out_on_the_wire_as_the_same_frame(console: Console, wire_sends: list[bool]) -> None:
    hub = console.demo.app.state.console.hub
    ws = await console.ws(await console.login("alice"), compression=None)
    await recv(ws, "hello")
    assert wire_of(hub.conns["a1001"].ws) is not None  # uvicorn's sansio protocol was found
    await console.demo.bus.publish(AgentOffer(ts=time.time(), agent_id="a1001", linkedid="wire-1", queue="support",
                                              caller_number="+8613800138000", waited_s=4.0, skills={"general": 1}))
    frame = await recv(ws, "offer")
    assert wire_sends == [True]
    offer = p.SERVER_ADAPTER.validate_python(frame).offer  # a valid frame, the pop complete, Chinese intact
    assert offer.call_id == "wire-1" and offer.pop.complete and offer.pop.customer.name == "李伟 Li Wei"
    hello = await _hello(console, "alice")  # the snapshot's view of the same offer: the same pop
    assert hello["offer"]["pop"] == frame["offer"]["pop"]


async def _hello(console: Console, username: str) -> dict[str, Any]:
    ws = await console.ws(await console.login(username), compression=None)
    return await recv(ws, "hello")


async def test_a_console_that_stops_reading_is_still_dropped(console: Console, wire_sends: list[bool]) -> None:
    """Byte frames too: once the transport pauses the wire answers False, the frame takes uvicorn's
    ``send``, which waits, the queue fills and the client is dropped (4008), nothing piles up."""
    hub = console.demo.app.state.console.hub
    ws = await console.ws(await console.login("alice"), compression=None, max_queue=1)
    await recv(ws, "hello")
    conn = hub.conns["a1001"]
    frame = json.dumps({"type": "pong", "pad": "x" * 65536}).encode()  # the client reads none of these
    sent = 0
    while hub.dropped_slow == 0 and sent < 4000:
        hub._send("a1001", frame)
        sent += 1
        await asyncio.sleep(0)
    assert hub.dropped_slow == 1 and conn.closing == CLOSE_SLOW
    assert sent <= hub.queue_size + 400
    assert True in wire_sends and False in wire_sends  # written on the wire until the transport paused


async def test_after_the_client_left_the_wire_refuses_and_the_frame_is_dropped(console: Console,
                                                                              wire_sends: list[bool]) -> None:
    hub = console.demo.app.state.console.hub
    ws = await console.ws(await console.login("alice"), compression=None)
    await recv(ws, "hello")
    conn = hub.conns["a1001"]
    wire = wire_of(conn.ws)
    await ws.close()
    for _ in range(200):  # until uvicorn has seen the close
        if not wire.send_text(b'{"type":"pong"}'):
            break
        await asyncio.sleep(0.01)
    assert wire_sends[-1] is False
    conn.out.put(b'{"type":"pong","ref":"late"}')  # no exception: the outbox notes the client gone


async def test_without_uvicorns_sansio_protocol_there_is_no_wire() -> None:
    seen: list[Scope] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        seen.append(scope)

    async def send(message: Message) -> None: ...

    await WireMiddleware(app)({"type": "websocket"}, None, send)  # type: ignore[arg-type]
    assert SCOPE_KEY not in seen[0] and wire_of(object()) is None
