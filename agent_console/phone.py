"""The agent's browser softphone: per-login SIP credentials, handed out to that agent only.

Each agent has one WebRTC PJSIP endpoint (``web<extension>``, written by ``cti pbx up``) whose
auth object Asterisk reads from AstDB (``config/asterisk/sorcery.conf``). ``PhoneService.issue``
makes a random password (``secrets.token_urlsafe``) when the agent first asks for it after
logging in and writes it to AstDB over AMI (``DBPut``); logging out deletes it (``DBDel``), so a
password never outlives the session it was given to. AstDB was chosen over rewriting an included
pjsip file: a ``DBPut`` takes effect on the next REGISTER with no ``pjsip reload`` (which re-reads
every endpoint and needs the CLI or file access, not just AMI), and works the same against a
``system`` Asterisk. The password is never logged and never sent to anyone but its agent.

With several engine nodes (``bus: redis``), a password is revoked on every node: the revoking node
publishes ``PhoneRevoked`` (the holder, never the password) and each node drops the one it issued,
from AstDB and from its own memory (without that, only the node that issued a password could revoke
it: an administrator's deactivation on another node left the softphone registering).

Errors: ``PhoneUnavailable`` (``phone_unavailable``, 503) when there is no endpoint for the agent.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from agent_console import policy
from agent_console.errors import ConsoleError, Forbidden, TargetNotFound
from agent_console.security import Principal, current_principal, principal_of
from crm_core.errors import DatabaseUnavailable
from cti.bus import EventBus
from cti.endpoints import has_endpoint, webrtc_endpoint
from cti.errors import CtiError
from cti.events import Event, event
from cti.settings import PROJECT_ROOT, Settings

log = logging.getLogger(__name__)
SIPJS_DIR = PROJECT_ROOT / "node_modules" / "sip.js" / "lib"


class PhoneUnavailable(ConsoleError):
    code = "phone_unavailable"
    http_status = 503


class PhoneSecrets(Protocol):
    """Where Asterisk learns a softphone's password (the AMI adapter: ``cti.ami.phone_secrets``)."""

    async def put(self, endpoint: str, password: str) -> None: ...

    async def delete(self, endpoint: str) -> None: ...

    async def clear(self) -> None: ...


class MemoryPhoneSecrets:
    """In-memory fake for tests without Asterisk."""

    def __init__(self) -> None:
        self.passwords: dict[str, str] = {}

    async def put(self, endpoint: str, password: str) -> None:
        self.passwords[endpoint] = password

    async def delete(self, endpoint: str) -> None:
        self.passwords.pop(endpoint, None)

    async def clear(self) -> None:
        self.passwords.clear()


class PhoneKinds(Protocol):
    """Each agent's phone kind as an administrator set it (None: the engine's default)."""

    async def get(self, agent_id: str) -> str | None: ...

    async def set(self, agent_id: str, kind: str | None) -> None: ...


class PhoneKindBody(BaseModel):
    kind: Literal["webrtc", "sip", "sim"] | None = None


class PhoneKindView(BaseModel):
    agent_id: str
    kind: Literal["webrtc", "sip", "sim"] | None
    note: str = "takes effect at the agent's next queue login; null: the engine's default"


class PhoneCredentials(BaseModel):
    """What the console's phone.js needs to register (``GET /api/phone/credentials``). ``kind``
    is the phone the ACD rings for this agent: for ``sip`` and ``sim`` the browser does not
    register and gets no password (its fields are empty)."""

    kind: Literal["webrtc", "sip", "sim"] = "webrtc"
    ws_servers: list[str] = []
    uri: str = ""
    username: str = ""
    password: str = ""
    display_name: str = ""
    ice_servers: list[str] = []


@event("phone.revoked")
class PhoneRevoked(Event):
    """The softphone password of ``holder`` (``holder_of``) is revoked: every node drops its own."""

    holder: str
    node: str


@dataclass(frozen=True)
class _Issued:
    endpoint: str
    password: str


# A user who takes no calls (supervisor, manager, administrator): user id -> (extension, phone kind).
StaffPhone = Callable[[int], Awaitable[tuple[str | None, str | None]]]


def holder_of(user_id: int, agent_id: str | None) -> str:
    """Whose softphone: an agent's by agent id, anyone else's by user id."""
    return agent_id or f"user:{user_id}"


def holder(who: Principal) -> str:
    return holder_of(who.user_id, who.agent_id)


class PhoneService:
    """Issues and revokes the softphone credentials of logged-in agents (and, with ``staff_phone``,
    of supervisors with an extension: their listen / whisper / barge rings the browser)."""

    def __init__(self, settings: Settings, secrets_store: PhoneSecrets,
                 extension_of: Callable[[str], Awaitable[str | None]],
                 kind_of: Callable[[str], Awaitable[str]] | None = None,
                 staff_phone: StaffPhone | None = None, bus: EventBus | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        """``bus``: the bus shared by several nodes (Redis), for revocations to reach every node;
        None on a single node."""
        self.settings, self._store, self._extension_of = settings, secrets_store, extension_of
        self._kind_of, self._staff_phone = kind_of, staff_phone
        self._bus, self._clock = bus, clock
        self._issued: dict[str, _Issued] = {}
        if bus is not None:
            bus.subscribe(PhoneRevoked, self._revoked_on_a_node, name="phone.revocations")

    def ws_servers(self) -> list[str]:
        pbx = self.settings.pbx
        urls = [f"ws://{pbx.http_host}:{pbx.http_port}/ws"]
        if pbx.tls:
            urls.insert(0, f"wss://{pbx.http_host}:{pbx.https_port}/ws")
        return urls

    async def has_phone(self, who: Principal) -> bool | None:
        """May ``who`` ask for credentials (``issue`` answers no 403): an agent, or staff with an
        extension in the CRM; None while the database cannot say. ``/api/me`` says it, so a page
        need not ask to find out."""
        if who.agent_id is not None:
            return True
        if self._staff_phone is None:
            return False
        try:
            extension, _ = await self._staff_phone(who.user_id)
        except DatabaseUnavailable:
            return None  # /api/me still answers during an outage
        return bool(extension)

    async def issue(self, who: Principal) -> PhoneCredentials:
        key, extension = holder(who), None
        if who.agent_id is not None:
            kind = await self._kind_of(who.agent_id) if self._kind_of is not None else "webrtc"
        elif self._staff_phone is not None:
            extension, staff_kind = await self._staff_phone(who.user_id)
            if not extension:
                raise Forbidden("you have no phone extension in the CRM, hence no softphone")
            kind = staff_kind or "webrtc"
        else:
            raise Forbidden("only agents have a softphone")
        if kind in ("sip", "sim"):
            await self.revoke(key)  # switched away from the browser: its password goes
            return PhoneCredentials(kind=kind, display_name=who.display_name or who.username)
        issued = self._issued.get(key)
        if issued is None:
            extension = extension or (await self._extension_of(who.agent_id) if who.agent_id else None) \
                or who.agent_id or ""
            if not has_endpoint(extension, self.settings.pbx.agent_endpoints):
                raise PhoneUnavailable(f"no softphone endpoint for extension {extension!r} "
                                       f"(pbx.agent_endpoints is {self.settings.pbx.agent_endpoints})")
            issued = _Issued(webrtc_endpoint(extension), secrets.token_urlsafe(24))
            await self._store.put(issued.endpoint, issued.password)
            self._issued[key] = issued
            log.info("phone: credentials issued for %s (%s)", key, issued.endpoint)
        return PhoneCredentials(ws_servers=self.ws_servers(),
                                uri=f"sip:{issued.endpoint}@{self.settings.pbx.http_host}",
                                username=issued.endpoint, password=issued.password,
                                display_name=who.display_name or who.username)

    async def revoke(self, key: str) -> None:
        """``key``: an agent id, or ``holder()`` of a staff user; on every node when there are several."""
        await self._revoke_here(key)
        if self._bus is None:
            return
        try:
            await self._bus.publish(PhoneRevoked(ts=self._clock(), holder=key, node=self.settings.node_id))
        except CtiError as err:  # Redis away: the issuing node's password stays until its next logout
            log.error("phone: the revocation for %s did not reach the other nodes: %s", key, err)

    async def _revoke_here(self, key: str) -> None:
        issued = self._issued.pop(key, None)
        if issued is not None:
            await self._store.delete(issued.endpoint)
            log.info("phone: credentials revoked for %s (%s)", key, issued.endpoint)

    async def _revoked_on_a_node(self, ev: PhoneRevoked) -> None:
        await self._revoke_here(ev.holder)  # this node's own revocation comes back too: nothing left

    async def revoke_all(self) -> None:
        """At start-up and shut-down: no password outlives the engine that issued it (AstDB
        persists across Asterisk restarts)."""
        self._issued.clear()
        await self._store.clear()


def phone_router(service: PhoneService) -> APIRouter:
    r = APIRouter(dependencies=[Depends(policy.enforce)])

    @r.get("/api/phone/credentials", response_model=PhoneCredentials, tags=["phone"])
    async def credentials(response: Response, who: Principal = Depends(current_principal)) -> PhoneCredentials:
        """The logged-in agent's own softphone credentials (there is no way to name another agent)."""
        response.headers["Cache-Control"] = "no-store"
        return await service.issue(who)

    return r


def phone_admin_router(kinds: PhoneKinds) -> APIRouter:
    r = APIRouter(dependencies=[Depends(policy.enforce)])
    admin = current_principal  # administrators only: agent_console.policy ("agents.phone")

    @r.get("/api/admin/agents/{agent_id}/phone", response_model=PhoneKindView, tags=["admin"])
    async def get_kind(agent_id: str, who: Principal = Depends(admin)) -> PhoneKindView:
        return PhoneKindView(agent_id=agent_id, kind=await kinds.get(agent_id))

    @r.put("/api/admin/agents/{agent_id}/phone", response_model=PhoneKindView, tags=["admin"])
    async def set_kind(agent_id: str, body: PhoneKindBody, who: Principal = Depends(admin)) -> PhoneKindView:
        """How the ACD rings this agent: ``webrtc`` (the console), ``sip`` (a registered desk phone
        on PJSIP endpoint <extension>), ``sim`` (simulated) or null (the engine's default)."""
        await kinds.set(agent_id, body.kind)
        log.info("phone: %s set agent %s's phone to %s", who.username, agent_id, body.kind or "the default")
        return PhoneKindView(agent_id=agent_id, kind=body.kind)

    return r


def install_phone(app: FastAPI, service: PhoneService, *, kinds: PhoneKinds | None = None,
                  sipjs_dir: Path = SIPJS_DIR) -> None:
    """The credentials route, SIP.js from node_modules at /vendor/sip.js, the Asterisk WebSocket
    in the page's connect-src, and the revocation of an agent's password at logout (and, through
    ``app.state.phone``, when an administrator ends the user's sessions: agent_console.users_http)."""
    app.state.phone = service
    app.include_router(phone_router(service))
    if kinds is not None:
        app.include_router(phone_admin_router(kinds))
    if sipjs_dir.is_dir():
        app.mount("/vendor/sip.js", StaticFiles(directory=sipjs_dir), name="sipjs")
    else:
        log.warning("phone: %s is missing (run `make install`, which runs npm ci): the console has no softphone",
                    sipjs_dir)
    extra = " ".join(service.ws_servers())

    @app.middleware("http")
    async def _phone_hooks(request: Request, call_next: Any) -> Response:
        key = None
        if request.method == "POST" and request.url.path == "/api/auth/logout":
            try:
                key = holder(principal_of(request))
            except CtiError:
                key = None
        response: Response = await call_next(request)
        if key is not None and response.status_code < 400:
            await service.revoke(key)
        csp = response.headers.get("Content-Security-Policy")
        if csp and "connect-src 'self'" in csp and extra not in csp:
            response.headers["Content-Security-Policy"] = csp.replace("connect-src 'self'",
                                                                      f"connect-src 'self' {extra}")
        return response


def crm_extension_of(db: Any) -> Callable[[str], Awaitable[str | None]]:
    """An agent's extension from the CRM users table (``crm_core.db.Database``)."""
    from crm_core import users

    async def extension_of(agent_id: str) -> str | None:
        async with db.session() as session:
            user = await users.user_by_agent_id(session=session, agent_id=agent_id)
        return user.extension if user is not None else None

    return extension_of


class CrmPhoneKinds:
    """``users.phone_kind`` in the CRM (``crm_core.db.Database``)."""

    def __init__(self, db: Any) -> None:
        self.db = db

    async def get(self, agent_id: str) -> str | None:
        from crm_core import users

        async with self.db.session() as session:
            user = await users.user_by_agent_id(session=session, agent_id=agent_id)
        if user is None:
            raise TargetNotFound(f"no agent {agent_id!r}")
        return user.phone_kind

    async def set(self, agent_id: str, kind: str | None) -> None:
        from crm_core import users

        async with self.db.session() as session:
            user = await users.user_by_agent_id(session=session, agent_id=agent_id)
            if user is None:
                raise TargetNotFound(f"no agent {agent_id!r}")
            user.phone_kind = kind  # Database.session() is the unit of work: it commits


def crm_staff_phone(db: Any) -> StaffPhone:
    """A staff user's extension and phone kind from the CRM users table."""
    from sqlalchemy import select

    from crm_core.models import User

    async def staff_phone(user_id: int) -> tuple[str | None, str | None]:
        async with db.session() as session:
            row = (await session.execute(select(User.extension, User.phone_kind).where(User.id == user_id))).first()
        return (row[0], row[1]) if row is not None else (None, None)

    return staff_phone


def crm_kind_of(db: Any, desk: Any) -> Callable[[str], Awaitable[str]]:
    """The phone the ACD rings for an agent, resolved as ``EngineDesk.login_queues`` does."""
    kinds = CrmPhoneKinds(db)

    async def kind_of(agent_id: str) -> str:
        try:
            crm = await kinds.get(agent_id)
        except TargetNotFound:
            crm = None
        return str(desk.phone_overrides.get(agent_id) or crm or desk.phone_kind)

    return kind_of
