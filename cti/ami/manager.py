"""The AMI connection: the only module that imports panoramisk's Manager.

``AmiClient`` logs in, pings every ``ping_interval_s``, reconnects with exponential backoff and,
after every (re)connect, resyncs (CoreShowChannels, BridgeList + BridgeInfo, DeviceStateList) so
the call model is right even when events were missed. Live events are framed, filtered and
translated as they arrive and handed to ``sink`` in batches; the sink must not block (the bridge
queues them and folds them in slices).

What we keep from panoramisk 1.4 and what we replace:
- kept: ``Manager.connect()`` opening the (optionally TLS) connection with our protocol.
- replaced: framing (``codec``: it skips the dialplan chatter without splitting it, several
  times faster than ``Message.from_line`` on real traces) and ActionID correlation. panoramisk's
  ``Action.multi`` reads ``self['async']`` on "Originate successfully queued": an Originate sent
  without that exact key raises KeyError inside data_received and the connection drops, and
  list actions are only recognised by heuristics on the response text. Here each action says
  what it expects: one response, a list ending with ``...Complete`` (items carry our ActionID
  and arrive interleaved with unrelated events), or an Originate's ``OriginateResponse`` event.
- replaced: login, pinger and reconnect. panoramisk reconnects at a fixed delay and re-sends
  unanswered actions after a reconnect, which could place an Originate twice; here pending
  actions fail with AmiUnavailable when the connection drops and the caller decides.

Reconnecting after a PBX crash: while Asterisk's port refuses connections, the client probes it
with a bare TCP connect every ``_PROBE_S`` (a refused SYN on a local port costs nothing and
Asterisk never sees it), so the engine is back within a probe interval of the restarted Asterisk
listening; the exponential backoff only spaces full login attempts to an Asterisk that answers
but fails them. One warning when Asterisk goes away, then one a minute while it stays away.
After every login, CoreStatus gives Asterisk's start time: when it changed across a reconnect,
Asterisk restarted (crash or restart) and the resync says so (``ResyncStarted.pbx_restarted``)
with the time our connection dropped, so the call model ends the calls it cut at that time.
"""

from __future__ import annotations

# asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that races with
# the awaited future completing, and a supervisor that ignores cancel never stops.
import asyncio
import contextlib
import functools
import itertools
import logging
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from panoramisk import Manager as _PanoramiskManager
from panoramisk.ami_protocol import AMIProtocol as _PanoramiskProtocol

from cti.ami import events as ev
from cti.ami.backoff import Backoff
from cti.ami.codec import AmiFrameParser, encode_action
from cti.ami.errors import MalformedEvent
from cti.ami.translate import WANTED, bridge_member_uniqueids, translate, translate_list_item
from cti.errors import AmiActionFailed, AmiNoReply, AmiNotSent, AmiUnavailable, CtiError
from cti.events import Event
from cti.settings import AmiSettings
from cti.tasks import cancel_and_wait

log = logging.getLogger(__name__)
# How often a refused AMI port is probed: the engine's reconnect delay after Asterisk comes back.
_PROBE_S = 0.2
_QUIET_S = 60.0  # while Asterisk stays away, one warning per this many seconds
Expect = Literal["response", "list", "originate"]
Sink = Callable[[list[Event]], None]


@dataclass(frozen=True)
class AmiReply:
    """What Asterisk answered to one action (headers stay inside cti.ami)."""

    response: dict[str, str]
    items: tuple[dict[str, str], ...] = ()
    final: dict[str, str] | None = None  # the ...Complete event, or the OriginateResponse


@dataclass(eq=False)
class _Pending:
    action: str
    expect: Expect
    future: asyncio.Future[AmiReply]
    response: dict[str, str] | None = None
    items: list[dict[str, str]] = field(default_factory=list)

    def resolve(self, final: dict[str, str] | None = None) -> None:
        if not self.future.done():
            self.future.set_result(AmiReply(self.response or {}, tuple(self.items), final))

    def fail(self, err: Exception) -> None:
        if not self.future.done():
            self.future.set_exception(err)


class _Protocol(_PanoramiskProtocol):  # type: ignore[misc]  # panoramisk ships no type hints
    """panoramisk's protocol class with our framing and correlation (see module docstring)."""

    def __init__(self, client: AmiClient) -> None:
        self._client = client

    def data_received(self, data: bytes) -> None:
        self._client._on_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._client._on_lost(self, exc)


class _Connector(_PanoramiskManager):  # type: ignore[misc]
    """panoramisk's Manager reduced to opening the connection: its own login, pinger,
    fixed-delay reconnect and re-sending of unanswered actions are switched off."""

    def connection_made(self, f: Any) -> None:  # the client awaits the connect task itself
        pass

    def connection_lost(self, exc: Any) -> None:
        pass


class AmiClient:
    """One supervised AMI connection."""

    def __init__(self, settings: AmiSettings, sink: Sink, *,
                 on_connected: Callable[[], Awaitable[None]] | None = None,
                 clock: Callable[[], float] = time.time, resync: bool = True) -> None:
        self.settings = settings
        self._sink = sink
        self._on_connected = on_connected
        self._clock = clock
        self._auto_resync = resync
        self._pending: dict[str, _Pending] = {}
        self._ids = itertools.count(1)
        self._id_prefix = f"cti-{id(self):x}-"
        self._protocol: _Protocol | None = None
        self._parser = AmiFrameParser(WANTED)
        self._ready = asyncio.Event()
        self._lost = asyncio.Event()
        self._booted = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.backoff = Backoff(settings.reconnect_min_s, settings.reconnect_max_s, jitter=0.2)
        self.connects = 0
        self.resyncs = 0
        self.actions_sent = 0
        self.malformed = 0  # events dropped because they could not be translated
        self.version: str | None = None
        self.started_at: str | None = None  # Asterisk's CoreStartupDate + Time (changes on restart)
        self.restarts = 0  # Asterisk restarts seen across reconnects
        self.logged_in_at: float | None = None  # the last successful Login (a booting Asterisk: before FullyBooted)
        self._lost_at: float | None = None  # when the connection last dropped (our clock)
        self._restarted = False  # this connection's Asterisk is not the one we had before
        self._refused = False  # the last attempt found the port closed (no Asterisk listening)
        self._down_since: float | None = None  # monotonic time of the first failed attempt
        self._warned_at = 0.0

    # -- life cycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._supervise(), name="ami-client")

    async def stop(self) -> None:
        self._stopping = True
        if self._protocol is not None and not self._protocol.closed:
            with contextlib.suppress(CtiError):
                await self.send_action("Logoff", {}, timeout_s=1.0)
        await cancel_and_wait(self._task)
        self._task = None
        self._close()

    @property
    def connected(self) -> bool:
        return self._ready.is_set()

    async def wait_connected(self, timeout_s: float) -> None:
        try:
            async with asyncio.timeout(timeout_s):
                await self._ready.wait()
        except TimeoutError:
            raise AmiUnavailable(f"AMI {self.settings.host}:{self.settings.port} not connected "
                                 f"within {timeout_s:.1f} s") from None

    def drop_connection(self) -> None:
        """Abort the TCP connection as a network failure would (operations, tests)."""
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.abort()

    def pause_reading(self) -> None:
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.pause_reading()

    def resume_reading(self) -> None:
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.resume_reading()

    async def _supervise(self) -> None:
        s = self.settings
        while not self._stopping:
            try:
                await self._connect()
            except (OSError, TimeoutError, CtiError) as err:
                self._close()
                if self._lost_at is None:
                    self._lost_at = self._clock()  # never connected since: the PBX was gone at the start
                delay = self.backoff.next_delay()
                self._log_unavailable(err, delay)
                if self._refused:
                    await self._probe_until_listening(delay)
                else:
                    await asyncio.sleep(delay)
                continue
            if self._down_since is not None:
                log.warning("AMI %s:%s back after %.1f s", s.host, s.port, time.monotonic() - self._down_since)
            self._down_since = None
            self.backoff.reset()
            self.connects += 1
            self._ready.set()
            log.info("AMI %s to %s:%s (Asterisk Call Manager %s)%s",
                     "reconnected" if self.connects > 1 else "connected", s.host, s.port, self.version,
                     "; Asterisk restarted while we were away" if self._restarted else "")
            pinger = asyncio.create_task(self._ping_loop(), name="ami-ping")
            try:
                synced = not self._auto_resync
                if self._auto_resync:
                    try:
                        await self.resync()
                        synced = True
                    except CtiError as err:
                        log.warning("AMI resync failed: %s", err)
                    except Exception:  # a bug of ours must not end the supervisor (no reconnects ever)
                        log.exception("AMI resync failed")
                if synced:  # else the next connection's resync still owes the model the restart
                    self._restarted = False
                    self._lost_at = None
                if self._on_connected is not None:
                    await self._on_connected()
                await self._lost.wait()
            finally:
                pinger.cancel()
                self._ready.clear()
            if not self._stopping:
                log.warning("AMI connection to %s:%s lost; reconnecting", s.host, s.port)
                self._down_since = time.monotonic()
                self._warned_at = self._down_since
                await asyncio.sleep(min(self.backoff.next_delay(), _PROBE_S))

    def _log_unavailable(self, err: BaseException, delay: float) -> None:
        """First failure: a warning; then one a minute while Asterisk stays away (debug between)."""
        s, now = self.settings, time.monotonic()
        if self._down_since is None:
            self._down_since = now
        if now - self._warned_at >= _QUIET_S or self._warned_at < self._down_since:
            self._warned_at = now
            log.warning("AMI %s:%s unavailable for %.0f s (%s); %s", s.host, s.port, now - self._down_since, err,
                        f"probing every {_PROBE_S:g} s" if self._refused else f"retrying in {delay:.1f} s")
        else:
            log.debug("AMI %s:%s unavailable (%s)", s.host, s.port, err)

    async def _probe_until_listening(self, max_wait_s: float) -> None:
        """Wait up to ``max_wait_s``, returning as soon as the AMI port accepts a TCP connection."""
        s = self.settings
        deadline = time.monotonic() + max_wait_s
        while not self._stopping:
            step = min(_PROBE_S, deadline - time.monotonic())
            if step <= 0:
                return
            await asyncio.sleep(step)
            try:
                async with asyncio.timeout(min(s.connect_timeout_s, 1.0)):
                    _reader, writer = await asyncio.open_connection(s.host, s.port)
            except (OSError, TimeoutError):
                continue
            writer.transport.abort()  # a bare probe: Asterisk sees a connection close before login
            return

    async def _connect(self) -> None:
        s = self.settings
        self._refused = False
        self._lost.clear()
        self._booted.clear()
        self._parser = AmiFrameParser(WANTED)
        loop = asyncio.get_running_loop()
        connector = _Connector(host=s.host, port=s.port, loop=loop, protocol_factory=lambda: _Protocol(self))
        try:
            async with asyncio.timeout(s.connect_timeout_s):
                _transport, protocol = await connector.connect()
        except TimeoutError:
            raise AmiUnavailable(f"AMI {s.host}:{s.port}: no connection within {s.connect_timeout_s} s") from None
        except OSError as err:
            self._refused = True
            raise AmiUnavailable(f"AMI {s.host}:{s.port}: {err.strerror or err}") from err
        self._protocol = protocol
        try:
            await self.send_action("Login", {"Username": s.username, "Secret": s.secret.get_secret_value(),
                                             "Events": "on"}, timeout_s=s.connect_timeout_s, _login=True)
        except AmiActionFailed as err:
            raise AmiActionFailed(f"AMI login as {s.username!r} refused: {err.message}") from None
        self.version = self._parser.version
        self.logged_in_at = self._clock()
        # FullyBooted follows the login at once on a running Asterisk; a booting one sends it
        # later, and a resync before that would see half the configuration.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(s.connect_timeout_s):
                await self._booted.wait()
        await self._check_restart()

    async def _check_restart(self) -> None:
        """Compare Asterisk's start time with the one we knew: a change is a PBX restart."""
        try:
            reply = await self.send_action("CoreStatus", {}, timeout_s=self.settings.connect_timeout_s, _login=True)
        except AmiActionFailed as err:  # no permission for CoreStatus ("system" read): no detection
            log.info("AMI CoreStatus unavailable (%s): Asterisk restarts are not detected", err)
            return
        r = reply.response
        started = f"{r.get('CoreStartupDate', '')} {r.get('CoreStartupTime', '')}".strip() or None
        if started is not None and self.started_at is not None and started != self.started_at:
            self._restarted = True
            self.restarts += 1
            log.warning("Asterisk restarted while AMI was disconnected (started %s, was %s): "
                        "the calls it had were cut", started, self.started_at)
        self.started_at = started

    def _close(self) -> None:
        proto, self._protocol = self._protocol, None
        if proto is not None and proto.transport is not None and not proto.closed:
            proto.transport.close()
        self._fail_pending(AmiUnavailable("AMI connection closed"))

    def _on_lost(self, proto: _Protocol, exc: Exception | None) -> None:
        if proto is self._protocol:
            self._protocol = None
            if self._ready.is_set() and self._lost_at is None:
                self._lost_at = self._clock()
            self._fail_pending(AmiUnavailable(f"AMI connection lost ({exc or 'closed by Asterisk'})"))
            self._ready.clear()
            self._lost.set()

    def _fail_pending(self, err: CtiError) -> None:
        pending, self._pending = self._pending, {}
        for p in pending.values():
            p.fail(err)

    async def _ping_loop(self) -> None:
        interval = self.settings.ping_interval_s
        while True:
            await asyncio.sleep(interval)
            try:
                await self.send_action("Ping", {}, timeout_s=min(max(2 * interval, 1.0), 10.0))
            except AmiActionFailed as err:  # no Pong in time: the link is dead even if TCP says not
                log.warning("AMI ping failed (%s); dropping the connection", err)
                self.drop_connection()
                return
            except AmiUnavailable:
                return

    # -- actions ------------------------------------------------------------------------------
    async def send_action(self, action: str, headers: Mapping[str, str | Sequence[str]], *,
                          expect: Expect = "response", timeout_s: float = 10.0, _login: bool = False) -> AmiReply:
        """Send one action and wait for its answer; values are checked before anything is sent."""
        return await self.submit_action(action, headers, expect=expect, timeout_s=timeout_s, _login=_login)

    def submit_action(self, action: str, headers: Mapping[str, str | Sequence[str]], *,
                      expect: Expect = "response", timeout_s: float = 10.0,
                      _login: bool = False) -> asyncio.Future[AmiReply]:
        """Write one action now (before this returns) and hand back the future of its answer: a
        caller that must not wait for a task's turn (the ACD's Originate) writes from its own step.
        Raises at once what ``send_action`` raises before sending (UnsafeValue, AmiNotSent);
        the future fails with AmiNoReply (an AmiActionFailed: Asterisk may have acted on the action)
        after ``timeout_s`` without an answer. Cancelling the
        future forgets the action (its late answer is ignored)."""
        action_id = f"{self._id_prefix}{next(self._ids)}"
        data = encode_action(action, action_id, headers)  # raises UnsafeValue naming the header
        proto = self._protocol
        if proto is None or proto.closed or (not _login and not self._ready.is_set()):
            raise AmiNotSent(f"AMI is not connected ({action} not sent)")
        loop = asyncio.get_running_loop()
        pending = _Pending(action, expect, loop.create_future())
        self._pending[action_id] = pending
        proto.transport.write(data)
        self.actions_sent += 1
        # A timer and a done callback instead of a coroutine under asyncio.timeout: no task, no
        # context manager per action.
        timer = loop.call_later(timeout_s, self._expire, pending, timeout_s)
        pending.future.add_done_callback(functools.partial(self._settled, action_id, timer))
        return pending.future

    @staticmethod
    def _expire(pending: _Pending, timeout_s: float) -> None:
        pending.fail(AmiNoReply(f"{pending.action}: no answer from Asterisk within {timeout_s:.1f} s"))

    def _settled(self, action_id: str, timer: asyncio.TimerHandle, _future: asyncio.Future[AmiReply]) -> None:
        timer.cancel()
        self._pending.pop(action_id, None)

    def _on_data(self, data: bytes) -> None:
        now = self._clock()
        out: list[Event] = []
        pending = self._pending
        for m in self._parser.feed(data):
            # This runs inside the transport's data_received: anything raised here makes asyncio
            # close the connection (and we would reconnect and resync once per bad event), so
            # one message's failure is logged and that message alone is dropped.
            try:
                action_id = m.get("ActionID")
                if action_id is not None:
                    p = pending.get(action_id)
                    if p is not None:
                        self._route(p, m)
                    if m.get("Event") != "OriginateResponse":
                        continue  # responses and list items are the action's, not the model's
                name = m.get("Event")
                if name == "FullyBooted":
                    self._booted.set()
                elif name == "Shutdown":
                    log.warning("Asterisk is shutting down (%s)", m.get("Shutdown", ""))
                e = translate(m, now)
            except MalformedEvent as err:
                self._dropped(err)
                continue
            except Exception as err:  # a bug of ours: still one message, not the connection
                self._dropped(err, m.get("Event", m.get("Response", "?")))
                continue
            if e is not None:
                out.append(e)
        if out:
            self._sink(out)

    def _dropped(self, err: Exception, name: str = "") -> None:
        """Log a dropped message by its event name and header names only: values can hold DTMF,
        caller numbers or variables with secrets in them."""
        self.malformed += 1
        if isinstance(err, MalformedEvent):
            log.warning("malformed AMI %s event dropped: header %r %s", err.event, err.header,
                        err.reason)
            return
        frame = traceback.extract_tb(err.__traceback__)[-1] if err.__traceback__ else None
        where = f" at {frame.filename}:{frame.lineno}" if frame is not None else ""
        log.error("AMI %s message dropped: %s raised%s (values not logged)", name, type(err).__name__, where)

    @staticmethod
    def _route(p: _Pending, m: dict[str, str]) -> None:
        event = m.get("Event")
        if event is None:  # the Response
            if m.get("Response") == "Error":
                p.fail(AmiActionFailed(f"{p.action}: {m.get('Message', 'error')}"))
                return
            p.response = m
            if p.expect == "response" or (p.expect == "list" and m.get("EventList") != "start"):
                p.resolve()
        elif p.expect == "originate":
            if event == "OriginateResponse":
                p.resolve(m)
        elif p.expect == "list":
            if m.get("EventList") == "Complete" or event.endswith("Complete"):
                p.resolve(m)
            else:
                p.items.append(m)

    # -- resync -------------------------------------------------------------------------------
    async def resync(self) -> None:
        """Hand the sink a fresh picture: ResyncStarted, snapshots, ResyncFinished."""
        restarted = self._restarted
        self._sink([ev.ResyncStarted(ts=self._clock(), pbx_restarted=restarted,
                                     lost_at=self._lost_at if restarted else None)])
        chans = await self.send_action("CoreShowChannels", {}, expect="list", timeout_s=30.0)
        bridges = await self.send_action("BridgeList", {}, expect="list", timeout_s=30.0)
        infos = await asyncio.gather(
            *(self.send_action("BridgeInfo", {"BridgeUniqueid": b["BridgeUniqueid"]}, expect="list")
              for b in bridges.items if "BridgeUniqueid" in b),
            return_exceptions=True,
        )
        # Phones' states: DeviceStateList (class call). Not PJSIPShowEndpoints, which needs the
        # system class the engine's AMI user is never given (docs/security.md).
        replies = [chans]
        try:
            replies.append(await self.send_action("DeviceStateList", {}, expect="list", timeout_s=30.0))
        except AmiActionFailed as err:
            log.info("resync: %s", err)
        now = self._clock()
        out: list[Event] = []
        for reply in replies:
            for item in reply.items:
                try:
                    e = translate_list_item(item, now)
                except MalformedEvent as err:
                    self._dropped(err)
                    continue
                if e is not None:
                    out.append(e)
        count = 0
        for b, info in zip((b for b in bridges.items if "BridgeUniqueid" in b), infos, strict=True):
            if isinstance(info, BaseException):
                continue  # the bridge went away between the two actions
            count += 1
            out.append(ev.BridgeSnapshot(ts=now, bridge_id=b["BridgeUniqueid"], bridge_type=b.get("BridgeType", ""),
                                         uniqueids=bridge_member_uniqueids(list(info.items))))
        out.append(ev.ResyncFinished(ts=now, channels=len(chans.items), bridges=count))
        self.resyncs += 1
        self._sink(out)
        log.info("AMI resync done: %d channels, %d bridges", len(chans.items), count)
