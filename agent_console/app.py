"""The console's FastAPI app: REST, the agent websocket, the SPA. Built by ``create_app`` from ports.

Domain errors become HTTP statuses (and websocket error frames) through ``ERROR_STATUS``, the one
table: errors of other packages not listed there keep their own ``http_status``. Every route goes
through ``agent_console.policy.enforce``; request bodies are capped (``MAX_BODY_BYTES``, 413; a
route may set its own ``max_body_size``); a state-changing request authenticated by cookie must
come from our own origin (403).
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, SecretStr
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from agent_console.errors import LoginThrottled, NotAuthenticated, RequestThrottled, shown_message
from agent_console.http import ConsoleParts, build_router
from agent_console.hub import AgentHub
from agent_console.metrics import EngineMetrics, install_metrics
from agent_console.policy import enforce
from agent_console.ports import AgentDesk, CustomerSearch, PopSource, UserStore
from agent_console.security import (
    UNSAFE_METHODS,
    WS_POLICY_VIOLATION,
    ConsoleAuth,
    SessionStore,
    install_auth,
    same_origin,
    token_of,
)
from agent_console.service import ConsoleService
from agent_console.wire import WireMiddleware
from cti.bus import EventBus
from cti.errors import CtiError
from cti.settings import PROJECT_ROOT

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).parent / "static"
SWAGGER_UI_DIR = PROJECT_ROOT / "node_modules" / "swagger-ui-dist"  # package.json, like SIP.js (phone.py)
MAX_BODY_BYTES = 64 * 1024  # every JSON body we take is far smaller; routes that need more say so

# code -> HTTP status: the one table. Websocket actions answer with an error frame of the same code.
ERROR_STATUS: dict[str, int] = {
    "not_authenticated": 401, "invalid_credentials": 401, "login_throttled": 429, "forbidden": 403,
    "not_your_call": 403, "call_not_found": 404, "target_not_found": 404, "illegal_agent_action": 409,
    "target_no_answer": 409, "phone_no_answer": 409,
    "invalid_input": 422, "unsafe_value": 422, "desk_unavailable": 503, "ami_unavailable": 503,
    "ami_action_failed": 502,
}

_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; connect-src 'self'; img-src 'self' data:; "
                               "style-src 'self'; script-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class DemoStatus(BaseModel):
    available: bool


def status_of(err: CtiError) -> int:
    return ERROR_STATUS.get(err.code, err.http_status)


HTTP_CODES = {400: "bad_request", 401: "not_authenticated", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 413: "too_large", 415: "unsupported_media_type"}
_UNIQUE_FIELD = (re.compile(r"UNIQUE constraint failed: \w+\.(\w+)"),  # SQLite
                 re.compile(r"Key \((\w+)(?:, \w+)*\)="))  # PostgreSQL


def constrained_field(message: str) -> str | None:
    """The column a unique constraint names in the database's message (SQLite, PostgreSQL)."""
    for pattern in _UNIQUE_FIELD:
        if m := pattern.search(message):
            return m.group(1)
    return None


def create_app(settings: Any, *, users: UserStore, desk: AgentDesk, pops: PopSource, search: CustomerSearch,
               bus: EventBus, extra_routers: Iterable[APIRouter] = (), auth: ConsoleAuth | None = None,
               manage_bus: bool = False, pop_timeout_s: float = 0.3, send_queue_size: int = 256,
               metrics: EngineMetrics | None = None, metrics_token: SecretStr | None = None,
               sessions: SessionStore | None = None, demo: bool = False) -> FastAPI:
    """The console app. ``manage_bus``: start and stop ``bus`` with the app (demo, tests); the
    engine's composition root starts its bus itself. ``metrics``: HTTP and websocket metrics, and
    ``/metrics`` behind ``metrics_token`` when there is one (agent_console.metrics). ``sessions``:
    where sessions end (the database); without it a logout holds in this process only. ``demo``:
    the app has the demo's simulated calls (``agent_console.demo``), as ``/api/demo/status`` says."""
    auth = auth or ConsoleAuth.from_settings(settings, sessions=sessions)
    if sessions is not None and auth.sessions is None:
        auth.sessions = sessions
    service = ConsoleService(desk)
    hub = AgentHub(desk=desk, pops=pops, service=service, pop_timeout_s=pop_timeout_s,
                   queue_size=send_queue_size, auth=auth, customers=search)
    hub.subscribe(bus)
    parts = ConsoleParts(users, desk, pops, search, bus, auth, service, hub,
                         tz=str(getattr(settings, "timezone", "UTC")))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if manage_bus:
            await bus.start()
        try:
            yield
        finally:
            await hub.shutdown()
            if manage_bus:
                await bus.stop()

    # /docs is our own page (static/docs.html): FastAPI's loads Swagger UI from a CDN with an inline
    # script, which the CSP refuses (and a closed network cannot fetch). No ReDoc, no OAuth2 redirect.
    app = FastAPI(title="CTI agent console", version="1", lifespan=lifespan, dependencies=[Depends(enforce)],
                  docs_url=None, redoc_url=None, swagger_ui_oauth2_redirect_url=None,
                  max_body_size=MAX_BODY_BYTES,
                  description="Agent console REST API; the websocket protocol is in docs/websocket-protocol.md.")
    app.state.console = parts
    install_auth(app, auth)

    @app.exception_handler(CtiError)
    async def _domain_error(request: Request, err: CtiError) -> JSONResponse:
        body: dict[str, Any] = {"code": err.code,
                                "message": shown_message(err, f"{request.method} {request.url.path}")}
        headers = {}
        if getattr(err, "field", None):
            body["field"] = err.field  # type: ignore[attr-defined]
        if isinstance(err, LoginThrottled | RequestThrottled):
            headers["Retry-After"] = str(max(1, round(err.retry_after_s)))
        if isinstance(err, NotAuthenticated):
            headers["WWW-Authenticate"] = "Bearer"
        return JSONResponse({"detail": body}, status_code=status_of(err), headers=headers)

    @app.exception_handler(IntegrityError)
    async def _written_meanwhile(request: Request, err: IntegrityError) -> JSONResponse:
        # Two requests at once (a double click) both found a value free; the database kept one.
        cause = getattr(err.orig, "__cause__", None)  # asyncpg's own error holds the detail naming the column
        field = constrained_field(f"{err.orig} {getattr(cause, 'detail', '') or ''}")
        if field is None:  # not a unique value taken meanwhile (a foreign key, a null): worth a look
            log.warning("%s %s: integrity error answered 409: %s", request.method, request.url.path,
                        str(err.orig)[:300])
        return JSONResponse({"detail": {"code": "conflict", "field": field, "message": (
            f"{field or 'request'}: another request wrote the same at this moment; it exists now")}},
            status_code=409)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, err: StarletteHTTPException) -> JSONResponse:
        # Starlette's and FastAPI's own refusals (no such path or method, a body that does not parse)
        # in the one error shape of every other 4xx: {"detail": {"code", "message"[, "field"]}}.
        if isinstance(err.detail, dict):
            body: dict[str, Any] = err.detail
        elif err.status_code == 400 and err.detail == "There was an error parsing the body":
            body = {"code": "invalid_input", "field": "body",
                    "message": "body: not a JSON document this server reads (malformed, or nested too deep)"}
        else:
            body = {"code": HTTP_CODES.get(err.status_code, "http_error"), "message": str(err.detail)}
        return JSONResponse({"detail": body}, status_code=err.status_code, headers=err.headers)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, err: RequestValidationError) -> JSONResponse:
        first = err.errors()[0] if err.errors() else {"loc": (), "msg": "invalid request"}
        if first.get("type") == "json_invalid":
            # FastAPI locates a JSON syntax error at its character offset ("body", 30): that names
            # no field. The request is not JSON at all: 400, as a body past the parser's depth.
            return JSONResponse({"detail": {"code": "invalid_input", "field": "body", "message": (
                f"body: not a JSON document ({first['msg']} at character {first['loc'][-1]})")}},
                status_code=400)
        loc = [str(x) for x in first["loc"] if x not in ("body", "query", "path")]
        # A required body that is missing altogether is located at ("body",): name it.
        field = ".".join(loc) or (str(first["loc"][0]) if first["loc"] == ("body",) else None)
        # A validator's own sentence, without pydantic's "Value error, " before it.
        msg = str(first["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        return JSONResponse({"detail": {"code": "invalid_input", "message": f"{field or 'request'}: {msg}",
                                        "field": field}}, status_code=422)

    @app.middleware("http")
    async def _headers(request: Request, call_next: Any) -> Response:
        # A browser sends the cookie with a cross-site form POST too: refuse what another site asks.
        if request.method in UNSAFE_METHODS and (token_of(request)[1] == "cookie"
                                                 or request.url.path == "/api/auth/login") \
                and not same_origin(request):
            response: Response = JSONResponse(
                {"detail": {"code": "forbidden", "message": "cross-origin request refused", "field": "Origin"}},
                status_code=403)
        else:
            response = await call_next(request)
        for k, v in _SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        return response

    if metrics is not None:
        install_metrics(app, metrics, token=metrics_token)
    # Added last, so outermost: it must see the server's own ``send`` (agent_console/wire.py).
    app.add_middleware(WireMiddleware)
    app.include_router(build_router(parts))
    for router in extra_routers:
        app.include_router(router)

    @app.websocket("/ws/agent")
    async def agent_socket(ws: WebSocket) -> None:
        who = getattr(ws.state, "principal", None)  # set by policy.enforce
        if who is None:
            await ws.close(WS_POLICY_VIOLATION, reason=NotAuthenticated.code)
            return
        if who.agent_id is None:
            await ws.close(WS_POLICY_VIOLATION, reason="not_an_agent")
            return
        token, _ = token_of(ws)
        await ws.accept()
        await hub.serve(ws, who, expires_at=auth.signer.expires_at(token or ""), token=token or "")

    @app.get("/api/demo/status", response_model=DemoStatus, tags=["demo"])
    async def demo_status() -> DemoStatus:
        """Whether this app simulates calls (``POST /api/demo/offer``): true in the console demo on
        fakes only, where the console shows its Demo card; the engine answers false."""
        return DemoStatus(available=demo)

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> FileResponse:  # what a browser asks of a page without a <link rel="icon"> (JSON, docs)
        return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml",
                            headers={"Cache-Control": "max-age=86400"})

    @app.get("/docs", include_in_schema=False)
    async def api_docs() -> FileResponse:
        return FileResponse(STATIC_DIR / "docs.html", headers={"Cache-Control": "no-cache"})

    if SWAGGER_UI_DIR.is_dir():
        app.mount("/vendor/swagger-ui", StaticFiles(directory=SWAGGER_UI_DIR), name="swagger-ui")
    else:
        log.warning("console: %s is missing (run `make install`, which runs npm ci): /docs has no Swagger UI",
                    SWAGGER_UI_DIR)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
