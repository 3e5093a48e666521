"""Pause, resume and Record on a live call's recording: each step is judged against the state the
previous one left, even when two arrive at once (a double click while the PBX answers)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from crm_core.recorder import ActiveRecording, Recorder, RecordingError
from crm_core.recording_files import RecordingStore
from cti.ami.control import FakeCallControl
from cti.bus import InProcessBus

pytestmark = pytest.mark.unit


class SlowControl(FakeCallControl):
    """The PBX takes a moment to answer MixMonitorMute."""

    async def mute_recording(self, channel: str, muted: bool) -> None:
        await asyncio.sleep(0.01)
        await super().mute_recording(channel, muted)


def _recorder(tmp_path: Path) -> Recorder:
    control = SlowControl()
    store = RecordingStore(pbx_dir="/rec", spool=tmp_path / "spool", store=tmp_path / "store")
    rec = Recorder(None, InProcessBus(), lambda: control, {}, store=store)  # type: ignore[arg-type]
    rec.active["L1"] = ActiveRecording("L1", "PJSIP/trunk-1", "2026/12/03/06/L1-1.wav", 1.0, agents={"1001"})
    return rec


async def test_two_pauses_at_once_make_one_pause_that_resume_ends(tmp_path: Path) -> None:
    """Both pauses were accepted: two open pauses, resume ended only the last, and the recording was
    filed as paused from the first pause to the end of the call although it had been resumed."""
    rec = _recorder(tmp_path)
    results = await asyncio.gather(rec.pause("L1", by="agent1"), rec.pause("L1", by="agent1"),
                                   return_exceptions=True)
    assert sum(isinstance(r, RecordingError) for r in results) == 1, results
    await rec.resume("L1", by="agent1")
    assert [p["end"] is not None for p in rec.active["L1"].pauses] == [True]
    assert rec.status("L1")["state"] == "recording"  # type: ignore[index]


async def test_a_pause_the_pbx_refused_is_not_kept(tmp_path: Path) -> None:
    rec = _recorder(tmp_path)

    async def down(channel: str, muted: bool) -> None:
        raise ConnectionError("AMI away")

    rec.control().mute_recording = down  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        await rec.pause("L1", by="agent1")
    assert rec.active["L1"].pauses == [] and rec.status("L1")["state"] == "recording"  # type: ignore[index]
