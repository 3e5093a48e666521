"""AgiStream, the FastAGI connection's line reader, fed as the transport would feed it: the limits
the session relies on (an overlong line refused and skipped, a flood pauses the socket, a read
that waits too long times out) and the header block."""

from __future__ import annotations

import asyncio

import pytest

from cti.agi.fastagi import FastAgiSession
from cti.agi.protocol import AgiCommandError
from cti.agi.stream import LIMIT, AgiStream
from cti.errors import AgiHangup


class Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.paused = False
        self.written: list[bytes] = []

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def get_write_buffer_size(self) -> int:
        return 0

    def write(self, data: bytes) -> None:  # type: ignore[override]
        self.written.append(bytes(data))


def connected() -> tuple[AgiStream, Transport]:
    stream, transport = AgiStream(), Transport()
    stream.connection_made(transport)
    return stream, transport


async def test_an_overlong_reply_line_is_refused_and_the_next_one_read() -> None:
    stream, transport = connected()
    session = FastAgiSession({"channel": "PJSIP/1-1"}, stream)
    stream.data_received(b"200 result=1 (" + b"x" * LIMIT + b")\n")
    with pytest.raises(AgiCommandError, match="too long"):
        await session.command("GET VARIABLE", "X")
    stream.data_received(b"200 result=1 (ok)\n")
    assert (await session.command("GET VARIABLE", "X")).data == "ok"
    assert transport.written == [b"GET VARIABLE X\n", b"GET VARIABLE X\n"]


async def test_a_flood_without_a_newline_pauses_the_socket_and_is_refused() -> None:
    stream, transport = connected()
    stream.data_received(b"y" * (2 * LIMIT + 1))
    assert transport.paused
    with pytest.raises(ValueError):
        await stream.read_until(b"\n", 1.0)
    assert not transport.paused
    stream.data_received(b"200 result=0\n")
    assert await stream.read_until(b"\n", 1.0) == b"200 result=0\n"


async def test_a_read_that_waits_past_its_timeout_raises_and_a_line_in_time_is_returned() -> None:
    stream, _ = connected()
    with pytest.raises(TimeoutError):
        await stream.read_until(b"\n", 0.05)
    loop = asyncio.get_running_loop()
    loop.call_later(0.02, stream.data_received, b"200 res")
    loop.call_later(0.04, stream.data_received, b"ult=0\nHANGUP\n")
    assert await stream.read_until(b"\n", 1.0) == b"200 result=0\n"
    assert await stream.read_until(b"\n", 0.01) == b"HANGUP\n"  # already buffered: no wait


async def test_the_header_block_and_end_of_stream() -> None:
    stream, _ = connected()
    stream.data_received(b"agi_channel: PJSIP/1-1\n")
    stream.data_received(b"\nANSWER")
    assert await stream.read_until(b"\n\n", 1.0) == b"agi_channel: PJSIP/1-1\n\n"
    stream.eof_received()
    assert await stream.read_until(b"\n", 1.0) is None  # the partial rest is not a line
    session = FastAgiSession({"channel": "PJSIP/1-1"}, stream)
    with pytest.raises(AgiHangup):
        await session.answer()
