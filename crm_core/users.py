"""Users (agents, supervisors, administrators) and the argon2 hashing of passwords and PINs."""

from __future__ import annotations

from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.errors import Conflict, InvalidField, NotFound
from crm_core.models import ROLES, User

# OWASP's minimum argon2id profile (19 MiB, 2 passes): ~20 ms a hash, so logins stay cheap and a
# stolen table stays expensive to crack. PINs get the same hash; their space is small, which is
# why the IVR must also limit attempts.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)
_DUMMY = _HASHER.hash("not-a-real-password")


def hash_secret(secret: str) -> str:
    return _HASHER.hash(secret)


def verify_secret(stored: str | None, secret: str) -> bool:
    """Constant work whether or not there is a stored hash (no user-enumeration by timing)."""
    try:
        return _HASHER.verify(stored or _DUMMY, secret) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


async def create_user(*, session: AsyncSession, username: str, password: str, role: str = "agent",
                      display_name: str = "", agent_id: str | None = None, extension: str | None = None,
                      skills: dict[str, Any] | None = None, language: str = "zh-CN") -> User:
    if role not in ROLES:
        raise InvalidField("role", f"must be one of {', '.join(ROLES)}")
    if len(password) < 8:
        raise InvalidField("password", "must be at least 8 characters")
    if await session.scalar(select(func.count()).select_from(User).where(User.username == username)):
        raise Conflict("username", f"{username!r} is taken")
    user = User(username=username, password_hash=hash_secret(password), role=role,
                display_name=display_name or username, agent_id=agent_id, extension=extension,
                skills=dict(skills or {}), language=language)
    session.add(user)
    await session.flush()
    return user


async def authenticate(*, session: AsyncSession, username: str, password: str) -> User | None:
    user = await session.scalar(select(User).where(User.username == username, User.active.is_(True)))
    if not verify_secret(user.password_hash if user else None, password):
        return None
    if user is not None and _HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = hash_secret(password)
    return user


async def get_user(*, session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("user", user_id)
    return user


async def user_by_username(*, session: AsyncSession, username: str) -> User | None:
    return await session.scalar(select(User).where(User.username == username))


async def user_by_agent_id(*, session: AsyncSession, agent_id: str) -> User | None:
    return await session.scalar(select(User).where(User.agent_id == agent_id))


async def list_users(*, session: AsyncSession, role: str | None = None) -> list[User]:
    stmt = select(User).order_by(User.id)
    if role:
        stmt = stmt.where(User.role == role)
    return list((await session.scalars(stmt)).all())


async def set_password(*, session: AsyncSession, user_id: int, password: str) -> None:
    if len(password) < 8:
        raise InvalidField("password", "must be at least 8 characters")
    (await get_user(session=session, user_id=user_id)).password_hash = hash_secret(password)
