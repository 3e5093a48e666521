"""What a node of several (``bus: redis``) serves on its web port before it routes: while it waits
for the routing lease as a standby, and while it starts after taking the lease over. ``/healthz``
answers 503 with a body naming the node's role, so that a load balancer's health check sends no
console user to it (the routing node's console answers 200 ``{"status": "ok", ...}``, as ever);
``/metrics`` is served as the console serves it (behind ``metrics.token``; without one, not on the
web port); anything else is a 503 naming the node that routes. The engine stops this listener just
before the console's own binds the same port (``Engine.start``): no port clash, a gap of
milliseconds.

    web = StandbyWeb(settings, metrics, routing_lease, routes=engine.routes)
    await web.start()   # before the lease wait
    ...                 # the lease taken, the engine started
    await web.stop()    # the port is the console's now
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import SecretStr

from agent_console.metrics import (
    ASGIApp,
    EngineMetrics,
    Receive,
    Scope,
    Send,
    answer_lifespan,
    authorization,
    authorized,
    respond,
)
from callcenter.listeners import HttpListener
from cti.settings import Settings

if TYPE_CHECKING:  # redis is imported only when the redis bus is configured
    from cti.redis_lease import RoutingLease

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StandbyStatus:
    """A not-yet-routing node's ``/healthz`` body."""

    role: str  # "standby": waiting for the routing lease; "starting": took it, starting to route
    node: str
    routing_node: str | None  # the node that holds the lease, as last seen (None: not known, or this one)
    status: str = "not_serving"


def standby_asgi(metrics: EngineMetrics, *, token: SecretStr | None, status: Callable[[], StandbyStatus]) -> ASGIApp:
    """The standby's web app: ``/healthz`` 503 naming the role, ``/metrics`` as the console's, the rest 503."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await answer_lifespan(receive, send)
            return
        if scope["type"] != "http":  # a console's websocket: refused, it reconnects to the routing node
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1013})  # "try again later"
            return
        path, method = scope.get("path"), scope.get("method")
        extra: list[tuple[bytes, bytes]] = []
        now = status()
        if path == "/metrics" and token is not None and method in ("GET", "HEAD"):
            if authorized(authorization(scope), token):
                code, body, ctype = 200, metrics.render(), CONTENT_TYPE_LATEST
            else:
                code, body, ctype = 401, b"metrics: bearer token required\n", "text/plain"
                extra.append((b"www-authenticate", b"Bearer"))
        elif path == "/healthz":
            code, body, ctype = 503, json.dumps(asdict(now)).encode(), "application/json"
        else:
            who = f"node {now.routing_node} routes calls and serves the console" if now.routing_node else (
                "this node is starting to route calls")
            code, body, ctype = 503, f"{now.node} is a {now.role} node: {who}\n".encode(), "text/plain"
        await respond(send, code, body, ctype, [(b"cache-control", b"no-store"), *extra], head=method == "HEAD")

    return app


class StandbyWeb:
    """The standby's listener on ``web.port``, from before the lease wait until the console's binds it."""

    def __init__(self, settings: Settings, metrics: EngineMetrics, lease: RoutingLease,
                 routes: Callable[[], bool]) -> None:
        self.settings, self.lease, self.routes = settings, lease, routes
        self._listener = HttpListener(standby_asgi(metrics, token=settings.metrics.token, status=self.status),
                                      "web (standby)", "web.port (CTI_WEB__PORT)", host=settings.web.host,
                                      port=settings.web.port, lifespan="off", access_log=False)
        self._started = False

    def status(self) -> StandbyStatus:
        """"standby" while the lease is another node's; "starting" once this node took it."""
        return StandbyStatus("starting" if self.routes() else "standby", self.settings.node_id,
                             self.lease.waiting_for)

    async def start(self) -> None:
        await self._listener.start()
        self._started = True
        log.info("standby: %s:%s answers /healthz with 503 (not serving) until this node routes",
                 self.settings.web.host, self._listener.port)

    async def stop(self) -> None:
        """Closed (again: a no-op); the port is free for the console's listener."""
        if self._started:
            self._started = False
            await self._listener.stop()

    @property
    def port(self) -> int | None:
        return self._listener.port
