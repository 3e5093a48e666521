"""An attended transfer as the caller on the carrier's SIP leg hears it: the first agent's voice
(1000 Hz), music, not the agents, while the first agent consults the second (ringing, then
talking), then the second agent's voice (2000 Hz) once the first completes the transfer."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from acd.model import AgentState
from callcenter.engine import Engine
from cti.events import Event
from cti.journey import CallConnected
from tests.asterisk.caller import ears
from tests.asterisk.trunks.rig import DID_SALES, Rig
from tests.helpers import english_customer_number, until

FIRST, SECOND, MUSIC = ears.TONE, ("sinc", "1900-2100"), ears.MUSIC
SECOND_PHONE = "cti-test-phone-2000"  # rings 2 s, answers, plays 2000 Hz (added to our Asterisk here)


async def test_the_caller_hears_music_during_the_consultation_then_the_second_agent(
        rig: Rig, engine: tuple[Engine, list[Event]], tmp_path: Path) -> None:
    eng, seen = engine
    for n, app in enumerate(("Ringing()", "Wait(2)", "Answer()", "Playtones(2000)", "Wait(3600)", "Hangup()"), 1):
        rig.ours.cli(f'dialplan add extension "_X.,{n},{app}" into {SECOND_PHONE} replace')
    number = await english_customer_number(eng)
    await eng.desk.login_queues("1001", ["support"])
    await eng.desk.login_queues("1002", ["general"])  # not support: the caller is the first agent's
    eng.acd.phones["1001"] = ears.TonePhone("1001", answer_after_s=0.5)
    eng.acd.phones["1002"] = ears.TonePhone("1002", answer_after_s=0.5, context=SECOND_PHONE)
    await eng.desk.set_ready("1001")
    marks: dict[str, float] = {}
    with ears.verbose_log(rig.ours) as log:
        recording = ears.place(rig, number, DID_SALES, ["Wait(4)", "SendDTMF(1)"])
        connected = await until(lambda: next((e for e in seen if isinstance(e, CallConnected)), None), timeout_s=40,
                                what="the first agent answered")
        marks["connected"] = connected.ts
        await asyncio.sleep(2.5)
        await eng.desk.set_ready("1002")
        marks["consult"] = time.time()
        await eng.desk.transfer("1001", connected.linkedid, kind="attended", target_kind="agent", target="1002")
        await until(lambda: eng.router.agent("1002").state is AgentState.ON_CALL, timeout_s=15,
                    what="the second agent answered the consultation")
        marks["consulting"] = time.time()
        await asyncio.sleep(3)  # the agents talk; the caller waits
        marks["complete"] = time.time()
        await eng.desk.hangup("1001", connected.linkedid)  # the first agent completes the transfer
        await until(lambda: (c := eng.acd.calls.get(connected.linkedid)) is not None and c.agent_id == "1002",
                    timeout_s=10, what="the second agent holds the call")
        await asyncio.sleep(3)
        marks["hangup"] = time.time()
        await eng.desk.hangup("1002", connected.linkedid)
        await until(lambda: "0 active channels" in rig.carrier.cli("core show channels count"), timeout_s=10,
                    what="the call ended with the second agent's hang-up")
        assert time.time() - marks["hangup"] < 2.0  # ended then, not later
        await until(recording.exists, timeout_s=5, what="the caller's recording")
        await asyncio.sleep(0.5)
    got = ears.heard(recording, log, tmp_path)
    wav = got.wav
    # Marks placed on the recording from its end, the hang-up (ears.from_end): counted from the
    # welcome they came out 1.5-1.8 s late.
    at = {k: ears.from_end(got, v, marks["hangup"]) for k, v in marks.items()}
    # The first agent, until the consultation.
    assert ears.band(wav, at["connected"] + 0.8, 1.5, FIRST) > 0.1
    # Consulting (the second agent's phone rings 2 s, then the agents talk): music, neither agent.
    for start, stop in ((at["consult"] + 1.0, at["consulting"]), (at["consulting"] + 0.5, at["complete"] - 0.7)):
        assert stop - start > 1.0, (start, stop)
        assert ears.band(wav, start, stop - start, MUSIC) > 0.01, (start, stop)
        assert ears.band(wav, start, stop - start, FIRST) < 0.01, (start, stop)
        assert ears.band(wav, start, stop - start, SECOND) < 0.01, (start, stop)
    assert ears.longest_silence(wav, at["consult"], at["complete"]) < 2.0
    # Completed: the second agent, within a second and a half, and not the first.
    assert ears.band(wav, at["complete"] + 1.5, 1.5, SECOND) > 0.1
    assert ears.band(wav, at["complete"] + 1.5, 1.5, FIRST) < 0.01
    assert ears.longest_silence(wav, at["complete"], at["hangup"]) < 2.0
    assert not got.missing, got.missing
