"""Recording playback over HTTP in-process: who may listen (the agents who handled the call,
supervisors, administrators), Range requests (206 with the exact bytes, 416), and the audit log
of playbacks."""

from __future__ import annotations

import wave
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select

from agent_console.crm_http import router as crm_router
from agent_console.recordings_http import parse_range
from agent_console.recordings_http import router as recordings_router
from agent_console.security import Principal, current_principal
from crm_core.audit import AuditEntry
from crm_core.db import Database
from crm_core.models import Interaction, Segment
from crm_core.recordings import add_recording
from cti.errors import CtiError

SUP = Principal(user_id=2, username="sup1", role="supervisor", agent_id=None)
HANDLER = Principal(user_id=3, username="agent1", role="agent", agent_id="1001")
TRANSFEREE = Principal(user_id=4, username="agent2", role="agent", agent_id="1002")
OTHER = Principal(user_id=5, username="agent3", role="agent", agent_id="1003")
MANAGER = Principal(user_id=6, username="mgr1", role="manager", agent_id=None)
PATH = "2026/12/03/06/1764744000.7-1.wav"


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, Principal], Database, bytes]]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/crm.db")
    await db.upgrade()
    store = tmp_path / "recordings"
    (store / PATH).parent.mkdir(parents=True)
    with wave.open(str(store / PATH), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(range(256)) * 125)  # 2 s of (noisy) audio
    started = datetime(2026, 12, 3, 6, 0, tzinfo=UTC)
    async with db.session() as s:
        call = Interaction(linkedid="1764744000.7", started_at=started, agent_id="1002", queue="support")
        s.add(call)
        await s.flush()
        # agent 1001 answered and transferred to 1002: both handled the call.
        s.add_all([Segment(interaction_id=call.id, seq=0, kind="talk", started_at=started, agent_id="1001"),
                   Segment(interaction_id=call.id, seq=1, kind="talk", started_at=started, agent_id="1002")])
        await add_recording(session=s, linkedid="1764744000.7", path=PATH, duration_s=2.0,
                            size_bytes=(store / PATH).stat().st_size, started_at=started, ended_at=started,
                            pauses=[{"start": 1.0, "end": 2.0, "by": "agent1", "reason": "pause"}])
        await s.commit()
    app = FastAPI()
    app.state.crm_db, app.state.recordings_dir = db, store
    app.include_router(crm_router)
    app.include_router(recordings_router)

    @app.exception_handler(CtiError)
    async def _error(request: Request, err: CtiError) -> JSONResponse:
        return JSONResponse({"detail": {"code": err.code}}, status_code=err.http_status)

    who = {"p": SUP}
    app.dependency_overrides[current_principal] = lambda: who["p"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://crm") as http:
        yield http, who, db, (store / PATH).read_bytes()
    await db.dispose()


async def _audits(db: Database) -> list[AuditEntry]:
    async with db.session() as s:
        return list((await s.scalars(select(AuditEntry).order_by(AuditEntry.id))).all())


async def test_only_handlers_supervisors_and_admins_listen_and_each_playback_is_audited(api: tuple) -> None:
    http, who, db, data = api
    who["p"] = HANDLER
    listed = await http.get("/api/crm/interactions/1/recordings")
    assert listed.status_code == 200, listed.text
    [rec] = listed.json()
    assert rec["path"] == PATH and rec["duration_s"] == 2.0 and rec["pauses"][0]["by"] == "agent1"
    for p in (HANDLER, TRANSFEREE, SUP):
        who["p"] = p
        r = await http.get(rec["url"])
        assert r.status_code == 200 and r.content == data and r.headers["accept-ranges"] == "bytes"
        assert r.headers["content-type"] == "audio/wav"
    who["p"] = OTHER
    assert (await http.get(rec["url"])).status_code == 403
    assert (await http.get("/api/recordings")).status_code == 403  # the supervisor pages' list
    assert (await http.get("/api/crm/interactions/1/recordings")).status_code == 403
    audits = await _audits(db)
    assert [(a.actor, a.action, a.target) for a in audits] == [
        ("agent1", "recording.played", "recording:1"), ("agent2", "recording.played", "recording:1"),
        ("sup1", "recording.played", "recording:1")]
    assert audits[0].detail["path"] == PATH


async def test_managers_listen_like_all_staff_but_only_the_floor_controls_live_recordings(
        api: tuple, tmp_path: Path) -> None:
    """agent_console.policy: staff (supervisors, managers, admins) listen to recordings; pausing,
    resuming or starting a live call's recording is for the floor roles (and the call's agent)."""
    from crm_core.recorder import ActiveRecording, Recorder
    from crm_core.recording_files import RecordingStore
    from cti.ami.control import FakeCallControl
    from cti.bus import InProcessBus

    http, who, db, data = api
    who["p"] = MANAGER
    assert (await http.get("/api/recordings")).status_code == 200  # the reports page lists them...
    assert (await http.get("/api/crm/interactions/1/recordings")).status_code == 200
    r = await http.get("/api/recordings/1/audio")  # ... and plays them
    assert r.status_code == 200 and r.content == data
    assert [(a.actor, a.actor_role, a.action) for a in await _audits(db)] == [("mgr1", "manager", "recording.played")]
    control = FakeCallControl()
    recorder = Recorder(db, InProcessBus(), lambda: control, {},
                        store=RecordingStore("/x", tmp_path / "spool", tmp_path / "store"))
    recorder.active["L1"] = ActiveRecording("L1", "Local/5002@cti-inbound-0001;2", PATH, 1.0, agents={"1001"})
    http._transport.app.state.recorder = recorder  # type: ignore[attr-defined]
    for action in ("pause", "resume", "start"):
        assert (await http.post(f"/api/calls/L1/recording/{action}")).status_code == 403
    assert (await http.get("/api/calls/L1/recording")).status_code == 403
    assert control.calls == []
    who["p"] = Principal(user_id=1, username="admin", role="admin", agent_id=None)
    assert (await http.post("/api/calls/L1/recording/pause")).json()["state"] == "paused"


async def test_the_calls_agent_sees_off_on_a_call_nothing_records(api: tuple, tmp_path: Path) -> None:
    """A general-queue or outbound call is not recorded: the recorder knows no agent of it, the
    desk does. Its agent is told "off" (the console's recording button); another agent is refused."""
    from types import SimpleNamespace

    from acd.calls import LiveCall
    from acd.delivery import AcdService
    from acd.model import QueueConfig
    from acd.routing import Router
    from agent_console.desk import EngineDesk
    from crm_core.recorder import Recorder
    from crm_core.recording_files import RecordingStore
    from cti.ami.control import FakeCallControl
    from cti.bus import InProcessBus

    http, who, db, _ = api
    app = http._transport.app  # type: ignore[attr-defined]
    control = FakeCallControl()
    app.state.recorder = Recorder(db, InProcessBus(), lambda: control, {},
                                  store=RecordingStore("/x", tmp_path / "spool", tmp_path / "store"))
    acd = AcdService(Router([QueueConfig(name="general")]), control, InProcessBus())
    acd.calls["G1"] = LiveCall(linkedid="G1", caller_channel="PJSIP/trunk-1", caller_number="138", queue="general",
                               status="talking", agent_id="1001", agent_channel="PJSIP/1001-1")
    acd.calls["O1"] = LiveCall(linkedid="O1", caller_channel="PJSIP/1001-2", caller_number="8699001", queue="",
                               direction="outbound", status="talking", agent_id="1001")
    app.state.console = SimpleNamespace(desk=EngineDesk(acd, db, acd.bus))
    for linkedid in ("G1", "O1"):
        who["p"] = HANDLER
        r = await http.get(f"/api/calls/{linkedid}/recording")
        assert r.status_code == 200 and r.json() == {"linkedid": linkedid, "state": "off"}, r.text
        who["p"] = OTHER
        assert (await http.get(f"/api/calls/{linkedid}/recording")).status_code == 403
        assert (await http.post(f"/api/calls/{linkedid}/recording/pause")).status_code == 403
    who["p"] = HANDLER
    assert (await http.get("/api/calls/nope/recording")).status_code == 403  # not theirs: refused as before


async def test_supervisors_list_recent_recordings_with_their_call(api: tuple) -> None:
    http, who, _, _ = api
    who["p"] = SUP
    listed = (await http.get("/api/recordings", params={"queue": "support"})).json()
    assert [(r["path"], r["queue"], r["agent_id"]) for r in listed] == [(PATH, "support", "1002")]
    assert (await http.get("/api/recordings", params={"queue": "billing"})).json() == []


async def test_supervisors_find_a_recording_by_time_and_caller_number(api: tuple) -> None:
    """A past day's recording is found by its time range and the caller's number, not only among the
    newest (found by the supervisor's trial: the reports page's From / To did not reach the list,
    which showed today's newest under a report of last month)."""
    http, who, db, _ = api
    later = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)
    async with db.session() as s:
        s.add(Interaction(linkedid="1764840600.9", started_at=later, agent_id="1001", queue="support",
                          caller_number="+8613900139000"))
        await add_recording(session=s, linkedid="1764840600.9", path="2026/12/04/09/1764840600.9-1.wav",
                            duration_s=3.0, size_bytes=44, started_at=later, ended_at=later, pauses=[])
        await s.commit()
    who["p"] = SUP

    async def found(**params: str) -> list[str]:
        r = await http.get("/api/recordings", params=params)
        assert r.status_code == 200, r.text
        return [row["linkedid"] for row in r.json()]

    assert await found() == ["1764840600.9", "1764744000.7"]
    # The day of the first call (a date is local midnight; these tests' zone is UTC), in ISO or epoch.
    assert await found(start="2026-12-03", end="2026-12-04") == ["1764744000.7"]
    assert await found(start=str(later.timestamp())) == ["1764840600.9"]
    assert await found(start="2026-12-03T06:00+08:00", end="2026-12-03T07:00") == ["1764744000.7"]
    # The caller's number, any part of it, with or without + and spaces.
    assert await found(number="139 0013") == ["1764840600.9"]
    assert await found(number="+86139", start="2026-12-03", end="2026-12-04") == []
    for bad in ({"start": "yesterday"}, {"start": "2026-12-04", "end": "2026-12-03"}, {"number": "abc"}):
        r = await http.get("/api/recordings", params=bad)
        assert r.status_code == 422, (bad, r.text)


async def test_a_warehouse_pages_through_a_days_recordings(api: tuple) -> None:
    """``limit`` stops at 200 and the list had no way on: a warehouse loading a busy day's
    recordings got the newest 200 and nothing else (found by the integrator's trial). ``offset``
    pages on; rows started at the same moment keep one order (newest first, then the higher id)."""
    http, who, db, _ = api
    same = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
    async with db.session() as s:
        for n in range(5):
            linkedid = f"1764928800.{n}"
            s.add(Interaction(linkedid=linkedid, started_at=same, agent_id="1001", queue="support"))
            await add_recording(session=s, linkedid=linkedid, path=f"2026/12/05/10/{linkedid}-1.wav",
                                duration_s=1.0, size_bytes=44, started_at=same, ended_at=same, pauses=[])
        await s.commit()
    who["p"] = SUP
    everything = [r["id"] for r in (await http.get("/api/recordings", params={"limit": 200})).json()]
    assert len(everything) == 6
    paged: list[int] = []
    for offset in range(0, 8, 2):
        r = await http.get("/api/recordings", params={"limit": 2, "offset": offset})
        assert r.status_code == 200, r.text
        paged += [row["id"] for row in r.json()]
    assert paged == everything and len(set(paged)) == 6
    assert (await http.get("/api/recordings", params={"offset": -1})).status_code == 422


async def test_ids_past_64_bits_are_a_422_not_a_500(api: tuple) -> None:
    http, who, _, _ = api
    for p in (OTHER, SUP):  # any logged-in user
        who["p"] = p
        for path in (f"/api/crm/interactions/{2 ** 64}/recordings", f"/api/recordings/{2 ** 64}/audio",
                     "/api/recordings/0/audio"):
            r = await http.get(path)
            assert r.status_code == 422, (path, r.text)


async def test_range_requests_get_206_with_the_exact_bytes(api: tuple) -> None:
    http, _, db, data = api
    size = len(data)
    r = await http.get("/api/recordings/1/audio", headers={"Range": "bytes=100-199"})
    assert r.status_code == 206 and r.content == data[100:200]
    assert r.headers["content-range"] == f"bytes 100-199/{size}" and r.headers["content-length"] == "100"
    r = await http.get("/api/recordings/1/audio", headers={"Range": "bytes=-10"})
    assert r.status_code == 206 and r.content == data[-10:]
    assert r.headers["content-range"] == f"bytes {size - 10}-{size - 1}/{size}"
    r = await http.get("/api/recordings/1/audio", headers={"Range": f"bytes={size - 5}-"})
    assert r.status_code == 206 and r.content == data[-5:]
    r = await http.get("/api/recordings/1/audio", headers={"Range": f"bytes={size}-"})
    assert r.status_code == 416 and r.headers["content-range"] == f"bytes */{size}"
    # Continuation ranges of one playback are not audited again; a start at 0 is a playback.
    assert len(await _audits(db)) == 0
    r = await http.get("/api/recordings/1/audio", headers={"Range": "bytes=0-"})
    assert r.status_code == 206 and r.content == data
    assert len(await _audits(db)) == 1


async def test_a_range_the_server_ignores_gets_the_whole_file_and_head_gets_the_headers(api: tuple) -> None:
    """HTTP says a server must ignore a Range of a unit it does not know, and may ignore an invalid
    one or several ranges: the whole file, 200 (they were 416, "not satisfiable"). HEAD answers what
    GET would, without the audio (it was 405), and is no playback in the audit log."""
    http, _, db, data = api
    for header in ("bytes=abc", "items=0-1", "bytes=0-1,5-6", "bytes=5-2"):
        r = await http.get("/api/recordings/1/audio", headers={"Range": header})
        assert r.status_code == 200 and r.content == data, header
    audits = len(await _audits(db))
    r = await http.head("/api/recordings/1/audio")
    assert r.status_code == 200 and r.content == b"" and r.headers["content-length"] == str(len(data))
    r = await http.head("/api/recordings/1/audio", headers={"Range": "bytes=0-9"})
    assert r.status_code == 206 and r.headers["content-range"] == f"bytes 0-9/{len(data)}"
    assert len(await _audits(db)) == audits


@pytest.mark.parametrize(("header", "size", "expected"), [
    (None, 10, None), ("bytes=0-4", 10, (0, 4)), ("bytes=5-", 10, (5, 9)), ("bytes=-3", 10, (7, 9)),
    ("bytes=0-100", 10, (0, 9)), ("bytes=-100", 10, (0, 9)),
    # ignored (the whole file): another unit, a syntax error, several ranges, an invalid range
    ("items=0-1", 10, None), ("bytes=-", 10, None), ("bytes=0-1,3-4", 10, None), ("bytes=5-2", 10, None)])
def test_parse_range(header: str | None, size: int, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize("header", ["bytes=10-", "bytes=-0"])
def test_parse_range_refuses(header: str) -> None:
    with pytest.raises(ValueError):
        parse_range(header, 10)


async def test_only_the_calls_agent_or_staff_pause_and_resume(api: tuple, tmp_path: Path) -> None:
    from crm_core.recorder import ActiveRecording, Recorder
    from crm_core.recording_files import RecordingStore
    from cti.ami.control import FakeCallControl
    from cti.bus import InProcessBus

    http, who, db, _ = api
    control = FakeCallControl()
    recorder = Recorder(db, InProcessBus(), lambda: control, {},
                        store=RecordingStore("/x", tmp_path / "spool", tmp_path / "store"))
    recorder.active["L1"] = ActiveRecording("L1", "Local/5002@cti-inbound-0001;2", PATH, 1.0, agents={"1001"})
    http._transport.app.state.recorder = recorder  # type: ignore[attr-defined]
    who["p"] = OTHER
    assert (await http.post("/api/calls/L1/recording/pause")).status_code == 403
    assert (await http.get("/api/calls/L1/recording")).status_code == 403
    who["p"] = HANDLER
    paused = await http.post("/api/calls/L1/recording/pause")
    assert paused.status_code == 200 and paused.json()["state"] == "paused"
    assert paused.json()["pauses"][0]["by"] == "agent1"
    assert (await http.post("/api/calls/L1/recording/pause")).status_code == 409  # already paused
    who["p"] = SUP
    resumed = await http.post("/api/calls/L1/recording/resume")
    assert resumed.status_code == 200 and resumed.json()["state"] == "recording"
    assert resumed.json()["pauses"][0]["ended_by"] == "sup1"
    assert [(c["channel"], c["muted"]) for _, c in control.calls if _ == "mute_recording"] == [
        ("Local/5002@cti-inbound-0001;2", True), ("Local/5002@cti-inbound-0001;2", False)]
    assert (await http.post("/api/calls/L1/recording/start")).status_code == 409  # not on demand
    assert (await http.post("/api/calls/nope/recording/pause")).status_code == 409
    assert (await http.get("/api/calls/nope/recording")).json() == {"linkedid": "nope", "state": "off"}


async def test_an_id_past_a_database_id_is_a_422_not_a_500(api: tuple) -> None:
    http, who, _, _ = api
    who["p"] = SUP
    for url in ("/api/crm/interactions/99999999999999999999/recordings", "/api/recordings/99999999999999999999/audio",
                "/api/recordings/0/audio"):
        r = await http.get(url)
        assert r.status_code == 422, (url, r.text)


async def test_an_integration_token_hears_a_recording_only_when_its_token_was_given_audio(api: tuple) -> None:
    """Recordings' audio is off by default for integrations (docs/api.md): the policy refuses a
    token without the grant; one with it downloads, audited under the token's name."""
    http, who, db, audio = api
    who["p"] = Principal(user_id=-1, username="integration:dw", role="integration", agent_id=None)
    listed = await http.get("/api/recordings")
    assert listed.status_code == 200 and [r["linkedid"] for r in listed.json()] == ["1764744000.7"]
    rec_id = listed.json()[0]["id"]
    assert (await http.get(f"/api/recordings/{rec_id}/audio")).status_code == 403
    assert (await http.get("/api/crm/interactions/1/recordings")).status_code == 403
    who["p"] = Principal(user_id=-2, username="integration:archive", role="integration", agent_id=None,
                         grants=frozenset({"recordings.audio"}))
    r = await http.get(f"/api/recordings/{rec_id}/audio")
    assert r.status_code == 200 and r.content == audio
    assert [(a.actor, a.actor_role, a.action) for a in await _audits(db)] == [
        ("integration:archive", "integration", "recording.played")]
