"""Shared rig for the IVR tests against a real Asterisk: FastAGI/classic routes wrapped so the test
knows when a prompt runs, AMI for calls and keys, the IVR's bus events collected."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from cti.agi.fastagi import FastAgiServer
from cti.agi.session import AgiSession, Digits
from cti.ami.bridge import AmiBridge
from cti.bus import InProcessBus
from cti.journey import CallArrived, IvrFinished
from cti.pbx import ManagedPbx
from ivr.config import sound_index
from ivr.directory import InMemoryDirectory
from ivr.driver import make_ivr_route
from ivr.validate import parse, resolve_prompts, validate
from tests.unit.ivr.walk import DEMO, GOLD, OPEN, stock_only

KNOWN = "+8613800000002"
UNKNOWN = "+8613800000001"
# A multi-sound prompt is streamed (any key interrupts) and its last sound played by GET DATA:
# the test keys in once GET DATA runs on the menu's last sound.
MENU_PROMPT = "digits/0"


def demo_for_tests(pbx: ManagedPbx) -> Any:
    data = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    data["nodes"]["main_menu"]["timeout_ms"] = 1000
    flow, problems = parse(data, str(DEMO))
    assert flow is not None, problems
    index = sound_index(pbx.settings)
    assert index is not None
    assert validate(flow, str(DEMO), index) == []  # every prompt exists in this Asterisk
    # Stock sounds only, so the test does not depend on whether cti/ prompts were generated.
    return resolve_prompts(flow, lambda name, lang: stock_only(name, lang) and index.exists(name, lang))


class Watched:
    """An AgiSession that reports each GET DATA it starts (and each interruptible sound), so the
    test keys in at the right time."""

    def __init__(self, inner: AgiSession, prompts: asyncio.Queue[tuple[str, str]],
                 streams: asyncio.Queue[str]) -> None:
        self._inner = inner
        self._prompts = prompts
        self._streams = streams

    @property
    def env(self) -> Mapping[str, str]:
        return self._inner.env

    async def get_data(self, sound: str, timeout_ms: int, max_digits: int) -> Digits:
        await self._prompts.put((self._inner.env.get("uniqueid", ""), sound))
        return await self._inner.get_data(sound, timeout_ms, max_digits)

    async def stream_file(self, sound: str, escape_digits: str = "") -> str:
        if escape_digits:
            await self._streams.put(sound)
        return await self._inner.stream_file(sound, escape_digits)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@dataclass
class Rig:
    pbx: ManagedPbx
    bridge: AmiBridge
    prompts: asyncio.Queue[tuple[str, str]]
    streams: asyncio.Queue[str]
    finished: list[IvrFinished]
    arrived: list[CallArrived]
    route: Callable[[AgiSession], Awaitable[None]]  # the IVR route, watched; for other AGI transports
    bus: InProcessBus  # the IVR's events
    wall: list[float]  # the flow's clock reads wall[0] plus the real elapsed time (OPEN by default)

    def set_time(self, ts: float) -> None:
        """Move the flow's clock (business hours) to ``ts`` from now on."""
        self.wall[0] = ts - (time.monotonic() - self.wall[1])

    async def call(self, caller: str, dnis: str = "5000", context: str = "cti-inbound") -> tuple[str, str]:
        """Place a call into ``context``; return (the caller's ;1 channel, linkedid)."""
        res = await self.bridge.control.originate(f"Local/{dnis}@{context}", context="cti-sim-caller",
                                                  exten="s", caller_id=f"Caller <{caller}>", timeout_ms=10000)
        assert res.success and res.channel and res.channel.endswith(";1"), res
        assert res.linkedid
        return res.channel, res.linkedid

    async def prompt(self, expected: str, timeout_s: float = 15.0) -> None:
        _, sound = await asyncio.wait_for(self.prompts.get(), timeout_s)
        assert sound == expected

    async def playing(self, expected: str, timeout_s: float = 15.0) -> None:
        """Wait until an interruptible sound (part of a menu/collect prompt) starts."""
        sound = await asyncio.wait_for(self.streams.get(), timeout_s)
        assert sound == expected

    def forget_streams(self) -> None:
        while not self.streams.empty():
            self.streams.get_nowait()

    async def keys(self, channel: str, digits: str) -> None:
        for d in digits:
            await self.bridge.control.play_dtmf(channel, d, 120)
            await asyncio.sleep(0.25)  # digits closer than ~200 ms can merge on a Local channel

    async def result(self, linkedid: str, timeout_s: float = 20.0) -> IvrFinished:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for ev in self.finished:
                if ev.linkedid == linkedid:
                    return ev
            await asyncio.sleep(0.05)
        raise AssertionError(f"no IvrFinished for {linkedid}; got {self.finished}")


@pytest.fixture
async def rig(pbx: ManagedPbx) -> AsyncIterator[Rig]:
    bus = InProcessBus()
    finished: list[IvrFinished] = []
    arrived: list[CallArrived] = []

    async def on_finished(ev: IvrFinished) -> None:
        finished.append(ev)

    async def on_arrived(ev: CallArrived) -> None:
        arrived.append(ev)

    bus.subscribe(IvrFinished, on_finished, name="finished")
    bus.subscribe(CallArrived, on_arrived, name="arrived")
    await bus.start()
    t0 = time.monotonic()
    directory = InMemoryDirectory(numbers={KNOWN: GOLD}, accounts={"123456": ("9731", GOLD)})
    flow = demo_for_tests(pbx)
    wall = [OPEN, t0]
    route = make_ivr_route({"5000": flow, "5001": flow}, directory, bus, lambda: wall[0] + time.monotonic() - t0)
    prompts: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    streams: asyncio.Queue[str] = asyncio.Queue()

    async def watched_route(session: AgiSession) -> None:
        await route(Watched(session, prompts, streams))

    server = FastAgiServer(pbx.settings, routes={"ivr": watched_route})
    await server.start()
    bridge = AmiBridge(pbx.settings, InProcessBus())
    await bridge.start()
    await bridge.wait_connected(10)
    try:
        yield Rig(pbx, bridge, prompts, streams, finished, arrived, watched_route, bus, wall)
    finally:
        pbx.cli("channel request hangup all")
        await asyncio.sleep(0.3)
        await bridge.stop()
        await server.stop()
        await bus.stop()


def parked_in_queue(pbx: ManagedPbx) -> bool:
    out = pbx.cli("core show channels concise")
    return any("cti-queue" in line and "MusicOnHold" in line for line in out.splitlines())


async def until(predicate: Any, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)
