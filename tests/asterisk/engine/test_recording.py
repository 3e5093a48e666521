"""Recording and the caller's survey on a real Asterisk, through the whole engine.

The caller's simulated phone plays 440 Hz, the agent's 1000 Hz; the test pauses the recording
from the console's recorder, and checks the filed WAV with sox: both tones are in it, the pause is
a silent gap of its length, the file is as long as the bridged call."""

from __future__ import annotations

import asyncio
import shutil
import stat
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from acd.calls import LiveCall
from callcenter.engine import Engine
from crm_core.interactions import interaction_by_linkedid
from crm_core.recordings import Recording
from cti.events import Event
from cti.journey import CallConnected, QueueEntered, RecordingStarted, SurveyAnswered
from cti.pbx import ManagedPbx
from cti.settings import PROJECT_ROOT, Settings
from tests.asterisk.caller.ears import TONE, TonePhone, sox_stat
from tests.helpers import customer_number, engine_settings, running_engine, until


def _config(tmp_path: Path, **support: Any) -> Path:
    """The project's configuration with the support queue's recording/survey keys replaced."""
    config = tmp_path / "config"
    shutil.copytree(PROJECT_ROOT / "config", config, ignore=shutil.ignore_patterns("asterisk"))
    data = yaml.safe_load((config / "queues.yaml").read_text(encoding="utf-8"))
    data["queues"]["support"].pop("survey", None)
    data["queues"]["support"].update(support)
    (config / "queues.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return config


@pytest.fixture
async def recording_engine(request: pytest.FixtureRequest, pbx: ManagedPbx, pbx_settings: Settings,
                           tmp_path: Path) -> AsyncIterator[tuple[Engine, list[Event]]]:
    seen: list[Event] = []

    async def record(ev: Event) -> None:
        seen.append(ev)

    support = getattr(request, "param", {"recording": "all"})
    settings = engine_settings(pbx_settings, tmp_path).model_copy(update={
        "config_dir": _config(tmp_path, **support),
        "recordings": pbx_settings.recordings.model_copy(update={"dir": tmp_path / "recordings"})})
    subscribe = lambda eng: eng.bus.subscribe(Event, record, name="test.recorder")  # noqa: E731
    async with running_engine(pbx, settings, before_start=subscribe, answer_after_s=0.5) as eng:
        yield eng, seen


async def _call_support(eng: Engine, seen: list[Event], agent: str) -> tuple[str, str, float]:
    """A known customer's tone-playing phone calls the support line and is bridged with ``agent``'s
    tone-playing phone. Returns (linkedid, the caller's ;1 half, when the call connected)."""
    await eng.desk.login_queues(agent, ["support"])
    eng.acd.phones[agent] = TonePhone(agent, answer_after_s=0.5)
    await eng.desk.set_ready(agent)
    _, _, number = await customer_number(eng)
    result = await eng.ami.control.originate("Local/5002@cti-inbound/n", context="cti-sim-caller-tone", exten="s",
                                             caller_id=f"<{number}>", timeout_ms=10000)
    assert result.success, result
    caller_half = str(result.channel)
    deadline = time.monotonic() + 30
    while not any(isinstance(e, QueueEntered) for e in seen):  # "1": support, sent until the menu hears it
        assert time.monotonic() < deadline, "the call never reached the queue"
        await eng.ami.control.play_dtmf(caller_half, "1")
        await asyncio.sleep(0.7)
    connected = await until(lambda: next((e for e in seen if isinstance(e, CallConnected)), None))
    return connected.linkedid, caller_half, time.time()


async def _filed(eng: Engine, linkedid: str) -> Recording:
    async def row() -> Recording | None:
        async with eng.db.session() as s:
            return (await s.scalars(select(Recording).where(Recording.linkedid == linkedid))).one_or_none()

    deadline = time.monotonic() + 30
    while (found := await row()) is None:
        assert time.monotonic() < deadline, "the recording was never filed"
        await asyncio.sleep(0.2)
    return found


async def test_recorded_call_holds_both_parties_and_a_silent_pause(
        recording_engine: tuple[Engine, list[Event]]) -> None:
    eng, seen = recording_engine
    linkedid, _, connected_at = await _call_support(eng, seen, "1001")
    # Published by the recorder's subscriber (after its Setvar and Redirect when not handed off),
    # not before the CallConnected waited for above: waited for.
    started = await until(lambda: next((e for e in seen if isinstance(e, RecordingStarted)), None),
                          what="RecordingStarted")
    assert started.linkedid == linkedid
    await until(lambda: eng.recorder.agents_of(linkedid) == {"1001"})
    await asyncio.sleep(2.0)
    pause_at = time.time()
    await eng.recorder.pause(linkedid, by="agent1")
    await asyncio.sleep(2.0)
    resume_at = time.time()
    await eng.recorder.resume(linkedid, by="agent1")
    await asyncio.sleep(2.0)
    hangup_at = time.time()
    await eng.desk.hangup("1001", linkedid)

    row = await _filed(eng, linkedid)
    path = eng.recorder.store.store / row.path
    assert path.is_file() and path.stat().st_size == row.size_bytes
    parts = row.path.split("/")  # YYYY/MM/DD/HH/<linkedid>-1.wav
    assert len(parts) == 5 and parts[4] == f"{linkedid}-1.wav" and len(parts[0]) == 4
    assert not (eng.recorder.store.spool / row.path).exists()  # moved out of the PBX's spool
    # Callers' voices: other users of the host can neither list the store nor enter it.
    assert stat.S_IMODE(eng.recorder.store.store.stat().st_mode) == 0o750
    # As long as the bridged call (the queue's music is not recorded: MixMonitor's b option).
    talked = hangup_at - connected_at
    assert abs(row.duration_s - talked) < 1.0, (row.duration_s, talked)
    assert abs(sox_stat(path)["Length (seconds)"] - row.duration_s) < 0.1
    # Both parties: the caller's 440 Hz and the agent's 1000 Hz are heard before the pause.
    before = ("trim", "0.3", f"{pause_at - connected_at - 0.5:.2f}")
    assert sox_stat(path, *before)["RMS     amplitude"] > 0.05
    assert sox_stat(path, *before, "sinc", "350-550")["RMS     amplitude"] > 0.03
    assert sox_stat(path, *before, *TONE)["RMS     amplitude"] > 0.03
    # The pause is silence, as long as it lasted; the audio is back after it.
    gap = ("trim", f"{pause_at - connected_at + 0.4:.2f}", f"{resume_at - pause_at - 0.8:.2f}")
    assert sox_stat(path, *gap)["Maximum amplitude"] < 0.001
    after = ("trim", f"{resume_at - connected_at + 0.4:.2f}", "1.0")
    assert sox_stat(path, *after)["RMS     amplitude"] > 0.05
    assert len(row.pauses) == 1 and row.pauses[0]["by"] == "agent1"
    assert abs(row.pauses[0]["start"] - pause_at) < 0.5 and abs(row.pauses[0]["end"] - resume_at) < 0.5

    await eng.bus.drain()  # type: ignore[attr-defined]
    await eng.logger.flush()
    async with eng.db.session() as s:
        interaction = await interaction_by_linkedid(session=s, linkedid=linkedid)
        assert interaction is not None and interaction.recording_file == row.path


@pytest.mark.parametrize("recording_engine", [{"recording": "none", "survey": {"questions": ["beep", "beep"]}}],
                         indirect=True)
@pytest.mark.parametrize("hung_up_by", ["console", "phone"])
async def test_caller_answers_the_survey_after_the_agent_hangs_up(
        recording_engine: tuple[Engine, list[Event]], hung_up_by: str) -> None:
    eng, seen = recording_engine
    linkedid, caller_half, _ = await _call_support(eng, seen, "1001")
    await asyncio.sleep(1.0)
    if hung_up_by == "console":
        await eng.desk.hangup("1001", linkedid)
    else:  # the agent puts the phone down: cti-agent-connect's Bridge F() option sends the caller on
        agent_leg = eng.acd.calls[linkedid].agent_channel
        assert agent_leg is not None
        await eng.ami.control.hangup(agent_leg)
    # The agent is released to wrap-up while the caller is still on the line, in the survey.
    await until(lambda: eng.router.agent("1001").state.value == "wrap_up")
    assert any(ch.name == caller_half for c in eng.ami.model.calls() for ch in c.live)
    await until(lambda: eng.agi.open_sessions > 0, what="the survey AGI session")
    await asyncio.sleep(0.5)
    for digit in "42":  # first question 4, second 2 (each heard by the prompt or the GET DATA after it)
        await eng.ami.control.play_dtmf(caller_half, digit)
        await asyncio.sleep(1.0)
    answered = await until(lambda: next((e for e in seen if isinstance(e, SurveyAnswered)), None), timeout_s=20)
    assert answered.linkedid == linkedid and answered.queue == "support" and answered.scores == (4, 2)
    assert not any(isinstance(e, RecordingStarted) for e in seen)
    await eng.bus.drain()  # type: ignore[attr-defined]
    await eng.logger.flush()
    async with eng.db.session() as s:
        interaction = await interaction_by_linkedid(session=s, linkedid=linkedid)
        assert interaction is not None and interaction.csat == 4 and interaction.csat2 == 2
        assert interaction.agent_id == "1001"


async def test_one_recording_follows_the_caller_across_a_transfer(
        recording_engine: tuple[Engine, list[Event]]) -> None:
    """Agent 1001 transfers the caller to agent 1002: one file holds both conversations, and the
    caller's wait between them (music in cti-queue) is not in it."""
    eng, seen = recording_engine
    await eng.desk.login_queues("1002", ["support"])
    eng.acd.phones["1002"] = TonePhone("1002", answer_after_s=0.5)
    linkedid, _, first_at = await _call_support(eng, seen, "1001")
    await asyncio.sleep(2.0)
    first_s = time.time() - first_at
    await eng.desk.set_ready("1002")
    await eng.desk.transfer("1001", linkedid, kind="blind", target_kind="agent", target="1002")
    second = await until(lambda: next((e for e in seen if isinstance(e, CallConnected) and e.agent_id == "1002"),
                                      None))
    second_at = time.time()
    await asyncio.sleep(2.0)
    second_s = time.time() - second_at
    await eng.desk.hangup("1002", linkedid)
    assert second.linkedid == linkedid
    row = await _filed(eng, linkedid)
    assert row.path.endswith(f"/{linkedid}-1.wav")
    assert len([e for e in seen if isinstance(e, RecordingStarted)]) == 1
    path = eng.recorder.store.store / row.path
    # Both conversations, not the ~1 s the caller waited on music between them.
    waited = second_at - first_at - first_s  # requeued, the second phone rang: ~0.5 s of music
    assert waited > 0.4
    assert abs(row.duration_s - (first_s + second_s)) < 0.35, (row.duration_s, first_s, second_s, waited)
    assert sox_stat(path, "trim", f"{row.duration_s - 1.5:.2f}", "1.0")["RMS     amplitude"] > 0.05


@pytest.mark.parametrize("recording_engine", [{"recording": "on_demand"}], indirect=True)
async def test_on_demand_recording_keeps_only_what_follows_record(
        recording_engine: tuple[Engine, list[Event]], monkeypatch: pytest.MonkeyPatch) -> None:
    """The IVR's hand-off started the recording (no AMI Setvar or Redirect of the caller); the
    engine mutes it once MixMonitor runs (it has no option to start muted) until Record."""
    eng, seen = recording_engine
    sent: list[tuple[str, str]] = []  # the engine's AMI actions: (action or Setvar:<variable>, channel)
    submit = eng.ami.client.submit_action

    def counting(action: str, headers: Any, **kw: Any) -> Any:
        sent.append((f"Setvar:{headers.get('Variable')}" if action == "Setvar" else action,
                     str(headers.get("Channel", ""))))
        return submit(action, headers, **kw)

    monkeypatch.setattr(eng.ami.client, "submit_action", counting)
    linkedid, _, connected_at = await _call_support(eng, seen, "1001")
    caller = next(e for e in seen if isinstance(e, QueueEntered)).channel
    on_caller = Counter(a for a, channel in sent if channel == caller)
    print(f"engine AMI actions on the on-demand caller's channel until it was connected: {dict(on_caller)}")
    assert on_caller["Redirect"] == 0 and on_caller["Setvar:CTI_REC_FILE"] == 0, on_caller
    assert on_caller["MixMonitorMute"] >= 1, on_caller
    await until(lambda: eng.recorder.agents_of(linkedid) == {"1001"})
    assert eng.recorder.status(linkedid)["state"] == "available"  # type: ignore[index]
    await asyncio.sleep(2.0)
    record_at = time.time()
    assert (await eng.recorder.record(linkedid, by="agent1"))["state"] == "recording"
    await asyncio.sleep(2.0)
    await eng.desk.hangup("1001", linkedid)
    row = await _filed(eng, linkedid)
    path = eng.recorder.store.store / row.path
    assert sox_stat(path, "trim", "0.2", f"{record_at - connected_at - 0.6:.2f}")["Maximum amplitude"] < 0.001
    assert sox_stat(path, "trim", f"{record_at - connected_at + 0.4:.2f}", "1.0")["RMS     amplitude"] > 0.05
    assert [(p["reason"], p["by"], p["ended_by"]) for p in row.pauses] == [("not_started", "system", "agent1")]


async def test_a_three_way_conference_is_recorded_with_every_party(
        recording_engine: tuple[Engine, list[Event]]) -> None:
    """Agent 1001 consults a number that answers with 2000 Hz and joins the three in a ConfBridge:
    the caller's one file holds the two-party part, the consultation's hold is not in it, then the
    conference with all three tones; after the agent leaves, caller and third party talk on. In the
    ConfBridge Asterisk gives the caller's channel the consultation's linkedid, so the end comes
    under that call: the recorder files the recording when the call it folded into ends."""
    eng, seen = recording_engine
    linkedid, caller_half, connected_at = await _call_support(eng, seen, "1001")
    await asyncio.sleep(1.5)
    consult_at = time.time()
    await eng.desk.transfer("1001", linkedid, kind="attended", target_kind="number", target="86950001")
    await until(lambda: eng.acd.calls[linkedid].status == "consulting"
                and eng.acd.calls[linkedid].consult_channel is not None)
    await asyncio.sleep(1.5)  # the third party answered after ~1 s; the caller holds, off the recording
    await eng.desk.conference("1001", linkedid)
    call = eng.acd.calls[linkedid]
    legs = (call.caller_channel, call.agent_channel, call.consult_channel)

    def together() -> bool:
        bridges = {c.bridge_id if c else None for c in (eng.ami.model.channel(n or "") for n in legs)}
        return len(bridges) == 1 and None not in bridges

    await until(together, what="caller, agent and third party in one conference")
    conf_at = time.time()
    await asyncio.sleep(3.0)
    leave_at = time.time()
    await eng.desk.hangup("1001", linkedid)  # the agent leaves; caller and third party talk on
    await asyncio.sleep(2.0)
    end_at = time.time()
    await eng.ami.control.hangup(caller_half)  # the caller (the marked user) leaves: the conference ends

    row = await _filed(eng, linkedid)
    path = eng.recorder.store.store / row.path
    assert row.path.endswith(f"/{linkedid}-1.wav")
    assert len([e for e in seen if isinstance(e, RecordingStarted)]) == 1
    before = consult_at - connected_at
    conference = end_at - conf_at
    # The two-party talk and the conference; the consultation (caller on hold) is not recorded.
    assert abs(row.duration_s - (before + conference)) < 1.0, (row.duration_s, before, conference)
    # Mid-conference: the caller's 440 Hz, the agent's 1000 Hz and the third party's 2000 Hz.
    mid = ("trim", f"{before + 0.8:.2f}", f"{leave_at - conf_at - 1.6:.2f}")
    for band in ("350-550", "900-1100", "1900-2100"):
        assert sox_stat(path, *mid, "sinc", band)["RMS     amplitude"] > 0.02, band
    # After the agent left: caller and third party, no more 1000 Hz.
    tail = ("trim", f"{before + leave_at - conf_at + 0.6:.2f}", "1.0")
    assert sox_stat(path, *tail, "sinc", "1900-2100")["RMS     amplitude"] > 0.02
    assert sox_stat(path, *tail, *TONE)["RMS     amplitude"] < 0.01

    await eng.bus.drain()  # type: ignore[attr-defined]
    await eng.logger.flush()
    async with eng.db.session() as s:
        interaction = await interaction_by_linkedid(session=s, linkedid=linkedid)
        assert interaction is not None and interaction.recording_file == row.path
        # The caller's call ended under the consultation's linkedid; its interaction ends too.
        assert interaction.ended_at is not None and interaction.status != "open", interaction.status


async def test_a_caller_queued_without_the_ivr_is_redirected_through_cti_record_start(
        recording_engine: tuple[Engine, list[Event]], monkeypatch: pytest.MonkeyPatch) -> None:
    """A caller that reaches the queue another way (here queued directly, as a transfer, callback
    or outbound answer is) never passed the IVR's hand-off: the recorder sets CTI_REC_FILE and
    redirects it through cti-record-start, and the call is recorded all the same."""
    eng, seen = recording_engine
    sent: list[tuple[str, str]] = []
    submit = eng.ami.client.submit_action

    def counting(action: str, headers: Any, **kw: Any) -> Any:
        sent.append((f"Setvar:{headers.get('Variable')}" if action == "Setvar" else action,
                     str(headers.get("Channel", ""))))
        return submit(action, headers, **kw)

    await eng.desk.login_queues("1001", ["support"])
    eng.acd.phones["1001"] = TonePhone("1001", answer_after_s=0.5)
    await eng.desk.set_ready("1001")
    monkeypatch.setattr(eng.ami.client, "submit_action", counting)
    result = await eng.ami.control.originate("Local/s@cti-queue/n", context="cti-sim-caller-tone", exten="s",
                                             caller_id="<13800138000>", timeout_ms=10000)
    assert result.success, result
    caller = str(result.channel).replace(";1", ";2")
    linkedid = (await until(lambda: eng.ami.model.channel(caller))).linkedid
    await eng.acd.enqueue(LiveCall(linkedid=linkedid, caller_channel=caller, caller_number="13800138000",
                                   queue="support"))
    await until(lambda: next((e for e in seen if isinstance(e, CallConnected)), None))
    connected_at = time.time()
    await asyncio.sleep(2.0)
    talked = time.time() - connected_at
    await eng.ami.control.hangup(caller)
    row = await _filed(eng, linkedid)
    on_caller = Counter(a for a, channel in sent if channel == caller)
    assert on_caller["Setvar:CTI_REC_FILE"] == 1 and on_caller["Redirect"] == 1, on_caller
    path = eng.recorder.store.store / row.path
    assert row.path.endswith(f"/{linkedid}-1.wav") and abs(row.duration_s - talked) < 1.0, (row.duration_s, talked)
    both = ("trim", "0.3", f"{talked - 0.8:.2f}")
    assert sox_stat(path, *both, "sinc", "350-550")["RMS     amplitude"] > 0.03
    assert sox_stat(path, *both, *TONE)["RMS     amplitude"] > 0.03
