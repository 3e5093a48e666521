"""REST under /api/supervisor and the /ws/supervisor websocket: supervisors and admins only.

Thin: parse, authorize, call ``SupervisorService``, shape the answer. Who may do what is
``agent_console.policy`` (a dependency of this router and of the websocket): agents get 403
everywhere here (websocket: close 1008 ``forbidden``), managers do not intervene in calls. The
websocket re-checks its session on every frame and every ``ConsoleAuth.recheck_s`` and closes
(4001) when the user logs out or is deactivated; a binary frame gets an ``invalid_input`` error frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Path, Query, WebSocket
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.websockets import WebSocketDisconnect

from acd.kpis import GroupBy, Interval
from acd.recipients import may_see
from agent_console import policy, queue_scope
from agent_console.errors import Forbidden, InvalidInput, NotAuthenticated
from agent_console.http import ErrorBody, Id
from agent_console.queue_filter import QUEUE_FILTER, check_queues
from agent_console.security import WS_POLICY_VIOLATION, ConsoleAuth, Principal, auth_of, current_principal, token_of
from agent_console.supervisor.callbacks import StateFilter, SupervisorCallbackView, callbacks_csv
from agent_console.supervisor.service import SupervisorService, parse_time
from agent_console.supervisor.wallboard import Wallboard
from cti.errors import CtiError

Supervisor = Annotated[Principal, Depends(current_principal)]  # the roles: policy.enforce, per route
AgentId = Annotated[str, Path(min_length=1, max_length=64)]
CLOSE_LOGGED_OUT = 4001
_EARLIEST, _LATEST = 0.0, 4_102_444_800.0  # 1970 .. 2100: report times outside are typos or probes


def _check_time(value: str | None, field: str, tz: str) -> None:
    """A report bound the service can use: finite, in range; else 422 naming the field."""
    if value is None:
        return
    try:
        t = parse_time(value, tz, field)
    except (OverflowError, ValueError):
        raise InvalidInput(field, "out of range (1970 to 2100)") from None
    if not math.isfinite(t) or not _EARLIEST <= t <= _LATEST:
        raise InvalidInput(field, "out of range (1970 to 2100)")


class WaitingCallView(BaseModel):
    """A caller waiting now (``waiting_calls`` of the wallboard), queue by queue, next first."""

    linkedid: str = Field(description="the call's id: what POST /api/supervisor/calls/{linkedid}/move takes")
    queue: str
    position: int = Field(description="1 is the next the queue serves (a higher priority goes ahead)")
    caller_number: str = Field(description="in full (staff see every call); empty when withheld; a "
                                           "virtual-hold entry: the number it is to be called back on")
    waited_s: float = Field(description="since the caller's wait started, as longest_wait_s counts it")
    since: float = Field(description="when it started (epoch seconds): the call's first queue entry, or when it "
                                     "was put back after its agent's softphone was lost")
    priority: int = Field(description="the ACD's priority (from the caller's tier in the IVR); 0 normal")
    virtual: bool = Field(description="a virtual-hold entry: to be called back at its turn, not on the line")


class WallboardView(BaseModel):
    """The wallboard snapshot (docs/supervisor.md, Live wallboard); the websocket's frames are the same."""

    model_config = ConfigDict(extra="allow")
    type: Literal["wallboard"]
    ts: float
    tz: str
    window_min: float
    totals: dict[str, Any]
    queues: list[dict[str, Any]]
    agents: list[dict[str, Any]]
    waiting_calls: list[WaitingCallView]
    alerts: list[dict[str, Any]] = []


class SpyBody(BaseModel):
    mode: Literal["listen", "whisper", "barge"] = "listen"
    phone: str | None = Field(None, description="extension to ring first: the user's own (the default) or one no other "
                                                "active user has")


class NotReadyBody(BaseModel):
    reason: str = Field("supervisor", min_length=1, max_length=32, pattern=r"^[a-z0-9_]+$")


class SkillsBody(BaseModel):
    skills: dict[str, int]


class MoveBody(BaseModel):
    queue: str = Field(min_length=1, max_length=64, description="the queue the caller is to wait in")


class CancelBody(BaseModel):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)] = Field(
        description="Why it is cancelled; recorded in the audit log.")


async def check_alert(svc: SupervisorService, alert_id: str, scope: queue_scope.QueueScope) -> None:
    """Forbidden when the alert is about a queue or an agent ``scope`` does not oversee."""
    try:
        view = svc.alerts.view(svc.alerts.engine.get(alert_id))
    except CtiError:
        return  # unknown: the acknowledgement says so (404)
    if not svc.sees_alert(scope, view):
        raise Forbidden(f"alert {alert_id} is about {view.get('subject') or view.get('queue')}, "
                        f"not one of your queues (you oversee {scope.describe()})")


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    texts = {401: "Not logged in", 403: "Not a supervisor or administrator, or not one of the supervisor's queues "
                                        "or agents (forbidden, naming it)",
             404: "No such callback (target_not_found), or no such waiting caller (call_not_found, "
                  "acd_call_not_waiting)",
             409: "Not allowed in the callback's state: already closed, or its call is on (illegal_callback_step); "
                  "a caller ringing an agent or a virtual-hold entry cannot be moved (acd_call_not_movable)",
             422: "A field is wrong (names it)"}
    return {s: {"model": ErrorBody, "description": texts[s]} for s in statuses}


_SPY_409: dict[int | str, dict[str, Any]] = {409: {
    "model": ErrorBody, "description": "The supervisor's phone did not answer (phone_no_answer: nothing was started), "
                                       "or the agent has no connected call, it was stopped first or the phone system "
                                       "could not call the phone (illegal_agent_action)"}}

_CSV: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {"schema": {"type": "string"}}},
              "description": "JSON, or with format=csv one row per callback (times in ISO 8601 UTC)"}}


def build_router(svc: SupervisorService) -> APIRouter:
    r = APIRouter(prefix="/api/supervisor", tags=["supervisor"], dependencies=[Depends(policy.enforce)])

    async def board_of(who: Principal) -> dict[str, Any]:
        """The board as ``who`` sees it: their queues (queue_scope.QueueScope), the alerts addressed to them."""
        return Wallboard.view_for(svc.wallboard.scoped_view(await svc.board(), await svc.scope_of(who)),
                                  who.username, who.role)

    @r.get("/wallboard", response_model=WallboardView, responses=_errors(401, 403))
    async def wallboard(who: Supervisor) -> dict[str, Any]:
        """The live wallboard snapshot: totals, queues, agents, the callers waiting now, and the active
        alerts addressed to the caller (as the websocket's frames); a supervisor's own queues only,
        the agents serving them and the totals of those (docs/supervisor.md)."""
        return await board_of(who)

    @r.get("/agents", responses=_errors(401, 403))
    async def agents(who: Supervisor) -> list[dict[str, Any]]:
        """The wallboard's agents: for a supervisor, those serving one of their queues."""
        return list((await board_of(who))["agents"])

    @r.post("/agents/{agent_id}/spy", responses={**_errors(401, 403, 422), **_SPY_409})
    async def spy(agent_id: AgentId, body: SpyBody, who: Supervisor) -> dict[str, Any]:
        scope = await svc.check_agent(who, agent_id)
        phone, kind = await svc.phone_of(who, body.phone)
        return await svc.interventions.spy(who, agent_id, body.mode, phone, kind, scope=scope)

    @r.post("/spy/stop")
    async def spy_stop(who: Supervisor) -> dict[str, Any]:
        return await svc.interventions.stop_spy(who)

    @r.post("/agents/{agent_id}/not-ready", responses=_errors(401, 403, 422))
    async def not_ready(agent_id: AgentId, body: NotReadyBody, who: Supervisor) -> dict[str, Any]:
        await svc.check_agent(who, agent_id)
        return await svc.interventions.force_not_ready(who, agent_id, body.reason)

    @r.post("/agents/{agent_id}/logout", responses=_errors(401, 403))
    async def logout(agent_id: AgentId, who: Supervisor) -> dict[str, Any]:
        await svc.check_agent(who, agent_id)
        return await svc.interventions.force_logout(who, agent_id)

    @r.put("/agents/{agent_id}/skills", responses=_errors(401, 403, 422))
    async def skills(agent_id: AgentId, body: SkillsBody, who: Supervisor) -> dict[str, Any]:
        """A supervisor sets the skills of an agent of their queues; a skill named like a queue of
        another team (which decides who serves it) stays as it is (403 naming it)."""
        await svc.check_skills(who, agent_id, body.skills)
        return await svc.interventions.set_skills(who, agent_id, body.skills)

    @r.post("/calls/{linkedid}/move", responses=_errors(401, 403, 404, 409, 422))
    async def move_call(linkedid: Annotated[str, Path(min_length=1, max_length=128)], body: MoveBody,
                        who: Supervisor) -> dict[str, Any]:
        """Move a waiting caller to another queue: it keeps its wait and place (its first entry), as an
        overflow; audited ``call.move``. 404 for a call that is not (or no longer) waiting, 409 while
        it rings an agent or for a virtual-hold entry, 422 for an unknown queue or its own; a
        supervisor moves only between queues of theirs (403 naming the other)."""
        return await svc.move_call(who, linkedid, body.queue)

    @r.get("/alerts", responses=_errors(401, 403))
    async def alerts(who: Supervisor) -> dict[str, Any]:
        """The alerts addressed to the caller; a supervisor's about their queues and agents only."""
        scope = await svc.scope_of(who)

        def shown(a: dict[str, Any]) -> bool:
            return may_see(a, who.username, who.role) and svc.sees_alert(scope, a)

        return {"active": [a for a in svc.alerts.active() if shown(a)],
                "recent": [a for a in svc.alerts.recent() if shown(a)],
                "security": await svc.alerts.security_recent() if policy.sees_security_alerts(who.role) else [],
                "rules": [{"id": x.id, "kind": x.kind.value, "scope": x.scope.value, "queue": x.queue,
                           "threshold": x.threshold, "ack_timeout_s": x.ack_timeout_s, "levels": list(x.levels)}
                          for x in svc.alerts.engine.rules if x.queue is None or scope.sees(x.queue)]}

    @r.post("/alerts/{alert_id}/ack", responses=_errors(401, 403))
    async def ack(alert_id: Annotated[str, Path(min_length=1, max_length=128)], who: Supervisor) -> dict[str, Any]:
        await check_alert(svc, alert_id, await svc.scope_of(who))
        return await svc.alerts.acknowledge(alert_id, who.username, who.role)

    @r.get("/audit")
    async def audit(who: Supervisor, target: str | None = None, action: str | None = None,
                    limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[dict[str, Any]]:
        """The audit log, newest first; a supervisor with queues reads their own steps and those about
        their agents and queues, and only administrators the security alerts (among the newest 1,000
        matching entries)."""
        scope = await svc.scope_of(who)
        if scope.everything and policy.sees_security_alerts(who.role):
            return await svc.audit.list(target=target, action_prefix=action, limit=limit)
        agents = svc.overseen_agents(scope)
        rows = await svc.audit.list(target=target, action_prefix=action, limit=1000)
        return [e for e in rows if policy.sees_audit_row(who, e)
                and (scope.everything or queue_scope.sees_audit_entry(scope, e, agents, who.username))][:limit]

    @r.get("/reports")
    async def report(who: Supervisor, interval: Interval = "60m", group_by: GroupBy | None = None,
                     start: str | None = None, end: str | None = None,
                     queue: Annotated[list[str], Query(description=QUEUE_FILTER)] = [],  # noqa: B006 - copied
                     agent: Annotated[list[str], Query()] = [],  # noqa: B006
                     format: Literal["json", "csv"] = "json") -> Any:
        """KPIs per interval; a supervisor's of their queues only: another's is a 403 naming it, no
        ``queue`` means all of theirs (CSV the same)."""
        _check_time(start, "start", svc.tz)
        _check_time(end, "end", svc.tz)
        check_queues(svc.acd.queue_names, queue)
        scope = await svc.scope_of(who)
        queue = queue_scope.report_queues(scope, queue)
        rows, s, e = await svc.report(interval=interval, group_by=group_by, start=start, end=end,
                                      queues=queue, agents=agent, scope=scope)
        if format == "csv":
            name = f"report-{interval}-{group_by or 'all'}.csv"
            return Response(svc.report_csv(rows), media_type="text/csv; charset=utf-8",
                            headers={"Content-Disposition": f'attachment; filename="{name}"'})
        return {"interval": interval, "group_by": group_by, "start": s, "end": e, "tz": svc.tz,
                "rows": svc.report_json(rows)}

    @r.get("/reports/chart.svg")
    async def report_chart(who: Supervisor, field: str = "service_level", interval: Interval = "60m",
                           start: str | None = None, end: str | None = None,
                           queue: Annotated[list[str], Query(description=QUEUE_FILTER)] = [],  # noqa: B006
                           kind: Literal["line", "bar"] = "line",
                           title: Annotated[str | None, Query(min_length=1, max_length=80, description=(
                               "The chart's title, legend and label, in the reader's language (the reports "
                               "page sends its own words); default the field's English name"))] = None,
                           target_label: Annotated[str, Query(min_length=1, max_length=40, description=(
                               "The word before the SL target line's value in its tooltip"))] = "target") -> Response:
        _check_time(start, "start", svc.tz)
        _check_time(end, "end", svc.tz)
        check_queues(svc.acd.queue_names, queue)
        scope = await svc.scope_of(who)
        queue = queue_scope.report_queues(scope, queue)
        rows, _, _ = await svc.report(interval=interval, group_by=None, start=start, end=end, queues=queue,
                                      scope=scope)
        svg = svc.report_chart(rows, field, kind, target=svc.sl_target_of(queue), title=title,
                               target_label=target_label)
        return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "no-store"})

    @r.get("/callbacks", response_model=list[SupervisorCallbackView], responses={**_CSV, **_errors(401, 403, 422)})
    async def callback_list(who: Supervisor, state: StateFilter = "open",
                            queue: Annotated[str | None, Query(description=QUEUE_FILTER)] = None,
                            limit: Annotated[int, Query(ge=1, le=1000)] = 200,
                            format: Literal["json", "csv"] = "json") -> Any:
        """Every callback in ``state`` (open: pending or claimed; all: any), of ``queue`` when given:
        open ones oldest due first, others most recently changed first. A supervisor's of their
        queues only (another's is a 403 naming it)."""
        check_queues(svc.acd.queue_names, [queue])
        scope = await svc.scope_of(who)
        wanted = queue_scope.report_queues(scope, [queue] if queue else [])
        views = await svc.callbacks.list(state=state, queue=queue, queues=None if scope.everything else wanted,
                                         limit=limit)
        if format == "csv":
            return Response(callbacks_csv(views, svc.tz), media_type="text/csv; charset=utf-8",
                            headers={"Content-Disposition": f'attachment; filename="callbacks-{state}.csv"'})
        return views

    @r.post("/callbacks/{callback_id}/cancel", response_model=SupervisorCallbackView,
            responses=_errors(401, 403, 404, 409, 422))
    async def cancel_callback(callback_id: Id, body: CancelBody, who: Supervisor) -> SupervisorCallbackView:
        """Cancel a pending or claimed callback (not while its call is on); audit ``callback.cancel``
        with the reason. A supervisor's of their queues only."""
        return await svc.callbacks.cancel(who, callback_id, body.reason, scope=await svc.scope_of(who))

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


class _GuardedSocket:
    """The supervisor websocket as the wallboard sees it, with the session kept in check: every
    received frame re-checks the session, ``end`` (logout, deactivation, the periodic check) closes
    it with 4001, and a binary frame reaches the wallboard as a ``{"type": "binary"}`` text frame."""

    def __init__(self, ws: WebSocket, auth: ConsoleAuth, token: str) -> None:
        self._ws, self._auth, self._token = ws, auth, token
        self._ended = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ws, name)

    def end(self, reason: str) -> None:
        self._ended.set()

    async def _close(self) -> None:
        with contextlib.suppress(Exception):
            await self._ws.close(CLOSE_LOGGED_OUT, reason="logged_out")

    async def receive_text(self) -> str:
        received = asyncio.ensure_future(self._ws.receive())
        ended = asyncio.ensure_future(self._ended.wait())
        done, _ = await asyncio.wait({received, ended}, return_when=asyncio.FIRST_COMPLETED)
        if received not in done:
            received.cancel()
            await self._close()
            raise WebSocketDisconnect(CLOSE_LOGGED_OUT)
        ended.cancel()
        msg = received.result()
        if msg["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(msg.get("code", 1000))
        try:
            await self._auth.check(self._token)
        except NotAuthenticated:
            await self._close()
            raise WebSocketDisconnect(CLOSE_LOGGED_OUT) from None
        text = msg.get("text")
        return text if text is not None else '{"type": "binary"}'


def mount_websocket(app: FastAPI, svc: SupervisorService) -> None:
    @app.websocket("/ws/supervisor", dependencies=[Depends(policy.enforce)])
    async def supervisor_socket(ws: WebSocket) -> None:
        who: Principal | None = getattr(ws.state, "principal", None)  # set by policy.enforce
        if who is None:
            await ws.close(WS_POLICY_VIOLATION, reason=NotAuthenticated.code)
            return
        await ws.accept()
        auth = auth_of(ws)
        guarded = _GuardedSocket(ws, auth, token_of(ws)[0] or "")
        unregister = auth.register_socket(who.user_id, guarded.end, guarded._token)

        async def on_message(msg: dict[str, Any]) -> dict[str, Any] | None:
            kind = msg.get("type")
            if kind == "ping":
                return {"type": "pong"}
            if kind == "binary":
                return {"type": "error", "code": "invalid_input", "field": "frame",
                        "message": "frame: binary frames are not accepted; send JSON text"}
            if kind == "ack" and isinstance(msg.get("alert_id"), str):
                try:
                    await check_alert(svc, msg["alert_id"], svc.cached_scope(who.user_id, who.role))
                    view = await svc.alerts.acknowledge(msg["alert_id"], who.username, who.role)
                except CtiError as err:
                    return {"type": "error", "code": err.code, "message": err.message}
                return {"type": "acked", "alert": view}
            return {"type": "error", "code": "invalid_input", "field": "type",
                    "message": "type: frames are ping, ack {alert_id}"}

        try:
            await svc.wallboard.serve(guarded, who.username, on_message, role=who.role,  # type: ignore[arg-type]
                                      scope=lambda: svc.cached_scope(who.user_id, who.role))
        finally:
            unregister()
