"""The live wallboard: a snapshot every ``every_s`` pushed to supervisors over /ws/supervisor.

``compute_board`` is pure: router views, live calls, agent clock and call records in, a JSON-ready
dict out. KPIs are ``acd.kpis.summarize`` over the rolling window (``window_min``) and over today
(local midnight in ``settings.timezone``), with each queue's own SL threshold (``service_level_s``
and ``short_abandon_s`` from queues.yaml) and SL target (its ``sl_below`` alert rule, else 80 %).
``Wallboard`` owns the loop: it re-reads today's records every ``records_every_s`` and keeps only
the newest snapshot for each slow client.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from acd.kpis import AgentTime, CallRecord, KpiPolicy, KpiSummary, bucket_start, in_window, summarize
from acd.model import AgentView, QueueConfig
from acd.stats import QueueSnapshot
from agent_console.supervisor.agents import AgentClock

log = logging.getLogger(__name__)

AGENT_STATES = ("logged_out", "available", "reserved", "on_call", "wrap_up", "not_ready")


@dataclasses.dataclass(frozen=True, slots=True)
class LiveCallView:
    """What the board shows of a live call (from ``acd.delivery.LiveCall``)."""

    linkedid: str
    queue: str
    status: str
    agent_id: str | None
    caller_number: str
    queued_at: float
    answered_at: float | None


def kpi_dict(k: KpiSummary) -> dict[str, Any]:
    return dataclasses.asdict(k)


def policy_for(cfg: QueueConfig | None, sl_target: float) -> KpiPolicy:
    if cfg is None:
        return KpiPolicy(sl_target=sl_target)
    return KpiPolicy(sl_seconds=cfg.service_level_s, short_abandon_s=cfg.short_abandon_s, sl_target=sl_target)


def compute_board(*, now: float, tz: str, window_min: float, queues: Sequence[QueueSnapshot],
                  configs: Mapping[str, QueueConfig], sl_targets: Mapping[str, float],
                  agents: Sequence[AgentView], names: Mapping[str, str], clock: AgentClock,
                  calls: Iterable[LiveCallView], records: Sequence[CallRecord],
                  agent_times: Sequence[AgentTime] = ()) -> dict[str, Any]:
    """One wallboard snapshot (see docs/supervisor.md for the fields)."""
    midnight = bucket_start(now, "day", tz)
    day = [r for r in records if midnight <= r.at <= now]
    window = in_window(records, now, window_min)
    live = list(calls)
    talking_by_queue: dict[str, int] = {}
    for c in live:
        if c.status in ("talking", "held"):
            talking_by_queue[c.queue] = talking_by_queue.get(c.queue, 0) + 1
    by_state_in: dict[str, dict[str, int]] = {q.queue: dict.fromkeys(AGENT_STATES, 0) for q in queues}
    for a in agents:
        for qn in a.queues:
            if qn in by_state_in:
                by_state_in[qn][a.state.value] += 1
    out_queues = []
    for q in queues:
        target = sl_targets.get(q.queue, 0.8)
        pol = policy_for(configs.get(q.queue), target)
        q_day = [r for r in day if r.queue == q.queue]
        q_win = [r for r in window if r.queue == q.queue]
        out_queues.append({
            "queue": q.queue, "waiting": q.waiting, "ringing": q.ringing,
            "talking": talking_by_queue.get(q.queue, 0), "longest_wait_s": round(q.longest_wait_s, 1),
            "sl_seconds": pol.sl_seconds, "sl_target": target,
            "agents": by_state_in.get(q.queue, {}), "logged_in": q.agents_logged_in,
            "available": q.agents_available,
            "window": kpi_dict(summarize(q_win, pol)), "today": kpi_dict(summarize(q_day, pol)),
        })
    handled_today: dict[str, int] = {}
    for r in day:
        if r.handled and r.agent_id:
            handled_today[r.agent_id] = handled_today.get(r.agent_id, 0) + 1
    current: dict[str, LiveCallView] = {}
    for c in live:
        if c.agent_id and c.status in ("ringing", "talking", "held"):
            current.setdefault(c.agent_id, c)
    out_agents = []
    for a in sorted(agents, key=lambda v: v.agent_id):
        since = clock.since(a.agent_id)
        call = current.get(a.agent_id)
        out_agents.append({
            "agent_id": a.agent_id, "name": names.get(a.agent_id, ""), "state": a.state.value, "reason": a.reason,
            "since": since, "time_in_state_s": round(now - since, 1) if since is not None else None,
            "queues": list(a.queues), "skills": dict(a.skills), "not_ready_after_call": a.not_ready_after_call,
            "call": None if call is None else {
                "linkedid": call.linkedid, "queue": call.queue, "status": call.status,
                "caller_number": call.caller_number,
                "since": call.answered_at if call.answered_at is not None else call.queued_at},
            "handled_today": handled_today.get(a.agent_id, 0),
        })
    known = {a.agent_id for a in agents}
    for agent_id in sorted(set(names) - known):  # in the CRM, never logged in since the engine started
        out_agents.append({"agent_id": agent_id, "name": names[agent_id], "state": "logged_out", "reason": None,
                           "since": None, "time_in_state_s": None, "queues": [], "skills": {},
                           "not_ready_after_call": None, "call": None,
                           "handled_today": handled_today.get(agent_id, 0)})
    out_agents.sort(key=lambda a: a["agent_id"])
    default = KpiPolicy()
    day_times = [t for t in agent_times if t.at + 900 > midnight]
    win_times = [t for t in agent_times if t.at + 900 > now - window_min * 60]
    return {
        "type": "wallboard", "ts": now, "tz": tz, "window_min": window_min,
        "totals": {
            "waiting": sum(q.waiting for q in queues), "ringing": sum(q.ringing for q in queues),
            "talking": sum(1 for c in live if c.status in ("talking", "held")),
            "longest_wait_s": round(max((q.longest_wait_s for q in queues), default=0.0), 1),
            "agents": {s: sum(1 for a in agents if a.state.value == s) for s in AGENT_STATES},
            "window": kpi_dict(summarize(window, default, win_times)),
            "today": kpi_dict(summarize(day, default, day_times)),
        },
        "queues": out_queues, "agents": out_agents,
    }


class Subscriber:
    """One supervisor websocket: event frames (alerts) queue up to a bound, of snapshots only the
    newest waits to be sent (a wallboard needs the present, not the backlog)."""

    def __init__(self, ws: WebSocket, who: str, max_events: int = 200) -> None:
        self.ws, self.who = ws, who
        self._latest: str | None = None
        self._events: deque[str] = deque(maxlen=max_events)
        self._ready = asyncio.Event()
        self.lock = asyncio.Lock()  # the pump and the replies share one socket: one send at a time

    def offer(self, frame: str) -> None:
        self._latest = frame
        self._ready.set()

    def event(self, frame: str) -> None:
        self._events.append(frame)
        self._ready.set()

    async def pump(self) -> None:
        while True:
            await self._ready.wait()
            self._ready.clear()
            while self._events:
                async with self.lock:
                    await self.ws.send_text(self._events.popleft())
            frame, self._latest = self._latest, None
            if frame is not None:
                async with self.lock:
                    await self.ws.send_text(frame)


class Wallboard:
    """Builds a snapshot every ``every_s`` and pushes it to every connected supervisor."""

    def __init__(self, *, snapshot: Callable[[float, Sequence[CallRecord]], dict[str, Any]],
                 load: Callable[[float], Any], every_s: float = 1.0, records_every_s: float = 2.0,
                 since_of: Callable[[float], float], clock: Callable[[], float] = time.time) -> None:
        self._snapshot, self._load, self._since_of = snapshot, load, since_of
        self.every_s, self.records_every_s, self.clock = every_s, records_every_s, clock
        self.records: list[CallRecord] = []
        self._records_at = float("-inf")
        self.latest: dict[str, Any] | None = None
        self.subscribers: set[Subscriber] = set()
        self.listeners: list[Callable[[dict[str, Any]], Any]] = []
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def refresh(self) -> dict[str, Any]:
        """Re-read records when due, compute a snapshot, push it; returns it."""
        now = self.clock()
        if now - self._records_at >= self.records_every_s:
            try:
                self.records = await self._load(self._since_of(now))
                self._records_at = now
            except Exception:  # the database may be away for a while: keep showing the live part
                log.exception("wallboard: could not read call records")
        snap = self._snapshot(now, self.records)
        for listener in self.listeners:  # the alert runner evaluates and adds the active alerts
            result = listener(snap)
            if asyncio.iscoroutine(result):
                await result
        self.latest = snap
        frame = json.dumps(snap, separators=(",", ":"), ensure_ascii=False)
        for sub in list(self.subscribers):
            sub.offer(frame)
        return snap

    def invalidate_records(self) -> None:
        self._records_at = float("-inf")

    def push(self, frame: dict[str, Any]) -> None:
        """Send an extra frame (an alert) to every supervisor now."""
        text = json.dumps(frame, separators=(",", ":"), ensure_ascii=False)
        for sub in list(self.subscribers):
            sub.event(text)

    async def _loop(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                await self.refresh()
            except Exception:
                log.exception("wallboard: snapshot failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.every_s):
                    await stopping.wait()

    def start(self) -> None:
        if self._task is None:
            self._stopping = asyncio.Event()
            self._task = asyncio.create_task(self._loop(self._stopping), name="supervisor.wallboard")

    async def stop(self) -> None:
        """Stop between two snapshots: cancelling a database read half-way leaks its connection."""
        if self._task is not None:
            self._stopping.set()
            try:
                async with asyncio.timeout(10.0):
                    await self._task
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None

    async def serve(self, ws: WebSocket, who: str, on_message: Callable[[dict[str, Any]], Any]) -> None:
        """Run one accepted supervisor websocket until it closes."""
        sub = Subscriber(ws, who)
        self.subscribers.add(sub)
        if self.latest is not None:
            sub.offer(json.dumps(self.latest, separators=(",", ":"), ensure_ascii=False))
        pump = asyncio.create_task(sub.pump(), name=f"supervisor.ws.{who}")
        try:
            while True:
                text = await ws.receive_text()
                try:
                    msg = json.loads(text)
                except ValueError:
                    msg = None
                if not isinstance(msg, dict):
                    msg = {"type": "invalid"}
                reply = await on_message(msg)
                if reply is not None:
                    async with sub.lock:
                        await ws.send_text(json.dumps(reply, ensure_ascii=False))
        except WebSocketDisconnect:
            pass
        finally:
            self.subscribers.discard(sub)
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pump
