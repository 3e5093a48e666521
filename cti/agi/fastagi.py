"""FastAGI server: Asterisk's ``AGI(agi://host:port/<route>)`` calls become ``AgiSession`` handlers.

Choice: the server and session run on a small ``asyncio.Protocol`` of their own (``cti.agi.stream``:
a line buffer and one plain timer per read that has to wait) with the shared protocol in
``cti.agi.protocol``; panoramisk's ``fast_agi`` is not used at run time (it stays the benchmark's
comparator, ``bench/fastagi.py``). Reasons, checked against panoramisk 1.4:
  - ``Application.handler`` loops on ``reader.read(100)`` until it sees a blank line: a client
    that closes before sending the header spins that loop forever on ``b''`` (100 % CPU);
  - its reply regex turns ``200 result= (timeout)`` into ``result="(timeout)"``, so GET DATA's
    timeout is lost, and ``result=-1`` is reported as an application error, not a hangup;
  - handler errors are logged without the channel, ``CancelledError`` is swallowed (no clean
    stop), an unknown route just drops the socket, and ``Application()`` needs a loop at
    construction time.
The protocol is small (a header block, then one line per command and reply), so owning it costs
~100 lines and makes both adapters behave identically.

Limits (``settings.agi``): a peer outside ``allowed_clients`` is closed at accept, and so is any
connection past ``max_sessions``; the header and every reply line must arrive within
``read_timeout_s`` (plus the command's own wait), and every write must drain within it, or the
connection is aborted: a stalled or hostile peer cannot pin a session forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

from cti.agi.protocol import AgiCommandError, AgiConversation, AgiTimeout, parse_env, run_route
from cti.agi.session import AgiSession
from cti.agi.stream import AgiStream
from cti.errors import AgiHangup
from cti.listen import listen_error
from cti.logs import bind
from cti.settings import Settings
from cti.tasks import cancel_all_and_wait

log = logging.getLogger(__name__)

Route = Callable[[AgiSession], Awaitable[None]]

# Asterisk writes the whole agi_* block right after connecting; a peer that stays silent longer
# is not Asterisk (or is stuck) and must not hold a connection slot.
HEADER_TIMEOUT_S = 5.0
# A burst of calls connects at once (e.g. a trunk delivering many calls); the default listen
# backlog of 100 would make Asterisk wait on SYN retries (1 s+) for the rest.
LISTEN_BACKLOG = 4096
# Refusals are logged at most this often per kind (a flood must not flood the log too).
_REFUSAL_LOG_INTERVAL_S = 10.0
# Peer hosts whose allowed_clients verdict is remembered (Asterisk is one or a few hosts; the cap
# keeps a scan from many addresses from growing the cache).
_ALLOWED_HOSTS_CACHED = 256

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class FastAgiSession(AgiConversation):
    """One call's FastAGI conversation over its connection (``AgiStream``)."""

    def __init__(self, env: Mapping[str, str], stream: AgiStream, *, read_timeout_s: float = 120.0) -> None:
        super().__init__(env)
        self._stream = stream
        self._read_timeout_s = read_timeout_s
        self.timed_out = False

    async def _write(self, line: bytes) -> None:
        self._stream.write(line)
        if not self._stream.must_drain:
            return  # the socket took it (the usual case): nothing to drain, no timer to arm
        try:
            await self._stream.drain(self._read_timeout_s)  # a peer that stops reading fills the buffers
        except TimeoutError:
            self.timed_out = True
            raise AgiTimeout(f"AGI peer read nothing for {self._read_timeout_s:g} s ({self.describe()})") from None

    async def _write_last(self, line: bytes) -> bool:
        """The last command goes out and the connection closes behind it (the reply is not read):
        Asterisk runs the command, then reads the end of the connection and the dialplan goes on,
        one round trip and one wake-up sooner. Declined while the peer's bytes wait unread (the
        HANGUP line of a caller who left): the round trip then reports the hang-up."""
        return self._write_last_now(line)

    def _write_last_now(self, line: bytes) -> bool:
        stream = self._stream
        if stream.has_input or stream.transport is None or stream.transport.is_closing():
            return False
        stream.write(line)
        stream.transport.close()  # after the bytes written: close() flushes them first
        return True

    async def _readline(self) -> str | None:
        limit = self._read_timeout_s + self._command_wait_s
        try:
            raw = await self._stream.read_until(b"\n", limit)
        except TimeoutError:
            self.timed_out = True
            raise AgiTimeout(f"no complete AGI reply line within {limit:g} s ({self.describe()})") from None
        except ValueError:  # a line past the stream limit (64 KiB)
            raise AgiCommandError(f"AGI reply line too long ({self.describe()})") from None
        if raw is None:
            return None  # EOF (possibly mid-line): Asterisk closed the connection
        return raw.decode("utf-8", "replace").rstrip("\r\n")


class FastAgiServer:
    """Listens on ``settings.agi.host:port`` and runs ``routes[agi_network_script]`` per call."""

    def __init__(self, settings: Settings, routes: Mapping[str, Route]) -> None:
        self._host = settings.agi.host
        self._port = settings.agi.port
        self._max_sessions = settings.agi.max_sessions
        self._read_timeout_s = settings.agi.read_timeout_s
        self._allowed: Sequence[_Network] = tuple(settings.agi.allowed_clients)
        self._routes = dict(routes)
        self._server: asyncio.base_events.Server | None = None
        self._tasks: dict[asyncio.Task[None], AgiStream] = {}
        self._last_refusal_log: dict[str, float] = {}
        self._allowed_hosts: dict[str, bool] = {}
        self.sessions_total = 0
        self.sessions_failed = 0
        self.sessions_hung_up = 0
        self.sessions_timed_out = 0
        self.unknown_routes = 0
        self.refused_busy = 0
        self.refused_client = 0
        self.commands_total = 0  # AGI commands of the sessions ended so far (bench/e2e_sipp.py: per call)

    @property
    def open_sessions(self) -> int:
        return len(self._tasks)

    def stats(self) -> dict[str, int]:
        """Counters for metrics: open sessions now, and totals since start."""
        return {"open": self.open_sessions, "total": self.sessions_total, "failed": self.sessions_failed,
                "hung_up": self.sessions_hung_up, "unknown_route": self.unknown_routes,
                "timed_out": self.sessions_timed_out, "refused_busy": self.refused_busy,
                "refused_client": self.refused_client}

    @property
    def port(self) -> int:
        """The bound port (useful when settings asked for port 0)."""
        if self._server is None or not self._server.sockets:
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(lambda: AgiStream(self._accept), self._host, self._port,
                                                    backlog=LISTEN_BACKLOG)
        except OSError as err:  # a second engine, another program on the port: say which setting
            raise listen_error("agi.port (CTI_AGI__PORT)", self._host, self._port, err) from None
        log.info("FastAGI listening on %s:%s (routes: %s)", self._host, self.port, ", ".join(self._routes))

    async def stop(self) -> None:
        """Stop accepting, cancel the sessions still running and close their connections."""
        if self._server is not None:
            self._server.close()
        sessions = list(self._tasks.items())
        await cancel_all_and_wait((task for task, _ in sessions), failures="log")
        for _, stream in sessions:  # a task cancelled before its first step never reached its finally
            if stream.transport is not None and not stream.transport.is_closing():
                stream.transport.abort()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    def _accept(self, stream: AgiStream) -> None:
        """A new connection (``AgiStream.connection_made``): refused at once, or its session task started."""
        transport = stream.transport
        assert transport is not None
        if not self._allowed_client(transport):
            peer = _peer_address(transport)
            self.refused_client += 1
            why = f"{peer} is not in agi.allowed_clients" if peer is not None else "no IP peer address"
            self._log_refusal("client", f"FastAGI connection refused: {why} ({self.refused_client} refused so far)")
            transport.abort()
            return
        if len(self._tasks) >= self._max_sessions:
            self.refused_busy += 1
            self._log_refusal("busy", f"FastAGI connection from {_peer_address(transport)} refused: "
                              f"{len(self._tasks)} sessions open, agi.max_sessions is {self._max_sessions} "
                              f"({self.refused_busy} refused so far)")
            transport.abort()
            return
        task = asyncio.get_running_loop().create_task(self._serve(stream))
        self._tasks[task] = stream
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)

    async def _serve(self, stream: AgiStream) -> None:
        task = asyncio.current_task()
        transport = stream.transport
        assert task is not None and transport is not None
        session: FastAgiSession | None = None
        try:
            env = await self._read_env(stream)
            if env is not None:
                session = FastAgiSession(env, stream, read_timeout_s=self._read_timeout_s)
                await self._dispatch(session)
        except asyncio.CancelledError:
            # stop() cancelled us: end normally (stop() gathers the tasks; nothing to propagate).
            log.info("FastAGI session cancelled by server stop")
        finally:
            self._tasks.pop(task, None)
            if session is not None:
                self.commands_total += session.commands
            if session is not None and session.timed_out:
                transport.abort()  # a stalled peer: do not wait for it to take our last bytes
            elif not stream.buffered:
                transport.close()  # the usual case: the socket closes on the next loop turn, nothing to wait for
            else:
                transport.close()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._read_timeout_s):
                        await stream.closed()
                if stream.buffered:  # not flushed within the timeout
                    transport.abort()

    def _allowed_client(self, transport: asyncio.BaseTransport) -> bool:
        """Is the peer in ``agi.allowed_clients``? The verdict is kept per peer host string."""
        peername = transport.get_extra_info("peername")
        host = peername[0] if isinstance(peername, tuple) and peername and isinstance(peername[0], str) else None
        if host is not None and (known := self._allowed_hosts.get(host)) is not None:
            return known
        peer = _peer_address(transport)
        allowed = peer is not None and any(peer in net for net in self._allowed if net.version == peer.version)
        if host is not None and len(self._allowed_hosts) < _ALLOWED_HOSTS_CACHED:
            self._allowed_hosts[host] = allowed
        return allowed

    def _log_refusal(self, kind: str, message: str) -> None:
        now = time.monotonic()
        if now - self._last_refusal_log.get(kind, -_REFUSAL_LOG_INTERVAL_S) >= _REFUSAL_LOG_INTERVAL_S:
            self._last_refusal_log[kind] = now
            log.warning("%s", message)

    async def _read_env(self, stream: AgiStream) -> dict[str, str] | None:
        limit = min(HEADER_TIMEOUT_S, self._read_timeout_s)
        try:
            raw = await stream.read_until(b"\n\n", limit)  # the agi_* block ends with an empty line
        except TimeoutError:
            log.warning("FastAGI peer sent no complete agi_* header within %g s", limit)
            return None
        except ValueError as err:
            log.warning("FastAGI header unreadable: %s", err)
            return None
        if raw is None:
            log.warning("FastAGI peer closed before the end of the agi_* header")
            return None
        return parse_env(raw.decode("utf-8", "replace").splitlines())

    async def _dispatch(self, session: FastAgiSession) -> None:
        self.sessions_total += 1
        # This connection's task owns its log context; the IVR narrows it to the linkedid once known.
        bind(session.env.get("uniqueid") or None)
        script = session.env.get("network_script", "")
        route = self._routes.get(script.strip("/"))
        if route is None:
            self.unknown_routes += 1
            log.error("FastAGI: no route %r (%s); hanging up", script, session.describe())
            with contextlib.suppress(AgiHangup, AgiCommandError, ConnectionError):
                await session.hangup()
            return
        outcome = await run_route(route, session, script)
        if session.timed_out:
            self.sessions_timed_out += 1
        elif outcome == "hangup":
            self.sessions_hung_up += 1
        elif outcome == "failed":
            self.sessions_failed += 1


def _peer_address(transport: asyncio.BaseTransport) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    peer = transport.get_extra_info("peername")
    if not isinstance(peer, tuple) or not peer or not isinstance(peer[0], str):
        return None
    try:
        addr = ipaddress.ip_address(peer[0].split("%", 1)[0])  # drop an IPv6 zone ("fe80::1%eth0")
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped  # a dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d
    return addr
