"""The virtual-hold callback as the caller hears it, over the carrier's SIP: a Chinese-speaking
caller waiting in billing is offered the callback, presses *, hears the goodbye and is hung up; once
an agent is free the engine calls the caller's number back through the carrier, and the caller
hears the callback's announcement ("this is Demo Company calling you back, press 1") in Chinese,
presses 1, and hears the agent within a second or two."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

from callcenter.engine import Engine
from cti.events import Event
from cti.journey import CallConnected, QueueEntered
from tests.asterisk.caller import ears
from tests.asterisk.trunks.rig import DID_SALES, Rig
from tests.helpers import customer_number, until

TONE = ears.TONE  # the agent's phone
_keys = itertools.count()


async def _no_calls(rig: Rig, what: str) -> None:
    await until(lambda: "0 active channels" in rig.carrier.cli("core show channels count"), timeout_s=20, what=what)


async def test_the_caller_accepts_the_callback_hangs_up_and_is_called_back_to_the_agent(
        rig: Rig, engine: tuple[Engine, list[Event]], tmp_path: Path) -> None:
    eng, seen = engine
    _, _, number = await customer_number(eng)  # speaks Chinese
    await eng.desk.login_queues("1003", ["billing"])  # billing 5, zh: logged in, not ready: the caller waits
    eng.acd.phones["1003"] = ears.TonePhone("1003", answer_after_s=0.5)
    menu, star, one = f"CTI_VH_MENU_{next(_keys)}", f"CTI_VH_STAR_{next(_keys)}", f"CTI_VH_ONE_{next(_keys)}"
    try:
        with ears.verbose_log(rig.ours) as log:
            # "2" once the menu plays: 4 s into the call, the Chinese welcome (3.9 s) could still be playing.
            first = ears.place(rig, number, DID_SALES, [*ears.key_when_told(menu), *ears.key_when_told(star)])
            await until(lambda: ears.played(log, "cti/main_menu"), timeout_s=20, what="the menu")
            ears.press(rig, menu, "2")
            await until(lambda: any(isinstance(e, QueueEntered) for e in seen), timeout_s=40, what="the caller queued")
            await until(lambda: ears.played(log, "cti/vhold_offer"), timeout_s=15, what="the offer")
            ears.press(rig, star, "*")
            await _no_calls(rig, "the caller hung up after pressing *")
            await until(first.exists, timeout_s=5, what="the caller's recording")
            await asyncio.sleep(0.5)
        offered = ears.heard(first, log, tmp_path)
        assert len(eng.virtual_hold.entries) == 1  # its place kept
        back = ears.answer_at(rig, number, ears.key_when_told(one))
        with ears.verbose_log(rig.ours) as log:
            await eng.desk.set_ready("1003")  # its turn: the engine calls the caller back
            await until(lambda: ears.played(log, "cti/vhold_confirm"), timeout_s=20, what="the callback's question")
            ears.press(rig, one, "1")
            pressed = time.time()
            connected = await until(lambda: next((e for e in seen if isinstance(e, CallConnected)), None),
                                    timeout_s=20, what="the agent answered the callback")
            await asyncio.sleep(3)
            hung = time.time()
            await eng.desk.hangup("1003", connected.linkedid)
            await _no_calls(rig, "the callback ended with the agent's hang-up")
            await until(back.exists, timeout_s=5, what="the callback's recording")
            await asyncio.sleep(0.5)
        called = ears.heard(back, log, tmp_path)
    finally:
        ears.forget_number(rig, number)
    said = [(name, lang) for _, name, lang in offered.played]
    assert ("cti/vhold_offer", "zh") in said and said[-1] == ("cti/thanks", "zh"), said
    # The callback: its announcement, said in the caller's language, then the agent.
    said = [(name, lang) for _, name, lang in called.played]
    assert said[0] == ("cti/vhold_confirm", "zh"), said
    assert ears.rms(called.wav, 0.3, 1.5) > 0.02  # spoken, as soon as the caller answered
    assert connected.agent_id == "1003"
    key = ears.from_end(called, pressed, hung)
    # The agent within two seconds of the key (rung then, answering in 0.5 s), and on until the hang-up.
    assert ears.sox_stat(called.wav, "trim", f"{key + 2.0:.2f}", "1.0", *TONE)["RMS     amplitude"] > 0.1
    assert ears.longest_silence(called.wav, 0.0, key + 3.0) < 1.5  # no dead air on the way
    assert not offered.missing and not called.missing, (offered.missing, called.missing)
