"""The live wallboard: a snapshot (``board.compute_board``) every ``every_s`` pushed to supervisors
over /ws/supervisor. ``Wallboard`` owns the loop: it re-reads today's records every
``records_every_s`` and keeps only the newest snapshot for each slow client.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from acd.kpis import CallRecord
from acd.recipients import may_see
from agent_console.queue_scope import EVERY_QUEUE, QueueScope
from cti.tasks import cancel_and_wait

log = logging.getLogger(__name__)


class Subscriber:
    """One supervisor websocket: event frames (alerts) queue up to a bound, of snapshots only the
    newest waits to be sent (a wallboard needs the present, not the backlog). The first frame is
    always a snapshot: events raised before it wait for it (the board already lists active alerts)."""

    def __init__(self, ws: WebSocket, who: str, max_events: int = 200, role: str = "supervisor",
                 scope: Callable[[], QueueScope] = lambda: EVERY_QUEUE) -> None:
        self.ws, self.who, self.role, self.scope = ws, who, role, scope
        self._latest: str | None = None
        self._events: deque[str] = deque(maxlen=max_events)
        self._ready = asyncio.Event()
        self._greeted = False
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
            if not self._greeted:
                if self._latest is None:
                    continue
                self._greeted = True
                frame, self._latest = self._latest, None
                async with self.lock:
                    await self.ws.send_text(frame)
            while self._events:
                async with self.lock:
                    await self.ws.send_text(self._events.popleft())
            board, self._latest = self._latest, None
            if board is not None:
                async with self.lock:
                    await self.ws.send_text(board)


class Wallboard:
    """Builds a snapshot every ``every_s`` and pushes it to every connected supervisor."""

    def __init__(self, *, snapshot: Callable[[float, Sequence[CallRecord]], dict[str, Any]],
                 load: Callable[[float], Any], every_s: float = 1.0, records_every_s: float = 2.0,
                 since_of: Callable[[float], float], clock: Callable[[], float] = time.time,
                 scoped: Callable[[dict[str, Any], QueueScope], dict[str, Any]] | None = None) -> None:
        """``scoped(snapshot, scope)``: the snapshot as a supervisor of ``scope`` sees it
        (``SupervisorService.scoped_view``); None: every subscriber sees every queue."""
        self._snapshot, self._load, self._since_of = snapshot, load, since_of
        self._scoped = scoped
        self.every_s, self.records_every_s, self.clock = every_s, records_every_s, clock
        self.records: list[CallRecord] = []
        self._records_at = float("-inf")
        self._invalidations = 0  # one during a read: that read does not make the records fresh
        self.latest: dict[str, Any] | None = None
        self.subscribers: set[Subscriber] = set()
        self.listeners: list[Callable[[dict[str, Any]], Any]] = []
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._refreshing = asyncio.Lock()

    async def refresh(self) -> dict[str, Any]:
        """Re-read records when due, compute a snapshot, push it; returns it."""
        async with self._refreshing:  # the loop and a REST request may ask at once: one at a time
            return await self._refresh()

    async def _refresh(self) -> dict[str, Any]:
        now = self.clock()
        if now - self._records_at >= self.records_every_s:
            invalidations = self._invalidations
            try:
                self.records = await self._load(self._since_of(now))
                if invalidations == self._invalidations:
                    self._records_at = now
            except Exception:  # the database may be away for a while: keep showing the live part
                log.exception("wallboard: could not read call records")
        snap = self._snapshot(now, self.records)
        for listener in self.listeners:  # the alert runner evaluates and adds the active alerts
            result = listener(snap)
            if asyncio.iscoroutine(result):
                await result
        self.latest = snap
        # One board per distinct scope, one serialisation per distinct board and set of visible alerts.
        boards: dict[QueueScope, dict[str, Any]] = {}
        frames: dict[tuple[QueueScope, tuple[str, ...]], str] = {}
        for sub in list(self.subscribers):
            scope = sub.scope()
            if scope not in boards:
                boards[scope] = self.scoped_view(snap, scope)
            view = self.view_for(boards[scope], sub.who, sub.role)
            key = (scope, tuple(a.get("alert_id", "") for a in view.get("alerts", ())))
            if key not in frames:
                frames[key] = json.dumps(view, separators=(",", ":"), ensure_ascii=False)
            sub.offer(frames[key])
        return snap

    def scoped_view(self, snap: dict[str, Any], scope: QueueScope) -> dict[str, Any]:
        """``snap`` narrowed to ``scope`` (its queues, callers, agents, alerts and totals)."""
        if scope.everything:
            return snap
        if self._scoped is None:
            raise RuntimeError("wallboard: a scoped subscriber, but no way to narrow the board")
        return self._scoped(snap, scope)

    @staticmethod
    def view_for(snap: dict[str, Any], who: str, role: str) -> dict[str, Any]:
        """The snapshot as one person may see it: only the alerts addressed to them."""
        if "alerts" not in snap or role == "admin":
            return snap
        return {**snap, "alerts": [a for a in snap["alerts"] if may_see(a, who, role)]}

    def invalidate_records(self) -> None:
        """Read the records again at the next snapshot (also when a read is under way)."""
        self._records_at = float("-inf")
        self._invalidations += 1

    def push(self, frame: dict[str, Any],
             visible: Callable[[dict[str, Any], QueueScope, str], bool] | None = None) -> None:
        """Send an extra frame (an alert) to every supervisor it is addressed to now; ``visible``:
        whether a supervisor of a scope and a role may see it (default: every one)."""
        text = json.dumps(frame, separators=(",", ":"), ensure_ascii=False)
        for sub in list(self.subscribers):
            if may_see(frame, sub.who, sub.role) and (visible is None or visible(frame, sub.scope(), sub.role)):
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
                await cancel_and_wait(self._task)
            self._task = None

    async def serve(self, ws: WebSocket, who: str, on_message: Callable[[dict[str, Any]], Any], *,
                    role: str = "supervisor", scope: Callable[[], QueueScope] = lambda: EVERY_QUEUE) -> None:
        """Run one accepted supervisor websocket until it closes; ``scope()``: the queues its
        supervisor oversees now (asked at every snapshot: an assignment changes what the next shows)."""
        sub = Subscriber(ws, who, role=role, scope=scope)
        self.subscribers.add(sub)
        if self.latest is not None:
            first = self.view_for(self.scoped_view(self.latest, scope()), who, role)
            sub.offer(json.dumps(first, separators=(",", ":"), ensure_ascii=False))
        pump = asyncio.create_task(sub.pump(), name=f"supervisor.ws.{who}")
        try:
            while True:
                text = await ws.receive_text()
                try:
                    msg = json.loads(text)
                except (ValueError, RecursionError):  # not JSON, or nested past the parser's limit
                    msg = None
                if not isinstance(msg, dict):
                    msg = {"type": "invalid"}
                reply = await on_message(msg)
                if reply is not None:
                    async with sub.lock:
                        # ASCII: a reply echoing the frame's text stays encodable (a lone surrogate)
                        await ws.send_text(json.dumps(reply))
        except WebSocketDisconnect:
            pass
        finally:
            self.subscribers.discard(sub)
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pump
