"""FastAGI server: Asterisk's ``AGI(agi://host:port/<route>)`` calls become ``AgiSession`` handlers.

Choice: the server and session run on plain asyncio streams with the shared protocol in
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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping

from cti.agi.protocol import AgiCommandError, AgiConversation, parse_env, run_route
from cti.agi.session import AgiSession
from cti.errors import AgiHangup
from cti.logs import bind
from cti.settings import Settings

log = logging.getLogger(__name__)

Route = Callable[[AgiSession], Awaitable[None]]

# Asterisk writes the whole agi_* block right after connecting; a peer that stays silent longer
# is not Asterisk (or is stuck) and must not hold a connection slot.
HEADER_TIMEOUT_S = 5.0
# A burst of calls connects at once (e.g. a trunk delivering many calls); the default listen
# backlog of 100 would make Asterisk wait on SYN retries (1 s+) for the rest.
LISTEN_BACKLOG = 4096


class FastAgiSession(AgiConversation):
    """One call's FastAGI conversation over an asyncio stream pair."""

    def __init__(self, env: Mapping[str, str], reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        super().__init__(env)
        self._reader = reader
        self._writer = writer

    async def _write(self, line: bytes) -> None:
        self._writer.write(line)
        await self._writer.drain()

    async def _readline(self) -> str | None:
        raw = await self._reader.readline()
        if not raw.endswith(b"\n"):
            return None  # EOF (possibly mid-line): Asterisk closed the connection
        return raw.decode("utf-8", "replace").rstrip("\r\n")


class FastAgiServer:
    """Listens on ``settings.agi.host:port`` and runs ``routes[agi_network_script]`` per call."""

    def __init__(self, settings: Settings, routes: Mapping[str, Route]) -> None:
        self._host = settings.agi.host
        self._port = settings.agi.port
        self._routes = dict(routes)
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.sessions_total = 0
        self.sessions_failed = 0
        self.sessions_hung_up = 0
        self.unknown_routes = 0

    @property
    def open_sessions(self) -> int:
        return len(self._tasks)

    def stats(self) -> dict[str, int]:
        """Counters for metrics: open sessions now, and totals since start."""
        return {"open": self.open_sessions, "total": self.sessions_total, "failed": self.sessions_failed,
                "hung_up": self.sessions_hung_up, "unknown_route": self.unknown_routes}

    @property
    def port(self) -> int:
        """The bound port (useful when settings asked for port 0)."""
        if self._server is None or not self._server.sockets:
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self._host, self._port,
                                                  backlog=LISTEN_BACKLOG)
        log.info("FastAGI listening on %s:%s (routes: %s)", self._host, self.port, ", ".join(self._routes))

    async def stop(self) -> None:
        """Stop accepting, cancel the sessions still running and close their connections."""
        if self._server is not None:
            self._server.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            env = await self._read_env(reader)
            if env is not None:
                await self._dispatch(FastAgiSession(env, reader, writer))
        except asyncio.CancelledError:
            # stop() cancelled us. Ending normally matters: on 3.11 asyncio's stream callback calls
            # task.exception() on a cancelled connection task and logs the CancelledError.
            log.info("FastAGI session cancelled by server stop")
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _read_env(self, reader: asyncio.StreamReader) -> dict[str, str] | None:
        try:
            async with asyncio.timeout(HEADER_TIMEOUT_S):
                raw = await reader.readuntil(b"\n\n")  # the agi_* block ends with an empty line
        except asyncio.IncompleteReadError:
            log.warning("FastAGI peer closed before the end of the agi_* header")
            return None
        except TimeoutError:
            log.warning("FastAGI peer sent no complete agi_* header within %.0f s", HEADER_TIMEOUT_S)
            return None
        except (ConnectionError, asyncio.LimitOverrunError) as err:
            log.warning("FastAGI header unreadable: %s", err)
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
        if outcome == "hangup":
            self.sessions_hung_up += 1
        elif outcome == "failed":
            self.sessions_failed += 1
