"""One FastAGI connection's bytes: an ``asyncio.Protocol`` that keeps what the peer sent in one
buffer and hands out whole lines (or the header block) to the session, with a read timeout.

Why not ``asyncio.StreamReader``/``StreamWriter`` (as before): a FastAGI call is a handful of
short command/reply round trips, and per round trip the streams cost a ``readline`` ->
``readuntil`` -> ``_wait_for_data`` chain plus an ``asyncio.timeout`` context (a ``Timeout``
object, a timer armed and re-armed, the task's cancel/uncancel bookkeeping). Here a reply already
in the buffer is taken without suspending, and a read that must wait arms one plain timer
(``loop.call_later``) whose expiry wakes the reader, which then raises ``TimeoutError``.

Limits kept from the streams: a line (or the header) longer than ``LIMIT`` bytes without its end
is refused (``ValueError``), reading from the socket pauses while more than ``2 * LIMIT`` bytes
wait unread, and a write waits (``drain``) while the transport's buffer is over its high-water
mark.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import cast

# The most a reply line or the header block may hold (asyncio's stream limit, 64 KiB).
LIMIT = 1 << 16


class AgiStream(asyncio.Protocol):
    """The peer's bytes, read a line at a time; ``on_connect`` runs when the connection is made."""

    def __init__(self, on_connect: Callable[[AgiStream], None] | None = None) -> None:
        self.transport: asyncio.Transport | None = None
        self._on_connect = on_connect
        self._buf = bytearray()
        self._eof = False
        self._lost = False
        self._waiter: asyncio.Future[None] | None = None  # the reader waiting for bytes
        self._expired = False  # the waiting read's timer ran out
        self._reading_paused = False
        self._writing_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._closed: asyncio.Future[None] | None = None

    # -- asyncio.Protocol -------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass, but the same API
        if self._on_connect is not None:
            self._on_connect(self)

    def data_received(self, data: bytes) -> None:
        self._buf += data
        self._wake()
        if not self._reading_paused and len(self._buf) > 2 * LIMIT and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()  # a peer flooding us waits until the session reads

    def eof_received(self) -> bool:
        self._eof = True
        self._wake()
        return False  # close our side too: a FastAGI peer that stops sending has hung up

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = self._lost = True
        self._wake()
        for fut in (self._drain_waiter, self._closed):
            if fut is not None and not fut.done():
                fut.set_result(None)

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)

    # -- reading ----------------------------------------------------------------------------------
    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _expire(self) -> None:
        self._expired = True
        self._wake()

    async def read_until(self, sep: bytes, timeout_s: float) -> bytes | None:
        """The bytes up to and including ``sep``; None when the peer closed before sending it (a
        partial rest is dropped). Raises ``TimeoutError`` when it does not come within
        ``timeout_s``, ``ValueError`` when more than ``LIMIT`` bytes come without it."""
        buf = self._buf
        start = 0
        timer: asyncio.TimerHandle | None = None
        try:
            while True:
                end = buf.find(sep, start)
                if end >= 0:
                    end += len(sep)
                    out = bytes(buf[:end])
                    del buf[:end]  # an overlong one too (as StreamReader.readline): the next read goes on after it
                    self._resume()
                    if end > LIMIT:
                        raise ValueError(f"more than {LIMIT} bytes without {sep!r}")
                    return out
                if len(buf) > LIMIT:
                    buf.clear()  # nothing of it is usable (StreamReader.readline drops it too)
                    self._resume()
                    raise ValueError(f"more than {LIMIT} bytes without {sep!r}")
                if self._eof:
                    return None
                if self._expired:
                    raise TimeoutError
                start = max(0, len(buf) - len(sep) + 1)
                loop = asyncio.get_running_loop()
                if timer is None:
                    self._expired = False
                    timer = loop.call_later(timeout_s, self._expire)
                self._waiter = loop.create_future()
                try:
                    await self._waiter
                finally:
                    self._waiter = None
        finally:
            if timer is not None:
                timer.cancel()
                self._expired = False

    @property
    def has_input(self) -> bool:
        """Bytes (or the end of the stream) wait to be read."""
        return bool(self._buf) or self._eof

    def _resume(self) -> None:
        if self._reading_paused and len(self._buf) <= LIMIT and self.transport is not None:
            self._reading_paused = False
            self.transport.resume_reading()

    # -- writing ----------------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    @property
    def must_drain(self) -> bool:
        """The transport holds more than its high-water mark: wait (``drain``) before writing more."""
        return self._writing_paused

    async def drain(self, timeout_s: float) -> None:
        """Wait until the transport's buffer is below its high-water mark again; ``TimeoutError``
        past ``timeout_s``, ``ConnectionResetError`` if the connection is lost meanwhile."""
        while self._writing_paused and not self._lost:
            self._drain_waiter = asyncio.get_running_loop().create_future()
            try:
                async with asyncio.timeout(timeout_s):
                    await self._drain_waiter
            finally:
                self._drain_waiter = None
        if self._lost:
            raise ConnectionResetError("AGI connection lost")

    # -- closing ----------------------------------------------------------------------------------
    @property
    def buffered(self) -> int:
        """Bytes written but not yet taken by the socket."""
        return self.transport.get_write_buffer_size() if self.transport is not None else 0

    async def closed(self) -> None:
        """Wait until the connection is gone (after ``transport.close()``)."""
        if self._lost:
            return
        if self._closed is None:
            self._closed = asyncio.get_running_loop().create_future()
        await self._closed
