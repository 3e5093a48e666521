"""Recording retention on both databases: the job deletes recordings older than the configured
days, file and row, and writes each deletion to the audit log; newer ones stay."""

from __future__ import annotations

import os
import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from acd.recording import recording_path
from crm_core.audit import AuditEntry
from crm_core.db import Database
from crm_core.recorder import Recorder
from crm_core.recording_files import RecordingStore
from crm_core.recordings import Recording, add_recording
from cti.ami.control import FakeCallControl
from cti.bus import InProcessBus
from tests.helpers import DatabaseAway, until


async def test_retention_deletes_old_recordings_and_audits_each(db_url: str, tmp_path: Path) -> None:
    db = Database(db_url)
    store = RecordingStore("/srv/cti/x/spool/monitor/cti", tmp_path / "spool", tmp_path / "recordings")
    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    ages = {"old-1": 100, "old-2": 91, "new-1": 89, "new-2": 1}
    try:
        async with db.session() as s:
            for linkedid, days in ages.items():
                started = now - timedelta(days=days)
                rel = recording_path(linkedid, 1, started)
                (store.store / rel).parent.mkdir(parents=True, exist_ok=True)
                (store.store / rel).write_bytes(b"RIFF")
                await add_recording(session=s, linkedid=linkedid, path=rel, duration_s=1.0, size_bytes=4,
                                    started_at=started, ended_at=started, pauses=[])
            await s.commit()
        recorder = Recorder(db, InProcessBus(), FakeCallControl, {}, store=store, retention_days=90)
        assert await recorder.purge(now=now.timestamp()) == 2
        assert await recorder.purge(now=now.timestamp()) == 0  # nothing left to delete
        async with db.session() as s:
            left = sorted((await s.scalars(select(Recording.linkedid))).all())
            audits = (await s.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
        assert left == ["new-1", "new-2"]
        assert sorted(a.detail["linkedid"] for a in audits) == ["old-1", "old-2"]
        assert {(a.actor, a.action) for a in audits} == {("system", "recording.deleted")}
        assert all(a.detail["reason"] == "retention 90 days" for a in audits)
        files = sorted(p.name for p in store.store.rglob("*.wav"))
        assert files == ["new-1-1.wav", "new-2-1.wav"]
        # The whole old hours go (docs/recording.md), their emptied days and months with them: the
        # files alone went, and 90 days on every hour of the year stayed behind as an empty directory.
        dirs = sorted(str(p.relative_to(store.store)) for p in store.store.rglob("*") if p.is_dir())
        kept = {str(Path(recording_path(lid, 1, now - timedelta(days=ages[lid]))).parent) for lid in ("new-1", "new-2")}
        assert set(dirs) == {d for k in kept for d in (k, *map(str, Path(k).parents)) if d != "."}, dirs
        assert store.store.is_dir()
    finally:
        await db.dispose()


async def test_recover_files_what_an_earlier_engine_left_in_the_spool(db_url: str, tmp_path: Path) -> None:
    db = Database(db_url)
    store = RecordingStore("/srv/cti/x/spool/monitor/cti", tmp_path / "spool", tmp_path / "recordings")
    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC).timestamp()
    old, live = "2026/12/03/01/1764723600.5-1.wav", "2026/12/03/11/1764759600.9-1.wav"
    for rel, age_h in ((old, 10), (live, 1)):
        path = store.spool / rel
        path.parent.mkdir(parents=True)
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(b"\0\0" * 16000)
        os.utime(path, (now - age_h * 3600, now - age_h * 3600))
    try:
        recorder = Recorder(db, InProcessBus(), FakeCallControl, {}, store=store)
        assert await recorder.recover(now=now) == 1
        assert (store.store / old).is_file() and not (store.spool / old).exists()
        assert (store.spool / live).is_file()  # a quiet file of a live call (on hold?) stays
        async with db.session() as s:
            [row] = (await s.scalars(select(Recording))).all()
        assert (row.linkedid, row.path, row.duration_s) == ("1764723600.5", old, 2.0)
        assert row.pauses[0]["reason"] == "unknown (recovered)"
    finally:
        await db.dispose()


async def test_a_recording_filed_while_the_database_is_away_is_listed_once_it_is_back(db_url: str,
                                                                                     tmp_path: Path) -> None:
    """The call ends during a database outage: the file moved into the store and its row (pauses,
    length, the call) was lost -- the recording could be neither listed, nor played, nor purged,
    and nothing filed it later (the spool no longer held it). The row is journaled and written
    when the database is back, even after a restart."""
    from crm_core.recorder import ActiveRecording

    real = Database(db_url)

    store = RecordingStore("/srv/cti/x/spool/monitor/cti", tmp_path / "spool", tmp_path / "recordings")
    rel = "2026/12/03/11/1764759600.9-1.wav"
    (store.spool / rel).parent.mkdir(parents=True)
    with wave.open(str(store.spool / rel), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * 16000)
    pauses = [{"start": 1764759601.0, "end": 1764759602.0, "by": "agent1", "reason": "pause"}]
    journal = tmp_path / "state" / "recordings.jsonl"
    try:
        down = Recorder(DatabaseAway(real), InProcessBus(), FakeCallControl, {}, store=store,  # type: ignore[arg-type]
                        journal=journal)
        rec = ActiveRecording("1764759600.9", "PJSIP/trunk-1", rel, 1764759600.0, pauses=pauses, agents={"1001"})
        await down._file(rec, 1764759610.0)
        await down.stop()
        assert (store.store / rel).is_file()
        up = Recorder(real, InProcessBus(), FakeCallControl, {}, store=store, journal=journal)  # the restart
        await up.start()
        await until(lambda: not up.rows.waiting, 10, "the journaled row written")
        await up.stop()
        async with real.session() as s:
            [row] = (await s.scalars(select(Recording))).all()
        assert (row.linkedid, row.path, row.duration_s, row.pauses) == ("1764759600.9", rel, 2.0, pauses)
    finally:
        await real.dispose()


async def test_a_recordings_dir_that_cannot_be_made_is_a_config_error_naming_it(db_url: str, tmp_path: Path) -> None:
    """recordings.dir through a file ended the engine's start in a NotADirectoryError traceback."""
    import pytest

    from cti.errors import ConfigError

    (tmp_path / "afile").write_text("")
    db = Database(db_url)
    try:
        for spool in (tmp_path / "spool", tmp_path / "afile" / "rec"):  # managed; a system Asterisk's own dir
            store = RecordingStore("/srv/cti/x/spool/monitor/cti", spool, tmp_path / "afile" / "rec")
            recorder = Recorder(db, InProcessBus(), FakeCallControl, {}, store=store, retention_days=None)
            with pytest.raises(ConfigError) as caught:
                await recorder.start()
            assert caught.value.message.startswith(
                f"recordings.dir (CTI_RECORDINGS__DIR): cannot create {tmp_path / 'afile' / 'rec'}: ")
    finally:
        await db.dispose()


async def test_a_caller_never_bridged_leaves_no_recording_behind(db_url: str, tmp_path: Path) -> None:
    """MixMonitor (option b) writes a 44-byte header for a caller who was never bridged (abandoned in
    the queue, sent to voicemail): that was filed and listed as a 0 s recording (the manager's trial).
    It is removed from the spool instead; a call with audio, or one an agent took, is filed."""
    from crm_core.recorder import ActiveRecording

    db = Database(db_url)
    store = RecordingStore("/srv/cti/x/spool/monitor/cti", tmp_path / "spool", tmp_path / "recordings")
    files = {"abandoned": 0, "bridged-no-agent": 8000, "agent-silent": 0}
    for n, (name, frames) in enumerate(files.items()):
        path = store.spool / f"2026/12/03/11/17647596{n}0.1-1.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(b"\0\0" * frames)
        assert name != "abandoned" or path.stat().st_size == 44
    try:
        rec = Recorder(db, InProcessBus(), FakeCallControl, {}, store=store)  # type: ignore[arg-type]
        for n, name in enumerate(files):
            rel = f"2026/12/03/11/17647596{n}0.1-1.wav"
            agents = {"1001"} if name == "agent-silent" else set()
            await rec._file(ActiveRecording(f"17647596{n}0.1", "PJSIP/trunk-1", rel, 1764759600.0, agents=agents),
                            1764759610.0)
        await until(lambda: not rec.rows.waiting, 10, "rows written")
        await rec.stop()
        async with db.session() as s:
            rows = {r.linkedid: r.duration_s for r in (await s.scalars(select(Recording))).all()}
        assert rows == {"1764759610.1": 1.0, "1764759620.1": 0.0}, rows
        assert not (store.spool / "2026/12/03/11/1764759600.1-1.wav").exists()
        assert not (store.store / "2026/12/03/11/1764759600.1-1.wav").exists()
    finally:
        await db.dispose()
