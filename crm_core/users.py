"""Users (agents, supervisors, managers, administrators), the argon2 hashing of passwords and PINs,
and when a user's sessions were last ended (logout, deactivation: shared by every node).

The one argon2 set-up of the engine: the database's users, the console's in-memory users (fakes,
demo) and the IVR's PINs all hash here. argon2 costs ~20 ms of CPU, so the async functions here
hash and verify in a worker thread: on the event loop 48 logins at once held every other request
(``/healthz``) for ~80 ms.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Float, ForeignKey, String, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from acd.model import MAX_LEVEL, MIN_LEVEL
from crm_core.errors import Conflict, InvalidField, NotFound
from crm_core.models import ROLES, Base, User


class SessionCutoff(Base):
    """Sessions of ``user_id`` issued at or before ``valid_after`` (epoch seconds) are over (migration 0008)."""

    __tablename__ = "session_cutoffs"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    valid_after: Mapped[float] = mapped_column(Float)


class SupervisorQueue(Base):
    """``user_id`` (a supervisor) oversees ``queue`` (migration 0019). A supervisor without rows
    oversees every queue (docs/security.md, "Supervisors' queues")."""

    __tablename__ = "supervisor_queues"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    queue: Mapped[str] = mapped_column(String(64), primary_key=True)


# OWASP's minimum argon2id profile (19 MiB, 2 passes): ~20 ms a hash, so logins stay cheap and a
# stolen table stays expensive to crack. PINs get the same hash; their space is small, which is
# why the IVR must also limit attempts.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)
_DUMMY = _HASHER.hash("not-a-real-password")


def hash_secret(secret: str) -> str:
    return _HASHER.hash(secret)


async def hash_secret_async(secret: str) -> str:
    return await asyncio.to_thread(hash_secret, secret)


async def verify_secret_async(stored: str | None, secret: str) -> bool:
    return await asyncio.to_thread(verify_secret, stored, secret)


def needs_rehash(stored: str) -> bool:
    """The hash was made with other costs than today's: hash the secret again once it is known."""
    return _HASHER.check_needs_rehash(stored)


def verify_secret(stored: str | None, secret: str) -> bool:
    """Constant work whether or not there is a stored hash (no user-enumeration by timing)."""
    try:
        return _HASHER.verify(stored or _DUMMY, secret) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


async def _check_agent_id(session: AsyncSession, agent_id: str | None, user_id: int | None = None) -> None:
    """One user per agent id (the column is unique too: this names who has it)."""
    if agent_id is None:
        return
    other = await session.scalar(select(User).where(User.agent_id == agent_id, User.id != (user_id or 0)))
    if other is not None:
        raise Conflict("agent_id", f"agent {agent_id!r} already has a user ({other.username!r})")


async def _check_extension(session: AsyncSession, extension: str | None, agent_id: str | None,
                           user_id: int | None = None) -> None:
    """The phone an active user takes is no other active user's. A user's phone extension is their
    ``extension``, or else their agent id (what the ACD rings and the browser endpoint web<extension>
    the softphone registers: agent_console.desk, agent_console.phone): two users on one extension
    share one endpoint, and the second one's softphone password locks the first one out."""
    phone = extension or agent_id
    if not phone:
        return
    other = await session.scalar(select(User).where(
        func.coalesce(User.extension, User.agent_id) == phone, User.active.is_(True), User.id != (user_id or 0))
        .order_by(User.id).limit(1))
    if other is None:
        return
    whose = f"{other.username!r}" + ("" if other.extension else " (their agent id)")
    mine = "" if extension else " (this user's agent id: they have no extension of their own)"
    raise Conflict("extension", f"{phone}{mine} is the phone of {whose}; give this user another extension")


def check_skills(skills: Any) -> dict[str, int]:
    """Skill -> proficiency on the ACD's one scale, ``acd.model.MIN_LEVEL``..``MAX_LEVEL`` (what the
    router ranks and config/queues.yaml and the supervisor's Skills dialog use), whatever the way in."""
    if not isinstance(skills, dict):
        raise InvalidField("skills", "must be a mapping of skill to proficiency")
    for name, level in skills.items():
        if isinstance(level, bool) or not isinstance(level, int) or not MIN_LEVEL <= level <= MAX_LEVEL:
            raise InvalidField("skills", f"{name}: proficiency is a whole number {MIN_LEVEL}..{MAX_LEVEL}")
    return dict(skills)


# What a login name may be (the login form takes 1-64 characters; /api/admin/users this pattern).
USERNAME = r"^[A-Za-z0-9][A-Za-z0-9._@-]{1,63}$"


def check_username(username: str) -> None:
    if not re.fullmatch(USERNAME, username):
        raise InvalidField("username", "2-64 characters: letters, digits and . _ @ -, starting with a letter "
                                       f"or a digit (got {username!r})")


# Every password set for a user (/api/admin/users, `cti users create-admin` and `reset-password`,
# create_user whoever calls it) but the demo's published ones (create_user's ``published``).
MIN_SET_PASSWORD = 12
MAX_PASSWORD = 256


def check_new_password(password: str, username: str) -> None:
    """The whole rule for a password set for ``username``: its length, then ``check_password``."""
    if len(password) < MIN_SET_PASSWORD:
        raise InvalidField("password", f"must be at least {MIN_SET_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise InvalidField("password", f"must be at most {MAX_PASSWORD} characters")
    check_password(password, username)


def check_password(password: str, username: str) -> None:
    """What an administrator sets (the length is the caller's rule): not the login name inside it, not
    one character or a short pattern repeated, not a plain run such as 123456789012 or abcdefghijkl
    (NIST SP 800-63B: no composition rules, but no repetitive, sequential or context-specific ones)."""
    low = password.lower()
    if len(username) >= 3 and username.lower() in low:
        raise InvalidField("password", "must not contain the login name")
    if len(set(low)) < 4:
        raise InvalidField("password", "too easy to guess: one character or a short pattern repeated")
    steps = {(ord(b) - ord(a)) % 10 if a.isdigit() and b.isdigit() else ord(b) - ord(a)
             for a, b in itertools.pairwise(low)}
    if steps in ({1}, {-1}, {9}):
        raise InvalidField("password", "too easy to guess: a run of consecutive characters")


async def create_user(*, session: AsyncSession, username: str, password: str, role: str = "agent",
                      display_name: str = "", agent_id: str | None = None, extension: str | None = None,
                      skills: dict[str, Any] | None = None, language: str = "zh-CN",
                      published: bool = False) -> User:
    """``password`` is held to the rule of every password set (``check_new_password``), but for a
    ``published`` one: the demo's logins (``crm_core.seed``), whose passwords the README prints and
    which `cti run` refuses outside the demo (``seed.published_logins``)."""
    if role not in ROLES:
        raise InvalidField("role", f"must be one of {', '.join(ROLES)}")
    if not published:
        check_new_password(password, username)
    check_username(username)
    # One login name whatever its case: "Agent9" beside "agent9" lets one pass for the other.
    taken = await session.scalar(select(User.username).where(func.lower(User.username) == username.lower()).limit(1))
    if taken is not None:
        raise Conflict("username", f"{username!r} is taken" + ("" if taken == username else f" (as {taken!r})"))
    skills = check_skills(skills or {})
    await _check_agent_id(session, agent_id)
    await _check_extension(session, extension, agent_id)
    user = User(username=username, password_hash=await hash_secret_async(password), role=role,
                display_name=display_name or username, agent_id=agent_id, extension=extension,
                skills=skills, language=language)
    session.add(user)
    await session.flush()
    return user


async def authenticate(*, session: AsyncSession, username: str, password: str) -> User | None:
    user = await session.scalar(select(User).where(User.username == username, User.active.is_(True)))
    if not await verify_secret_async(user.password_hash if user else None, password):
        return None
    if user is not None and needs_rehash(user.password_hash):
        user.password_hash = await hash_secret_async(password)
    return user


async def get_user(*, session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("user", user_id)
    return user


async def user_by_username(*, session: AsyncSession, username: str) -> User | None:
    return await session.scalar(select(User).where(User.username == username))


async def users_named(*, session: AsyncSession, username: str) -> list[str]:
    """The login names that are ``username`` whatever its case (a typo's likely meaning)."""
    rows = await session.scalars(select(User.username).where(func.lower(User.username) == username.lower())
                                 .order_by(User.username).limit(3))
    return list(rows.all())


async def user_by_agent_id(*, session: AsyncSession, agent_id: str) -> User | None:
    return await session.scalar(select(User).where(User.agent_id == agent_id))


async def list_users(*, session: AsyncSession, role: str | None = None) -> list[User]:
    stmt = select(User).order_by(User.id)
    if role:
        stmt = stmt.where(User.role == role)
    return list((await session.scalars(stmt)).all())


async def phones(*, session: AsyncSession) -> list[tuple[str, bool]]:
    """Every user's phone extension (``extension``, else agent id) and whether the user is active:
    what decides which desk phones are locked (agent_console.desk_phones)."""
    phone = func.coalesce(User.extension, User.agent_id)
    rows = await session.execute(select(phone, User.active).where(phone.is_not(None)))
    return [(str(row[0]), bool(row[1])) for row in rows]


async def set_password(*, session: AsyncSession, user_id: int, password: str) -> None:
    if len(password) < 8:
        raise InvalidField("password", "must be at least 8 characters")
    (await get_user(session=session, user_id=user_id)).password_hash = await hash_secret_async(password)
    await end_sessions(session=session, user_id=user_id)


async def end_sessions(*, session: AsyncSession, user_id: int, at: float | None = None) -> None:
    """Every session of the user issued up to ``at`` (default now) is over, on every node."""
    at = datetime.now(UTC).timestamp() if at is None else at
    cutoff = await session.get(SessionCutoff, user_id)
    if cutoff is None:
        session.add(SessionCutoff(user_id=user_id, valid_after=at))
    else:
        cutoff.valid_after = max(cutoff.valid_after, at)
    await session.flush()


async def set_active(*, session: AsyncSession, user_id: int, active: bool) -> User:
    """(De)activate a user; deactivation ends the user's sessions."""
    user = await get_user(session=session, user_id=user_id)
    user.active = active
    if not active:
        await end_sessions(session=session, user_id=user_id)
    await session.flush()
    return user


async def session_problems(*, session: AsyncSession, checks: Sequence[tuple[int, float]]) -> list[str | None]:
    """For each ``(user_id, issued_at)``: None while that session may go on, else why it may not.
    One query for all of them (a node re-checks every open websocket at once)."""
    return (await session_checks(session=session, checks=checks))[0]


async def session_checks(*, session: AsyncSession, checks: Sequence[tuple[int, float]],
                         ) -> tuple[list[str | None], dict[int, tuple[str, str]]]:
    """``session_problems``, and each user's ``(password hash, role)`` as stored now, from the same
    query: a node's logins remembered for outages are dropped when either changed on another node."""
    states: dict[int, tuple[bool, float | None]] = {}
    credentials: dict[int, tuple[str, str]] = {}
    ids = sorted({user_id for user_id, _ in checks})
    for start in range(0, len(ids), 500):  # well under every database's bound on parameters
        rows = await session.execute(
            select(User.id, User.active, User.password_hash, User.role, SessionCutoff.valid_after)
            .outerjoin(SessionCutoff, SessionCutoff.user_id == User.id)
            .where(User.id.in_(ids[start:start + 500])))
        for row in rows:
            states[row.id] = (bool(row.active), row.valid_after)
            credentials[row.id] = (row.password_hash, row.role)
    return [_problem(states.get(user_id), issued_at) for user_id, issued_at in checks], credentials


def _problem(state: tuple[bool, float | None] | None, issued_at: float) -> str | None:
    if state is None or not state[0]:
        return "user deactivated"
    valid_after = state[1]
    if valid_after is not None and issued_at <= valid_after:
        return "session ended"
    return None


EDITABLE = ("role", "display_name", "agent_id", "extension", "language", "active", "skills")


async def _active_admins(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(User)
                                    .where(User.role == "admin", User.active.is_(True))) or 0)


async def update_user(*, session: AsyncSession, user_id: int, changes: dict[str, Any]) -> tuple[User, bool]:
    """Apply an administrator's ``changes`` (a subset of ``EDITABLE``); returns the user and whether
    its sessions were ended (deactivated, or its role changed: a session carries the role it was
    issued with). The last active administrator can be neither deactivated nor demoted."""
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise InvalidField(unknown[0], "cannot be changed here")
    if "skills" in changes:
        changes = {**changes, "skills": check_skills(changes["skills"])}
    user = await get_user(session=session, user_id=user_id)
    role = changes.get("role", user.role)
    if role not in ROLES:
        raise InvalidField("role", f"must be one of {', '.join(ROLES)}")
    active = bool(changes.get("active", user.active))
    if user.role == "admin" and user.active and (role != "admin" or not active) and await _active_admins(session) <= 1:
        raise Conflict("role" if role != "admin" else "active", "the last active administrator must stay one")
    agent_id = changes.get("agent_id", user.agent_id)
    if agent_id != user.agent_id:
        await _check_agent_id(session, agent_id, user_id)
    extension = changes.get("extension", user.extension)
    # Only a change that takes a phone is checked: a database may hold duplicates from before this check.
    if active and (not user.active or extension != user.extension or agent_id != user.agent_id):
        await _check_extension(session, extension, agent_id, user_id)
    end = (not active and user.active) or role != user.role
    if user.role == "supervisor" and role != "supervisor":  # only supervisors have queues (they oversee all)
        await session.execute(delete(SupervisorQueue).where(SupervisorQueue.user_id == user_id))
    for name, value in changes.items():
        setattr(user, name, value)
    if end:
        await end_sessions(session=session, user_id=user_id)
    await session.flush()
    return user, end


# -- supervisors' queues ---------------------------------------------------------------------------

async def supervised_queues(*, session: AsyncSession, user_id: int) -> list[str]:
    """The queues assigned to the user, sorted; empty when none are (a supervisor then oversees all)."""
    rows = await session.scalars(select(SupervisorQueue.queue).where(SupervisorQueue.user_id == user_id)
                                 .order_by(SupervisorQueue.queue))
    return list(rows.all())


async def all_supervised_queues(*, session: AsyncSession) -> dict[int, list[str]]:
    """Every assignment: user id -> its queues (users without one are absent)."""
    out: dict[int, list[str]] = {}
    for user_id, queue in await session.execute(select(SupervisorQueue.user_id, SupervisorQueue.queue)
                                                .order_by(SupervisorQueue.user_id, SupervisorQueue.queue)):
        out.setdefault(user_id, []).append(queue)
    return out


def check_queues(queues: Sequence[str], known: Sequence[str] | None) -> list[str]:
    """``queues`` sorted without duplicates; InvalidField naming the unknown ones (``known``: the
    queues of config/queues.yaml; None: not checked)."""
    wanted = sorted(set(queues))
    unknown = [q for q in wanted if known is not None and q not in set(known)]
    if unknown:
        raise InvalidField("queues", f"not a queue of config/queues.yaml: {', '.join(unknown)} "
                                     f"(the queues are {', '.join(sorted(known or ())) or 'none'})")
    return wanted


async def set_supervised_queues(*, session: AsyncSession, user: User, queues: Sequence[str],
                                known: Sequence[str] | None = None) -> tuple[list[str], list[str]]:
    """Assign ``queues`` to a supervisor (empty: none assigned, every queue); returns the queues before
    and after. Only supervisors have queues: managers and administrators oversee every queue."""
    wanted = check_queues(queues, known)
    if wanted and user.role != "supervisor":
        raise InvalidField("queues", f"only supervisors are assigned queues ({user.username!r} is a {user.role}, "
                                     "who oversees every queue)")
    before = await supervised_queues(session=session, user_id=user.id)
    if before != wanted:
        await session.execute(delete(SupervisorQueue).where(SupervisorQueue.user_id == user.id))
        session.add_all(SupervisorQueue(user_id=user.id, queue=q) for q in wanted)
        await session.flush()
    return before, wanted
