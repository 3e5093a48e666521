"""The engine's heartbeat in Asterisk: a global variable the dialplan can read.

Every ``heartbeat_s`` the engine sets the globals ``CTI_ENGINE_HEARTBEAT`` (epoch seconds),
``CTI_ENGINE_TIMEOUT`` and ``CTI_ENGINE_CHECK`` through AMI ``Setvar`` (no Channel: a global).
``cti-queue`` plays music for ``CTI_ENGINE_CHECK`` seconds at a time and then compares the
heartbeat with ``${EPOCH}``: with no engine for longer than ``CTI_ENGINE_TIMEOUT`` seconds, a
waiting caller leaves for its queue's fallback (app_queue with the agents' phones, or voicemail)
instead of waiting for an ACD that is not there. ``cti-hold`` checks it the same way: a held
caller is bridged with its agent's parked leg again, or sent to the fallback. Globals survive the
engine but not an Asterisk restart, and an Asterisk restart ends every call anyway. See
docs/resilience.md.

With the settings goes ``CTI_ENGINE_LOST_QUEUE``: the queue where ``cti-inbound`` sends a caller
whose IVR was lost (the engine away or restarting, or it died under the call) instead of hanging
it up; empty (``Setvar`` with no value removes the global): such callers are hung up.

Only the heartbeat changes from one beat to the next: the settings are sent with the first
beat on each AMI connection (``connection`` counts them; a reconnect may be to a restarted
Asterisk that lost its globals) and again if sending them failed, not every second.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

from cti.errors import CtiError
from cti.settings import ResilienceSettings
from cti.tasks import cancel_and_wait

log = logging.getLogger(__name__)

HEARTBEAT_VAR = "CTI_ENGINE_HEARTBEAT"
TIMEOUT_VAR = "CTI_ENGINE_TIMEOUT"
CHECK_VAR = "CTI_ENGINE_CHECK"
LOST_QUEUE_VAR = "CTI_ENGINE_LOST_QUEUE"

Send = Callable[[str, Mapping[str, str]], Awaitable[object]]
GetVar = Callable[[str, str], Awaitable[str | None]]


async def last_beat(get_var: GetVar) -> float | None:
    """The last heartbeat Asterisk holds (``CallControl.get_var``; an empty channel reads a global):
    read before this engine's first beat, the previous engine's; None when Asterisk has none (it
    restarted) or AMI cannot say."""
    try:
        value = await get_var("", HEARTBEAT_VAR)
    except CtiError as err:
        log.info("the previous engine's heartbeat could not be read: %s", err.message)
        return None
    try:
        return float(value) if value else None
    except ValueError:
        return None


class Heartbeat:
    """Publishes the heartbeat globals while the engine runs (``start``/``stop``)."""

    def __init__(self, send: Send, settings: ResilienceSettings, *, clock: Callable[[], float] = time.time,
                 connection: Callable[[], int] = lambda: 0, lost_queue: str | None = None) -> None:
        self._send, self.settings, self.clock = send, settings, clock
        self.lost_queue = lost_queue or ""
        self._connection = connection  # which AMI connection this is (AmiClient.connects)
        self._settings_sent_on: int | None = None  # the connection the settings last reached
        self._task: asyncio.Task[None] | None = None
        self.beats = 0
        self.actions = 0

    async def beat(self) -> None:
        """One heartbeat: the time first, then (once per connection) the settings read with it."""
        s = self.settings
        connection = self._connection()
        await self._send("Setvar", {"Variable": HEARTBEAT_VAR, "Value": str(int(self.clock()))})
        self.actions += 1
        if self._settings_sent_on != connection:
            self._settings_sent_on = None  # not known sent until both went through
            await self._send("Setvar", {"Variable": TIMEOUT_VAR, "Value": str(int(s.engine_timeout_s))})
            await self._send("Setvar", {"Variable": CHECK_VAR, "Value": str(int(s.check_every_s))})
            await self._send("Setvar", {"Variable": LOST_QUEUE_VAR, "Value": self.lost_queue})
            self.actions += 3
            self._settings_sent_on = connection
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
        await cancel_and_wait(self._task)
        self._task = None
