"""The engine's stop hands the call log every journey event published before it: the bus delivers
what it holds first, then the call log writes it and closes its outbox. Before, the call log
closed its outbox first, and an event still in the bus (a bot's wrap-up as `cti run` stopped) met
"outbox is not open" and was dropped. No PBX is needed: the engine is not started, only its bus and
call log are (SQLite)."""

from __future__ import annotations

import asyncio
import logging
import wave
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from callcenter.engine import Engine
from crm_core.db import Database
from crm_core.interactions import interaction_by_linkedid
from crm_core.recorder import ActiveRecording
from crm_core.recordings import Recording
from cti.journey import CallArrived, CallEnded
from cti.settings import load_settings


async def test_events_published_just_before_the_stop_reach_the_call_log(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = load_settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}", state_dir=tmp_path / "state")
    engine = Engine(settings, web=False)
    await engine.db.upgrade()
    engine.logger.subscribe(engine.bus)
    await engine.bus.start()
    await engine.logger.start()
    journal = engine.logger.outbox.append_synced  # the write and flush of a batch (policy group)

    async def slow_disk(lines: list[str]) -> None:  # a busy disk: the first batch takes a while
        await asyncio.sleep(0.3)
        await journal(lines)

    engine.logger.outbox.append_synced = slow_disk  # type: ignore[method-assign]
    lids = [f"stop-{n}" for n in range(5)]
    for lid in lids:
        await engine.bus.publish(CallArrived(ts=1_700_000_000.0, linkedid=lid, channel=f"PJSIP/t-{lid}",
                                             caller_number="+8613800138000", dnis="5000"))
        await asyncio.sleep(0)  # the first batch is under way; the others wait in the bus
    await engine.stop()
    assert "outbox is not open" not in caplog.text
    again = Engine(settings, web=False)
    try:
        await again.logger.start()  # what the first one left in its outbox, if anything, is replayed
        await again.logger.flush()
        async with again.db.session() as s:
            rows = [await interaction_by_linkedid(session=s, linkedid=lid) for lid in lids]
        assert all(r is not None and r.dialled_number == "5000" for r in rows), rows
    finally:
        await again.logger.stop()
        await again.db.dispose()


async def test_a_recorded_call_ending_during_the_stop_is_filed(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """AMI still delivers events while the engine stops (it closes after the services): a recorded
    call that ends then has its recording filed -- moved into the store and listed with its pauses
    -- before the database closes. Before, the recorder had stopped already and the filing was cut
    off with the event loop (the file stayed in the spool, its pauses lost)."""
    settings = load_settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}", state_dir=tmp_path / "state",
                             recordings={"dir": tmp_path / "store", "pbx_dir": str(tmp_path / "spool")})
    engine = Engine(settings, web=False)
    await engine.db.upgrade()
    engine.recorder.subscribe()
    await engine.bus.start()
    await engine.recorder.start()
    rel = "2026/12/04/20/77.1-1.wav"
    source = engine.recorder.store.spool / rel
    source.parent.mkdir(parents=True)
    with wave.open(str(source), "wb") as w:  # two seconds of a call already bridged
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x01\x00" * 16000)
    pause = {"start": 1_700_000_001.0, "end": 1_700_000_001.5, "by": "1001", "reason": "card"}
    engine.recorder.active["77.1"] = ActiveRecording("77.1", "PJSIP/t-1", rel, 1_700_000_000.0,
                                                     pauses=[pause], agents={"1001"})

    async def ended_meanwhile() -> None:  # what AMI reports while the stop runs
        await engine.bus.publish(CallEnded(ts=1_700_000_002.0, linkedid="77.1"))

    monkeypatch.setattr(engine.phone, "revoke_all", ended_meanwhile)
    await engine.stop()
    assert (tmp_path / "store" / rel).is_file() and not source.exists()
    again = Database(settings.resolved_database_url())
    try:
        async with again.session() as s:
            rows = (await s.execute(select(Recording))).scalars().all()
        assert [(r.linkedid, r.path, r.pauses) for r in rows] == [("77.1", rel, [pause])]
    finally:
        await again.dispose()


async def test_a_part_whose_stop_fails_does_not_stop_the_stop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    """The recorder's stop raising is logged, and the parts after it still close: the event feed,
    the callback intake, the wrap-up journal and the database. Before, the error left them open
    and came out of ``Engine.stop`` in the middle."""
    settings = load_settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}", state_dir=tmp_path / "state")
    engine = Engine(settings, web=False)
    await engine.db.upgrade()

    async def broken() -> None:
        raise RuntimeError("disk gone")

    stopped: list[str] = []

    def spy(name: str, stop: Any) -> Any:
        async def wrapped() -> None:
            stopped.append(name)
            await stop()
        return wrapped

    monkeypatch.setattr(engine.recorder, "stop", broken)
    for name, part, attr in (("feed", engine.feed, "stop"), ("intake", engine.callback_intake, "stop"),
                             ("journal", engine.desk.journal, "stop"), ("db", engine.db, "dispose")):
        monkeypatch.setattr(part, attr, spy(name, getattr(part, attr)))
    with caplog.at_level(logging.INFO):
        await engine.stop()
    assert stopped == ["feed", "intake", "journal", "db"]
    failed = [r for r in caplog.records if "the recorder failed" in r.getMessage()]
    assert len(failed) == 1 and failed[0].exc_info is not None and "disk gone" in str(failed[0].exc_info[1])
    assert caplog.records[-1].getMessage() == "engine stopped"
