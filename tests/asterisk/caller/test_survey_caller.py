"""The post-call survey as a caller on the carrier's SIP leg hears it: once the agent hangs up, the
first question, the beep, a key; the second question, the beep, a key; then the thanks, and the
answers stored on the call's interaction in the CRM (billing's survey: config/queues.yaml)."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

from callcenter.engine import Engine
from crm_core.interactions import interaction_by_linkedid
from cti.events import Event
from cti.journey import CallConnected, SurveyAnswered
from tests.asterisk.caller import ears
from tests.asterisk.trunks.rig import DID_SALES, Rig
from tests.helpers import english_customer_number, until

_keys = itertools.count()


def _played(log: Path, name: str) -> int:
    return log.read_text(errors="replace").count(f"Playing '{name}.") if log.exists() else 0


async def test_the_caller_hears_the_survey_presses_its_answers_and_hears_the_thanks(
        rig: Rig, engine: tuple[Engine, list[Event]], tmp_path: Path) -> None:
    eng, seen = engine
    number = await english_customer_number(eng)
    await eng.desk.login_queues("1008", ["billing"])  # billing 4, speaks English: the first step's agent
    await eng.desk.set_ready("1008")
    first, second = f"CTI_SURVEY_KEY_{next(_keys)}", f"CTI_SURVEY_KEY_{next(_keys)}"
    with ears.verbose_log(rig.ours) as log:
        recording = ears.place(rig, number, DID_SALES, ["Wait(4)", "SendDTMF(2)", *ears.key_when_told(first),
                                                        *ears.key_when_told(second)])
        connected = await until(lambda: next((e for e in seen if isinstance(e, CallConnected)), None), timeout_s=40,
                                what="the agent answered")
        await asyncio.sleep(1)
        await eng.desk.hangup("1008", connected.linkedid)
        # Each answer after the question and its beep: the question was heard whole.
        await until(lambda: _played(log, "cti/survey_q1") and _played(log, "beep") >= 1, timeout_s=20,
                    what="the first question and its beep")
        ears.press(rig, first, "4")
        await until(lambda: _played(log, "cti/survey_q2") and _played(log, "beep") >= 2, timeout_s=20,
                    what="the second question and its beep")
        ears.press(rig, second, "2")
        await until(lambda: _played(log, "cti/survey_thanks"), timeout_s=10, what="the thanks")
        await until(lambda: "0 active channels" in rig.carrier.cli("core show channels count"), timeout_s=15,
                    what="the call ended after the thanks")
        await until(recording.exists, timeout_s=5, what="the caller's recording")
        await asyncio.sleep(0.5)
    got = ears.heard(recording, log, tmp_path)
    said = [name for _, name, _ in got.played]
    start = said.index("cti/survey_q1")
    assert said[start:] == ["cti/survey_q1", "beep", "cti/survey_q2", "beep", "cti/survey_thanks"], said
    # The thanks said whole before the call ended (a caller hung up on mid-word hears it cut): our side
    # played it to its end before the survey's AGI returned and the dialplan hung up the call.
    done = ears.logged_at(got, "/survey completed")
    assert done - ears.logged_at(got, "Playing 'cti/survey_thanks") >= ears.sound_seconds("cti/survey_thanks") - 0.05
    for name in ("cti/survey_q1", "cti/survey_q2", "cti/survey_thanks"):  # spoken, heard
        at = ears.from_end(got, ears.logged_at(got, f"Playing '{name}."), done)
        assert ears.rms(got.wav, at + 0.3, 1.0) > 0.02, name
    answered = next(e for e in seen if isinstance(e, SurveyAnswered))
    assert answered.linkedid == connected.linkedid and answered.queue == "billing" and answered.scores == (4, 2)
    await eng.bus.drain()  # type: ignore[attr-defined]
    await eng.logger.flush()
    async with eng.db.session() as s:
        interaction = await interaction_by_linkedid(session=s, linkedid=connected.linkedid)
        assert interaction is not None and (interaction.csat, interaction.csat2) == (4, 2)
        assert interaction.agent_id == "1008"
    assert not got.missing, got.missing
