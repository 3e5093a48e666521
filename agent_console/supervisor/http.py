"""REST under /api/supervisor and the /ws/supervisor websocket: supervisors and admins only.

Thin: parse, authorize, call ``SupervisorService``, shape the answer. Agents get 403 everywhere here
(websocket: close 1008 ``forbidden``).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, WebSocket
from fastapi.responses import Response
from pydantic import BaseModel, Field, StringConstraints

from acd.kpis import GroupBy, Interval
from acd.recipients import may_see
from agent_console.errors import NotAuthenticated
from agent_console.http import ErrorBody
from agent_console.security import WS_POLICY_VIOLATION, Principal, principal_of, require_roles
from agent_console.supervisor.callbacks import StateFilter, SupervisorCallbackView, callbacks_csv
from agent_console.supervisor.service import SupervisorService
from cti.errors import CtiError

Supervisor = Annotated[Principal, Depends(require_roles("supervisor", "admin"))]
ALLOWED = ("supervisor", "admin")


class SpyBody(BaseModel):
    mode: Literal["listen", "whisper", "barge"] = "listen"
    phone: str | None = Field(None, description="extension to ring first; default: the user's own extension")


class NotReadyBody(BaseModel):
    reason: str = "supervisor"


class SkillsBody(BaseModel):
    skills: dict[str, int]


class CancelBody(BaseModel):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)] = Field(
        description="Why it is cancelled; recorded in the audit log.")


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    texts = {401: "Not logged in", 403: "Not a supervisor or administrator (forbidden)",
             404: "No such callback (target_not_found)",
             409: "Not allowed in the callback's state: already closed, or its call is on (illegal_callback_step)",
             422: "A field is wrong (names it)"}
    return {s: {"model": ErrorBody, "description": texts[s]} for s in statuses}


_CSV = {200: {"content": {"text/csv": {"schema": {"type": "string"}}},
              "description": "JSON, or with format=csv one row per callback (times in ISO 8601 UTC)"}}


def build_router(svc: SupervisorService) -> APIRouter:
    r = APIRouter(prefix="/api/supervisor", tags=["supervisor"])

    @r.get("/wallboard")
    async def wallboard(who: Supervisor) -> dict[str, Any]:
        return await svc.board()

    @r.get("/agents")
    async def agents(who: Supervisor) -> list[dict[str, Any]]:
        return list((await svc.board())["agents"])

    @r.post("/agents/{agent_id}/spy")
    async def spy(agent_id: str, body: SpyBody, who: Supervisor) -> dict[str, Any]:
        phone = await svc.phone_of(who, body.phone)
        return await svc.interventions.spy(who, agent_id, body.mode, phone)

    @r.post("/spy/stop")
    async def spy_stop(who: Supervisor) -> dict[str, Any]:
        return await svc.interventions.stop_spy(who)

    @r.post("/agents/{agent_id}/not-ready")
    async def not_ready(agent_id: str, body: NotReadyBody, who: Supervisor) -> dict[str, Any]:
        return await svc.interventions.force_not_ready(who, agent_id, body.reason)

    @r.post("/agents/{agent_id}/logout")
    async def logout(agent_id: str, who: Supervisor) -> dict[str, Any]:
        return await svc.interventions.force_logout(who, agent_id)

    @r.put("/agents/{agent_id}/skills")
    async def skills(agent_id: str, body: SkillsBody, who: Supervisor) -> dict[str, Any]:
        return await svc.interventions.set_skills(who, agent_id, body.skills)

    @r.get("/alerts")
    async def alerts(who: Supervisor) -> dict[str, Any]:
        return {"active": [a for a in svc.alerts.active() if may_see(a, who.username, who.role)],
                "recent": [a for a in svc.alerts.recent() if may_see(a, who.username, who.role)],
                "rules": [{"id": x.id, "kind": x.kind.value, "scope": x.scope.value, "queue": x.queue,
                           "threshold": x.threshold, "ack_timeout_s": x.ack_timeout_s, "levels": list(x.levels)}
                          for x in svc.alerts.engine.rules]}

    @r.post("/alerts/{alert_id}/ack")
    async def ack(alert_id: str, who: Supervisor) -> dict[str, Any]:
        return await svc.alerts.acknowledge(alert_id, who.username, who.role)

    @r.get("/audit")
    async def audit(who: Supervisor, target: str | None = None, action: str | None = None,
                    limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[dict[str, Any]]:
        return await svc.audit.list(target=target, action_prefix=action, limit=limit)

    @r.get("/reports")
    async def report(who: Supervisor, interval: Interval = "60m", group_by: GroupBy | None = None,
                     start: str | None = None, end: str | None = None,
                     queue: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI copies defaults
                     agent: Annotated[list[str], Query()] = [],  # noqa: B006
                     format: Literal["json", "csv"] = "json") -> Any:
        rows, s, e = await svc.report(interval=interval, group_by=group_by, start=start, end=end,
                                      queues=queue, agents=agent)
        if format == "csv":
            name = f"report-{interval}-{group_by or 'all'}.csv"
            return Response(svc.report_csv(rows), media_type="text/csv; charset=utf-8",
                            headers={"Content-Disposition": f'attachment; filename="{name}"'})
        return {"interval": interval, "group_by": group_by, "start": s, "end": e, "tz": svc.tz,
                "rows": svc.report_json(rows)}

    @r.get("/reports/chart.svg")
    async def report_chart(who: Supervisor, field: str = "service_level", interval: Interval = "60m",
                           start: str | None = None, end: str | None = None,
                           queue: Annotated[list[str], Query()] = [],  # noqa: B006
                           kind: Literal["line", "bar"] = "line") -> Response:
        rows, _, _ = await svc.report(interval=interval, group_by=None, start=start, end=end, queues=queue)
        return Response(svc.report_chart(rows, field, kind), media_type="image/svg+xml",
                        headers={"Cache-Control": "no-store"})

    @r.get("/callbacks", response_model=list[SupervisorCallbackView], responses={**_CSV, **_errors(401, 403, 422)})
    async def callback_list(who: Supervisor, state: StateFilter = "open", queue: str | None = None,
                            limit: Annotated[int, Query(ge=1, le=1000)] = 200,
                            format: Literal["json", "csv"] = "json") -> Any:
        """Every callback in ``state`` (open: pending or claimed; all: any), of ``queue`` when given:
        open ones oldest due first, others most recently changed first."""
        views = await svc.callbacks.list(state=state, queue=queue, limit=limit)
        if format == "csv":
            return Response(callbacks_csv(views), media_type="text/csv; charset=utf-8",
                            headers={"Content-Disposition": f'attachment; filename="callbacks-{state}.csv"'})
        return views

    @r.post("/callbacks/{callback_id}/cancel", response_model=SupervisorCallbackView,
            responses=_errors(401, 403, 404, 409, 422))
    async def cancel_callback(callback_id: int, body: CancelBody, who: Supervisor) -> SupervisorCallbackView:
        """Cancel a pending or claimed callback (not while its call is on); audit ``callback.cancel``
        with the reason."""
        return await svc.callbacks.cancel(who, callback_id, body.reason)

    @r.get("/staffing")
    async def staffing(who: Supervisor, calls: Annotated[float, Query(ge=0)],
                       aht_s: Annotated[float, Query(gt=0)], interval_s: Annotated[float, Query(gt=0)] = 1800,
                       sl_target: float = 0.8, sl_seconds: float = 20.0, shrinkage: float = 0.0,
                       agents: int | None = None, max_occupancy: float | None = None) -> dict[str, Any]:
        """Erlang C for a forecast. acd.staffing bounds the inputs (422 naming the field); the maths
        still takes up to ~0.1 s at those bounds, so it runs in a worker thread, not on the loop."""
        return await asyncio.to_thread(
            svc.staffing, calls=calls, interval_s=interval_s, aht_s=aht_s, sl_target=sl_target,
            sl_seconds=sl_seconds, shrinkage=shrinkage, agents=agents, max_occupancy=max_occupancy)

    return r


def mount_websocket(app: Any, svc: SupervisorService) -> None:
    @app.websocket("/ws/supervisor")
    async def supervisor_socket(ws: WebSocket) -> None:
        try:
            who = principal_of(ws)
        except NotAuthenticated as err:
            await ws.close(WS_POLICY_VIOLATION, reason=err.code)
            return
        if who.role not in ALLOWED:
            await ws.close(WS_POLICY_VIOLATION, reason="forbidden")
            return
        await ws.accept()

        async def on_message(msg: dict[str, Any]) -> dict[str, Any] | None:
            kind = msg.get("type")
            if kind == "ping":
                return {"type": "pong"}
            if kind == "ack" and isinstance(msg.get("alert_id"), str):
                try:
                    view = await svc.alerts.acknowledge(msg["alert_id"], who.username, who.role)
                except CtiError as err:
                    return {"type": "error", "code": err.code, "message": err.message}
                return {"type": "acked", "alert": view}
            return {"type": "error", "code": "invalid_input", "message": "frames: ping, ack {alert_id}"}

        await svc.wallboard.serve(ws, who.username, on_message, role=who.role)
