"""Password hashing: argon2id, verified in a worker thread (tens of ms must not stall the loop), and
the same time spent for an unknown username as for a known one."""

from __future__ import annotations

import asyncio
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_HASHER = PasswordHasher()  # argon2id, library defaults (RFC 9106 low-memory profile)


def hash_password(password: str, *, hasher: PasswordHasher | None = None) -> str:
    return (hasher or _HASHER).hash(password)


def verify_password(stored_hash: str, password: str, *, hasher: PasswordHasher | None = None) -> bool:
    """True when the password matches; a malformed stored hash counts as a mismatch."""
    try:
        return (hasher or _HASHER).verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def password_needs_rehash(stored_hash: str, *, hasher: PasswordHasher | None = None) -> bool:
    return (hasher or _HASHER).check_needs_rehash(stored_hash)


async def verify_password_async(stored_hash: str, password: str) -> bool:
    """``verify_password`` in a worker thread: argon2 takes tens of ms and must not stall the loop."""
    return await asyncio.to_thread(verify_password, stored_hash, password)


_DUMMY_HASH: str | None = None


def burn_password_check(password: str) -> None:
    """Spend the time of one verification for an unknown username, so timing does not tell
    whether a username exists."""
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))
    verify_password(_DUMMY_HASH, password)
