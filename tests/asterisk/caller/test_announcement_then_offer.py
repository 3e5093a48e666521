"""A position announcement and the virtual-hold offer due while it plays, as a caller on the
carrier's SIP leg hears them: the whole announcement (its last word, "thank you", to its end),
then the offer; neither cuts the other off (acd.announce.PromptFloor). Its uncertain wait is said
"between 2 and 4 minutes" (the project's cti/queue_between: Asterisk has no "between")."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from acd.announce import announcement
from acd.decisions import Announce
from acd.virtual_hold import VirtualHoldPolicy
from callcenter.engine import Engine
from cti.events import Event
from cti.journey import QueueEntered
from tests.asterisk.caller import ears
from tests.asterisk.trunks.rig import DID_SALES, Rig
from tests.helpers import english_customer_number, until

# Offered 2 s into the wait: while the announcement sent 1 s into it plays (about 12 s).
OFFER = VirtualHoldPolicy(offer_after_s=2, offer_ewt_s=None, first_offer_s=2, reoffer_every_s=None)


def _say_en(n: int) -> list[str]:  # Asterisk's English say_number for n < 20
    assert 0 < n < 20
    return [f"digits/{n}"]


async def test_the_offer_due_during_an_announcement_is_heard_after_the_whole_announcement(
        rig: Rig, engine: tuple[Engine, list[Event]], tmp_path: Path) -> None:
    eng, seen = engine
    number = await english_customer_number(eng)
    await eng.desk.login_queues("1001", ["support"])  # logged in, not ready: the caller waits
    eng.virtual_hold.policies["support"] = OFFER  # this engine's support offers virtual hold
    position, ewt, low, high = 5, 180, 120, 240  # "there are 4 calls waiting ... 2 and 4 minutes"
    with ears.verbose_log(rig.ours) as log:
        recording = ears.place(rig, number, DID_SALES, ["Wait(4)", "SendDTMF(1)"])
        entered = await until(lambda: next((e for e in seen if isinstance(e, QueueEntered)), None), timeout_s=40,
                              what="the caller queued")
        await asyncio.sleep(1)
        await eng.acd.decide(lambda now: [Announce(call_id=entered.linkedid, queue="support", position=position,
                                                   ewt_s=ewt, ewt_low_s=low, ewt_high_s=high)])
        await until(lambda: "cti/vhold_offer" in log.read_text(errors="replace"), timeout_s=30,
                    what="the offer played")
        await asyncio.sleep(3)
        hung = time.time()
        rig.carrier.cli("channel request hangup all")
        await until(recording.exists, timeout_s=5, what="the caller's recording")
        await asyncio.sleep(0.5)
    got = ears.heard(recording, log, tmp_path)
    expected: list[str] = []
    for kind, value in announcement(position, ewt, low, high, "en"):
        expected += _say_en(int(value)) if kind == "number" else [str(value)]
    hold = max(t for t, name, _ in got.played if name == "cti/please_hold")
    after = [(t, name) for t, name, _ in got.played if t > hold]
    said = [name for _, name in after]
    # The whole announcement, each of its sounds once and in order, then the offer.
    assert said[:len(expected) + 1] == [*expected, "cti/vhold_offer"], said
    # The range: "the estimated hold time is currently between 2 and 4 minutes", the project's "between".
    assert said[3:9] == ["queue-holdtime", "cti/queue_between", "digits/2", "vm-and", "digits/4", "queue-minutes"]

    def heard_at(t: float) -> float:  # a moment of got.played on the recording, from its end (ears.from_end)
        return ears.played_from_end(got, t, hung)

    assert ears.rms(got.wav, heard_at(after[4][0]) + 0.05, 0.3) > 0.02  # "between": spoken, not a silent file
    last, offer = after[len(expected) - 1][0], after[len(expected)][0]
    # Its last word played to its end before the offer began (the offer waited, cutting nothing).
    assert offer - last >= ears.sound_seconds(expected[-1]) - 0.1, (offer, last, expected[-1])
    assert ears.rms(got.wav, heard_at(offer) + 0.3, 1.0) > 0.02  # the offer heard as speech
    # Speech throughout, from the announcement's first word to the offer: no gap for the hand-over.
    assert ears.longest_silence(got.wav, heard_at(after[0][0]), heard_at(offer) + 1.0) < 1.5
    assert not got.missing, got.missing
