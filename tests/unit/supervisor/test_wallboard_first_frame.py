"""A supervisor's first websocket frame is the board, even when an alert is raised first.

Found in CI: a supervisor connected before the wallboard's first snapshot; that snapshot's alert
rules raised an alert, pushed to the socket at once, so the first frame was an ``alert`` with no
board to place it on."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from fastapi import WebSocketDisconnect

from acd.kpis import CallRecord
from agent_console.supervisor.wallboard import Wallboard


class _Socket:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.closed = asyncio.Event()

    async def send_text(self, text: str) -> None:
        self.sent.append(json.loads(text))

    async def receive_text(self) -> str:
        await self.closed.wait()
        raise WebSocketDisconnect(1000)


def _board() -> Wallboard:
    async def load(since: float) -> list[CallRecord]:
        return []

    def snapshot(now: float, records: Sequence[CallRecord]) -> dict[str, Any]:
        return {"type": "wallboard", "alerts": [{"alert_id": "a1", "to": []}]}

    board = Wallboard(snapshot=snapshot, load=load, since_of=lambda now: 0.0, clock=lambda: 1000.0)
    # the alert runner is a listener: it raises the alert while the snapshot is being made
    board.listeners.append(lambda snap: board.push({"type": "alert", "event": {"type": "alert.raised"}, "to": []}))
    return board


async def _first_frames(board: Wallboard, ws: _Socket, before: bool) -> list[str]:
    if before:
        await board.refresh()
    served = asyncio.create_task(board.serve(ws, "sup1", lambda msg: None, role="admin"))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    board.push({"type": "alert", "event": {"type": "alert.escalated"}, "to": []})
    if not before:
        await board.refresh()
    for _ in range(50):
        if len(ws.sent) >= 2:
            break
        await asyncio.sleep(0.01)
    ws.closed.set()
    await served
    return [f["type"] for f in ws.sent]


async def test_connected_before_the_first_snapshot_gets_the_board_first() -> None:
    frames = await _first_frames(_board(), _Socket(), before=False)
    assert frames[0] == "wallboard" and frames.count("alert") == 2, frames


async def test_connected_after_a_snapshot_gets_it_before_a_later_alert() -> None:
    frames = await _first_frames(_board(), _Socket(), before=True)
    assert frames[:2] == ["wallboard", "alert"], frames
