"""A scripted Asterisk on the far side of a FastAgiSession: each command written gets the next
scripted reply lines fed back into the session's reader."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from cti.agi.fastagi import FastAgiSession


class ScriptedWriter:
    def __init__(self, reader: asyncio.StreamReader, replies: Sequence[Sequence[str] | str]) -> None:
        self.reader = reader
        self.replies = [[r] if isinstance(r, str) else list(r) for r in replies]
        self.written: list[str] = []
        self.transport = self  # FastAgiSession asks the transport whether anything is left to drain

    def get_write_buffer_size(self) -> int:
        return 0

    def write(self, data: bytes) -> None:
        self.written.append(data.decode())
        if not self.replies:
            self.reader.feed_eof()
            return
        for line in self.replies.pop(0):
            self.reader.feed_data(line.encode() + b"\n")

    async def drain(self) -> None:
        return None


ENV = {"channel": "Local/5000@cti-inbound-00000001;2", "uniqueid": "1700000000.42",
       "extension": "5000", "context": "cti-inbound", "network_script": "ivr"}


def scripted_session(*replies: Sequence[str] | str) -> tuple[FastAgiSession, ScriptedWriter]:
    reader = asyncio.StreamReader()
    writer = ScriptedWriter(reader, replies)
    return FastAgiSession(ENV, reader, writer), writer  # type: ignore[arg-type]
