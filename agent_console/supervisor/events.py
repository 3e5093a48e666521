"""Events the supervisor package publishes (alert events are ``acd.alerts``' own)."""

from __future__ import annotations

from typing import Any

from cti.events import Event, event


@event("supervisor.intervention")
class SupervisorIntervention(Event):
    """A supervisor acted on an agent. ``action``: spy.listen, spy.whisper, spy.barge, spy.stop,
    agent.force_not_ready, agent.force_logout, agent.set_skills."""

    actor: str
    actor_role: str
    action: str
    agent_id: str
    linkedid: str | None = None
    detail: dict[str, Any] | None = None
