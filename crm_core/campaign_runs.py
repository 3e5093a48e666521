"""What the campaign dialer (``crm_core.dialer``) holds while campaigns run: each attempt not yet
settled, and each running campaign with its pacer, its ringing lines, the people waiting out the
drop grace and the figures of the supervisor page."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from acd.model import AgentView
from acd.pacing import DialMode, Floor, Pacer


@dataclass
class Attempt:
    linkedid: str
    campaign_id: int
    contact_id: int
    digits: str  # E.164 without '+'
    customer_id: int | None
    name: str
    data: dict[str, Any]
    dialled_at: float
    far_end: str | None = None
    done: bool = False
    preview: bool = False  # dialled by an agent (click-to-dial): the agent talks to whoever answers
    agent_id: str | None = None  # preview: the agent who dialled
    arrived: bool = False  # its CallArrived was published (by the dialer, or by the ACD's click-to-dial)
    ended: asyncio.Event = field(default_factory=asyncio.Event)  # Asterisk reported the call gone


@dataclass
class Waiting:
    """A person who answered when no agent was free: held (no message, at most the drop grace)
    until an agent frees up; ``verdict`` is what the dialplan does next (``queue`` or ``drop``)."""

    run: LiveCampaign
    attempt: Attempt
    channel: str
    answered_at: float
    verdict: asyncio.Future[tuple[str, str]]


@dataclass
class LiveCampaign:
    """A campaign as the dialer runs it: its pacer, its lines and what the supervisor page shows."""

    id: int
    name: str
    queue: str
    skills: dict[str, int]
    mode: DialMode
    state: str
    caller_id: str | None
    drop_cap: float
    pacer: Pacer
    settings: dict[str, str]  # drop_message, machine_action, machine_message, script
    ringing: dict[str, Attempt] = field(default_factory=dict)
    waiting: list[Waiting] = field(default_factory=list)  # oldest answer first
    measured_at: float | None = None  # the last tick that counted occupancy (running only)
    agent_seconds: float = 0.0
    busy_seconds: float = 0.0
    last_floor: Floor = field(default_factory=lambda: Floor(idle=0))
    dials: int = 0
    last_dial: str = ""  # the belief behind the last dial (debug logging only)
    # What the queue's first step asks of an agent for this campaign's calls: only agents who meet
    # it count as free (an agent with the campaign's skills alone would leave a person on music).
    need: dict[str, int] = field(default_factory=dict)

    def view(self, now: float) -> dict[str, Any]:
        stats = self.pacer.stats(now, self.last_floor)
        agents = self.last_floor.idle + len(self.last_floor.busy_elapsed)
        return {"id": self.id, "name": self.name, "state": self.state, "mode": self.mode.value,
                "ringing": len(self.ringing), "waiting": len(self.waiting), "agents": agents,
                "agents_idle": self.last_floor.idle,
                "dial_level": round(stats.dial_level, 3), "drop_rate": round(stats.drop_rate, 4),
                "drop_cap": self.drop_cap, "answered_in_window": stats.answered_in_window,
                "answer_rate": round(stats.answer_rate, 4), "mean_handle_s": round(stats.mean_handle_s, 1),
                "occupancy": round(self.busy_seconds / self.agent_seconds, 4) if self.agent_seconds else 0.0,
                "dials": self.dials}


def eligible(agent: AgentView, queue: str, skills: dict[str, int]) -> bool:
    return (queue in agent.queues and agent.registered
            and all(agent.skills.get(k, 0) >= v for k, v in skills.items()))
