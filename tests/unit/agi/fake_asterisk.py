"""A scripted Asterisk on the far side of a FastAgiSession: each command written gets the next
scripted reply lines fed back into the session's stream (as the socket would)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from cti.agi.fastagi import FastAgiSession
from cti.agi.stream import AgiStream


class ScriptedWriter(asyncio.Transport):
    """The session's transport: what it writes is recorded and answered with the next replies."""

    def __init__(self, stream: AgiStream, replies: Sequence[Sequence[str] | str]) -> None:
        super().__init__()
        self.stream = stream
        self.replies = [[r] if isinstance(r, str) else list(r) for r in replies]
        self.written: list[str] = []
        self.closed = False

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_write_buffer_size(self) -> int:
        return 0  # the peer took every line

    def write(self, data: bytes) -> None:  # type: ignore[override]
        self.written.append(data.decode())
        if not self.replies:
            self.stream.eof_received()
            return
        for line in self.replies.pop(0):
            self.stream.data_received(line.encode() + b"\n")


ENV = {"channel": "Local/5000@cti-inbound-00000001;2", "uniqueid": "1700000000.42",
       "extension": "5000", "context": "cti-inbound", "network_script": "ivr"}


def scripted_session(*replies: Sequence[str] | str) -> tuple[FastAgiSession, ScriptedWriter]:
    stream = AgiStream()
    writer = ScriptedWriter(stream, replies)
    stream.connection_made(writer)
    return FastAgiSession(ENV, stream), writer
