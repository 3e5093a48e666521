"""REST routes of call recordings: list a call's recordings, stream one (HTTP Range), and pause,
resume or start (on demand) the recording of a live call from the console.

Who may listen: the agents who handled the call and staff -- supervisors, managers, administrators
(``policy.sees_all_calls``; 403 for anyone else); every playback is written to the audit log
(``recording.played``). Who may pause, resume or start a live call's recording: the call's agent
and the floor roles (``policy.controls_live_calls``); the call's agent also reads its state, "off"
when nothing records the call. A browser's audio
element asks for many ranges of one file: a playback is a request without a Range or with one
starting at byte 0, continuation ranges are not audited again. The app holds the recorder on
``app.state.recorder`` and the recordings directory on ``app.state.recordings_dir``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from agent_console import policy, queue_scope
from agent_console.crm_http import Id, get_db
from agent_console.errors import Forbidden, InvalidInput
from agent_console.queue_filter import QUEUE_FILTER, QueueNames, check_queues, configured_queues
from agent_console.security import Principal, current_principal
from agent_console.supervisor.service import parse_time
from crm_core import interactions, recordings, users
from crm_core.db import Database
from crm_core.errors import NotFound
from crm_core.models import Interaction, epoch
from crm_core.recorder import Recorder

router = APIRouter(tags=["recordings"], dependencies=[Depends(policy.enforce)])

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_CHUNK = 64 * 1024


def _recorder(request: Request) -> Recorder:
    recorder = getattr(request.app.state, "recorder", None)
    if recorder is None:
        raise NotFound("recorder", "of this server")
    return recorder  # type: ignore[no-any-return]


def _dir(request: Request) -> Path:
    return Path(request.app.state.recordings_dir)


async def _may_listen(s: Any, p: Principal, interaction: Interaction | None) -> None:
    """The agents who handled the call, and staff overseeing its queue (a supervisor: their queues)."""
    handlers: set[str] = set()
    if interaction is not None and not policy.sees_all_calls(p):
        handlers = await recordings.handling_agents(session=s, interaction=interaction)
    if policy.may_listen(p, handlers):
        if policy.sees_all_calls(p) and p.role == "supervisor":
            scope = queue_scope.scope_for(p.role, await users.supervised_queues(session=s, user_id=p.user_id))
            queue = interaction.queue if interaction is not None else None
            if not scope.sees(queue):
                raise Forbidden(f"the call was in queue {queue or '(none)'}, not one of your queues "
                                f"(you oversee {scope.describe()})")
        return
    raise Forbidden("only the agents who handled the call and staff may listen")


def _out(row: recordings.Recording) -> dict[str, Any]:
    return {"id": row.id, "linkedid": row.linkedid, "interaction_id": row.interaction_id, "path": row.path,
            "duration_s": row.duration_s, "size_bytes": row.size_bytes, "started_at": epoch(row.started_at),
            "ended_at": epoch(row.ended_at), "pauses": row.pauses, "url": f"/api/recordings/{row.id}/audio"}


@router.get("/api/crm/interactions/{interaction_id}/recordings")
async def list_recordings(interaction_id: Id, db: Database = Depends(get_db),
                          p: Principal = Depends(current_principal)) -> Any:
    async with db.session() as s:
        found = await interactions.get_interaction(session=s, interaction_id=interaction_id)
        await _may_listen(s, p, found)
        return [_out(r) for r in await recordings.recordings_of(session=s, interaction=found)]


@router.get("/api/recordings")
async def recent_recordings(request: Request, queue: str | None = Query(None, max_length=64, description=QUEUE_FILTER),
                            agent_id: str | None = Query(None, max_length=64),
                            start: str | None = Query(None, max_length=40),
                            end: str | None = Query(None, max_length=40),
                            number: str | None = Query(None, max_length=40),
                            limit: int = Query(50, ge=1, le=200), offset: int = Query(0, ge=0, le=1_000_000),
                            db: Database = Depends(get_db),
                            queues: QueueNames | None = Depends(configured_queues),
                            p: Principal = Depends(current_principal)) -> Any:  # staff: agent_console.policy
    """The supervisor pages' list: the newest recordings with their call's queue, agent and CSAT;
    ``start`` / ``end`` as the reports' (local time in the call center's zone without an offset, or
    epoch seconds), ``number``: digits of the caller's number; ``offset`` pages on past ``limit``."""
    tz = str(getattr(getattr(request.app.state, "console", None), "tz", "UTC"))
    since = _moment(start, tz, "start") if start else None
    until = _moment(end, tz, "end") if end else None
    if since is not None and until is not None and until <= since:
        raise InvalidInput("end", "must be after start")
    digits = re.sub(r"[\s+()-]", "", number or "")
    if number and not digits.isdigit():
        raise InvalidInput("number", "digits of the caller's number (spaces, +, - and brackets allowed)")
    check_queues(queues, [queue])
    async with db.session() as s:
        scope = (queue_scope.scope_for(p.role, await users.supervised_queues(session=s, user_id=p.user_id))
                 if p.role == "supervisor" else queue_scope.EVERY_QUEUE)
        queue_scope.check_queue_scope(scope, [queue])  # another team's queue: 403 naming it
        rows = await recordings.recent(session=s, queue=queue, agent_id=agent_id, since=since, until=until,
                                       number=digits or None, limit=limit, offset=offset, queues=scope.queues)
        return [{**_out(r), "queue": i.queue if i else None, "agent_id": i.agent_id if i else None,
                 "csat": i.csat if i else None, "caller_number": i.caller_number if i else None} for r, i in rows]


def _moment(text: str, tz: str, field: str) -> datetime:
    """``parse_time``'s epoch seconds as a datetime; NaN, infinities and times past year 9999 (epoch
    seconds above 2^63 were a 500) are a 422 naming ``field``."""
    try:
        return datetime.fromtimestamp(parse_time(text, tz, field), UTC)
    except (OverflowError, ValueError, OSError):
        raise InvalidInput(field, "a time between 1970 and 9999: an ISO 8601 date or date-time, or epoch "
                                  "seconds") from None


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``Range: bytes=a-b`` as an inclusive (start, end) within ``size``; None for the whole file:
    no Range, or one this server ignores as HTTP allows (another unit, a syntax error, several
    ranges). Raises ValueError when a valid range cannot be satisfied (416)."""
    if not header:
        return None
    m = _RANGE.match(header.strip())
    if m is None or (not m.group(1) and not m.group(2)):
        return None
    if not m.group(1):  # the last N bytes
        n = int(m.group(2))
        if n == 0:
            raise ValueError(header)
        return max(0, size - n), size - 1
    start = int(m.group(1))
    end = int(m.group(2)) if m.group(2) else size - 1
    if start >= size:
        raise ValueError(header)
    if end < start:
        return None  # not a valid byte range: ignored, as a syntax error is
    return start, min(end, size - 1)


async def _file_part(path: Path, start: int, length: int) -> AsyncIterator[bytes]:
    with path.open("rb") as f:
        f.seek(start)
        while length > 0:
            chunk = f.read(min(_CHUNK, length))
            if not chunk:
                return
            length -= len(chunk)
            yield chunk


@router.head("/api/recordings/{recording_id}/audio")
@router.get("/api/recordings/{recording_id}/audio")
async def play(recording_id: Id, request: Request, db: Database = Depends(get_db),
               p: Principal = Depends(current_principal)) -> Response:
    async with db.session() as s:
        row = await recordings.get_recording(session=s, recording_id=recording_id)
        await _may_listen(s, p, await recordings.interaction_of(session=s, recording=row))
        path = _dir(request) / row.path
        if not path.is_file():
            raise NotFound("recording file", row.path)
        size = path.stat().st_size
        header = request.headers.get("range")
        try:
            part = parse_range(header, size)
        except ValueError:
            return Response(status_code=416, headers={"Content-Range": f"bytes */{size}"})
        if request.method == "GET" and (part is None or part[0] == 0):
            recordings.audit(s, actor=p.username, role=p.role, action="recording.played", recording=row,
                             range=header or "")
            await s.commit()
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "private, no-store"}
    start, end, status = (0, size - 1, 200) if part is None else (*part, 206)
    headers["Content-Length"] = str(end - start + 1)
    if status == 206:
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    if request.method == "HEAD":  # what a GET would answer, without the audio
        return Response(status_code=status, media_type="audio/wav", headers=headers)
    return StreamingResponse(_file_part(path, start, end - start + 1), status_code=status, media_type="audio/wav",
                             headers=headers)


@router.get("/api/calls/{linkedid}/recording")
async def recording_status(linkedid: str, request: Request, p: Principal = Depends(current_principal)) -> Any:
    recorder = _recorder(request)
    if not await _has_call(request, p, linkedid):
        _may_control(recorder, p, linkedid)
        await _live_call_in_scope(request, p, linkedid)
    return recorder.status(linkedid) or {"linkedid": linkedid, "state": "off"}


async def _has_call(request: Request, p: Principal, linkedid: str) -> bool:
    """Is ``linkedid`` one of the agent's calls? The desk knows, recorded or not (the recorder
    knows the agents of the calls it records only)."""
    console = getattr(request.app.state, "console", None)
    return p.agent_id is not None and console is not None and await console.desk.has_call(p.agent_id, linkedid)


async def _live_call_in_scope(request: Request, p: Principal, linkedid: str) -> None:
    """A supervisor with queues controls the recordings of their queues' live calls (and their own)."""
    if p.role != "supervisor" or await _has_call(request, p, linkedid):
        return
    supervisor = getattr(request.app.state, "supervisor", None)
    if supervisor is None:
        return
    queue_scope.check_call_scope(await supervisor.scope_of(p), linkedid, supervisor.acd.queue_of(linkedid))


def _may_control(recorder: Recorder, p: Principal, linkedid: str) -> None:
    if policy.controls_live_calls(p):
        return
    if p.agent_id is None or p.agent_id not in recorder.agents_of(linkedid):
        raise Forbidden("only the call's agent may pause or resume its recording")


@router.post("/api/calls/{linkedid}/recording/{action}")
async def control_recording(linkedid: str, action: str, request: Request,
                            p: Principal = Depends(current_principal)) -> Any:
    recorder = _recorder(request)
    _may_control(recorder, p, linkedid)
    await _live_call_in_scope(request, p, linkedid)
    if action == "pause":
        return await recorder.pause(linkedid, by=p.username)
    if action == "resume":
        return await recorder.resume(linkedid, by=p.username)
    if action == "start":
        return await recorder.record(linkedid, by=p.username)
    raise NotFound("recording action", action)
