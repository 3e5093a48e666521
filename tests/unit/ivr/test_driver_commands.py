"""The AGI commands a call costs, as written on the wire: the IVR over a FastAGI session whose far
side is a scripted Asterisk (tests/unit/agi/fake_asterisk.py). Issue 19: each command is a round trip
on the event loop; these tests fail if one comes back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from cti.agi.fastagi import FastAgiSession
from cti.agi.stream import AgiStream
from cti.bus import InProcessBus
from ivr import flow as f
from ivr.directory import CallerIdentity, InMemoryDirectory
from ivr.driver import IvrOutcome, run_ivr
from ivr.validate import parse
from tests.unit.agi.fake_asterisk import ScriptedWriter

ZH_CALLER = "+8613800000009"
ZH = CallerIdentity(customer_id=9, name="Wang Fang", tier="", language="zh-CN", account_number="")


def _flow(menu: bool) -> f.Flow:
    """bench/e2e_sipp.py's flow (a look-up, a beep and one key, the support queue), or the same
    without the menu: an identified caller goes straight to the queue."""
    nodes: dict[str, Any] = {
        "identify": {"type": "lookup", "by": "caller_id", "found": "menu" if menu else "support",
                     "not_found": "menu" if menu else "support"},
        "support": {"type": "queue", "queue": "support", "skills": {"support": 2}},
    }
    if menu:
        nodes["menu"] = {"type": "menu", "prompt": ["beep"], "options": {"1": "support"}, "timeout_ms": 10000,
                         "retries": 0, "fallback": "support"}
    flow, problems = parse({"flow": "bench", "entries": ["5003"], "language": "en", "start": "identify",
                            "operator": "support", "nodes": nodes}, "bench.yaml")
    assert flow is not None, problems
    return flow


def _session(*replies: str, language: str = "en") -> tuple[FastAgiSession, ScriptedWriter]:
    env = {"channel": "PJSIP/trunk-00000001", "language": language, "uniqueid": "1700000000.42",
           "callerid": ZH_CALLER, "calleridname": "unknown", "extension": "5003", "context": "cti-inbound",
           "network_script": "ivr", "arg_1": "1700000000.42"}
    stream = AgiStream()
    writer = ScriptedWriter(stream, replies)
    stream.connection_made(writer)
    return FastAgiSession(env, stream), writer


@pytest.fixture
async def bus() -> AsyncIterator[InProcessBus]:
    b = InProcessBus()
    await b.start()
    yield b
    await b.stop()


def _directory() -> InMemoryDirectory:
    return InMemoryDirectory(numbers={ZH_CALLER: ZH})


async def test_a_plain_call_costs_three_commands_and_a_held_one_its_dial(bus: InProcessBus) -> None:
    """The bench's call: the caller's language before the beep it hears (Asterisk picks sounds/zh/
    for it), the menu, the hand-off's set. Held for the ACD (the engine's wiring), the set is waited
    for and the agent's Dial() is the last command."""
    session, asterisk = _session("200 result=1", "200 result=49", "200 result=0")
    out = await run_ivr(session, _flow(menu=True), _directory(), bus)
    assert out.outcome == "queue" and out.language == "zh-CN"
    assert asterisk.written == ["SET VARIABLE CHANNEL(language) zh\n", "GET DATA beep 10000 1\n",
                                "EXEC MSet CTI_QUEUE=support,CTI_PRIORITY=0,CTI_NEXT=queue\n"]
    assert asterisk.closed and session.commands == 3

    def hold(held: Any, _outcome: IvrOutcome) -> asyncio.Future[bool]:
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        done.set_result(held.exec_last_now("Dial", "PJSIP/1001", "15", "gm"))
        return done

    session, asterisk = _session("200 result=1", "200 result=49", "200 result=0")
    await run_ivr(session, _flow(menu=True), _directory(), bus, hold=hold,
                  handoff_vars=lambda o: {"CTI_ACD": f"v2|{o.linkedid}|support"})
    assert asterisk.written == ["SET VARIABLE CHANNEL(language) zh\n", "GET DATA beep 10000 1\n",
                                "EXEC MSet CTI_QUEUE=support,CTI_PRIORITY=0,CTI_ACD=v2|1700000000.42|support,"
                                "CTI_NEXT=queue\n", "EXEC Dial PJSIP/1001,15,gm\n"]
    assert session.commands == 4


async def test_a_language_set_with_nothing_heard_after_it_rides_in_the_hand_off_s_set(bus: InProcessBus) -> None:
    """An identified caller sent straight to the queue: the channel's language (for the queue's
    prompts after the IVR) goes in the hand-off's MSet, not in a SET VARIABLE of its own (two
    commands before)."""
    session, asterisk = _session("200 result=0")
    out = await run_ivr(session, _flow(menu=False), _directory(), bus)
    assert out.outcome == "queue"
    assert asterisk.written == ["EXEC MSet CHANNEL(language)=zh,CTI_QUEUE=support,CTI_PRIORITY=0,CTI_NEXT=queue\n"]
    assert session.commands == 1


async def test_a_language_the_channel_already_has_is_not_set_again(bus: InProcessBus) -> None:
    """Asterisk gives the channel's language in the AGI environment (``agi_language``: a trunk or
    endpoint set to ``zh``): the caller's ``zh-CN`` sets nothing; another language is set."""
    session, asterisk = _session("200 result=49", "200 result=0", language="zh")
    await run_ivr(session, _flow(menu=True), _directory(), bus)
    assert asterisk.written == ["GET DATA beep 10000 1\n",
                                "EXEC MSet CTI_QUEUE=support,CTI_PRIORITY=0,CTI_NEXT=queue\n"]

    session, asterisk = _session("200 result=1", "200 result=49", "200 result=0", language="en_GB")
    await run_ivr(session, _flow(menu=True), _directory(), bus)
    assert asterisk.written[0] == "SET VARIABLE CHANNEL(language) zh\n" and len(asterisk.written) == 3
