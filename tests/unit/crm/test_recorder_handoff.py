"""A recording the IVR's hand-off starts (crm_core.recorder.handoff_vars): the hand-off's last set
carries ``CTI_REC_FILE``, the dialplan after the IVR runs MixMonitor, and the caller's QueueEntered
adopts that recording without an AMI Setvar or Redirect. Every other way into a queue still sets
the file and redirects the caller through cti-record-start."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from acd.recording import RecordingPolicy, recording_path
from callcenter.handoff import IvrHandoff
from crm_core.recorder import REC_FILE_VAR, Recorder
from crm_core.recording_files import RecordingStore
from cti.ami.control import FakeCallControl
from cti.bus import InProcessBus, observe
from cti.events import Event
from cti.journey import CallEnded, QueueEntered, RecordingStarted
from ivr.driver import IvrOutcome

pytestmark = pytest.mark.unit

CHANNEL = "Local/5002@cti-inbound-00000001;2"
NOW = 1_764_820_000.0
POLICIES = {"support": RecordingPolicy("all"), "sales": RecordingPolicy("on_demand"),
            "general": RecordingPolicy(), "billing": RecordingPolicy("percent", 50)}


def _recorder(tmp_path: Path, pbx_dir: str = "/spool/cti", *, proven: bool | None = True,
              ) -> tuple[Recorder, FakeCallControl, list[Event]]:
    """``proven``: whether this run already saw the dialplan start a handed-off recording (see the
    probe's tests below); True for the steady state the other tests look at."""
    control, bus, seen = FakeCallControl(), InProcessBus(), list[Event]()
    store = RecordingStore(pbx_dir=pbx_dir, spool=tmp_path / "spool", store=tmp_path / "store")
    rec = Recorder(None, bus, lambda: control, POLICIES, store=store, clock=lambda: NOW)  # type: ignore[arg-type]
    rec.handoff.works = proven
    rec.subscribe()
    observe(bus, RecordingStarted, seen.append, name="test.started")
    return rec, control, seen


async def _enter(rec: Recorder, linkedid: str, queue: str) -> None:
    await rec._on_queue_entered(QueueEntered(ts=NOW + 1, linkedid=linkedid, queue=queue, channel=CHANNEL))
    for _ in range(3):
        await asyncio.sleep(0)  # the on-demand mute task


def _actions(control: FakeCallControl) -> list[tuple[str, Any]]:
    return [(m, kw.get("name") or kw.get("context") or kw.get("muted")) for m, kw in control.calls]


async def test_the_hand_off_carries_the_file_and_the_queue_entry_adopts_it(tmp_path: Path) -> None:
    rec, control, seen = _recorder(tmp_path)
    rel = recording_path("L1", 1, datetime.fromtimestamp(NOW, UTC))
    assert rec.handoff_vars("L1", "support") == {REC_FILE_VAR: f"/spool/cti/{rel}"}
    await _enter(rec, "L1", "support")
    assert control.calls == []  # no Setvar, no Redirect: the dialplan started MixMonitor
    active = rec.active["L1"]
    assert (active.path, active.channel, active.started, active.on_demand) == (rel, CHANNEL, NOW, False)
    assert [(e.linkedid, e.file, e.ts) for e in seen if isinstance(e, RecordingStarted)] == [("L1", rel, NOW)]
    await _enter(rec, "L1", "support")  # requeued: the one recording goes on
    assert control.calls == [] and len(seen) == 1


async def test_an_on_demand_hand_off_starts_muted_by_one_mute(tmp_path: Path) -> None:
    rec, control, _ = _recorder(tmp_path)
    assert REC_FILE_VAR in rec.handoff_vars("L2", "sales")
    await _enter(rec, "L2", "sales")
    assert _actions(control) == [("mute_recording", True)]  # MixMonitor cannot start muted
    assert rec.status("L2") == {"linkedid": "L2", "state": "available", "on_demand": True,
                                "pauses": [{"start": NOW, "end": None, "by": "system", "reason": "not_started"}]}


async def test_a_queue_that_does_not_record_the_call_adds_nothing(tmp_path: Path) -> None:
    rec, control, seen = _recorder(tmp_path)
    assert rec.handoff_vars("L3", "general") == {} and rec.handoff_vars("L3", "nowhere") == {}
    # percent: the hand-off decides as the queue entry would (the linkedid's hash).
    for n in range(20):
        linkedid = f"1764820000.{n}"
        recorded = POLICIES["billing"].decide(linkedid) == "record"
        assert bool(rec.handoff_vars(linkedid, "billing")) is recorded
    await _enter(rec, "L3", "general")
    assert control.calls == [] and seen == []


async def test_callers_not_handed_off_are_still_redirected(tmp_path: Path) -> None:
    rec, control, seen = _recorder(tmp_path)
    await _enter(rec, "L4", "support")  # a direct queue, a transfer, a callback, an outbound answer
    assert _actions(control) == [("set_var", REC_FILE_VAR), ("redirect", "cti-record-start")]
    assert len(seen) == 1 and "L4" in rec.active


async def test_a_hand_off_whose_call_ended_is_forgotten(tmp_path: Path) -> None:
    rec, control, _ = _recorder(tmp_path)
    rec.handoff_vars("L5", "support")
    await rec.bus.publish(CallEnded(ts=NOW, linkedid="L5"))
    assert rec.handoff.take("L5") is None
    # A late QueueEntered takes the ordinary path (its Redirect fails on a channel that is gone).
    control.fail.add("redirect")
    await _enter(rec, "L5", "support")
    assert "L5" not in rec.active


async def test_a_file_name_that_cannot_ride_in_agi_is_left_to_the_queue_entry(tmp_path: Path) -> None:
    rec, control, _ = _recorder(tmp_path, pbx_dir='/spool/"cti"')
    assert rec.handoff_vars("L6", "support") == {}
    await _enter(rec, "L6", "support")
    assert _actions(control) == [("set_var", REC_FILE_VAR), ("redirect", "cti-record-start")]


def test_the_composition_root_asks_the_acd_and_the_recorder() -> None:
    asked: list[tuple[str, str]] = []

    def acd_vars(linkedid: str, queue: str, **kw: Any) -> dict[str, str]:
        asked.append(("acd", queue))
        return {"CTI_ACD": "e"}

    def recorder_vars(linkedid: str, queue: str) -> dict[str, str]:
        asked.append(("rec", queue))
        return {REC_FILE_VAR: "/f.wav"}

    acd, recorder = SimpleNamespace(handoff_vars=acd_vars), SimpleNamespace(handoff_vars=recorder_vars)
    outcome = IvrOutcome("L7", "demo", "queue", CHANNEL, "+861", (), queue="support")
    found = IvrHandoff(acd, recorder, SimpleNamespace()).vars(outcome)  # type: ignore[arg-type]
    assert found == {"CTI_ACD": "e", REC_FILE_VAR: "/f.wav"}
    assert asked == [("acd", "support"), ("rec", "support")]


# -- the probe: the first hand-off of a run proves the dialplan starts the recording ---------------

MIXMONITOR = "MIXMONITOR_FILENAME"


@pytest.fixture
def quick_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("crm_core.recording_handoff.PROBE_TRIES", 3)
    monkeypatch.setattr("crm_core.recording_handoff.PROBE_STEP_S", 0.0)


async def _settle(rec: Recorder) -> None:
    await rec._tasks.wait_idle()


async def test_until_proven_one_call_at_a_time_is_handed_off(tmp_path: Path, quick_probe: None) -> None:
    rec, control, _ = _recorder(tmp_path, proven=None)
    file = rec.handoff_vars("P1", "support")[REC_FILE_VAR]
    assert rec.handoff_vars("P2", "support") == {}  # P1 is proving it: P2 goes the other way
    control.variables[(CHANNEL, MIXMONITOR)] = file  # the dialplan ran MixMonitor on P1
    await _enter(rec, "P1", "support")
    await _settle(rec)
    assert rec.handoff.works is True
    assert _actions(control) == [("get_var", MIXMONITOR)]  # one read, once per run
    assert REC_FILE_VAR in rec.handoff_vars("P3", "support")


async def test_a_dialplan_that_does_not_start_it_turns_the_hand_off_off_and_records_the_probe(
        tmp_path: Path, quick_probe: None, caplog: pytest.LogCaptureFixture) -> None:
    rec, control, _ = _recorder(tmp_path, proven=None)
    assert REC_FILE_VAR in rec.handoff_vars("P1", "support")
    await _enter(rec, "P1", "support")
    await _settle(rec)
    assert rec.handoff.works is False
    assert "did not start the recording the IVR handed off" in caplog.text
    # The probe's caller still waits: it is recorded the other way, the same file.
    assert _actions(control)[-2:] == [("set_var", REC_FILE_VAR), ("redirect", "cti-record-start")]
    assert control.calls[-2][1]["value"] == f"/spool/cti/{rec.active['P1'].path}"
    assert rec.handoff_vars("P2", "support") == {}  # off for the rest of the run


async def test_a_failed_probe_already_with_an_agent_is_not_redirected(tmp_path: Path, quick_probe: None) -> None:
    rec, control, _ = _recorder(tmp_path, proven=None)
    rec.handoff_vars("P1", "support")
    await rec._on_queue_entered(QueueEntered(ts=NOW + 1, linkedid="P1", queue="support", channel=CHANNEL))
    rec.active["P1"].agents.add("a7")  # answered while the probe asked
    await _settle(rec)
    assert rec.handoff.works is False and "P1" not in rec.active
    assert [m for m, _ in _actions(control)] == ["get_var"] * 3


async def test_a_probe_that_hangs_up_on_the_hand_off_leaves_the_next_call_to_prove_it(tmp_path: Path) -> None:
    rec, _, _ = _recorder(tmp_path, proven=None)
    rec.handoff_vars("P1", "support")
    assert rec.handoff_vars("P2", "support") == {}
    await rec.bus.publish(CallEnded(ts=NOW, linkedid="P1"))
    assert REC_FILE_VAR in rec.handoff_vars("P2", "support") and rec.handoff.works is None


async def test_a_dial_from_the_ivr_session_starts_a_handed_off_recording_first(tmp_path: Path,
                                                                               quick_probe: None) -> None:
    """The ring at the hand-off (acd/ringing.py): a Dial() from the caller's IVR session. A handed-off
    recording starts in its caller-side pre-dial handler; a call that is not recorded needs none; a
    call whose recording the QueueEntered will start (Setvar + Redirect, which would cut the dial
    short) is not rung that way at all."""
    rec, _, _ = _recorder(tmp_path, proven=None)
    assert REC_FILE_VAR in rec.handoff_vars("P1", "support")  # P1 proves the hand-off
    assert rec.dial_option("P1", "support") == "B(cti-record-predial^s^1)"
    assert rec.handoff_vars("P2", "support") == {}  # not handed off: recorded at QueueEntered
    assert rec.dial_option("P2", "support") is None
    assert rec.dial_option("G1", "general") == ""  # general records nothing
    await _enter(rec, "P1", "support")  # adopted: it records already
    assert rec.dial_option("P1", "support") == ""
