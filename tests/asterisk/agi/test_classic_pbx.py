"""Classic (process) AGI against a real Asterisk 22.

Asterisk runs in a chroot without our Python, so the AGI process it starts is a socat relay
that connects its stdin/stdout to a socket we accept; pyst2 then sees exactly what a process
AGI sees (the agi_* block, replies, EOF when Asterisk kills the relay on hangup).
"""

import asyncio
import select
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager

import pytest

from cti.agi.classic import ClassicAgiSession, run_classic
from cti.agi.session import AgiSession, Digits
from cti.errors import AgiHangup
from cti.pbx import ManagedPbx
from tests.asterisk.agi.helpers import cli, wait_until

CONTEXT = "cti-test-classic"


@pytest.fixture
async def relay(pbx: ManagedPbx) -> AsyncIterator[socket.socket]:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(15)
    port = listener.getsockname()[1]
    script = pbx.instance_dir / "agi-relay.sh"
    script.write_text(f"#!/bin/sh\nexec socat STDIO TCP:127.0.0.1:{port}\n")
    script.chmod(0o755)
    await cli(pbx, f"dialplan add extension 1,1,AGI,{pbx.instance_path}/agi-relay.sh into {CONTEXT} replace")
    yield listener
    listener.close()
    await cli(pbx, "channel request hangup all")
    await wait_until(lambda: "0 active channels" in pbx.cli("core show channels"))


@contextmanager
def accepted(listener: socket.socket) -> Iterator[ClassicAgiSession]:
    conn, _ = listener.accept()
    with conn, conn.makefile("r", encoding="utf-8", newline="\n") as stdin, \
            conn.makefile("w", encoding="utf-8", newline="\n") as stdout:
        session = ClassicAgiSession.open(stdin, stdout)  # main thread: pyst2 installs SIGHUP
        try:
            yield session
        finally:
            session.close()


async def call_in(pbx: ManagedPbx, listener: socket.socket,
                  route: Callable[[AgiSession], object], hangup_when: asyncio.Event | None = None) -> str:
    await cli(pbx, f"channel originate Local/1@{CONTEXT} application Wait 20")
    await asyncio.to_thread(_wait_readable, listener)
    with accepted(listener) as session:
        task = asyncio.create_task(run_classic(route, session, "classic-test"))  # type: ignore[arg-type]
        if hangup_when is not None:
            await asyncio.wait_for(hangup_when.wait(), 10)
            await asyncio.sleep(0.3)
            await cli(pbx, "channel request hangup all")
        return await asyncio.wait_for(task, 15)


def _wait_readable(listener: socket.socket) -> None:
    ready, _, _ = select.select([listener], [], [], 15)
    assert ready, "the AGI relay never connected"


async def test_classic_agi_session_on_a_real_call(pbx: ManagedPbx, relay: socket.socket) -> None:
    seen: dict[str, object] = {}

    async def route(agi: AgiSession) -> None:
        seen.update(agi.env)
        await agi.answer()
        seen["digit"] = await agi.stream_file("beep")
        seen["data"] = await agi.get_data("beep", 300, 2)
        await agi.set_variable("CTI_NEXT", "queue")
        seen["next"] = await agi.get_variable("CTI_NEXT")

    assert await call_in(pbx, relay, route) == "done"
    assert seen["context"] == CONTEXT and seen["extension"] == "1"
    assert str(seen["channel"]).startswith(f"Local/1@{CONTEXT}-")
    assert seen["digit"] == "" and seen["data"] == Digits("", timed_out=True) and seen["next"] == "queue"


async def test_classic_agi_hangup_mid_session(pbx: ManagedPbx, relay: socket.socket) -> None:
    waiting = asyncio.Event()
    raised: list[BaseException] = []

    async def route(agi: AgiSession) -> None:
        await agi.answer()
        waiting.set()
        try:
            await agi.wait_for_digit(20_000)
        except AgiHangup as err:
            raised.append(err)
            raise

    assert await call_in(pbx, relay, route, hangup_when=waiting) == "hangup"
    assert len(raised) == 1
