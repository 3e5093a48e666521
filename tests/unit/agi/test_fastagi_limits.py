"""FastAgiServer's limits against raw TCP peers on loopback: a per-read timeout (a peer that sends
half a line and stalls is dropped), a session cap, and a client allowlist."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from cti.agi.fastagi import FastAgiServer
from cti.agi.session import AgiSession
from cti.settings import load_settings
from tests.servers import free_port

HEADER = (b"agi_network: yes\nagi_network_script: ivr\nagi_channel: PJSIP/1001-00000001\n"
          b"agi_uniqueid: 1700000000.1\n\n")
Start = Callable[..., Any]


@pytest.fixture
async def serve() -> AsyncIterator[Start]:
    servers: list[FastAgiServer] = []

    async def start(route: Callable[[AgiSession], Any], **agi: object) -> FastAgiServer:
        server = FastAgiServer(load_settings(agi={"port": free_port(), **agi}), {"ivr": route})
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


async def connect(server: FastAgiServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", server.port)


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> bytes:
    """Everything the server sent before closing; fails if it is still open after ``seconds``.
    A refusal aborts the connection (RST), which the reader may see as a reset instead of EOF."""
    try:
        return await asyncio.wait_for(reader.read(), seconds)
    except ConnectionResetError:
        return b""


async def test_half_a_reply_line_then_silence_is_dropped_after_the_read_timeout(serve: Start) -> None:
    outcome: list[str] = []

    async def ivr(agi: AgiSession) -> None:
        try:
            await agi.answer()
        finally:
            outcome.append("ended")

    server = await serve(ivr, read_timeout_s=0.5)
    reader, writer = await connect(server)
    writer.write(HEADER)
    assert await asyncio.wait_for(reader.readline(), 2) == b"ANSWER\n"
    started = time.monotonic()
    writer.write(b"200 res")  # no newline, and nothing more
    assert await closed_within(reader, 3) == b""
    assert 0.4 <= time.monotonic() - started < 3
    assert outcome == ["ended"]
    assert server.stats()["timed_out"] == 1 and server.open_sessions == 0
    writer.close()


async def test_half_a_header_then_silence_is_dropped_after_the_read_timeout(serve: Start) -> None:
    ran: list[str] = []

    async def ivr(agi: AgiSession) -> None:
        ran.append("ran")

    server = await serve(ivr, read_timeout_s=0.5)
    reader, writer = await connect(server)
    started = time.monotonic()
    writer.write(b"agi_network: yes\nagi_chan")
    assert await closed_within(reader, 3) == b""
    assert time.monotonic() - started < 2  # the read timeout, not the 5 s header ceiling
    assert ran == [] and server.open_sessions == 0
    writer.close()


async def test_get_data_may_wait_its_own_timeout_on_top_of_the_read_timeout(serve: Start) -> None:
    got: list[str] = []

    async def ivr(agi: AgiSession) -> None:
        got.append((await agi.get_data("menu", 1000, 1)).digits)

    server = await serve(ivr, read_timeout_s=0.3)
    reader, writer = await connect(server)
    writer.write(HEADER)
    assert await asyncio.wait_for(reader.readline(), 2) == b"GET DATA menu 1000 1\n"
    await asyncio.sleep(0.8)  # the caller takes longer than read_timeout_s, within GET DATA's timeout
    writer.write(b"200 result=5\n")
    assert await closed_within(reader, 3) == b""
    assert got == ["5"] and server.stats()["timed_out"] == 0
    writer.close()


async def test_connections_over_the_cap_are_closed_at_once(serve: Start) -> None:
    release, both_in = asyncio.Event(), asyncio.Event()
    running: list[str] = []

    async def ivr(agi: AgiSession) -> None:
        running.append(agi.env["uniqueid"])
        if len(running) == 2:
            both_in.set()
        await release.wait()

    server = await serve(ivr, max_sessions=2)
    held = [await connect(server) for _ in range(2)]
    for _, w in held:
        w.write(HEADER)
    await asyncio.wait_for(both_in.wait(), 2)
    assert server.open_sessions == 2
    reader, writer = await connect(server)
    writer.write(HEADER)
    assert await closed_within(reader, 2) == b""
    assert server.stats()["refused_busy"] == 1 and server.stats()["total"] == 2
    writer.close()
    release.set()
    for r, w in held:
        assert await closed_within(r, 2) == b""
        w.close()
    # A slot freed is a slot usable again.
    reader, writer = await connect(server)
    writer.write(HEADER)
    assert await closed_within(reader, 2) == b""
    assert server.stats()["total"] == 3 and server.stats()["refused_busy"] == 1
    writer.close()


async def test_a_client_outside_the_allowlist_is_refused(serve: Start, caplog: pytest.LogCaptureFixture) -> None:
    ran: list[str] = []

    async def ivr(agi: AgiSession) -> None:
        ran.append("ran")
        await agi.answer()

    server = await serve(ivr, allowed_clients=["10.0.0.0/8", "::1/128"])
    reader, writer = await connect(server)
    writer.write(HEADER)
    assert await closed_within(reader, 2) == b""  # not even one command
    assert ran == [] and server.stats()["refused_client"] == 1 and server.stats()["total"] == 0
    assert "127.0.0.1 is not in agi.allowed_clients" in caplog.text
    writer.close()
    reader, writer = await connect(server)  # the verdict is remembered per host: still refused
    writer.write(HEADER)
    assert await closed_within(reader, 2) == b""
    assert ran == [] and server.stats()["refused_client"] == 2
    writer.close()


async def test_loopback_is_allowed_by_default(serve: Start) -> None:
    async def ivr(agi: AgiSession) -> None:
        await agi.answer()

    server = await serve(ivr)
    reader, writer = await connect(server)
    writer.write(HEADER)
    assert await asyncio.wait_for(reader.readline(), 2) == b"ANSWER\n"
    writer.write(b"200 result=0\n")
    assert await closed_within(reader, 2) == b""
    assert server.stats()["refused_client"] == 0 and server.stats()["total"] == 1
    writer.close()
