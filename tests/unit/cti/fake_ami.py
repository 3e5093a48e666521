"""A scripted AMI server on a loopback socket: the 'fake transport' for AmiClient unit tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

Handler = Callable[[dict[str, str]], list[str]]

_LISTS = {"CoreShowChannels": "CoreShowChannelsComplete", "BridgeList": "BridgeListComplete",
          "BridgeInfo": "BridgeInfoComplete", "DeviceStateList": "DeviceStateListComplete",
          "PJSIPShowEndpoints": "EndpointListComplete"}


def default_handler(action: dict[str, str]) -> list[str]:
    name, aid = action.get("Action", ""), action.get("ActionID", "")
    if name in _LISTS:
        return [f"Response: Success\r\nActionID: {aid}\r\nEventList: start\r\nMessage: follows",
                f"Event: {_LISTS[name]}\r\nActionID: {aid}\r\nEventList: Complete\r\nListItems: 0"]
    if name == "Ping":
        return [f"Response: Success\r\nActionID: {aid}\r\nPing: Pong"]
    if name == "Logoff":
        return [f"Response: Goodbye\r\nActionID: {aid}\r\nMessage: Thanks for all the fish."]
    return [f"Response: Success\r\nActionID: {aid}\r\nMessage: ok"]


class FakeAmi:
    def __init__(self, handler: Handler = default_handler, *, secret: str = "s3cret") -> None:
        self.handler = handler
        self.secret = secret
        self.received: list[dict[str, str]] = []
        self.raw: list[bytes] = []
        self.writers: list[asyncio.StreamWriter] = []
        self.logins = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, port: int = 0) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        try:
            while True:
                raw = await reader.readuntil(b"\r\n\r\n")
                self.raw.append(raw)
                action = dict(line.split(": ", 1) for line in raw.decode().strip().split("\r\n"))
                self.received.append(action)
                if action.get("Action") == "Login":
                    if action.get("Secret") != self.secret:
                        self.send(f"Response: Error\r\nActionID: {action['ActionID']}\r\n"
                                  "Message: Authentication failed", writer)
                        continue
                    self.logins += 1
                    self.send(f"Response: Success\r\nActionID: {action['ActionID']}\r\n"
                              "Message: Authentication accepted", writer)
                    self.send("Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted", writer)
                    continue
                for block in self.handler(action):
                    self.send(block, writer)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    def send(self, block: str, writer: asyncio.StreamWriter | None = None) -> None:
        for w in [writer] if writer else self.writers:
            if not w.is_closing():
                w.write(block.encode() + b"\r\n\r\n")

    def actions(self, name: str) -> list[dict[str, str]]:
        return [a for a in self.received if a.get("Action") == name]

    def kill_connections(self) -> None:
        for w in self.writers:
            w.transport.abort()
        self.writers.clear()

    async def stop(self) -> None:
        self.kill_connections()
        if self._server is not None:
            self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
