"""The recorder: carries the queues' recording policies out on the PBX, files finished recordings
and deletes them when retention says so.

    recorder = Recorder(db, bus, control, policies, store=RecordingStore(...))
    recorder.subscribe()            # QueueEntered starts, CallEnded files
    await recorder.start()          # the retention job
    await recorder.pause(linkedid, by="agent7")

One file per call, on the caller's channel: when a queued caller's queue records, the engine sets
CTI_REC_FILE on the caller's channel and redirects it through ``cti-record-start`` (MixMonitor
with ``b``: audio is written only while the caller is bridged). A caller the IVR hands to the queue
needs neither: the hand-off's last set carries CTI_REC_FILE (``handoff_vars``, asked through the
composition root), the dialplan after the IVR runs the same MixMonitor, and the caller's
QueueEntered adopts that recording. AMI may not start MixMonitor (the
system class), but MixMonitorMute needs only the call class: pauses are mutes, a silent gap of
the right length. When the call ends the file is moved from the PBX's spool into the recordings
directory and a ``recordings`` row links it to the call.

Errors: ``RecordingError`` (``cti.errors.CtiError``; code ``recording_state``, HTTP 409) for a
pause, resume or start on a call that is not being recorded or is in the wrong state.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from acd.recording import RecordingPolicy, recording_path
from crm_core import recordings
from crm_core.db import Database
from crm_core.journal import RowJournal
from crm_core.recording_files import (
    ORPHAN_AGE_S,
    RecordingStore,
    move_file,
    orphans,
    prune_empty,
    settled,
    size_of,
    wav_duration,
)
from crm_core.recording_handoff import Handed, HandoffStarts
from cti.ami.control import CallControl
from cti.bus import EventBus, observe
from cti.errors import ConfigError, CtiError, UnsafeValue
from cti.files import private_dir
from cti.journey import CallConnected, CallEnded, QueueEntered, RecordingStarted
from cti.safety import check_agi_argument
from cti.tasks import TaskSet, cancel_and_wait

_RECORDINGS_DIR = "recordings.dir (CTI_RECORDINGS__DIR)"
log = logging.getLogger(__name__)

# The channel variable naming the file MixMonitor writes (cti-record-start, the IVR's hand-off).
REC_FILE_VAR = "CTI_REC_FILE"
# A Dial() of the agent's phone from a recorded caller's IVR session (acd/ringing.py) starts the
# handed-off recording first: extensions.conf, cti-record-predial (as cti-record-start would).
RECORD_PREDIAL_CONTEXT = "cti-record-predial"
RECORD_BEFORE_DIAL = f"B({RECORD_PREDIAL_CONTEXT}^s^1)"


class RecordingError(CtiError):
    code = "recording_state"
    http_status = 409


@dataclass(eq=False)
class ActiveRecording:
    linkedid: str
    channel: str  # the caller's channel, where the MixMonitor runs
    path: str  # relative, YYYY/MM/DD/HH/<linkedid>-<n>.wav
    started: float
    on_demand: bool = False
    started_by_agent: bool = False  # on demand: an agent pressed Record
    pauses: list[dict[str, Any]] = field(default_factory=list)
    agents: set[str] = field(default_factory=set)  # who was connected: they may pause and resume

    @property
    def paused(self) -> bool:
        return bool(self.pauses) and self.pauses[-1]["end"] is None


class Recorder:
    def __init__(self, db: Database, bus: EventBus, control: Callable[[], CallControl],
                 policies: Mapping[str, RecordingPolicy], *, store: RecordingStore,
                 retention_days: float | None = None, retention_check_s: float = 3600.0,
                 clock: Callable[[], float] = time.time,
                 call_of: Callable[[str], str | None] | None = None, journal: Path | None = None) -> None:
        self.db, self.bus, self.control, self.policies = db, bus, control, policies
        # A filed recording's row, journaled first: a database outage at the end of the call must
        # not leave the file in the store without a row (not listed, not played, never purged).
        self.rows = RowJournal(db, journal, {"recording": recordings.add_recording_once}, name="recorder.rows")
        self.call_of = call_of  # the linkedid a call goes by now (calls fold together in conferences)
        self.store, self.clock = store, clock
        self.retention_days, self.retention_check_s = retention_days, retention_check_s
        self.active: dict[str, ActiveRecording] = {}
        self.handoff = HandoffStarts()  # started by the dialplan after the IVR's hand-off
        self._tasks = TaskSet(log, "recorder: %s failed")  # probes, mutes, filings: stop() waits for them
        self._retention: asyncio.Task[None] | None = None

    # -- life cycle -----------------------------------------------------------------------------
    def subscribe(self) -> None:
        # Only a queue that may record needs its callers' entries (a worker task woken per call);
        # the connect and the end are looked up in memory, so observers, called as they are published.
        if any(p.announces for p in self.policies.values()):
            self.bus.subscribe(QueueEntered, self._on_queue_entered, name="recorder.queue_entered")
        observe(self.bus, CallEnded, self._on_call_ended, name="recorder.call_ended")
        observe(self.bus, CallConnected, self._on_connected, name="recorder.connected")

    async def start(self) -> None:
        if self.store.spool == self.store.store:  # a system Asterisk writes here: its owner sets the access
            try:
                self.store.store.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise ConfigError(f"{_RECORDINGS_DIR}: cannot create {self.store.store}: "
                                  f"{err.strerror or err}") from None
        else:  # callers' voices: not for the host's other users
            private_dir(self.store.store, 0o750, setting=_RECORDINGS_DIR)
        await self.rows.start()  # rows journaled before a restart go in first
        self._track(self.recover(), "recorder.recover")
        if self.retention_days is not None:
            self._retention = asyncio.create_task(self._retention_loop(), name="recorder.retention")

    async def stop(self) -> None:
        await cancel_and_wait(self._retention)
        await self._tasks.stop(None)
        await self.rows.stop()

    def _track(self, coro: Coroutine[Any, Any, object], name: str) -> None:
        self._tasks.spawn(coro, name)

    # -- starting -------------------------------------------------------------------------------
    def handoff_vars(self, linkedid: str, queue: str) -> dict[str, str]:
        """The IVR hands ``linkedid`` to ``queue``: ``{CTI_REC_FILE: file}`` when the queue records
        the call (the same ``decide``), else ``{}``. The dialplan after the IVR starts MixMonitor on
        it (cti-inbound -> cti-record-start) and the call's QueueEntered adopts that recording: no
        Setvar, no Redirect of the waiting caller. ``{}`` also when the file name cannot ride in an
        AGI command: the QueueEntered then starts the recording as for any other caller."""
        decision = self.policies.get(queue, RecordingPolicy()).decide(linkedid)
        if decision == "off" or not self.handoff.may_hand_off(linkedid):
            self.handoff.forget(linkedid)
            return {}
        started = self.clock()
        rel = recording_path(linkedid, 1, datetime.fromtimestamp(started, UTC))
        value = f"{self.store.pbx_dir}/{rel}"
        try:
            check_agi_argument(REC_FILE_VAR, value)
        except UnsafeValue:
            self.handoff.forget(linkedid)
            return {}
        self.handoff.remember(linkedid, Handed(rel, started, decision))
        return {REC_FILE_VAR: value}

    def dial_option(self, linkedid: str, queue: str) -> str | None:
        """For a Dial() of the agent's phone from the IVR session of ``linkedid``, just handed to
        ``queue``: the option that starts its recording first ('' when the call is not recorded), or
        None when its recording is to start at its QueueEntered (a Setvar and a Redirect, which would
        cut such a dial short): that call is rung the usual way."""
        if self.handoff.pending(linkedid):
            return RECORD_BEFORE_DIAL
        if linkedid in self.active:
            return ""  # recording already
        return "" if self.policies.get(queue, RecordingPolicy()).decide(linkedid) == "off" else None

    async def _on_queue_entered(self, ev: QueueEntered) -> None:
        if ev.linkedid in self.active or not ev.channel:
            return  # already recording (requeued, transferred to a queue, overflowed)
        # Started by the dialplan after the IVR's hand-off: adopted as it is (its queue decided).
        handed = self.handoff.take(ev.linkedid)
        if handed is not None:
            rel, started, decision = handed.path, handed.started, handed.decision
        else:
            decision = self.policies.get(ev.queue, RecordingPolicy()).decide(ev.linkedid)
            if decision == "off":
                return
            started = self.clock()
            rel = recording_path(ev.linkedid, 1, datetime.fromtimestamp(started, UTC))
        rec = ActiveRecording(ev.linkedid, ev.channel, rel, started, on_demand=decision == "on_demand")
        if rec.on_demand:  # silent until an agent presses Record: one gap from the start
            rec.pauses.append({"start": started, "end": None, "by": "system", "reason": "not_started"})
        self.active[ev.linkedid] = rec
        if handed is None:
            if not await self._start_by_redirect(rec):
                return
        elif self.handoff.works is None:  # the hand-off is not proven yet: this call proves it
            self._track(self._prove_handoff(rec), f"recorder.prove:{ev.linkedid}")
        if rec.on_demand:
            self._track(self._mute_when_running(rec), f"recorder.mute:{ev.linkedid}")
        await self.bus.publish(RecordingStarted(ts=started, linkedid=ev.linkedid, file=rel))

    async def _start_by_redirect(self, rec: ActiveRecording) -> bool:
        """Set the file on the caller's channel and redirect it through cti-record-start."""
        control = self.control()
        try:
            await control.set_var(rec.channel, REC_FILE_VAR, f"{self.store.pbx_dir}/{rec.path}")
            await control.redirect(rec.channel, "cti-record-start", "s")
        except CtiError as err:
            log.warning("recorder: could not start recording call %s: %s", rec.linkedid, err.message)
            self.active.pop(rec.linkedid, None)
            return False
        return True

    async def _prove_handoff(self, rec: ActiveRecording) -> None:
        """The first hand-off of the run: is its recording running (crm_core.recording_handoff)? If
        not, start it the other way while the caller still waits (a redirect would take a caller
        already with an agent out of the call)."""
        file = f"{self.store.pbx_dir}/{rec.path}"
        if await self.handoff.prove(rec.linkedid, file,
                                    lambda: self.control().get_var(rec.channel, "MIXMONITOR_FILENAME")):
            return
        if self.handoff.works is False and self.active.get(rec.linkedid) is rec:
            if rec.agents:
                log.error("recorder: call %s is not recorded (already with an agent)", rec.linkedid)
                self.active.pop(rec.linkedid, None)
            else:
                await self._start_by_redirect(rec)

    async def _mute_when_running(self, rec: ActiveRecording) -> None:
        """MixMonitorMute fails until the caller has run MixMonitor (redirected, or the dialplan
        after the IVR's hand-off): try for ~3 s. MixMonitor has no option to start muted.
        Nothing is written meanwhile (``b``: the caller is not bridged while queued)."""
        for _ in range(30):
            try:
                await self.control().mute_recording(rec.channel, True)
                return
            except CtiError:
                await asyncio.sleep(0.1)
        log.warning("recorder: could not mute on-demand recording of %s", rec.linkedid)

    def _on_connected(self, ev: CallConnected) -> None:
        rec = self.active.get(ev.linkedid)
        if rec is not None:
            rec.agents.add(ev.agent_id)

    # -- console actions -------------------------------------------------------------------------
    def status(self, linkedid: str) -> dict[str, Any] | None:
        rec = self.active.get(linkedid)
        if rec is None:
            return None
        state = "paused" if rec.paused else "recording"
        if rec.on_demand and not rec.started_by_agent:
            state = "available"
        return {"linkedid": linkedid, "state": state, "on_demand": rec.on_demand, "pauses": list(rec.pauses)}

    def agents_of(self, linkedid: str) -> set[str]:
        rec = self.active.get(linkedid)
        return set(rec.agents) if rec is not None else set()

    def _get(self, linkedid: str) -> ActiveRecording:
        rec = self.active.get(linkedid)
        if rec is None:
            raise RecordingError(f"call {linkedid} is not being recorded")
        return rec

    async def record(self, linkedid: str, *, by: str) -> dict[str, Any]:
        """On demand: start (unmute) the call's recording."""
        rec = self._get(linkedid)
        if not rec.on_demand or rec.started_by_agent:
            raise RecordingError(f"call {linkedid} is already recorded")
        rec.started_by_agent = True  # each step is taken before the PBX is asked: one at the same time is judged on it
        gap = rec.pauses[-1]
        gap.update(end=self.clock(), ended_by=by)
        try:
            await self.control().mute_recording(rec.channel, False)
        except BaseException:
            rec.started_by_agent = False
            gap["end"] = None
            gap.pop("ended_by")
            raise
        return self.status(linkedid) or {}

    async def pause(self, linkedid: str, *, by: str) -> dict[str, Any]:
        rec = self._get(linkedid)
        if rec.paused:
            raise RecordingError(f"the recording of call {linkedid} is already paused")
        gap = {"start": self.clock(), "end": None, "by": by, "reason": "pause"}
        rec.pauses.append(gap)
        try:
            await self.control().mute_recording(rec.channel, True)
        except BaseException:
            rec.pauses.remove(gap)
            raise
        return self.status(linkedid) or {}

    async def resume(self, linkedid: str, *, by: str) -> dict[str, Any]:
        rec = self._get(linkedid)
        if not rec.paused or (rec.on_demand and not rec.started_by_agent):
            raise RecordingError(f"the recording of call {linkedid} is not paused")
        gap = rec.pauses[-1]
        gap.update(end=self.clock(), ended_by=by)
        try:
            await self.control().mute_recording(rec.channel, False)
        except BaseException:
            gap["end"] = None
            gap.pop("ended_by")
            raise
        return self.status(linkedid) or {}

    # -- filing -----------------------------------------------------------------------------------
    def _on_call_ended(self, ev: CallEnded) -> None:
        self.handoff.forget(ev.linkedid)  # handed off, never queued (hung up on the hand-off)
        if not self.active:
            return
        # In a conference Asterisk gives every channel of the bridge the oldest linkedid among them,
        # which can be the consultation's: the call model folds the caller's call into that one and
        # reports the end under it. ``call_of`` says which call a recorded linkedid became.
        ended = [lid for lid in self.active
                 if lid == ev.linkedid or (self.call_of is not None and self.call_of(lid) == ev.linkedid)]
        for lid in ended:
            rec = self.active.pop(lid)
            self._track(self._file(rec, ev.ts or self.clock()), f"recorder.file:{lid}")

    async def _file(self, rec: ActiveRecording, ended: float) -> None:
        source = self.store.spool / rec.path
        if not rec.agents and size_of(source) < 0:
            return  # never connected to an agent (abandoned, voicemail): MixMonitor wrote nothing
        if not await settled(source):
            log.warning("recorder: no recording file %s for call %s (never bridged?)", source, rec.linkedid)
            return
        if not rec.agents and await asyncio.to_thread(wav_duration, source) <= 0:
            # Never bridged (MixMonitor's b option wrote only the header): nothing to keep or list.
            source.unlink(missing_ok=True)
            return
        if rec.on_demand and not rec.started_by_agent:
            source.unlink(missing_ok=True)  # nobody pressed Record: nothing was kept
            return
        for pause in rec.pauses:
            if pause["end"] is None:
                pause["end"] = ended
        target = self.store.store / rec.path
        await asyncio.to_thread(move_file, source, target)
        duration = await asyncio.to_thread(wav_duration, target)
        await self._save(rec.linkedid, rec.path, duration, target.stat().st_size, rec.started, ended, rec.pauses)
        log.info("recorder: filed %s (%.1f s) for call %s", rec.path, duration, rec.linkedid)

    async def _save(self, linkedid: str, path: str, duration: float, size: int, started: float, ended: float,
                    pauses: list[dict[str, Any]]) -> None:
        """The row of a file now in the store: in the database, or journaled until it is back."""
        await self.rows.submit("recording", f"recording:{path}", {
            "linkedid": linkedid, "path": path, "duration_s": duration, "size_bytes": size, "started": started,
            "ended": ended, "pauses": pauses})

    async def recover(self, *, now: float | None = None) -> int:
        """File recordings an earlier engine left in the PBX's spool (it stopped before their call
        ended): pauses are unknown, the start is the file's last write minus its length."""
        cutoff = (now if now is not None else self.clock()) - ORPHAN_AGE_S
        found = await asyncio.to_thread(orphans, self.store.spool, cutoff)
        for path, mtime in found:
            rel = path.relative_to(self.store.spool).as_posix()
            linkedid = path.stem.rsplit("-", 1)[0]
            target = self.store.store / rel
            await asyncio.to_thread(move_file, path, target)
            duration = await asyncio.to_thread(wav_duration, target)
            await self._save(linkedid, rel, duration, target.stat().st_size, mtime - duration, mtime,
                             [{"start": None, "end": None, "by": "system", "reason": "unknown (recovered)"}])
            log.warning("recorder: filed %s, left in the spool by an earlier engine", rel)
        return len(found)

    # -- retention ----------------------------------------------------------------------------------
    async def _retention_loop(self) -> None:
        while True:
            try:
                await self.purge()
            except Exception:
                log.exception("recorder: retention run failed")
            await asyncio.sleep(self.retention_check_s)

    async def purge(self, *, now: float | None = None) -> int:
        """Delete recordings older than ``retention_days``, each deletion in the audit log."""
        if self.retention_days is None:
            return 0
        cutoff = datetime.fromtimestamp(now if now is not None else self.clock(), UTC) - timedelta(
            days=self.retention_days)
        deleted = 0
        while True:
            async with self.db.session() as s:
                old = await recordings.older_than(session=s, cutoff=cutoff)
                for row in old:
                    (self.store.store / row.path).unlink(missing_ok=True)
                    prune_empty(self.store.store, (self.store.store / row.path).parent)
                    recordings.audit(s, actor="system", role="", action="recording.deleted", recording=row,
                                     reason=f"retention {self.retention_days:g} days",
                                     started_at=row.started_at.isoformat())
                    await s.delete(row)
                await s.commit()
            deleted += len(old)
            if len(old) < 500:
                return deleted
