"""The AGI commands of a plain IVR call on a real Asterisk 22, as written on the FastAGI socket
(issue 19: each command is a round trip on the engine's event loop), and that the caller's
language set in the hand-off's MSet is the channel's language after the IVR."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from cti.agi.fastagi import FastAgiServer, FastAgiSession
from cti.agi.session import AgiSession
from cti.ami.bridge import AmiBridge
from cti.bus import InProcessBus
from cti.pbx import ManagedPbx
from ivr.directory import InMemoryDirectory
from ivr.driver import make_ivr_route
from tests.asterisk.ivr.rig import parked_in_queue, until
from tests.unit.ivr.test_driver_commands import ZH, ZH_CALLER, _flow


@dataclass
class Lines:
    pbx: ManagedPbx
    bridge: AmiBridge
    written: list[str]
    envs: list[dict[str, str]]  # the agi_* environment of each session, as the IVR reads it


@pytest.fixture
async def lines(pbx: ManagedPbx, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Lines]:
    """The bench's flow on 5003 and the same flow without its menu on 5004, over FastAGI; every
    command line the sessions write, in order."""
    written: list[str] = []
    write, write_last_now = FastAgiSession._write, FastAgiSession._write_last_now

    async def recorded(self: FastAgiSession, line: bytes) -> None:
        written.append(line.decode())
        await write(self, line)

    def recorded_last(self: FastAgiSession, line: bytes) -> bool:
        sent = write_last_now(self, line)
        if sent:
            written.append(line.decode())
        return sent

    monkeypatch.setattr(FastAgiSession, "_write", recorded)
    monkeypatch.setattr(FastAgiSession, "_write_last_now", recorded_last)
    bus = InProcessBus()
    await bus.start()
    ivr = make_ivr_route({"5003": _flow(menu=True), "5004": _flow(menu=False)},
                         InMemoryDirectory(numbers={ZH_CALLER: ZH}), bus)
    envs: list[dict[str, str]] = []

    async def route(session: AgiSession) -> None:
        envs.append(dict(session.env))
        await ivr(session)

    server = FastAgiServer(pbx.settings, routes={"ivr": route})
    await server.start()
    bridge = AmiBridge(pbx.settings, InProcessBus())
    await bridge.start()
    await bridge.wait_connected(10)
    try:
        yield Lines(pbx, bridge, written, envs)
    finally:
        pbx.cli("channel request hangup all")
        await asyncio.sleep(0.3)
        await bridge.stop()
        await server.stop()
        await bus.stop()


async def _call(rig: Lines, dnis: str) -> str:
    """A call from the Chinese-speaking customer; the channel that runs the IVR (;2)."""
    res = await rig.bridge.control.originate(f"Local/{dnis}@cti-inbound", context="cti-sim-caller", exten="s",
                                             caller_id=f"Caller <{ZH_CALLER}>", timeout_ms=10000)
    assert res.success and res.channel and res.channel.endswith(";1"), res
    return res.channel


async def _language_in_queue(rig: Lines, caller: str) -> str | None:
    """The language of the IVR's channel once it waits in cti-queue (Asterisk's own view of it)."""
    await until(lambda: parked_in_queue(rig.pbx))
    shown = rig.pbx.cli(f"core show channel {caller[:-1]}2")
    return next((line.split(":", 1)[1].strip() for line in shown.splitlines()
                 if line.strip().startswith("Language:")), None)


async def test_a_plain_call_costs_three_agi_commands(lines: Lines) -> None:
    """bench/e2e_sipp.py's call: the caller's language (the beep is picked by it), the menu, the
    hand-off's set; the caller then waits in the queue, in its language."""
    caller = await _call(lines, "5003")
    deadline = time.monotonic() + 15
    while not any(w.startswith("GET DATA") for w in lines.written):
        assert time.monotonic() < deadline, lines.written
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # the beep plays; GET DATA then listens
    await lines.bridge.control.play_dtmf(caller, "1", 120)
    assert await _language_in_queue(lines, caller) == "zh"
    assert lines.written == ["SET VARIABLE CHANNEL(language) zh\n", "GET DATA beep 10000 1\n",
                             "EXEC MSet CTI_QUEUE=support,CTI_PRIORITY=0,CTI_NEXT=queue\n"]
    # The channel's language as Asterisk gives it (agi_language): the IVR sets a caller's only
    # when it differs.
    assert lines.envs[0]["language"] == "en"


async def test_a_callers_language_rides_in_the_hand_off_s_mset(lines: Lines) -> None:
    """Identified and sent straight to the queue: one command (two before), and Asterisk wrote the
    channel's language through MSet as SET VARIABLE did."""
    caller = await _call(lines, "5004")
    assert await _language_in_queue(lines, caller) == "zh"
    assert lines.written == ["EXEC MSet CHANNEL(language)=zh,CTI_QUEUE=support,CTI_PRIORITY=0,CTI_NEXT=queue\n"]


