"""What a caller hears once an agent takes the call, over SIP from the carrier's side: the agent's
voice (their phone plays 1000 Hz, cti-sim-phone-tone) within a second of the answer, music (not
silence) on hold, the agent again on resume, music while a blind transfer's target rings, the
target's voice, and the end of the call as soon as the last agent hangs up."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from callcenter.engine import Engine
from cti.events import Event
from cti.journey import CallConnected
from tests.asterisk.caller import ears
from tests.asterisk.trunks.rig import DID_SALES, Rig
from tests.helpers import english_customer_number, until

TONE, MUSIC = ears.TONE, ears.MUSIC  # the agent's phone; the music below it


async def test_answer_hold_resume_transfer_and_hang_up_as_the_caller_hears_them(
        rig: Rig, engine: tuple[Engine, list[Event]], tmp_path: Path) -> None:
    eng, seen = engine
    number = await english_customer_number(eng)
    await eng.desk.login_queues("1001", ["support"])
    await eng.desk.login_queues("1002", ["general"])
    eng.acd.phones["1001"] = ears.TonePhone("1001", answer_after_s=0.5)
    eng.acd.phones["1002"] = ears.TonePhone("1002", answer_after_s=3)  # a transfer target that rings 3 s
    await eng.desk.set_ready("1001")
    marks: dict[str, float] = {}
    with ears.verbose_log(rig.ours) as log:
        recording = ears.place(rig, number, DID_SALES, ["Wait(4)", "SendDTMF(1)"])
        connected = await until(lambda: next((e for e in seen if isinstance(e, CallConnected)), None), timeout_s=40,
                                what="the agent answered")
        marks["connected"] = connected.ts
        await asyncio.sleep(3)
        marks["hold"] = time.time()
        await eng.desk.hold("1001", connected.linkedid)
        await asyncio.sleep(5)
        marks["resume"] = time.time()
        await eng.desk.resume("1001", connected.linkedid)
        await asyncio.sleep(3)
        await eng.desk.set_ready("1002")
        marks["transfer"] = time.time()
        await eng.desk.transfer("1001", connected.linkedid, kind="blind", target_kind="agent", target="1002")
        await until(lambda: (c := eng.acd.agent_call("1002", connected.linkedid)) is not None and c.status == "talking",
                    timeout_s=15, what="the transfer target answered")
        await asyncio.sleep(2)
        marks["hangup"] = time.time()
        await eng.desk.hangup("1002", connected.linkedid)
        await until(recording.exists, timeout_s=10, what="the caller's recording")
        await until(lambda: "0 active channels" in rig.carrier.cli("core show channels count"), timeout_s=10,
                    what="the caller's call ended by the agent's hang-up")
        await asyncio.sleep(0.5)
    got = ears.heard(recording, log, tmp_path)
    # Marks placed on the recording from its end, the hang-up (ears.from_end), not from the welcome:
    # a stretch a loaded host loses from the recording before a mark moves it when counted from the start.
    at = {k: ears.from_end(got, v, marks["hangup"]) for k, v in marks.items()}
    wav = got.wav
    # Answered: the agent is heard within a second (no dead air, nothing clipped), and on.
    assert ears.band(wav, at["connected"] + 0.8, 2.0, TONE) > 0.1
    assert ears.longest_silence(wav, at["connected"] - 1.0, at["hold"]) < 1.5
    # On hold: music, not silence, and not the agent.
    assert ears.band(wav, at["hold"] + 1.5, 3.0, MUSIC) > 0.01
    assert ears.band(wav, at["hold"] + 1.0, 3.5, TONE) < 0.01
    assert ears.longest_silence(wav, at["hold"], at["resume"]) < 2.0
    # Resumed: the agent again.
    assert ears.band(wav, at["resume"] + 0.8, 1.5, TONE) > 0.1
    # While the transfer's target rings (3 s): music; then the target.
    assert ears.band(wav, at["transfer"] + 1.0, 1.5, MUSIC) > 0.01
    assert ears.band(wav, at["transfer"] + 1.0, 1.5, TONE) < 0.01
    assert ears.longest_silence(wav, at["transfer"], at["hangup"]) < 2.0
    assert ears.band(wav, at["hangup"] - 1.5, 1.0, TONE) > 0.1
    # The agent hung up: the caller's call ended then, not later (the recording's last write, its close).
    assert recording.stat().st_mtime - marks["hangup"] < 2.0
    assert not got.missing, got.missing
