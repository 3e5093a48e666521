"""User administration for administrators: list, create, change, deactivate, reset a password.

Every change is audited (``crm_core.audit``, shown in the supervisor's audit log) with the fields
that changed, never a password. Deactivating a user, changing their role or resetting their
password ends their sessions on every node (``crm_core.users.end_sessions``) and closes their
websockets here; it also drops the login this node remembers for database outages
(``SqlUserStore.forget``), so a disabled account cannot log in while the database is away. Other
nodes drop theirs at that user's next session check (``SqlSessionStore``) and, at the latest, when
the remembered login expires (docs/security.md). The user's softphone password (AstDB) is revoked
too: it would otherwise register their browser endpoint, and dial out, until the engine stops. A
deactivated or demoted agent also leaves the ACD (logged out, or not ready until their call ends).
A deactivated user's SIP desk phone is locked at once (``agent_console.desk_phones``): its password
is the device's, not the session's. The reactivation leaves it locked, since the person deactivated
knows that password: ``POST /{id}/desk-password`` gives the phone a new one, shown once.

A supervisor's ``queues`` are the queues they oversee (``agent_console.queue_scope.QueueScope``; none
assigned: every queue). Each must be a queue of config/queues.yaml (422 naming the unknown ones);
only supervisors have them. The change is audited with the queues before and after, and applies to
the supervisor's next request at once and to their open wallboard within a few seconds.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from acd.model import MAX_LEVEL, MIN_LEVEL
from agent_console import policy
from agent_console.desk_phones import DeskPhoneLocks
from agent_console.errors import DeskUnavailable
from agent_console.phone import holder_of
from agent_console.queue_filter import configured_queues
from agent_console.security import ConsoleAuth, Principal, current_principal
from crm_core import audit, users
from crm_core.db import Database
from crm_core.errors import Conflict, InvalidField
from crm_core.schemas import MAX_ID

log = logging.getLogger(__name__)

Role = Literal["agent", "supervisor", "manager", "admin"]
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
AGENT_ID = r"^[A-Za-z0-9_-]{1,64}$"
EXTENSION = r"^[0-9]{2,32}$"
Level = Annotated[int, Field(ge=MIN_LEVEL, le=MAX_LEVEL)]  # a skill's proficiency: the ACD's scale (crm_core.users)
QueueName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]  # acd.config._QUEUE_NAME
MIN_PASSWORD = users.MIN_SET_PASSWORD  # what an administrator sets; `cti users create-admin` / `reset-password` too


class UserOut(BaseModel):
    id: int
    username: str
    display_name: str
    role: str
    agent_id: str | None
    extension: str | None
    language: str
    skills: dict[str, int]
    active: bool
    queues: list[str] = Field(default_factory=list, description=(
        "A supervisor's assigned queues; empty: none assigned, they oversee every queue"))
    desk_phone: str | None = Field(None, description=(
        "The SIP desk phone (endpoint) of this PBX that is the user's phone (their extension, else agent id)"))
    desk_locked: bool = Field(False, description=(
        "The desk phone is locked: its user was deactivated, and it waits for a new password (POST .../desk-password)"))


class DeskPasswordOut(BaseModel):
    endpoint: str
    username: str = Field(description="The SIP username the phone registers with (its endpoint)")
    password: str = Field(description="Shown once: it is not stored where anyone can read it back")


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(pattern=users.USERNAME)
    password: str = Field(min_length=MIN_PASSWORD, max_length=users.MAX_PASSWORD)
    role: Role = "agent"
    display_name: str = Field("", max_length=128)
    agent_id: str | None = Field(None, pattern=AGENT_ID)
    extension: str | None = Field(None, pattern=EXTENSION)
    language: str = Field("zh-CN", pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
    skills: dict[str, Level] = Field(default_factory=dict, max_length=100)
    queues: list[QueueName] = Field(default_factory=list, max_length=100, description=(
        "A supervisor's queues (of config/queues.yaml); empty: every queue"))


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role | None = None
    display_name: str | None = Field(None, max_length=128)
    agent_id: str | None = Field(None, pattern=AGENT_ID)
    extension: str | None = Field(None, pattern=EXTENSION)
    language: str | None = Field(None, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
    active: bool | None = None
    skills: dict[str, Level] | None = Field(None, max_length=100)
    queues: list[QueueName] | None = Field(None, max_length=100, description=(
        "A supervisor's queues (of config/queues.yaml), replacing theirs; empty: every queue"))


class PasswordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: str = Field(min_length=MIN_PASSWORD, max_length=users.MAX_PASSWORD)


def _needs_agent_id(role: str, agent_id: str | None) -> None:
    """An agent takes calls, and calls reach an agent id: without one the user could log in to a
    console no call ever reaches (supervisors and the others may have one, to take calls too)."""
    if role == "agent" and not agent_id:
        raise InvalidField("agent_id", "an agent needs an agent id (the ACD routes calls to it)")


def _check_extension(extension: str | None, desk: DeskPhoneLocks | None) -> None:
    """An extension given is one of the PBX's phones (``pbx.agent_endpoints`` of them, 1001...): on
    any other, the agent would be offered calls their phone can never take and their console would
    get no softphone. No PBX managed here (``desk`` None): not checked. None (no extension) passes:
    the user's phone is then their agent id (``callcenter.run`` names those who have none)."""
    if extension is None or desk is None or extension in desk.endpoints:
        return
    count = len(desk.endpoints)
    span = f"1001..{1000 + count}" if count else "none"
    raise InvalidField("extension", f"{extension!r} is not a phone of this PBX: its agent phones are {span} "
                                    f"(pbx.agent_endpoints is {count})")


def _agent_id_is_a_phone(agent_id: str | None, extension: str | None, desk: DeskPhoneLocks | None) -> None:
    """A user who takes calls (an agent id) without an extension has their agent id as their phone:
    it must be one of the PBX's phones, as an extension given must (``_check_extension``). Every phone
    kind dials digits that exist (the browser's web<ext> and the desk's <ext> endpoints, 1001...; the
    simulated phone's dialplan matches digits only): on another one no call could ever reach them."""
    if agent_id is None or extension is not None or desk is None or agent_id in desk.endpoints:
        return
    count = len(desk.endpoints)
    span = f"1001..{1000 + count}" if count else "none"
    raise InvalidField("extension", f"agent id {agent_id!r} is no phone of this PBX (its agent phones are {span}, "
                                    f"pbx.agent_endpoints is {count}), and without an extension it would be "
                                    "their phone: give them an extension of the PBX, or such an agent id")


def _out(u: Any, queues: list[str] | None = None, desk: DeskPhoneLocks | None = None) -> UserOut:
    phone = u.extension or u.agent_id
    on_desk = desk is not None and phone in desk.endpoints
    return UserOut(id=u.id, username=u.username, display_name=u.display_name, role=u.role, agent_id=u.agent_id,
                   extension=u.extension, language=u.language, skills=dict(u.skills or {}), active=u.active,
                   queues=queues or [], desk_phone=phone if on_desk else None,
                   desk_locked=bool(on_desk and desk is not None and phone in desk.locked))


def _known(request: Request) -> list[str] | None:
    names = configured_queues(request)
    return sorted(names()) if names is not None else None


def users_router(db: Database, *, forget: Callable[[str], None] | None = None,
                 skills: Callable[[], set[str]] | None = None,
                 offboard: Callable[[str], Awaitable[None]] | None = None,
                 desk_phones: DeskPhoneLocks | None = None) -> APIRouter:
    """``forget(username)`` drops a remembered login; ``skills()`` the skills of config/queues.yaml: an
    agent's skills must be among them (the ACD reads them at the agent's next login);
    ``offboard(agent_id)`` takes a deactivated or demoted user's agent out of the ACD;
    ``desk_phones`` locks a deactivated user's desk phone and unlocks it again."""
    r = APIRouter(prefix="/api/admin/users", tags=["admin"], dependencies=[Depends(policy.enforce)])
    admin = current_principal  # administrators only: agent_console.policy ("users.manage")

    def check_skills(given: dict[str, int] | None) -> None:
        unknown = sorted(set(given or ()) - skills()) if skills is not None else []
        if unknown:
            raise InvalidField("skills", f"{unknown[0]!r} is not a skill of config/queues.yaml")

    async def ended(request: Request, user: Any, reason: str) -> None:
        if forget is not None:
            forget(user.username)
        auth: ConsoleAuth | None = getattr(request.app.state, "console_auth", None)
        if auth is not None:
            auth.close_sockets(user.id, reason)
        phone = getattr(request.app.state, "phone", None)  # agent_console.phone.install_phone
        if phone is not None:
            await phone.revoke(holder_of(user.id, user.agent_id))

    @r.get("", response_model=list[UserOut])
    async def list_users(role: Role | None = None, who: Principal = Depends(admin)) -> list[UserOut]:
        async with db.session() as s:
            assigned = await users.all_supervised_queues(session=s)
            return [_out(u, assigned.get(u.id), desk_phones) for u in await users.list_users(session=s, role=role)]

    @r.post("", response_model=UserOut, status_code=201)
    async def create(body: UserIn, request: Request, who: Principal = Depends(admin)) -> UserOut:
        """A new user; one who takes calls has an ``agent_id`` (one user per agent) and skills, and a
        phone of the PBX (their ``extension``, else their agent id). No two active users share a phone
        extension. A supervisor may be given ``queues`` (unknown ones: 422 naming them)."""
        check_skills(body.skills)
        users.check_password(body.password, body.username)
        _needs_agent_id(body.role, body.agent_id)
        _check_extension(body.extension, desk_phones)
        _agent_id_is_a_phone(body.agent_id, body.extension, desk_phones)
        known = _known(request)
        wanted = users.check_queues(body.queues, known)  # before anything is written
        async with db.session() as s:  # a taken username, agent id or extension: 409 (crm_core.users)
            u = await users.create_user(session=s, username=body.username, password=body.password, role=body.role,
                                        display_name=body.display_name, agent_id=body.agent_id,
                                        extension=body.extension, language=body.language, skills=body.skills)
            _, queues = await users.set_supervised_queues(session=s, user=u, queues=wanted, known=known)
            audit.record(s, actor=who.username, actor_role=who.role, action="user.created",
                         target=f"user:{u.username}",
                         detail={"role": u.role, "agent_id": u.agent_id, **({"queues": queues} if queues else {})})
            out = _out(u, queues)
        if desk_phones is not None:  # a deactivated user's extension stays locked for its new user too
            await desk_phones.refresh([out.extension or out.agent_id])
            out = _out(u, queues, desk_phones)
        log.info("users: %s created %s (%s)", who.username, out.username, out.role)
        return out

    @r.patch("/{user_id}", response_model=UserOut)
    async def change(user_id: Id, body: UserPatch, request: Request, who: Principal = Depends(admin)) -> UserOut:
        """Role, name, agent link, extension, language, active. Deactivation and a role change end the
        user's sessions everywhere; nobody deactivates or demotes the last active administrator."""
        changes = body.model_dump(exclude_unset=True)
        for name in ("role", "active", "display_name", "language", "skills", "queues"):
            if name in changes and changes[name] is None:
                raise InvalidField(name, "cannot be null")
        check_skills(changes.get("skills"))
        if "extension" in changes:
            _check_extension(changes["extension"], desk_phones)
        known = _known(request)
        wanted = changes.pop("queues", None)
        if wanted is not None:
            wanted = users.check_queues(wanted, known)  # 422 naming the unknown ones, before anything is written
        async with db.session() as s:
            before = await users.get_user(session=s, user_id=user_id)
            _needs_agent_id(changes.get("role", before.role), changes.get("agent_id", before.agent_id))
            if changes.get("agent_id") not in (None, before.agent_id):  # a phone given is checked, not one taken away
                _agent_id_is_a_phone(changes["agent_id"], changes.get("extension", before.extension), desk_phones)
            phone_before = before.extension or before.agent_id
            queues_before = await users.supervised_queues(session=s, user_id=user_id)
            u, end = await users.update_user(session=s, user_id=user_id, changes=changes)
            queues = await users.supervised_queues(session=s, user_id=user_id)
            if wanted is not None:
                _, queues = await users.set_supervised_queues(session=s, user=u, queues=wanted, known=known)
            detail: dict[str, Any] = {"changes": changes, "sessions_ended": end}
            if queues != queues_before:  # assigned, or dropped with the supervisor role: before and after
                detail["queues"] = {"before": queues_before, "after": queues}
            audit.record(s, actor=who.username, actor_role=who.role, action="user.changed",
                         target=f"user:{u.username}", detail=detail)
            out = _out(u, queues)
        if desk_phones is not None and {"active", "extension", "agent_id"} & set(changes):
            # After the commit: the locks follow what the CRM now says (the old phone and the new one).
            await desk_phones.refresh([phone_before, out.extension or out.agent_id])
        out = _out(u, queues, desk_phones)
        if end:
            await ended(request, u, "user deactivated" if not out.active else "role changed")
            # No longer an agent who may take calls: out of the ACD too (a desk phone's SIP password
            # is not the session's, so it would go on being offered calls).
            if offboard is not None and u.agent_id and (not out.active or "role" in changes):
                await offboard(u.agent_id)
        log.info("users: %s changed %s: %s", who.username, out.username,
                 ", ".join(sorted([*changes, *(["queues"] if wanted is not None else [])])))
        return out

    @r.post("/{user_id}/password", status_code=204)
    async def reset_password(user_id: Id, body: PasswordIn, request: Request,
                             who: Principal = Depends(admin)) -> None:
        """A new password; the user's sessions end everywhere."""
        async with db.session() as s:
            u = await users.get_user(session=s, user_id=user_id)
            users.check_password(body.password, u.username)
            await users.set_password(session=s, user_id=user_id, password=body.password)
            audit.record(s, actor=who.username, actor_role=who.role, action="user.password_reset",
                         target=f"user:{u.username}")
        await ended(request, u, "password changed")
        log.info("users: %s reset the password of %s", who.username, u.username)

    @r.post("/{user_id}/desk-password", response_model=DeskPasswordOut, status_code=201)
    async def desk_password(user_id: Id, who: Principal = Depends(admin)) -> DeskPasswordOut:
        """A new random password for the user's SIP desk phone, in force at once (a locked phone works
        again; its registrations end), shown once in this answer. The user must be active (409), and
        their phone (extension, else agent id) a desk phone of this PBX (422 naming ``extension``);
        Asterisk away: 503, and the phone stays as it was."""
        if desk_phones is None:
            raise DeskUnavailable("desk phones are not managed by this engine (no PBX)")
        async with db.session() as s:
            u = await users.get_user(session=s, user_id=user_id)
        phone = u.extension or u.agent_id
        if not u.active:
            raise Conflict("active", f"user {u.username!r} is deactivated: reactivate them first")
        if phone is None or phone not in desk_phones.endpoints:
            raise InvalidField("extension", f"user {u.username!r} has no desk phone of this PBX "
                                            f"({phone or 'no extension or agent id'})")
        password = await desk_phones.new_password(phone)
        async with db.session() as s:
            audit.record(s, actor=who.username, actor_role=who.role, action="user.desk_password",
                         target=f"user:{u.username}", detail={"endpoint": phone})
        log.info("users: %s issued a new desk phone password for %s (%s)", who.username, u.username, phone)
        return DeskPasswordOut(endpoint=phone, username=phone, password=password)

    return r
