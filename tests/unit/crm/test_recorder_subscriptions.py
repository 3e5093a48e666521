"""The recorder wakes no worker task for calls nobody records: without a queue that may record it
does not subscribe to queue entries, and it follows connects and ends as observers (in memory)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from acd.recording import RecordingPolicy
from crm_core.recorder import ActiveRecording, Recorder
from crm_core.recording_files import RecordingStore
from cti.ami.control import FakeCallControl
from cti.bus import InProcessBus
from cti.journey import CallConnected, CallEnded

pytestmark = pytest.mark.unit


def _recorder(bus: InProcessBus, policies: dict[str, RecordingPolicy], tmp_path: Path) -> Recorder:
    store = RecordingStore(pbx_dir="/rec", spool=tmp_path / "spool", store=tmp_path / "store")
    return Recorder(None, bus, FakeCallControl, policies, store=store)  # type: ignore[arg-type]


def test_no_recording_queue_means_no_worker_per_call(tmp_path: Path) -> None:
    bus = InProcessBus()
    _recorder(bus, {"sales": RecordingPolicy(), "support": RecordingPolicy("percent", 0.0)}, tmp_path).subscribe()
    assert not [name for name in bus.queue_depths() if name.startswith("recorder.")]  # the inboxes: workers


def test_a_recording_queue_subscribes_to_entries(tmp_path: Path) -> None:
    bus = InProcessBus()
    _recorder(bus, {"sales": RecordingPolicy("all")}, tmp_path).subscribe()
    assert [name for name in bus.queue_depths() if name.startswith("recorder.")] == ["recorder.queue_entered"]


async def test_connects_and_ends_reach_the_recorder_as_they_are_published(tmp_path: Path) -> None:
    bus = InProcessBus()  # not started: only observers see what is published
    rec = _recorder(bus, {"sales": RecordingPolicy("all")}, tmp_path)
    rec.subscribe()
    filed: list[Any] = []
    rec._track = lambda coro, name: (filed.append(name), coro.close())  # type: ignore[method-assign]
    rec.active["L1"] = ActiveRecording("L1", "PJSIP/caller-1", "2026/12/04/05/L1-1.wav", 1.0)
    await bus.publish(CallConnected(ts=2.0, linkedid="L1", agent_id="a7"))
    assert rec.agents_of("L1") == {"a7"}
    await bus.publish(CallEnded(ts=3.0, linkedid="L1"))
    assert "L1" not in rec.active and filed == ["recorder.file:L1"]
