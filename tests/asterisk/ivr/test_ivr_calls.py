"""The demo IVR against a real Asterisk 22: Local-channel calls into cti-inbound run the flow over
FastAGI; the caller's keys are AMI PlayDTMF on the ;1 half of the Local channel.

The flow's clock is injected (a Wednesday 10:00 in Shanghai plus the real elapsed time), so the
business-hours branch never depends on the wall clock. Timeouts are shortened in a copy of the
demo flow to keep the tier fast; the nodes and paths are the shipped ones.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
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
from ivr.validate import parse, validate
from tests.unit.ivr.walk import DEMO, GOLD, OPEN

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
    assert validate(flow, str(DEMO), sound_index(pbx.settings)) == []  # every prompt exists in this Asterisk
    return flow


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

    async def call(self, caller: str, dnis: str = "5000") -> tuple[str, str]:
        """Place a call into cti-inbound; return (the caller's ;1 channel, linkedid)."""
        res = await self.bridge.control.originate(f"Local/{dnis}@cti-inbound", context="cti-sim-caller",
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
    route = make_ivr_route({"5000": flow, "5001": flow}, directory, bus, lambda: OPEN + time.monotonic() - t0)
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
        yield Rig(pbx, bridge, prompts, streams, finished, arrived)
    finally:
        pbx.cli("channel request hangup all")
        await asyncio.sleep(0.3)
        await bridge.stop()
        await server.stop()
        await bus.stop()


def _parked_in_queue(pbx: ManagedPbx) -> bool:
    out = pbx.cli("core show channels concise")
    return any("cti-queue" in line and "MusicOnHold" in line for line in out.splitlines())


async def until(predicate: Any, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


async def test_account_and_pin_then_billing_reaches_the_queue(rig: Rig) -> None:
    chan, linkedid = await rig.call(UNKNOWN)
    await rig.prompt("dir-pls-enter")
    await rig.keys(chan, "123456")
    await rig.prompt("vm-password")
    await rig.keys(chan, "9731")
    await rig.prompt(MENU_PROMPT)
    await rig.keys(chan, "2")
    done = await rig.result(linkedid)
    assert done.outcome == "queue" and done.queue == "billing" and done.flow == "demo"
    assert done.skills == {"billing": 2} and done.priority == 5 and done.customer_id == 42
    assert done.attributes == {"customer": "Li Wei", "account": "123456", "identified_by": "account",
                               "topic": "billing"}
    assert done.caller_number == UNKNOWN and done.channel.endswith(";2")
    steps = [(p["node"], p["input"], p["choice"]) for p in done.path]
    assert steps == [
        ("greeting", None, None), ("identify_by_number", None, "not_found"), ("ask_account", "123456", "ok"),
        ("ask_pin", "****", "ok"), ("verify", None, "found"), ("identified", None, None),
        ("open_check", None, "main_menu"), ("main_menu", "2", "billing"), ("billing", None, "queue"),
    ]
    assert "9731" not in repr(done)
    arrived = next(a for a in rig.arrived if a.linkedid == linkedid)
    assert arrived.dnis == "5000" and arrived.caller_number == UNKNOWN
    # The dialplan read CTI_NEXT=queue: the caller now hears music in cti-queue.
    await until(lambda: _parked_in_queue(rig.pbx))


async def test_known_number_wrong_key_and_timeout_then_sales(rig: Rig) -> None:
    chan, linkedid = await rig.call(KNOWN)
    await rig.playing("vm-press")
    await rig.keys(chan, "7")  # cuts the menu prompt short
    await rig.playing("invalid")  # "invalid" then the menu again, nothing pressed
    await rig.prompt(MENU_PROMPT)
    rig.forget_streams()
    t = time.monotonic()
    await rig.playing("vm-press")  # the 1 s timeout ran out: the menu is asked a third time
    assert time.monotonic() - t >= 1.0
    await rig.keys(chan, "3")
    done = await rig.result(linkedid)
    assert (done.outcome, done.queue, done.skills, done.priority) == ("queue", "sales", {"sales": 1}, 5)
    menu = [(p["input"], p["choice"]) for p in done.path if p["node"] == "main_menu"]
    assert menu == [("7", "invalid"), ("", "timeout"), ("3", "sales")]


async def test_three_wrong_keys_reach_the_operator(rig: Rig) -> None:
    chan, linkedid = await rig.call(KNOWN)
    await rig.playing("vm-press")
    await rig.keys(chan, "7")
    await rig.playing("invalid")
    await rig.keys(chan, "8")
    await rig.playing("invalid")
    await rig.keys(chan, "6")
    done = await rig.result(linkedid)
    assert done.outcome == "queue" and done.queue == "general"
    assert [p["choice"] for p in done.path if p["node"] == "main_menu"] == [
        "invalid", "invalid", "invalid", "retries_exhausted"]
    assert rig.prompts.empty()  # every key came in while a prompt played


async def test_wrong_pin_goes_back_to_the_account_prompt(rig: Rig) -> None:
    chan, linkedid = await rig.call(UNKNOWN)
    await rig.prompt("dir-pls-enter")
    await rig.keys(chan, "123456")
    await rig.prompt("vm-password")
    await rig.keys(chan, "0000")
    await rig.prompt("dir-pls-enter", timeout_s=20)  # after "login incorrect"
    await rig.keys(chan, "123456")
    await rig.prompt("vm-password")
    await rig.keys(chan, "9731")
    await rig.playing("vm-press")
    await rig.keys(chan, "1")
    done = await rig.result(linkedid)
    assert done.queue == "support" and done.skills == {"support": 2}
    assert [p["choice"] for p in done.path if p["node"] == "verify"] == ["not_found", "found"]
    assert [p["input"] for p in done.path if p["node"] == "ask_pin"] == ["****", "****"]


async def test_hangup_mid_menu_is_recorded_as_an_ivr_abandon(rig: Rig) -> None:
    chan, linkedid = await rig.call(KNOWN)
    await rig.playing("vm-press")
    await asyncio.sleep(0.3)
    await rig.bridge.control.hangup(chan)
    done = await rig.result(linkedid)
    assert done.outcome == "abandoned" and done.queue is None and done.customer_id == 42
    assert done.path[-1]["node"] == "main_menu" and done.path[-1]["choice"] == "hangup"
    await until(lambda: "0 active channels" in rig.pbx.cli("core show channels"))


async def test_a_key_during_the_menu_prompt_chooses_at_once(rig: Rig) -> None:
    chan, linkedid = await rig.call(KNOWN)
    sound = await asyncio.wait_for(rig.streams.get(), 15)
    assert sound == "vm-press"  # the first sound of the menu prompt is playing
    await rig.keys(chan, "3")
    done = await rig.result(linkedid)
    assert done.queue == "sales"
    assert rig.prompts.empty()  # no GET DATA was needed: the key cut the prompt short
