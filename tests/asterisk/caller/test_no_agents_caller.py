"""A queue with nobody logged in sends its caller on (support's ``no_agents_action``: the queue
general, config/queues.yaml), as a caller on the carrier's SIP leg hears it: "please hold", then
music without a gap while it moves, and the agent of the other queue once one is ready."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from callcenter.engine import Engine
from cti.events import Event
from cti.journey import CallConnected, QueueEntered, QueueLeft
from tests.asterisk.caller import ears
from tests.asterisk.trunks.rig import DID_SALES, Rig
from tests.helpers import english_customer_number, until

TONE, MUSIC = ears.TONE, ears.MUSIC  # the agent's phone; the music below it


async def test_a_caller_of_a_queue_with_no_agents_waits_in_its_fallback_queue_and_reaches_its_agent(
        rig: Rig, engine: tuple[Engine, list[Event]], tmp_path: Path) -> None:
    eng, seen = engine
    number = await english_customer_number(eng)
    await eng.desk.login_queues("1001", ["general"])  # nobody in support; general has someone, not ready
    eng.acd.phones["1001"] = ears.TonePhone("1001", answer_after_s=0.5)
    with ears.verbose_log(rig.ours) as log:
        recording = ears.place(rig, number, DID_SALES, ["Wait(4)", "SendDTMF(1)"])
        moved = await until(lambda: next((e for e in seen if isinstance(e, QueueEntered) and e.queue == "general"),
                                         None), timeout_s=40, what="the caller moved to general")
        await asyncio.sleep(4)  # waiting in general, on the music
        ready = time.time()
        await eng.desk.set_ready("1001")
        connected = await until(lambda: next((e for e in seen if isinstance(e, CallConnected)), None), timeout_s=20,
                                what="general's agent answered")
        await asyncio.sleep(3)
        hung = time.time()
        await eng.desk.hangup("1001", connected.linkedid)
        await until(lambda: "0 active channels" in rig.carrier.cli("core show channels count"), timeout_s=10,
                    what="the call ended with the agent's hang-up")
        await until(recording.exists, timeout_s=5, what="the caller's recording")
        await asyncio.sleep(0.5)
    got = ears.heard(recording, log, tmp_path)
    entered = [(e.queue, e.linkedid) for e in seen if isinstance(e, QueueEntered)]
    assert entered == [("support", moved.linkedid), ("general", moved.linkedid)], entered
    left = [(e.queue, e.reason, e.target) for e in seen if isinstance(e, QueueLeft)]
    assert left[0] == ("support", "overflow", "general"), left
    assert connected.agent_id == "1001" and connected.queue == "general"
    said = [name for _, name, _ in got.played]
    assert "cti/please_hold" in said and not any("closing" in n or n == "beep" for n in said), said
    hold = ears.from_end(got, ears.logged_at(got, "Playing 'cti/please_hold"), hung)
    answered, ready_at = ears.from_end(got, connected.ts, hung), ears.from_end(got, ready, hung)
    # From "please hold" to the agent: words, then music (the move makes no gap), then the agent.
    assert ears.longest_silence(got.wav, hold, answered + 1.0) < 2.0
    assert ears.band(got.wav, ready_at - 3.0, 2.5, MUSIC) > 0.01
    assert ears.band(got.wav, answered + 0.8, 1.5, TONE) > 0.1
    assert not got.missing, got.missing
