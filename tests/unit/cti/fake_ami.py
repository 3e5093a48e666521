"""A scripted AMI server on a loopback socket: the 'fake transport' for AmiClient unit tests.

A plain asyncio.Protocol (no per-connection tasks): it answers each action synchronously from
``handler`` and can push events or cut every connection at will.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

Handler = Callable[[dict[str, str]], list[str]]

_LISTS = {"CoreShowChannels": "CoreShowChannelsComplete", "BridgeList": "BridgeListComplete",
          "BridgeInfo": "BridgeInfoComplete", "DeviceStateList": "DeviceStateListComplete"}


def list_answer(aid: str, complete: str, *items: str) -> list[str]:
    """A list action's answer: the Response, one event per item (``Event: ...`` headers), then ``complete``."""
    return [f"Response: Success\r\nActionID: {aid}\r\nEventList: start\r\nMessage: follows",
            *(f"{item}\r\nActionID: {aid}" for item in items),
            f"Event: {complete}\r\nActionID: {aid}\r\nEventList: Complete\r\nListItems: {len(items)}"]


def default_handler(action: dict[str, str]) -> list[str]:
    name, aid = action.get("Action", ""), action.get("ActionID", "")
    if name in _LISTS:
        return list_answer(aid, _LISTS[name])
    if name == "Ping":
        return [f"Response: Success\r\nActionID: {aid}\r\nPing: Pong"]
    if name == "Logoff":
        return [f"Response: Goodbye\r\nActionID: {aid}\r\nMessage: Thanks for all the fish."]
    return [f"Response: Success\r\nActionID: {aid}\r\nMessage: ok"]


class _Conn(asyncio.Protocol):
    def __init__(self, server: FakeAmi) -> None:
        self.server = server
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.server.conns.append(self)
        transport.write(b"Asterisk Call Manager/11.0.0\r\n")

    def connection_lost(self, exc: Exception | None) -> None:
        if self in self.server.conns:
            self.server.conns.remove(self)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while b"\r\n\r\n" in self.buf:
            raw, self.buf = self.buf.split(b"\r\n\r\n", 1)
            self.server.raw.append(raw)
            action = dict(line.split(": ", 1) for line in raw.decode().split("\r\n"))
            self.server.on_action(action, self)

    def send(self, block: str) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(block.encode() + b"\r\n\r\n")


class FakeAmi:
    def __init__(self, handler: Handler | None = None, *, secret: str = "s3cret") -> None:
        self.handler: Handler = handler or default_handler
        self.secret = secret
        self.received: list[dict[str, str]] = []
        self.raw: list[bytes] = []
        self.conns: list[_Conn] = []
        self.logins = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Conn(self), "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    def on_action(self, action: dict[str, str], conn: _Conn) -> None:
        self.received.append(action)
        aid = action.get("ActionID", "")
        if action.get("Action") == "Login":
            if action.get("Secret") != self.secret:
                conn.send(f"Response: Error\r\nActionID: {aid}\r\nMessage: Authentication failed")
                return
            self.logins += 1
            conn.send(f"Response: Success\r\nActionID: {aid}\r\nMessage: Authentication accepted")
            conn.send("Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted")
            return
        for block in self.handler(action):
            conn.send(block)

    def actions(self, name: str) -> list[dict[str, str]]:
        return [a for a in self.received if a.get("Action") == name]

    def kill_connections(self) -> None:
        for conn in list(self.conns):
            if conn.transport is not None:
                conn.transport.abort()

    async def stop(self) -> None:
        # Stop listening first: a client under test reconnects as soon as its connection drops.
        if self._server is not None:
            self._server.close()
        self.kill_connections()
        if self._server is not None:
            await asyncio.wait_for(self._server.wait_closed(), 5)
