"""REST routes of the console: auth, agent actions mirroring the websocket ones, customer search."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field, ValidationError

from agent_console import policy, queue_scope
from agent_console import protocol as p
from agent_console.errors import InvalidCredentials, InvalidInput, NotAuthenticated, TargetNotFound
from agent_console.principal import TOKEN_ROLES
from agent_console.security import (
    COOKIE_NAME,
    ConsoleAuth,
    Principal,
    _refuse,
    address_key,
    authenticate,
    client_address,
    current_principal,
    token_of,
)
from agent_console.service import agent_of
from crm_core.schemas import MAX_ID

if TYPE_CHECKING:
    from agent_console.hub import AgentHub
    from agent_console.ports import AgentDesk, CustomerSearch, PopSource, UserStore
    from agent_console.service import ConsoleService
    from cti.bus import EventBus

Id = Annotated[int, Path(ge=1, le=MAX_ID)]  # database ids are signed 64-bit
CallId = Annotated[str, Path(min_length=1, max_length=64)]  # Asterisk linkedids are short; ours fit in 64


class LoginBody(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


_EXPIRES = ("When this token expires (epoch seconds) unless renewed before: the idle timeout "
            "(web.session_idle_min) from its issue, never past session_ends_at.")
_ENDS = ("When the session ends whatever the renewals (epoch seconds): the password login plus "
         "web.session_max_hours. After it, log in again.")


class Renewed(BaseModel):
    token: str = Field(description="The session's new token (also set as the cookie when the request "
                                   "came with the cookie). The old one stays valid until its own expiry.")
    expires_at: float = Field(description=_EXPIRES)
    session_ends_at: float = Field(description=_ENDS)
    idle_timeout_s: float = Field(description="How long a token lives without a renewal (web.session_idle_min).")
    server_time: float = Field(description="The server's clock (epoch seconds), to read the times above with.")


class LoginResult(Renewed):
    principal: p.AgentView
    redirect: str = Field(description="Where the browser goes next: / for agents, /wallboard for supervisors "
                                      "and administrators (who can still open / when they take calls).")


class SessionState(BaseModel):
    authenticated: bool
    principal: p.AgentView | None = None
    tz: str = Field("UTC", description="The call center's time zone (IANA): the pages show every time in "
                                       "it, as the reports count days in it.")
    expires_at: float | None = Field(None, description=_EXPIRES)
    session_ends_at: float | None = Field(None, description=_ENDS)
    idle_timeout_s: float | None = Field(None, description="How long a token lives without a renewal.")
    server_time: float | None = Field(None, description="The server's clock (epoch seconds).")


class Ok(BaseModel):
    ok: bool = True


class Ack(BaseModel):
    action: str
    result: dict[str, Any] | None = None


class StateBody(BaseModel):
    state: str = Field(pattern="^(ready|not_ready)$")
    reason: str | None = Field(None, max_length=32, pattern=r"^[a-z0-9_]+$")


class CustomerDetail(BaseModel):
    customer: p.CustomerCard
    interactions: list[p.InteractionView] = Field(default_factory=list)
    open_cases: list[p.CaseView] = Field(default_factory=list)


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable error code, e.g. callback_taken, forbidden, invalid_input.")
    message: str
    field: str | None = None


class ErrorBody(BaseModel):
    detail: ErrorDetail


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    texts = {401: "Not logged in", 403: "Not an agent, or not a callback of your queues",
             404: "No such callback", 409: "Claimed by another agent (callback_taken), or not allowed in the "
             "callback's or the agent's state (illegal_callback_step, illegal_agent_action)",
             422: "A field is wrong (names it)", 502: "Asterisk refused the call", 503: "Telephony unavailable"}
    return {s: {"model": ErrorBody, "description": texts[s]} for s in statuses}


class Health(BaseModel):
    status: str
    connections: int


async def _view(request: Request, who: Principal) -> p.AgentView:
    """Who is logged in, and whether they have a softphone (``app.state.phone``, when installed)."""
    phone = getattr(request.app.state, "phone", None)
    return p.AgentView(user_id=who.user_id, username=who.username, role=who.role, agent_id=who.agent_id,
                       display_name=who.display_name, phone=await phone.has_phone(who) if phone else None)


@dataclass
class ConsoleParts:
    """What the console's routes and its websocket work with; ``create_app`` builds them."""

    users: UserStore
    desk: AgentDesk
    pops: PopSource
    search: CustomerSearch
    bus: EventBus
    auth: ConsoleAuth
    service: ConsoleService
    hub: AgentHub
    tz: str = "UTC"  # the call center's time zone (settings ``timezone``): the pages show times in it


def build_router(console: ConsoleParts) -> APIRouter:
    """``console`` is the app's ``ConsoleParts`` (users, hub, service, search, auth)."""
    r = APIRouter(dependencies=[Depends(policy.enforce)])
    auth: ConsoleAuth = console.auth

    @r.post("/api/auth/login", response_model=LoginResult, tags=["auth"], max_body_size=4096,
            responses={413: {"description": "Body over 4 KiB"}, 429: {"description": "Too many attempts"}})
    async def login(body: LoginBody, request: Request, response: Response) -> LoginResult:
        addr = address_key(client_address(request))  # an IPv6 client by its /64
        auth.throttle.check(body.username, addr)  # per user+address, per address, global: 429
        who = await console.users.authenticate(body.username, body.password)
        if who is None:
            auth.throttle.failed(body.username, addr)
            raise InvalidCredentials("wrong username or password")
        auth.throttle.succeeded(body.username, addr)
        token, exp = auth.signer.issue(who)
        _set_cookie(response, token, exp)
        return LoginResult(token=token, expires_at=exp, session_ends_at=auth.signer.ends_at(token),
                           idle_timeout_s=auth.signer.ttl_s, server_time=auth.signer.clock(),
                           principal=await _view(request, who),
                           redirect="/" if who.role == "agent" else "/wallboard")

    def _set_cookie(response: Response, token: str, exp: float) -> None:
        response.set_cookie(COOKIE_NAME, token, max_age=max(1, int(exp - auth.signer.clock())), httponly=True,
                            samesite="strict", secure=auth.secure_cookie, path="/")

    @r.post("/api/auth/renew", response_model=Renewed, tags=["auth"],
            responses={401: {"model": ErrorBody, "description": "No live session: expired (idle or past its "
                                                               "absolute limit), logged out, user deactivated"},
                       403: {"model": ErrorBody, "description": "Cookie sent from another origin"}})
    async def renew(request: Request, response: Response, who: Principal = Depends(current_principal)) -> Renewed:
        """A new token for the live session, without the password: it expires the idle timeout from now,
        never after the session's absolute end (``session_ends_at``, set at the password login). The
        request passes the checks of any other (user active, session not ended)."""
        token, source = token_of(request)
        try:
            new, exp = auth.signer.renew(token or "")
        except NotAuthenticated as err:  # reached its absolute end between the check and now
            raise _refuse(request, err) from None
        if source == "cookie":
            _set_cookie(response, new, exp)
        return Renewed(token=new, expires_at=exp, session_ends_at=auth.signer.ends_at(new),
                       idle_timeout_s=auth.signer.ttl_s, server_time=auth.signer.clock())

    @r.post("/api/auth/logout", response_model=Ok, tags=["auth"])
    async def logout(request: Request, response: Response, who: Principal = Depends(current_principal)) -> Ok:
        """End every session of this user, on every node; their open sockets close."""
        token, _ = token_of(request)
        await auth.end_sessions(who.user_id, token)
        response.delete_cookie(COOKIE_NAME, path="/")
        if who.agent_id:
            console.hub.disconnect_agent(who.agent_id)
        return Ok()

    @r.get("/api/auth/session", response_model=SessionState, tags=["auth"])
    async def session_state(request: Request) -> SessionState:
        """Is there a live session, and whose: the console's first question, answered 200 either way
        (the login page fails no request). ``/api/me`` stays 401 for a caller without one."""
        try:
            who = await authenticate(request)
        except NotAuthenticated:
            return SessionState(authenticated=False, tz=console.tz)
        if who.role in TOKEN_ROLES:  # an integration's token: a credential, not a console session
            return SessionState(authenticated=False, tz=console.tz)
        token = token_of(request)[0] or ""
        return SessionState(authenticated=True, principal=await _view(request, who), tz=console.tz,
                            expires_at=auth.signer.expires_at(token), session_ends_at=auth.signer.ends_at(token),
                            idle_timeout_s=auth.signer.ttl_s, server_time=auth.signer.clock())

    @r.get("/api/me", response_model=p.AgentView, tags=["auth"])
    async def me(request: Request, who: Principal = Depends(current_principal)) -> p.AgentView:
        return await _view(request, who)

    @r.get("/api/agent/snapshot", response_model=p.Hello, tags=["agent"])
    async def snapshot(who: Principal = Depends(current_principal)) -> p.Hello:
        agent_of(who)
        return await console.hub.hello(who)

    async def act(who: Principal, make: Any, **fields: Any) -> Ack:
        try:
            msg = make(**fields)
        except ValidationError as err:
            first = err.errors()[0]
            field = ".".join(str(x) for x in first["loc"]) or "request"
            raise InvalidInput(field, first["msg"]) from None
        return Ack(action=msg.type, result=await console.service.act(who, msg))

    @r.post("/api/agent/state", response_model=Ack, tags=["agent"])
    async def set_state(body: StateBody, who: Principal = Depends(current_principal)) -> Ack:
        if body.state == "ready":
            return await act(who, p.Ready, type="ready")
        if not body.reason:
            raise InvalidInput("reason", "required when going not_ready")
        return await act(who, p.NotReady, type="not_ready", reason=body.reason)

    @r.post("/api/agent/queues/login", response_model=Ack, tags=["agent"])
    async def queues_login(body: p.QueuesFields, who: Principal = Depends(current_principal)) -> Ack:
        return await act(who, p.QueuesLogin, type="queues_login", queues=body.queues)

    @r.post("/api/agent/queues/logout", response_model=Ack, tags=["agent"])
    async def queues_logout(body: p.QueuesFields, who: Principal = Depends(current_principal)) -> Ack:
        return await act(who, p.QueuesLogout, type="queues_logout", queues=body.queues)

    @r.post("/api/calls/dial", response_model=Ack, tags=["calls"])
    async def dial(body: p.DialFields, who: Principal = Depends(current_principal)) -> Ack:
        return await act(who, p.Dial, type="dial", **body.model_dump())

    @r.post("/api/calls/{call_id}/hangup", response_model=Ack, tags=["calls"])
    async def hangup(call_id: CallId, who: Principal = Depends(current_principal)) -> Ack:
        return await act(who, p.Hangup, type="hangup", call_id=call_id)

    @r.post("/api/calls/{call_id}/hold", response_model=Ack, tags=["calls"])
    async def hold(call_id: CallId, who: Principal = Depends(current_principal)) -> Ack:
        return await act(who, p.Hold, type="hold", call_id=call_id)

    @r.post("/api/calls/{call_id}/resume", response_model=Ack, tags=["calls"])
    async def resume(call_id: CallId, who: Principal = Depends(current_principal)) -> Ack:
        return await act(who, p.Resume, type="resume", call_id=call_id)

    @r.post("/api/calls/{call_id}/transfer", response_model=Ack, tags=["calls"])
    async def transfer(call_id: CallId, body: p.TransferFields, who: Principal = Depends(current_principal)) -> Ack:
        return await act(who, p.Transfer, type="transfer", call_id=call_id, **body.model_dump())

    @r.post("/api/calls/{call_id}/dtmf", response_model=Ack, tags=["calls"])
    async def dtmf(call_id: CallId, body: p.DtmfFields, who: Principal = Depends(current_principal)) -> Ack:
        return await act(who, p.Dtmf, type="dtmf", call_id=call_id, digits=body.digits)

    @r.post("/api/calls/{call_id}/wrap-up", response_model=Ack, tags=["calls"])
    async def wrap_up(call_id: CallId, body: p.WrapUpFields, who: Principal = Depends(current_principal)) -> Ack:
        return await act(who, p.WrapUp, type="wrap_up", call_id=call_id, **dict(body))

    @r.get("/api/callbacks", response_model=list[p.CallbackView], tags=["callbacks"], responses=_errors(401, 403, 422))
    async def list_callbacks(request: Request, limit: int = Query(50, ge=1, le=200),
                             who: Principal = Depends(current_principal)) -> list[p.CallbackView]:
        """Due callbacks, oldest first: for an agent those of the queues they are logged into, their
        personal ones and their own claims; for supervisors, managers and admins every due or claimed one of
        the queues they oversee (a supervisor assigned queues: those, and their own callbacks)."""
        db = getattr(request.app.state, "crm_db", None)  # the engine's; the fakes have no assignments
        scope = await queue_scope.scope_of(db, who) if db is not None else queue_scope.EVERY_QUEUE
        return await console.service.callbacks(who, limit=limit, scope=scope)

    @r.post("/api/callbacks/{callback_id}/claim", response_model=p.CallbackView, tags=["callbacks"],
            responses=_errors(401, 403, 404, 409, 422))
    async def claim_callback(callback_id: Id, who: Principal = Depends(current_principal)) -> p.CallbackView:
        """Take a due callback; when two agents claim at once one wins, the other gets 409 callback_taken.
        A claim not called within the claim timeout goes back to the list."""
        return await console.service.claim_callback(who, callback_id)

    @r.post("/api/callbacks/{callback_id}/release", response_model=p.CallbackView, tags=["callbacks"],
            responses=_errors(401, 403, 404, 409, 422))
    async def release_callback(callback_id: Id, who: Principal = Depends(current_principal)) -> p.CallbackView:
        """Give a claimed callback back to the list without calling."""
        return await console.service.release_callback(who, callback_id)

    @r.post("/api/callbacks/{callback_id}/call", response_model=p.CallbackCall, tags=["callbacks"],
            responses=_errors(401, 403, 404, 409, 422, 502, 503))
    async def call_callback(callback_id: Id, who: Principal = Depends(current_principal)) -> p.CallbackCall:
        """Call the claimed callback: the agent's phone rings, then the customer's, with the customer's pop.
        Its wrap-up settles the callback: done, or with ``no_answer`` tried again later (failed after the
        last attempt)."""
        return await console.service.call_callback(who, callback_id)

    @r.get("/api/customers", response_model=list[p.CustomerCard], tags=["customers"])
    async def search(q: str = Query(..., min_length=1, max_length=100), limit: int = Query(20, ge=1, le=100),
                     who: Principal = Depends(current_principal)) -> list[p.CustomerCard]:
        return [p.CustomerCard.model_validate(c) for c in await console.search.search(q, limit)]

    @r.get("/api/customers/{customer_id}", response_model=CustomerDetail, tags=["customers"])
    async def customer(customer_id: Id, who: Principal = Depends(current_principal)) -> CustomerDetail:
        found = await console.search.customer(customer_id)
        if found is None:
            raise TargetNotFound(f"no customer {customer_id}")
        return CustomerDetail.model_validate({**found, "interactions": policy.redact_history(
            who, found.get("interactions") or [])})

    @r.get("/api/customers/{customer_id}/history", response_model=list[p.InteractionView], tags=["customers"])
    async def history(customer_id: Id, limit: int = Query(20, ge=1, le=200),
                      who: Principal = Depends(current_principal)) -> list[p.InteractionView]:
        """Every contact of the customer; an agent does not see other agents' notes."""
        found = await console.search.history(customer_id, limit)
        return [p.InteractionView.model_validate(r) for r in policy.redact_history(who, found)]

    @r.get("/healthz", response_model=Health, tags=["ops"])
    async def healthz() -> Health:
        return Health(status="ok", connections=len(console.hub.conns))

    return r
