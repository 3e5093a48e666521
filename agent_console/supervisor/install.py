"""``install_supervisor(app, parts)``: mounts the supervisor side on the console app and ties its
background task (the wallboard loop, which also runs the alert rules) to the app's
lifespan. Idempotent. The supervisor pages are served at /wallboard, /callbacks,
/reports, /staffing, /campaigns, /users and /integrations.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from acd.alert_config import alerts_file, load_alert_recipients, load_alert_rules
from acd.alerts import AlertRule
from acd.delivery import AcdService
from acd.model import QueueConfig
from agent_console.supervisor.http import build_router, mount_websocket
from agent_console.supervisor.pages import render_page
from agent_console.supervisor.service import SupervisorService
from crm_core.callbacks import Policy
from crm_core.db import Database
from cti.ami.control import CallControl
from cti.bus import EventBus
from cti.settings import Settings

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
PAGES = {"/wallboard": "wallboard.html", "/callbacks": "callbacks.html", "/reports": "reports.html",
         "/staffing": "staffing.html", "/users": "users.html", "/campaigns": "campaigns.html",
         "/integrations": "integrations.html"}


@dataclass(frozen=True, slots=True)
class SupervisorParts:
    """What the supervisor side is built from (the composition root hands these over)."""

    settings: Settings
    acd: AcdService
    db: Database
    bus: EventBus
    queues: Sequence[QueueConfig]
    callback_policy: Policy
    control: Callable[[], CallControl]
    phone_kind: Callable[[], str]


def _rules(settings: Settings) -> list[AlertRule]:
    path = alerts_file(settings)
    if not path.exists():
        log.warning("supervisor: %s not found: no escalation alerts", path)
        return []
    return load_alert_rules(path)  # an invalid file stops the engine: it never starts half-configured


def install_supervisor(app: FastAPI, parts: SupervisorParts, *, window_min: float = 60.0, every_s: float = 1.0,
                       alerts_every_s: float = 3.0) -> SupervisorService:
    """Mount REST (/api/supervisor), the websocket (/ws/supervisor) and the pages; start the
    wallboard with the app. Returns the service (also on ``app.state.supervisor``)."""
    existing = getattr(app.state, "supervisor", None)
    if existing is not None:
        return existing  # type: ignore[no-any-return]
    settings = parts.settings
    rules = _rules(settings)
    recipients = load_alert_recipients(alerts_file(settings), rules) if rules else {}
    svc = SupervisorService(
        acd=parts.acd, db=parts.db, bus=parts.bus, configs=list(parts.queues), rules=rules,
        recipients=recipients, callback_policy=parts.callback_policy,
        control=parts.control, tz=settings.timezone, window_min=window_min, every_s=every_s,
        alerts_every_s=alerts_every_s, phone_kind=parts.phone_kind,
        journal=settings.state_dir / "supervisor-journal.jsonl")
    svc.subscribe()
    app.state.supervisor = svc
    app.include_router(build_router(svc))
    mount_websocket(app, svc)
    for route, page in PAGES.items():
        _page(app, route, STATIC_DIR / page)

    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        async with inner(a) as state:
            await svc.restore()
            svc.wallboard.start()
            try:
                yield state
            finally:
                await svc.wallboard.stop()
                await svc.rows.stop()

    app.router.lifespan_context = lifespan
    return svc


def _page(app: FastAPI, route: str, path: Path) -> None:
    html = render_page(path.read_text(encoding="utf-8"), route, name=path.name)  # once, at start-up

    async def page() -> HTMLResponse:
        return HTMLResponse(html, headers={"Cache-Control": "no-cache"})

    app.add_api_route(route, page, include_in_schema=False, methods=["GET"])
