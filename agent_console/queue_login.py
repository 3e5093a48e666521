"""Queue login of the real desk: which queues an agent may join (policy.queues_open_to, by the
skills the ACD holds while they are logged in, else by the CRM user's), logging in to the ACD with
those skills and a phone, and changing the queues of a logged-in agent between calls."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from acd.calls import AgentPhone
from acd.delivery import AcdService
from acd.model import MAX_LEVEL, MIN_LEVEL, AgentState
from agent_console.errors import IllegalAgentAction, TargetNotFound, acd_step
from agent_console.policy import check_queue_login, queues_open_to
from crm_core import users
from crm_core.db import Database
from crm_core.models import User


def level(value: Any) -> int:
    """Proficiency on the router's scale (MIN_LEVEL..MAX_LEVEL)."""
    return max(MIN_LEVEL, min(MAX_LEVEL, int(value)))


class QueueLogin:
    """``phone_of``: the phone the ACD rings for an agent logging in (the desk's phone settings)."""

    def __init__(self, acd: AcdService, db: Database, *, phone_of: Callable[[str, User], AgentPhone]) -> None:
        self.acd, self.db, self.phone_of = acd, db, phone_of

    def _state(self, agent_id: str) -> AgentState:
        return self.acd.agent_state(agent_id)

    async def open_queues(self, agent_id: str) -> list[str]:
        """The queues ``agent_id`` may log in to (policy.queues_open_to): by the skills the ACD
        holds while logged in, else by the CRM's."""
        if not agent_id:
            return []
        if self._state(agent_id) is not AgentState.LOGGED_OUT:
            return queues_open_to(self.acd.agent(agent_id).skills, self.acd.queue_names())
        async with self.db.session() as session:
            user = await users.user_by_agent_id(session=session, agent_id=agent_id)
        return queues_open_to(user.skills or {}, self.acd.queue_names()) if user is not None else []

    async def login(self, agent_id: str, queues: list[str]) -> None:
        """Log in to the ACD (``queues`` empty: the agent's own queues), or add queues; only queues of
        the agent's skills and ``general`` (Forbidden naming the queue)."""
        known = set(self.acd.queue_names())
        unknown = [q for q in queues if q not in known]
        if unknown:
            raise TargetNotFound(f"unknown queue(s): {', '.join(unknown)}")
        if self._state(agent_id) is not AgentState.LOGGED_OUT:
            view = self.acd.agent(agent_id)
            current = set(view.queues)
            if not set(queues) <= current:
                check_queue_login(set(queues) - current, queues_open_to(view.skills, known))
                await self._requeue(agent_id, sorted(current | set(queues)))
            return
        async with self.db.session() as session:
            user = await users.user_by_agent_id(session=session, agent_id=agent_id)
        if user is None:
            raise TargetNotFound(f"no agent {agent_id} in the CRM")
        skills = {k: level(v) for k, v in (user.skills or {}).items()}
        open_to = queues_open_to(skills, known)
        check_queue_login(queues, open_to)
        wanted = queues or open_to
        await acd_step(self.acd.agent_login(agent_id, skills, wanted, phone=self.phone_of(agent_id, user)),
                       "log in to the queues")

    async def logout(self, agent_id: str, queues: list[str]) -> None:
        """Leave ``queues``; with none named (or none left), log off the ACD entirely."""
        if self._state(agent_id) is AgentState.LOGGED_OUT:
            return
        remaining = sorted(set(self.acd.agent(agent_id).queues) - set(queues)) if queues else []
        if remaining:
            await self._requeue(agent_id, remaining)
        else:
            await acd_step(self.acd.agent_logout(agent_id), "log out of the queues")

    async def _requeue(self, agent_id: str, queues: list[str]) -> None:
        """Change a logged-in agent's queues: log out and back in, keeping ready / not-ready."""
        view = self.acd.agent(agent_id)
        if view.state not in (AgentState.AVAILABLE, AgentState.NOT_READY):
            raise IllegalAgentAction("queues can change between calls, not during one")
        await acd_step(self.acd.agent_logout(agent_id), "change your queues")
        await acd_step(self.acd.agent_login(agent_id, dict(view.skills), queues,
                                            ready=view.state is AgentState.AVAILABLE), "change your queues")
        if view.state is AgentState.NOT_READY and view.reason and view.reason != "login":
            await acd_step(self.acd.set_not_ready(agent_id, view.reason), "change your queues")
