"""The IVR and the virtual-hold offer as a caller on the carrier's SIP leg hears them: a wrong key
is told so and the menu comes again, no key is told so too ("we did not hear a choice") before the
menu comes again, no key at all ends (after the menu's retries) with the
operator, not a menu that never ends; a Chinese-speaking caller hears the menu, the virtual-hold
offer and its goodbye in Chinese, and pressing * ends the call keeping its place."""

from __future__ import annotations

import asyncio
from pathlib import Path

from callcenter.engine import Engine
from cti.events import Event
from cti.journey import QueueEntered
from tests.asterisk.caller import ears
from tests.asterisk.trunks.rig import DID_SALES, Rig
from tests.helpers import customer_number, english_customer_number, until


async def test_a_wrong_key_then_no_key_reach_the_operator_after_the_menu_s_retries(
        rig: Rig, engine: tuple[Engine, list[Event]], tmp_path: Path) -> None:
    eng, seen = engine
    number = await english_customer_number(eng)
    await eng.desk.login_queues("1001", ["general"])  # the operator's queue has someone (not ready)
    with ears.verbose_log(rig.ours) as log:
        recording = ears.place(rig, number, DID_SALES, ["Wait(4)", "SendDTMF(7)"])
        entered = await until(lambda: next((e for e in seen if isinstance(e, QueueEntered)), None), timeout_s=70,
                              what="the caller queued")
        await asyncio.sleep(4)
        rig.carrier.cli("channel request hangup all")
        await until(recording.exists, timeout_s=5, what="the caller's recording")
        await asyncio.sleep(0.5)
    got = ears.heard(recording, log, tmp_path)
    said = [name for _, name, _ in got.played]
    # welcome, the menu, "not a valid choice" for the 7, the menu, no key: "we did not hear a choice"
    # before the menu comes again (it came again without a word), no key again (retries: 2), the operator.
    assert said[:7] == ["cti/welcome", "cti/main_menu", "cti/invalid", "cti/main_menu", "cti/no_choice",
                        "cti/main_menu", "cti/please_hold"], said
    assert entered.queue == "general"
    hold = next(t for t, name, _ in got.played if name == "cti/please_hold")
    # Each prompt was heard as speech, and the longest silence is the menu's wait for a key (5 s).
    for t, name, _ in got.played[:7]:
        assert ears.rms(got.wav, t + 0.3, 0.8) > 0.02, (name, t)
    # The menu's wait for a key ends in the words, not in the menu: 5 s of silence, then speech.
    no_choice = next(t for t, name, _ in got.played if name == "cti/no_choice")
    assert ears.longest_silence(got.wav, no_choice - 5.0, no_choice) > 4.0
    assert ears.rms(got.wav, no_choice + 0.2, 1.2) > 0.02
    assert ears.longest_silence(got.wav, 0.0, hold) < 5.8
    # Then music, not silence.
    assert ears.longest_silence(got.wav, hold + 4.0) < 2.0
    assert not got.missing, got.missing


async def test_a_chinese_caller_is_offered_virtual_hold_in_chinese_and_star_keeps_its_place(
        rig: Rig, engine: tuple[Engine, list[Event]], tmp_path: Path) -> None:
    eng, seen = engine
    _, _, number = await customer_number(eng)  # speaks Chinese
    await eng.desk.login_queues("1002", ["billing"])  # logged in, not ready: the caller waits
    script = ["Wait(4)", "SendDTMF(2)"] + ["Wait(2)", "SendDTMF(*)"] * 12
    with ears.verbose_log(rig.ours) as log:
        recording = ears.place(rig, number, DID_SALES, script)
        await until(lambda: any(isinstance(e, QueueEntered) for e in seen), timeout_s=40, what="the caller queued")
        await until(lambda: "0 active channels" in rig.carrier.cli("core show channels count"), timeout_s=30,
                    what="the caller hung up after pressing *")
        await until(recording.exists, timeout_s=5, what="the caller's recording")
        await asyncio.sleep(0.5)
    got = ears.heard(recording, log, tmp_path)
    said = [(name, lang) for _, name, lang in got.played]
    # Every word in Chinese, the welcome included: the CRM knows the caller speaks it (the demo flow
    # welcomed before its caller ID lookup, in English).
    assert [s for s in said if s[1] != "zh"] == [], said
    assert said[0] == ("cti/welcome", "zh") and ("cti/main_menu", "zh") in said
    # The lookup comes first: no dead air for it before the welcome.
    assert ears.longest_silence(got.wav, 0.0, 3.0) < 1.0
    assert ("cti/vhold_offer", "zh") in said and said[-1] == ("cti/thanks", "zh"), said
    assert len(eng.virtual_hold.entries) == 1  # its place kept
    offer = next(t for t, name, _ in got.played if name == "cti/vhold_offer")
    assert ears.rms(got.wav, offer + 0.3, 1.0) > 0.02
    assert not got.missing, got.missing
