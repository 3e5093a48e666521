"""The engine's HTTP listeners (the console's web server, the separate /metrics port, a standby's
web port: callcenter/standby.py): uvicorn
servers on sockets the engine binds itself, so that a port already taken is a ``ConfigError``
naming the setting (uvicorn's own bind would ``sys.exit`` out of the event loop, past the
engine's clean stop).

    web = HttpListener(app, "web", "web.port (CTI_WEB__PORT)", host=host, port=port, lifespan="on")
    await web.start()      # listening, or ConfigError
    web.port               # the bound port (settings may ask for 0: any free port)
    await web.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import uvicorn

from agent_console.metrics import EngineMetrics, metrics_asgi
from cti.errors import ConfigError
from cti.listen import listening_sockets
from cti.settings import Settings

log = logging.getLogger(__name__)


class HttpListener:
    """One uvicorn server of the engine, in a task of its own."""

    def __init__(self, app: Any, name: str, setting: str, *, host: str, port: int, **options: Any) -> None:
        self.name, self.setting, self.host, self.requested_port = name, setting, host, port
        self._server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", **options))
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Listening when it returns; a port that cannot be bound raises ``ConfigError`` naming the setting."""
        socks = listening_sockets(self.host, self.requested_port, self.setting)
        self._task = asyncio.create_task(self._server.serve(sockets=socks), name=self.name)
        while not self._server.started:
            if self._task.done():
                await self._task
                raise ConfigError(f"{self.name}: could not listen on {self.host}:{self.requested_port}")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        """Ask the server to close its connections and wait for it. A listener that failed at the
        start has said so then (``start``); what it left in its task is not news at the stop."""
        if self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(Exception):
                await self._task

    @property
    def port(self) -> int | None:
        """The bound port; before the start, the one asked for."""
        servers = self._server.servers if self._server.started else []  # uvicorn sets them as it starts
        if not servers or not servers[0].sockets:
            return self.requested_port
        return int(servers[0].sockets[0].getsockname()[1])


async def metrics_listener(settings: Settings, metrics: EngineMetrics) -> HttpListener | None:
    """``/metrics`` on ``metrics.port``, listening when it returns; None when no port is set (the
    console's web port serves it behind the token, or nothing does: logged)."""
    m = settings.metrics
    if m.port is None:
        if m.token is None:
            log.info("metrics: /metrics is off (set metrics.token or metrics.port to serve it)")
        else:
            log.info("metrics: /metrics on the web port, behind the bearer token")
        return None
    listener = HttpListener(metrics_asgi(metrics, token=m.token), "metrics", "metrics.port (CTI_METRICS__PORT)",
                            host=m.host, port=m.port, lifespan="off", access_log=False)
    await listener.start()
    log.info("metrics: /metrics on %s:%s%s", m.host, listener.port, " behind the bearer token" if m.token is not None
             else "")
    return listener
