"""What a caller hears while no agent takes the call, heard over SIP from the carrier's side and
measured with sox: a Chinese-speaking caller's position announcements are in Chinese; the operator
queue's closing announcement at its maximum wait is spoken before the call ends; a caller sent to
voicemail is told to leave a message before the beep."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from callcenter.engine import Engine
from cti.events import Event
from cti.journey import QueueEntered
from tests.asterisk.caller import ears
from tests.asterisk.caller.conftest import ANNOUNCE_EVERY_S, GENERAL_MAX_WAIT_S
from tests.asterisk.trunks.rig import DID_SALES, Rig
from tests.helpers import customer_number, english_customer_number, until


async def _call(eng: Engine, rig: Rig, seen: list[Event], number: str, script: list[str], listen_s: float,
                tmp_path: Path) -> tuple[ears.Heard, float]:
    """What the caller heard, and when the test hung up (the call's end, unless our side ended it first)."""
    with ears.verbose_log(rig.ours) as log:
        recording = ears.place(rig, number, DID_SALES, script)
        await until(lambda: any(isinstance(e, QueueEntered) for e in seen), timeout_s=40, what="the caller queued")
        await asyncio.sleep(listen_s)
        hung = time.time()
        rig.carrier.cli("channel request hangup all")
        await until(recording.exists, timeout_s=5, what="the caller's recording")
        await asyncio.sleep(0.5)  # MixMonitor closes the file after the hangup
    got = ears.heard(recording, log, tmp_path)
    return got, hung


async def test_a_chinese_speaking_caller_hears_the_queue_announcements_in_chinese(
        rig: Rig, engine: tuple[Engine, list[Event]], tmp_path: Path) -> None:
    eng, seen = engine
    _, _, number = await customer_number(eng)  # a seeded customer who speaks Chinese (zh)
    await eng.desk.login_queues("1001", ["support"])  # logged in, not ready: the caller waits
    got, hung = await _call(eng, rig, seen, number, ["Wait(4)", "SendDTMF(1)", "Wait(3)", "SendDTMF(1)"],
                            ANNOUNCE_EVERY_S + 14, tmp_path)  # the first announcement, whole
    said = [(name, lang) for _, name, lang in got.played]
    assert ("cti/main_menu", "zh") in said, said  # the IVR spoke Chinese: the CRM knows the caller
    queued_at = next(t for t, name, _ in got.played if name == "cti/please_hold")
    after = [(t, name, lang) for t, name, lang in got.played if t > queued_at]
    assert after, got.played
    # Every file said to the waiting caller exists in Chinese: Asterisk's own queue prompts (queue-*,
    # digits/*) are English only, and a zh channel falls back to them.
    english = [name for _, name, _ in after if not name.startswith("cti/")]
    assert english == [], f"English sounds said to a Chinese caller: {english}"
    assert all(lang == "zh" for _, _, lang in after)
    # And the announcement is speech the caller heard, not a silent file: louder than the music's pauses
    # (placed on the recording from its end, the hang-up: ears.from_end).
    first = ears.played_from_end(got, after[0][0], hung)
    assert ears.rms(got.wav, first + 0.2, 1.5) > 0.02
    assert not got.missing, got.missing


async def test_the_operator_queue_s_closing_announcement_is_spoken_before_the_call_ends(
        rig: Rig, engine: tuple[Engine, list[Event]], tmp_path: Path) -> None:
    eng, seen = engine
    number = await english_customer_number(eng)
    await eng.desk.login_queues("1001", ["general"])  # someone is logged in (not ready): no voicemail
    got, _ = await _call(eng, rig, seen, number, ["Wait(4)", "SendDTMF(0)"], GENERAL_MAX_WAIT_S + 8, tmp_path)
    assert not got.missing, f"sounds Asterisk could not find: {got.missing}"
    closing = [t for t, name, _ in got.played if "closing" in name]
    assert closing, got.played
    assert "Executing [s@cti-announce-hangup:3] Hangup" in got.log
    # Spoken: the caller heard words (not silence) for at least a second and a half after it began,
    # placed on the recording from its end: our side's hang-up after the announcement (ears.from_end).
    ended = ears.logged_at(got, "Executing [s@cti-announce-hangup:3] Hangup")
    assert ears.rms(got.wav, ears.played_from_end(got, closing[0], ended) + 0.2, 1.5) > 0.02


async def test_a_caller_sent_to_voicemail_is_told_to_leave_a_message_before_the_beep(
        rig: Rig, engine: tuple[Engine, list[Event]], tmp_path: Path) -> None:
    eng, seen = engine
    number = await english_customer_number(eng)
    # Nobody logged in to general: its no_agents_action sends the caller to voicemail at once.
    got, hung = await _call(eng, rig, seen, number, ["Wait(4)", "SendDTMF(0)"], 8, tmp_path)
    names = [name for _, name, _ in got.played]
    assert "beep" in names, names
    hold = max(t for t, name, _ in got.played if name == "cti/please_hold")
    beep = next(t for t, name, _ in got.played if name == "beep")
    between = [name for t, name, _ in got.played if hold < t < beep]
    # "Please hold, we are connecting you to an agent", then a beep, said nothing about a message.
    assert between, f"nothing said between please_hold ({hold:.1f} s) and the beep ({beep:.1f} s)"
    # Speech the caller heard (placed on the recording from its end, the hang-up: ears.from_end).
    assert ears.rms(got.wav, ears.played_from_end(got, hold, hung) + 3.5, beep - hold - 3.7) > 0.02
    assert not got.missing, got.missing
