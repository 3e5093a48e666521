"""Who is asking: the authenticated user a request or websocket acts as, and the roles."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

Role = Literal["agent", "supervisor", "manager", "admin"]
ROLES: tuple[str, ...] = get_args(Role)
STAFF: frozenset[str] = frozenset({"supervisor", "manager", "admin"})
# Who holds an integration's bearer token, not a user: ``integration`` a named token an
# administrator issued (read only: agent_console.integrations), ``feed_reader`` a token of the
# settings' ``feed.integration_tokens`` (the event feed alone, as before named tokens existed).
TokenRole = Literal["integration", "feed_reader"]
TOKEN_ROLES: tuple[str, ...] = get_args(TokenRole)


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated user (or an integration's token: ``TokenRole``, ``user_id`` minus the token's
    id); ``agent_id`` is set for users who take calls. ``grants``: the actions an integration token
    was given beside its role's (``agent_console.policy.GRANTABLE``)."""

    user_id: int
    username: str
    role: Role | TokenRole
    agent_id: str | None
    display_name: str = ""
    grants: frozenset[str] = frozenset()

    def may_act_for(self, agent_id: str) -> bool:
        """Agents act only for themselves; supervisors and admins may act for anyone."""
        return self.role in STAFF or self.agent_id == agent_id
