"""The in-memory fake of the console's user store (agent_console.ports.UserStore): usernames,
password hashes and the principals they sign in as."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from agent_console.security import Principal
from crm_core.users import hash_secret, verify_secret_async


@dataclass
class FakeUserStore:
    users: dict[str, tuple[str, Principal]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def add(self, username: str, password: str, *, role: str = "agent", agent_id: str | None = None,
            display_name: str = "", password_hash: str | None = None) -> Principal:
        p = Principal(next(self._ids), username, role, agent_id, display_name or username)  # type: ignore[arg-type]
        self.users[username.casefold()] = (password_hash or hash_secret(password), p)
        return p

    async def authenticate(self, username: str, password: str) -> Principal | None:
        entry = self.users.get(username.strip().casefold())
        # An unknown username costs one verification too (against a dummy hash): timing does not tell.
        ok = await verify_secret_async(entry[0] if entry is not None else None, password)
        return entry[1] if entry is not None and ok else None
