"""The engine's heartbeat in Asterisk: a global variable the dialplan can read.

Every ``heartbeat_s`` the engine sets the globals ``CTI_ENGINE_HEARTBEAT`` (epoch seconds),
``CTI_ENGINE_TIMEOUT`` and ``CTI_ENGINE_CHECK`` through AMI ``Setvar`` (no Channel: a global).
``cti-queue`` plays music for ``CTI_ENGINE_CHECK`` seconds at a time and then compares the
heartbeat with ``${EPOCH}``: with no engine for longer than ``CTI_ENGINE_TIMEOUT`` seconds, a
waiting caller leaves for its queue's fallback (app_queue with the agents' phones, or voicemail)
instead of waiting for an ACD that is not there. Globals survive the engine but not an Asterisk
restart, and an Asterisk restart ends every call anyway. See docs/resilience.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

from cti.errors import CtiError
from cti.settings import ResilienceSettings

log = logging.getLogger(__name__)

HEARTBEAT_VAR = "CTI_ENGINE_HEARTBEAT"
TIMEOUT_VAR = "CTI_ENGINE_TIMEOUT"
CHECK_VAR = "CTI_ENGINE_CHECK"

Send = Callable[[str, Mapping[str, str]], Awaitable[object]]


class Heartbeat:
    """Publishes the heartbeat globals while the engine runs (``start``/``stop``)."""

    def __init__(self, send: Send, settings: ResilienceSettings, *, clock: Callable[[], float] = time.time) -> None:
        self._send, self.settings, self.clock = send, settings, clock
        self._task: asyncio.Task[None] | None = None
        self.beats = 0

    async def beat(self) -> None:
        """One heartbeat: the time first, then the settings the dialplan reads with it."""
        s = self.settings
        await self._send("Setvar", {"Variable": HEARTBEAT_VAR, "Value": str(int(self.clock()))})
        await self._send("Setvar", {"Variable": TIMEOUT_VAR, "Value": str(int(s.engine_timeout_s))})
        await self._send("Setvar", {"Variable": CHECK_VAR, "Value": str(int(s.check_every_s))})
        self.beats += 1

    async def _run(self) -> None:
        while True:
            try:
                await self.beat()
            except CtiError as err:  # AMI away: the dialplan's timeout is exactly for this
                log.debug("heartbeat not sent: %s", err.message)
            await asyncio.sleep(self.settings.heartbeat_s)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="cti.heartbeat")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
