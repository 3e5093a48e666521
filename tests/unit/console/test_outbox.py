"""A console socket's outbox: frames sent in the caller's turn, queued (bounded) only while a send waits."""

from __future__ import annotations

import asyncio

from starlette.websockets import WebSocketDisconnect

from agent_console.outbox import Outbox


class Socket:
    """``send_text`` returns at once unless ``paused`` (then it waits, like a paused transport)."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.closed: int | None = None
        self.writable = asyncio.Event()
        self.writable.set()
        self.gone = False

    async def send_text(self, text: str) -> None:
        await self.writable.wait()
        if self.gone:
            raise WebSocketDisconnect(1006)
        self.sent.append(text)

    async def close(self, code: int = 1000) -> None:
        await self.writable.wait()
        self.closed = code


def _box(ws: Socket, limit: int = 3) -> Outbox:
    return Outbox(ws, limit)  # type: ignore[arg-type]  # enough of Starlette's WebSocket


async def test_frames_go_out_in_the_callers_turn_while_the_socket_keeps_up() -> None:
    ws = Socket()
    box = _box(ws)
    for i in range(10):  # more than the limit: nothing waits, so nothing counts against it
        assert box.put(f"f{i}")
    assert ws.sent == [f"f{i}" for i in range(10)]  # before any turn of the loop
    assert len(box) == 0


async def test_a_waiting_send_queues_the_next_frames_in_order_up_to_the_limit() -> None:
    ws = Socket()
    box = _box(ws, limit=3)
    ws.writable.clear()
    assert box.put("a")  # its send waits: a task takes it over
    assert [box.put(f) for f in ("b", "c", "d", "e")] == [True, True, True, False]  # the 4th would pass 3
    await asyncio.sleep(0)
    assert ws.sent == []
    ws.writable.set()
    await box.wait()
    assert ws.sent == ["a", "b", "c", "d"]
    assert box.put("f") and ws.sent[-1] == "f"  # caught up: straight out again


def _stalled() -> tuple[Socket, Outbox]:
    """An outbox whose socket has stopped taking frames, with "a" (its send waiting) and "b" queued."""
    ws = Socket()
    box = _box(ws)
    ws.writable.clear()
    box.put("a")
    box.put("b")
    return ws, box


async def test_close_after_sends_what_waits_then_the_last_frame_then_closes() -> None:
    ws, box = _stalled()
    box.close_after("bye", 4001)
    ws.writable.set()
    await box.wait()
    assert ws.sent == ["a", "b", "bye"] and ws.closed == 4001


async def test_cancel_drops_what_waits_and_ends_the_waiting_send() -> None:
    ws, box = _stalled()
    await asyncio.sleep(0)
    box.cancel()
    await box.wait()
    ws.writable.set()
    await asyncio.sleep(0)
    assert ws.sent == [] and len(box) == 0
    assert box.put("c") and ws.sent == []  # a cancelled outbox sends nothing more


async def test_a_client_that_went_away_ends_sending_quietly() -> None:
    ws = Socket()
    box = _box(ws)
    ws.gone = True
    assert box.put("a")  # the reader notices the disconnect and ends the connection
    ws.gone = False
    assert box.put("b") and ws.sent == []
