"""Small builders shared by the ACD unit tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from acd.decisions import AgentStateChange, Decision, Offer
from acd.model import QueueConfig, RoutingStep
from acd.routing import Router

StepSpec = tuple[float, Mapping[str, int]] | tuple[float, Mapping[str, int], int | None]


def steps(*spec: StepSpec) -> tuple[RoutingStep, ...]:
    """(after_s, skills[, call_skill_cap]) tuples to routing steps."""
    return tuple(RoutingStep(s[0], dict(s[1]), s[2] if len(s) == 3 else None) for s in spec)


def offers(decisions: Sequence[Decision]) -> list[tuple[str, str]]:
    return [(d.call_id, d.agent_id) for d in decisions if isinstance(d, Offer)]


def changes(decisions: Sequence[Decision]) -> list[tuple[str, str, str, str | None]]:
    return [(d.agent_id, d.old.value, d.new.value, d.reason) for d in decisions if isinstance(d, AgentStateChange)]


def of(decisions: Sequence[Decision], kind: type) -> list[Decision]:
    return [d for d in decisions if isinstance(d, kind)]


def router(*queues: QueueConfig) -> Router:
    return Router(queues or (QueueConfig("support"),))


def ready_agent(r: Router, agent_id: str, skills: Mapping[str, int], now: float,
                queues: Sequence[str] = ("support",), **kw: object) -> list[Decision]:
    return r.agent_login(agent_id, skills, now, queues=queues, ready=True, **kw)  # type: ignore[arg-type]
