"""AmiBridge: AMI connection -> typed events -> call model -> bus, plus the CallControl port.

    bridge = AmiBridge(settings, bus)
    await bridge.start()          # connects in the background; reconnects and resyncs by itself
    bridge.control                # CallControl
    bridge.model                  # CallModel (read it, never mutate it)
    await bridge.stop()

The connection's reader only frames, translates and queues (it must never wait: Asterisk drops a
reader slower than ``writetimeout``). A pump task folds the queue into the model and publishes
the journey events each AMI event caused (raw AMI events only where a consumer above needs them:
``PUBLISHED_RAW``), in slices, yielding to the loop between
slices. If the bus applies backpressure long enough for the queue to pass ``high_water`` the
socket stops being read; should Asterisk then drop us, the reconnect's resync repairs the picture.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable

from cti.ami.bridge_waits import BridgeWaits
from cti.ami.callmodel import CallModel
from cti.ami.control import AmiCallControl
from cti.ami.events import (
    ConferenceLeft,
    ConsultAlone,
    ConsultLeft,
    ContactStatus,
    DeviceStateChange,
    IvrLost,
    ParkedLeft,
    SecurityFailure,
)
from cti.ami.manager import AmiClient
from cti.bus import EventBus
from cti.events import Event
from cti.settings import Settings
from cti.tasks import cancel_and_wait

log = logging.getLogger(__name__)


# The raw AMI events anything above the bridge consumes (the ACD follows SIP phones' registration
# and contacts, and takes callers whose IVR was lost, parties who left a consultation or a conference, and
# consultations the agent's phone left, parked or not; cti.security counts refused logins). Everything else stays
# inside the bridge: the call model turns it into journey events, and raw DTMF (a caller's PIN,
# card digits) must never reach the bus, let alone Redis.
PUBLISHED_RAW: frozenset[type[Event]] = frozenset({ConferenceLeft, ConsultAlone, ConsultLeft, ContactStatus,
                                                   DeviceStateChange, IvrLost, ParkedLeft, SecurityFailure})


class Pump:
    """Folds queued events into the model and publishes the journey events it makes (plus the few
    raw events in ``published_raw``); shared by the bridge and the benchmark."""

    def __init__(self, model: CallModel, bus: EventBus, *, slice_events: int = 500, slice_s: float = 0.005,
                 high_water: int = 50_000, on_pressure: Callable[[bool], None] | None = None,
                 published_raw: frozenset[type[Event]] = PUBLISHED_RAW,
                 on_lag: Callable[[float], None] | None = None, lag_every_s: float = 0.05) -> None:
        self.model, self.bus = model, bus
        self.published_raw = published_raw
        self.inbox: deque[Event] = deque()
        # The run task asleep on an empty inbox, and drain()'s waiters: bare futures, as the bus's
        # inboxes (asyncio.Event's set/clear/wait per AMI read cost more than folding a Newstate).
        self._waiter: asyncio.Future[None] | None = None
        self._busy = False  # events pushed and not all folded and published yet
        self._drainers: list[asyncio.Future[None]] = []
        self.slice_events, self.slice_s = slice_events, slice_s
        self.high_water = high_water
        self._on_pressure = on_pressure
        self._paused = False
        self.published = 0
        # Metrics: seconds from an event's time (Asterisk's own with timestampevents) to its folding,
        # sampled on a slice's first (oldest) event, at most once per ``lag_every_s`` (at a few
        # events per slice a histogram observation per slice cost more than the slice's folding):
        # the hot loop stays untouched.
        self.on_lag = on_lag
        self.lag_every_s = lag_every_s
        self._lag_next = 0.0

    def push(self, events: list[Event]) -> None:
        """Called from the connection's reader: never blocks."""
        self.inbox.extend(events)
        self._busy = True
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)
        if not self._paused and len(self.inbox) > self.high_water and self._on_pressure is not None:
            self._paused = True
            log.warning("AMI ingest backlog %d events: pausing the socket", len(self.inbox))
            self._on_pressure(True)

    async def run(self) -> None:
        inbox, model, publish, raw = self.inbox, self.model, self.bus.publish, self.published_raw
        clock = time.perf_counter
        loop = asyncio.get_running_loop()
        while True:
            if not inbox:
                self._busy = False
                if self._drainers:
                    for drainer in self._drainers:
                        if not drainer.done():
                            drainer.set_result(None)
                    self._drainers.clear()
                self._waiter = loop.create_future()
                await self._waiter
                continue
            now = clock()
            deadline = now + self.slice_s
            if self.on_lag is not None and now >= self._lag_next:
                self._lag_next = now + self.lag_every_s
                self.on_lag(time.time() - inbox[0].ts)
            n = 0
            while inbox and n < self.slice_events:
                ev = inbox.popleft()
                try:
                    out = model.apply(ev)
                except Exception:
                    # A model bug on one odd event must not end ingest for good (this task is
                    # the only consumer); the next resync repairs the picture.
                    log.exception("call model failed on %s (call %s); event not folded", ev.name, ev.call_id)
                    out = []
                if type(ev) in raw:
                    await publish(ev)
                for j in out:
                    await publish(j)
                n += 1
                if not n & 63 and clock() > deadline:
                    break
            self.published += n
            if self._paused and len(inbox) < self.high_water // 2 and self._on_pressure is not None:
                self._paused = False
                self._on_pressure(False)
            if inbox:
                await asyncio.sleep(0)  # let the reader and everyone else run between slices
            # else: the loop above sleeps on the empty inbox (one turn of the loop, not two)

    async def drain(self) -> None:
        """Wait until everything queued so far has been folded and published (tests, shutdown)."""
        while self._busy:
            drainer = asyncio.get_running_loop().create_future()
            self._drainers.append(drainer)
            await drainer


class AmiBridge:
    """The composition root's handle on Asterisk: connection, call model and call control."""

    def __init__(self, settings: Settings, bus: EventBus, *, model: CallModel | None = None,
                 on_connected: Callable[[], Awaitable[None]] | None = None) -> None:
        """``on_connected``: awaited after each connection's resync (``AmiClient``); quick, it holds
        up the connection's supervisor."""
        self.settings = settings
        self.model = model or CallModel()
        self.pump = Pump(self.model, bus, on_pressure=self._pressure)
        self.client = AmiClient(settings.ami, self.pump.push, on_connected=on_connected)
        # wait_bridged's waiters are woken by the model's own report of each bridge change.
        self.bridge_waits = BridgeWaits(self._bridge_of)
        self.model.on_bridges_changed = self.bridge_waits.changed
        self.control = AmiCallControl(self.client, linkedid_of=self._linkedid_of, bridges=self.bridge_waits)
        self._task: asyncio.Task[None] | None = None

    def _linkedid_of(self, uniqueid: str) -> str | None:
        chan = self.model.channel(uniqueid)
        return chan.linkedid if chan is not None else None

    def _bridge_of(self, channel: str) -> str | None:
        chan = self.model.channel(channel)
        return chan.bridge_id if chan is not None and chan.ended_at is None else None

    def _pressure(self, on: bool) -> None:
        if on:
            self.client.pause_reading()
        else:
            self.client.resume_reading()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.pump.run(), name="ami-pump")
        await self.client.start()

    async def wait_connected(self, timeout_s: float = 10.0) -> None:
        await self.client.wait_connected(timeout_s)

    async def settle(self) -> None:
        await self.pump.drain()

    async def stop(self) -> None:
        await self.client.stop()
        await self.pump.drain()
        await cancel_and_wait(self._task)
        self._task = None
