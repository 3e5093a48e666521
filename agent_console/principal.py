"""Who is asking: the authenticated user a request or websocket acts as, and the roles."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

Role = Literal["agent", "supervisor", "manager", "admin"]
ROLES: tuple[str, ...] = get_args(Role)
STAFF: frozenset[str] = frozenset({"supervisor", "manager", "admin"})


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated user; ``agent_id`` is set for users who take calls."""

    user_id: int
    username: str
    role: Role
    agent_id: str | None
    display_name: str = ""

    def may_act_for(self, agent_id: str) -> bool:
        """Agents act only for themselves; supervisors and admins may act for anyone."""
        return self.role in STAFF or self.agent_id == agent_id
