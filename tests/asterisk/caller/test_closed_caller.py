"""Outside opening hours, as a caller on the carrier's SIP leg hears it (the demo flow's English
line, its hours closed for the run by holidays: conftest.py): a Chinese-speaking customer is
welcomed and told the office is closed in Chinese, presses 1 and is told, in Chinese, to leave a
message before the beep."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from callcenter.engine import Engine
from cti.events import Event
from cti.journey import IvrFinished
from tests.asterisk.caller import ears
from tests.asterisk.trunks.rig import DID_HOTLINE, Rig
from tests.helpers import customer_number, until


async def test_a_chinese_caller_outside_opening_hours_hears_the_closed_menu_then_voicemail_in_chinese(
        rig: Rig, engine: tuple[Engine, list[Event]], tmp_path: Path) -> None:
    eng, seen = engine
    _, _, number = await customer_number(eng)  # a seeded customer who speaks Chinese (zh)
    with ears.verbose_log(rig.ours) as log:
        # The key comes while the closed menu plays (keys may be pressed during a menu's prompt).
        recording = ears.place(rig, number, DID_HOTLINE, ["Wait(8)", "SendDTMF(1)"])
        done = await until(lambda: next((e for e in seen if isinstance(e, IvrFinished)), None), timeout_s=40,
                           what="the IVR finished")
        await asyncio.sleep(8)
        hung = time.time()
        rig.carrier.cli("channel request hangup all")
        await until(recording.exists, timeout_s=5, what="the caller's recording")
        await asyncio.sleep(0.5)
    got = ears.heard(recording, log, tmp_path)
    assert done.outcome == "voicemail", done
    said = [(name, lang) for _, name, lang in got.played]
    assert said[:3] == [("cti/welcome", "zh"), ("cti/closed", "zh"), ("cti/leave_message", "zh")], said
    assert ("beep", "zh") in said, said
    assert not any(name == "cti/main_menu" for name, _ in said), said  # closed: no main menu
    # Placed on the recording from its end, the hang-up (ears.from_end), not from the welcome.
    closed, message, beep = (ears.played_from_end(got, next(t for t, name, _ in got.played if name == prompt), hung)
                             for prompt in ("cti/closed", "cti/leave_message", "beep"))
    # Spoken, each of them: words the caller heard, not silent files.
    assert ears.rms(got.wav, closed + 0.3, 1.5) > 0.02
    assert ears.rms(got.wav, message + 0.3, 1.5) > 0.02
    # No dead air from the welcome to the beep (the lookup, the hours check and the voicemail
    # hand-over are quick), the beep after the words.
    assert ears.longest_silence(got.wav, 0.0, beep) < 1.5
    assert not got.missing, got.missing
