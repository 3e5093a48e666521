"""The AMI connection: the only module that imports panoramisk's Manager.

``AmiClient`` logs in, pings every ``ping_interval_s``, reconnects with exponential backoff and,
after every (re)connect, resyncs (CoreShowChannels, BridgeList + BridgeInfo, DeviceStateList,
PJSIPShowEndpoints) so the call model is right even when events were missed. Live events are
framed, filtered and translated as they arrive and handed to ``sink`` in batches; the sink must
not block (the bridge queues them and folds them in slices).

What we keep from panoramisk 1.4 and what we replace:
- kept: ``Manager.connect()`` opening the (optionally TLS) connection with our protocol.
- replaced: framing (``codec``: it skips the dialplan chatter without splitting it, several
  times faster than ``Message.from_line`` on real traces) and ActionID correlation
  (``pending``: each action says what answer it expects). panoramisk's ``Action.multi`` reads
  ``self['async']`` on "Originate successfully queued": an Originate sent without that exact
  key raises KeyError inside data_received and the connection drops, and list actions are only
  recognised by heuristics on the response text.
- replaced: login, pinger and reconnect. panoramisk reconnects at a fixed delay and re-sends
  unanswered actions after a reconnect, which could place an Originate twice; here pending
  actions fail with AmiUnavailable when the connection drops and the caller decides.

Two sessions, one connection. Asterisk serves each manager session with one thread that both
writes the session's event stream and reads its actions: on a busy PBX an action waits behind
the event writes queued before it. So the client logs the same user in twice: the *event
session* (``Events: on``) carries the live events, the resync's lists, pings and logins; the
*action session* (``Events: off``: Asterisk sends it no events) carries the actions in
``ACTION_SESSION_ACTIONS`` (the Originate that rings an agent). An Async Originate's outcome,
OriginateResponse, is an event and so comes on the event session; both sessions share one map
of pending actions keyed by ActionID (unique per client), so an answer is matched whichever
session brings it. The pair is one connection to the rest of the engine: it is up when both
sessions are logged in; when either drops, the other is closed, every pending action fails with
AmiUnavailable and the client reconnects both and resyncs. An Asterisk that refuses the second
login (``allowmultiplelogin = no``) gets one session, as before (logged once per connect);
``action_session: false`` asks for that too.

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
from typing import Any, Literal

from panoramisk import Manager as _PanoramiskManager
from panoramisk.ami_protocol import AMIProtocol as _PanoramiskProtocol

from cti.ami import events as ev
from cti.ami.backoff import Backoff
from cti.ami.codec import AmiFrameParser, encode_action
from cti.ami.errors import MalformedEvent
from cti.ami.pending import AmiReply, Expect, Pending
from cti.ami.resync import snapshot
from cti.ami.translate import WANTED, translate
from cti.errors import AmiActionFailed, AmiUnavailable, CtiError
from cti.events import Event
from cti.settings import AmiSettings

log = logging.getLogger(__name__)
# How often a refused AMI port is probed: the engine's reconnect delay after Asterisk comes back.
_PROBE_S = 0.2
_QUIET_S = 60.0  # while Asterisk stays away, one warning per this many seconds
Sink = Callable[[list[Event]], None]
# The actions the action session carries (when there is one); everything else goes on the event
# session. Only the Originate: see bench/RESULTS.md ("AMI action session") for the measurements.
ACTION_SESSION_ACTIONS: frozenset[str] = frozenset({"Originate"})


class _Protocol(_PanoramiskProtocol):  # type: ignore[misc]  # panoramisk ships no type hints
    """panoramisk's protocol class with our framing and correlation (see module docstring)."""

    def __init__(self, client: AmiClient, on_data: Callable[[bytes], None]) -> None:
        self._client = client
        self._on_data = on_data  # the client's reader for this session

    def data_received(self, data: bytes) -> None:
        self._on_data(data)

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
        self._pending: dict[str, Pending] = {}
        self._ids = itertools.count(1)
        self._id_prefix = f"cti-{id(self):x}-"
        self._protocol: _Protocol | None = None  # the event session
        self._parser = AmiFrameParser(WANTED)
        self._action_protocol: _Protocol | None = None  # the action session, when there is one
        self._action_parser = AmiFrameParser(())
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
        if self._action_protocol is not None and not self._action_protocol.closed:
            with contextlib.suppress(CtiError):
                await self.submit_action("Logoff", {}, timeout_s=1.0, _login=True, _session=self._action_protocol)
        if self._protocol is not None and not self._protocol.closed:
            with contextlib.suppress(CtiError):
                await self.send_action("Logoff", {}, timeout_s=1.0)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
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

    @property
    def sessions(self) -> int:
        """How many AMI sessions the connection uses now: 2 (events + actions), 1, or 0 (down)."""
        return sum(p is not None and not p.closed for p in (self._protocol, self._action_protocol))

    def drop_connection(self, session: Literal["both", "events", "actions"] = "both") -> None:
        """Abort the TCP connection(s) as a network failure would (operations, tests)."""
        protos = {"both": (self._protocol, self._action_protocol), "events": (self._protocol,),
                  "actions": (self._action_protocol,)}[session]
        for proto in protos:
            if proto is not None and proto.transport is not None:
                proto.transport.abort()

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
        self._protocol = await self._open(self._on_data)
        await self._login(self._protocol, events=True)
        self.version = self._parser.version
        self.logged_in_at = self._clock()
        # FullyBooted follows the login at once on a running Asterisk; a booting one sends it
        # later, and a resync before that would see half the configuration.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(s.connect_timeout_s):
                await self._booted.wait()
        await self._check_restart()
        if s.action_session:
            await self._open_action_session()

    async def _open(self, on_data: Callable[[bytes], None]) -> _Protocol:
        s = self.settings
        loop = asyncio.get_running_loop()
        connector = _Connector(host=s.host, port=s.port, loop=loop,
                               protocol_factory=lambda: _Protocol(self, on_data))
        try:
            async with asyncio.timeout(s.connect_timeout_s):
                _transport, protocol = await connector.connect()
        except TimeoutError:
            raise AmiUnavailable(f"AMI {s.host}:{s.port}: no connection within {s.connect_timeout_s} s") from None
        except OSError as err:
            self._refused = True
            raise AmiUnavailable(f"AMI {s.host}:{s.port}: {err.strerror or err}") from err
        return protocol  # type: ignore[no-any-return]

    async def _login(self, proto: _Protocol, *, events: bool) -> None:
        s = self.settings
        try:
            await self.submit_action("Login", {"Username": s.username, "Secret": s.secret.get_secret_value(),
                                               "Events": "on" if events else "off"},
                                     timeout_s=s.connect_timeout_s, _login=True, _session=proto)
        except AmiActionFailed as err:  # the message is Asterisk's ("Authentication failed"), never the secret
            raise AmiActionFailed(f"AMI login as {s.username!r} refused: {err.message}") from None

    async def _open_action_session(self) -> None:
        """The second login, without events (see the module docstring); refused: one session."""
        self._action_parser = AmiFrameParser(())
        proto = await self._open(self._on_action_data)
        self._action_protocol = proto
        try:
            await self._login(proto, events=False)
        except AmiActionFailed as err:
            self._action_protocol = None
            proto.transport.close()
            log.warning("AMI action session not available (%s): actions share the event session", err.message)

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
        self._close_sessions()
        self._fail_pending(AmiUnavailable("AMI connection closed"))

    def _close_sessions(self) -> None:
        for proto in (self._protocol, self._action_protocol):
            if proto is not None and proto.transport is not None and not proto.closed:
                proto.transport.close()
        self._protocol = self._action_protocol = None

    def _on_lost(self, proto: _Protocol, exc: Exception | None) -> None:
        """Either session lost: the connection is (the other session is closed with it)."""
        if proto is self._protocol or proto is self._action_protocol:
            which = "event" if proto is self._protocol else "action"
            self._close_sessions()
            if self._ready.is_set() and self._lost_at is None:
                self._lost_at = self._clock()
            self._fail_pending(AmiUnavailable(f"AMI connection lost ({which} session: {exc or 'closed by Asterisk'})"))
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
            timeout_s = min(max(2 * interval, 1.0), 10.0)
            try:  # each session answers for itself
                await asyncio.gather(*(self.submit_action("Ping", {}, timeout_s=timeout_s, _session=p)
                                       for p in (self._protocol, self._action_protocol) if p is not None))
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
                      _login: bool = False, _session: _Protocol | None = None) -> asyncio.Future[AmiReply]:
        """Write one action now (before this returns) and hand back the future of its answer: a
        caller that must not wait for a task's turn (the ACD's Originate) writes from its own step.
        Raises at once what ``send_action`` raises before sending (UnsafeValue, AmiUnavailable);
        the future fails with AmiActionFailed after ``timeout_s`` without an answer. Cancelling the
        future forgets the action (its late answer is ignored). The actions in
        ``ACTION_SESSION_ACTIONS`` go on the action session when there is one."""
        action_id = f"{self._id_prefix}{next(self._ids)}"
        data = encode_action(action, action_id, headers)  # raises UnsafeValue naming the header
        proto = _session or (self._action_protocol if action in ACTION_SESSION_ACTIONS
                             and self._action_protocol is not None else self._protocol)
        if proto is None or proto.closed or (not _login and not self._ready.is_set()):
            raise AmiUnavailable(f"AMI is not connected ({action} not sent)")
        loop = asyncio.get_running_loop()
        pending = Pending(action, expect, loop.create_future())
        self._pending[action_id] = pending
        proto.transport.write(data)
        self.actions_sent += 1
        # A timer and a done callback instead of a coroutine under asyncio.timeout: no task, no
        # context manager per action.
        timer = loop.call_later(timeout_s, self._expire, pending, timeout_s)
        pending.future.add_done_callback(functools.partial(self._settled, action_id, timer))
        return pending.future

    @staticmethod
    def _expire(pending: Pending, timeout_s: float) -> None:
        pending.fail(AmiActionFailed(f"{pending.action}: no answer from Asterisk within {timeout_s:.1f} s"))

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
                        p.route(m)
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

    def _on_action_data(self, data: bytes) -> None:
        """The action session's reader: responses (and list items) of the actions sent on it.
        Logged in without events, it gets no events; should one come, the event session has it."""
        pending = self._pending
        for m in self._action_parser.feed(data):
            action_id = m.get("ActionID")
            p = pending.get(action_id) if action_id is not None else None
            if p is not None:
                try:
                    p.route(m)
                except Exception as err:  # a bug of ours: one message, not the connection
                    self._dropped(err, m.get("Event", m.get("Response", "?")))

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

    # -- resync -------------------------------------------------------------------------------
    async def resync(self) -> None:
        """Hand the sink a fresh picture: ResyncStarted, snapshots, ResyncFinished."""
        restarted = self._restarted
        self._sink([ev.ResyncStarted(ts=self._clock(), pbx_restarted=restarted,
                                     lost_at=self._lost_at if restarted else None)])
        out, channels, bridges = await snapshot(self.send_action, self._clock, self._dropped,
                                                lambda msg: log.info("resync: %s", msg))
        self.resyncs += 1
        self._sink(out)
        log.info("AMI resync done: %d channels, %d bridges", channels, bridges)
