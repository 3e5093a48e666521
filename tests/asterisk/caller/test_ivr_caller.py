"""The IVR and the virtual-hold offer as a caller on the carrier's SIP leg hears them: a wrong key
is told so and the menu comes again, no key is told so too ("we did not hear a choice") before the
menu comes again, no key at all ends (after the menu's retries) with the
operator, not a menu that never ends; a Chinese-speaking caller hears the menu, the virtual-hold
offer and its goodbye in Chinese, and pressing * ends the call keeping its place."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

from callcenter.engine import Engine
from cti.events import Event
from cti.journey import QueueEntered
from tests.asterisk.caller import ears
from tests.asterisk.trunks.rig import DID_SALES, Rig
from tests.helpers import customer_number, english_customer_number, until

_keys = itertools.count()


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
        hung = time.time()
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

    def heard_at(t: float) -> float:  # a moment of got.played on the recording, placed from its end
        return ears.played_from_end(got, t, hung)

    hold = heard_at(next(t for t, name, _ in got.played if name == "cti/please_hold"))
    # Each prompt was heard as speech, and the longest silence is the menu's wait for a key (5 s).
    for t, name, _ in got.played[:7]:
        assert ears.rms(got.wav, heard_at(t) + 0.3, 0.8) > 0.02, (name, t)
    # The menu's wait for a key ends in the words, not in the menu: 5 s of silence, then speech.
    no_choice = heard_at(next(t for t, name, _ in got.played if name == "cti/no_choice"))
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
    # Each key pressed once what it answers plays (the log says so), not at a time counted from the
    # call's start: a "2" sent 4 s in, as before, came 0.1 s after the Chinese welcome (3.9 s) ended
    # when all went well, and was lost in the welcome (no key cuts it) when the host was loaded.
    menu, star = f"CTI_IVR_MENU_{next(_keys)}", f"CTI_IVR_STAR_{next(_keys)}"
    with ears.verbose_log(rig.ours) as log:
        recording = ears.place(rig, number, DID_SALES, [*ears.key_when_told(menu), *ears.key_when_told(star)])
        await until(lambda: ears.played(log, "cti/main_menu"), timeout_s=20, what="the menu")
        ears.press(rig, menu, "2")
        await until(lambda: any(isinstance(e, QueueEntered) for e in seen), timeout_s=40, what="the caller queued")
        await until(lambda: ears.played(log, "cti/vhold_offer"), timeout_s=15, what="the offer")
        ears.press(rig, star, "*")
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
    # The offer placed on the recording from its end: our side's hang-up after the thanks, the end of
    # the offer's AGI in the same log (ears.from_end).
    ended = ears.logged_at(got, "/vhold-offer completed")
    offer = ears.played_from_end(got, next(t for t, name, _ in got.played if name == "cti/vhold_offer"), ended)
    assert ears.rms(got.wav, offer + 0.3, 1.0) > 0.02
    assert not got.missing, got.missing
