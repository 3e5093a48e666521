"""A console connection's outgoing frames: handed to the socket at once while it keeps up, queued
(bounded) while it does not.

uvicorn's websocket ``send`` suspends only while the transport is paused (the client reads slowly
and the kernel's buffers are full); otherwise it writes and returns without ever yielding to the
loop. So a frame is sent in the caller's own turn: its coroutine is stepped by hand, and only if it
does suspend does a task take it over, finish it, then send the frames queued meanwhile. No writer
task is woken per frame (in a burst of 1,000 pops that was a future, a loop callback and a task step
per frame, bench/screen_pop.py). Past ``limit`` queued frames ``put`` answers False: the hub drops
the connection rather than buffer without bound.

A frame is text, as ``str`` or as UTF-8 ``bytes``; bytes go straight onto the connection when the
server gives it a wire (agent_console/wire.py: uvicorn's websockets-sansio protocol) and it is
writable, else the ASGI way like a ``str``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Coroutine, Generator
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from agent_console.wire import wire_of

# What a send raises once the client has gone (uvicorn's ClientDisconnected is an OSError; Starlette
# raises RuntimeError after a close): the reader notices the disconnect too and ends the connection.
_GONE = (WebSocketDisconnect, RuntimeError, OSError)


class _Rest:
    """The rest of a coroutine that suspended on ``waiting`` while stepped by hand, as an awaitable.

    This is what ``await`` (``yield from``) does for a coroutine started inside a task: pass what it
    yields up to the task, and what the task sends or throws (a result, a cancellation) down to it.
    """

    __slots__ = ("coro", "waiting")

    def __init__(self, coro: Coroutine[Any, Any, None], waiting: Any) -> None:
        self.coro, self.waiting = coro, waiting

    def __await__(self) -> Generator[Any, None, None]:
        waiting = self.waiting
        while True:
            try:
                yield waiting
            except BaseException as err:  # a cancellation goes to the coroutine
                try:
                    waiting = self.coro.throw(err)
                except StopIteration:
                    return
            else:
                try:
                    waiting = self.coro.send(None)
                except StopIteration:
                    return


class Outbox:
    """Frames for one websocket, in order; at most ``limit`` wait while a send is suspended."""

    __slots__ = ("_close_code", "_gone", "_queue", "_task", "_wire", "_ws", "limit")

    def __init__(self, ws: WebSocket, limit: int) -> None:
        self._ws, self.limit = ws, limit
        self._wire = wire_of(ws)
        self._queue: deque[str | bytes | None] = deque()  # None: close after the frames before it
        self._task: asyncio.Task[None] | None = None  # finishing a suspended send, then draining
        self._gone = False
        self._close_code = 1000

    def __len__(self) -> int:
        return len(self._queue)

    def put(self, frame: str | bytes) -> bool:
        """Send ``frame`` (text; bytes: UTF-8) now, or after the frames already waiting; False if
        ``limit`` are waiting."""
        if self._task is not None:
            if len(self._queue) >= self.limit:
                return False
            self._queue.append(frame)
        elif not self._gone:
            if isinstance(frame, bytes):
                if self._wire is not None and self._wire.send_text(frame):
                    return True
                frame = frame.decode()
            self._step(self._ws.send_text(frame))
        return True

    def close_after(self, last: str | bytes, code: int) -> None:
        """Send the waiting frames and ``last``, then close the socket with ``code``."""
        self._close_code = code
        self._queue.extend((last, None))
        if self._task is None:
            self._task = asyncio.ensure_future(self._drain(None))

    def cancel(self) -> None:
        """Stop sending (the connection is cut or over); nothing queued goes out."""
        self._gone = True
        self._queue.clear()
        if self._task is not None:
            self._task.cancel()

    async def wait(self) -> None:
        """Until the task sending the queued frames (if any) has ended."""
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    def _step(self, send: Coroutine[Any, Any, None]) -> None:
        try:
            waiting = send.send(None)
        except StopIteration:
            return
        except _GONE:
            self._gone = True
            return
        self._task = asyncio.ensure_future(self._drain(_Rest(send, waiting)))

    async def _drain(self, suspended: _Rest | None) -> None:
        try:
            if suspended is not None:
                await suspended
            while self._queue:
                frame = self._queue.popleft()
                if frame is None:
                    await self._ws.close(self._close_code)
                    self._gone = True
                    return
                await self._ws.send_text(frame if isinstance(frame, str) else frame.decode())
        except _GONE:
            self._gone = True
        finally:
            self._task = None
