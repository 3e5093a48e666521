"""The virtual-hold callback as the caller hears it after an engine restart: a Chinese-speaking caller
waiting in billing presses * when offered the callback and is hung up; the engine stops and a new
one starts on the same database and PBX (the first one's memory gone); once an agent is free the new
engine calls the caller back, and the caller hears the callback's question ("press 1") in Chinese.
Before, the language lived in the first engine's memory only and the restored callback asked in
English (migration 0026_vhold_language keeps it with the entry)."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

from callcenter.engine import Engine
from cti.events import Event
from cti.journey import CallConnected, QueueEntered
from tests.asterisk.caller import ears
from tests.asterisk.caller.test_callback_caller import _no_calls
from tests.asterisk.trunks.rig import DID_SALES, Rig
from tests.helpers import customer_number, engine_settings, hang_up_all, running_engine, until

_keys = itertools.count()


async def test_the_callback_asks_in_the_caller_s_language_after_a_restart(rig: Rig, tmp_path: Path) -> None:
    settings = engine_settings(rig.settings, tmp_path)
    seen: list[Event] = []

    async def record(ev: Event) -> None:
        seen.append(ev)

    menu, star, one = f"CTI_VHR_MENU_{next(_keys)}", f"CTI_VHR_STAR_{next(_keys)}", f"CTI_VHR_ONE_{next(_keys)}"
    number = ""
    try:
        async with running_engine(rig.ours, settings, answer_after_s=0.5,
                                  before_start=lambda e: e.bus.subscribe(Event, record, name="test.recorder")) as eng:
            _, _, number = await customer_number(eng)  # speaks Chinese
            await eng.desk.login_queues("1003", ["billing"])  # logged in, not ready: the caller waits
            with ears.verbose_log(rig.ours) as log:
                # "2" once the menu plays: 4 s into the call, the Chinese welcome (3.9 s) could still be playing.
                ears.place(rig, number, DID_SALES, [*ears.key_when_told(menu), *ears.key_when_told(star)])
                await until(lambda: ears.played(log, "cti/main_menu"), timeout_s=20, what="the menu")
                ears.press(rig, menu, "2")
                await until(lambda: any(isinstance(e, QueueEntered) for e in seen), timeout_s=40,
                            what="the caller queued")
                await until(lambda: ears.played(log, "cti/vhold_offer"), timeout_s=15, what="the offer")
                ears.press(rig, star, "*")
                await _no_calls(rig, "the caller hung up after pressing *")
            assert [e.language for e in eng.virtual_hold.entries.values()] == ["zh"]
        # The first engine is gone; a new one on the same database and PBX (not seeded again).
        before = len(seen)
        second = Engine(settings, answer_after_s=0.5)
        second.bus.subscribe(Event, record, name="test.recorder")
        await second.start()
        try:
            assert [e.language for e in second.virtual_hold.entries.values()] == ["zh"]  # read from the CRM
            await second.desk.login_queues("1003", ["billing"])
            second.acd.phones["1003"] = ears.TonePhone("1003", answer_after_s=0.5)
            back = ears.answer_at(rig, number, ears.key_when_told(one))
            with ears.verbose_log(rig.ours) as log:
                await second.desk.set_ready("1003")  # its turn: the new engine calls the caller back
                await until(lambda: ears.played(log, "cti/vhold_confirm"), timeout_s=20, what="the callback's question")
                ears.press(rig, one, "1")
                connected = await until(lambda: next((e for e in seen[before:] if isinstance(e, CallConnected)), None),
                                        timeout_s=20, what="the agent answered the callback")
                assert connected.agent_id == "1003"
                await second.desk.hangup("1003", connected.linkedid)
                await _no_calls(rig, "the callback ended with the agent's hang-up")
                await until(back.exists, timeout_s=5, what="the callback's recording")
                await asyncio.sleep(0.5)
            called = ears.heard(back, log, tmp_path)
        finally:
            await hang_up_all(rig.ours, second.ami.model)
            await second.stop()
    finally:
        if number:
            ears.forget_number(rig, number)
        rig.carrier.cli("channel request hangup all")
    said = [(name, lang) for _, name, lang in called.played]
    assert said[0] == ("cti/vhold_confirm", "zh"), said
    assert not called.missing, called.missing
