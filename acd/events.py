"""The ACD's agent-facing bus events: what an agent's screen must learn. ``acd.delivery`` and its
parts (``acd.effects``, ``acd.ringing``), and the desk's wrap-up for ``closed``, publish them;
``agent_console.hub`` consumes them (one subscription on ``ConsoleEvent``, so the order of one
agent's events is kept). The plain ``Event``s here are the
agents' state for other consumers (agent time, the call log's after-call work and a consulted
agent's consultation, published by ``acd.consultations``). Every event names the agent;
call events name the call by ``linkedid``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from cti.events import Event, event


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ConsoleEvent(Event):
    """Base of the events routed to one agent's console."""

    agent_id: str


@event("agent.state_changed")
class AgentStateChanged(ConsoleEvent):
    """``state``: logged_out, available, reserved, on_call, wrap_up, not_ready (with ``reason``);
    ``phone_reachable``: whether the agent's phone was registered then; ``wrap_until``: in wrap-up,
    when it ends on its own (the queue's or the agent's wrap-up time)."""

    state: str
    reason: str | None = None
    since: float = 0.0
    queues: tuple[str, ...] = ()
    not_ready_after_call: str | None = None
    phone_reachable: bool = True
    wrap_until: float | None = None


@event("agent.phone_reachability")
class AgentPhoneReachability(Event):
    """A logged-in agent's phone became reachable (registered) or unreachable, at ``since``; the
    agent's ``state`` and ``reason`` are unchanged. Not a console event: the supervisor's agent
    time counts an available agent whose phone is unreachable apart from available idle time."""

    agent_id: str
    reachable: bool
    state: str
    reason: str | None = None
    since: float = 0.0


@event("agent.wrapup_ended")
class AgentWrapUpEnded(Event):
    """The agent left the wrap-up state that the end of call ``linkedid`` put them in: its after-call
    work ends here (docs/kpis.md). ``reason``: timer (the wrap-up time ran out, also with a
    not-ready reason pending), ready (the agent, or their wrap-up form, made them ready), not_ready
    (they, their form, their dialling out or a supervisor made them not ready), other_call (the call
    ended while the agent was on another one: no wrap-up state for it), stopped (the engine stopped
    cleanly: ``Router.end_wrap_ups``). Not a console event: the
    call logger folds it into the interaction (``crm_core.fold``)."""

    agent_id: str
    linkedid: str
    reason: str


@event("agent.consultation_answered")
class ConsultationAnswered(Event):
    """The consulted agent ``agent_id`` of an attended transfer to an agent answered the transferring
    agent ``from_agent`` of call ``linkedid`` (``acd.consultations``): from here until
    ``ConsultationEnded`` (or the call's end) they work on the caller's call, their talk in the
    per-agent figures (docs/kpis.md). ``queue``: the call's. Not a console event: the call logger
    folds it into the interaction (``crm_core.fold``: a ``consult`` segment)."""

    linkedid: str
    agent_id: str
    from_agent: str
    queue: str | None = None


@event("agent.consultation_ended")
class ConsultationEnded(Event):
    """The consultation ``ConsultationAnswered`` began is over for ``agent_id``. ``reason``:
    transferred (the transfer completed, or the transferring agent left the conference: the
    consulted agent now holds the call, their talk goes on as the call's), cancelled (the caller is
    back with the transferring agent), target_hung_up (the consulted agent hung up during the
    consultation, the caller back with the transferring agent: after their phone's hang-up they
    wrap up, after their console's Hang up they are free at once), caller_left (the caller hung up:
    the consulted agent wraps up), left (the consulted agent hung up in the conference, the others
    talking on: they wrap up)."""

    linkedid: str
    agent_id: str
    reason: str


@event("agent.not_ready_pending")
class AgentNotReadyPending(ConsoleEvent):
    """The agent pressed not ready during a call (``reason``), or withdrew it (None): it takes
    effect when the call and its wrap-up end; the agent's state is unchanged until then."""

    reason: str | None = None


@event("agent.offer")
class AgentOffer(ConsoleEvent):
    """The ACD chose this agent and the phone starts ringing. ``ts`` is the offer decision time.
    ``pop`` is the screen pop when the publisher built it; when None the hub asks its PopSource."""

    linkedid: str
    queue: str | None = None
    caller_number: str = ""
    customer_id: int | None = None
    waited_s: float = 0.0
    skills: dict[str, int] | None = None
    ring_timeout_s: float = 20.0
    direction: str = "inbound"
    campaign: str | None = None  # the outbound campaign whose answered call this is (progressive, predictive)
    callback: bool = False  # virtual hold's callback: the customer asked to be called back, keeping their place
    pop: dict[str, Any] | None = None


@event("agent.offer_withdrawn")
class AgentOfferWithdrawn(ConsoleEvent):
    """The offer ended without a connected call: ``reason`` no_answer, caller_hangup, taken, error."""

    linkedid: str
    reason: str = "no_answer"


@event("agent.call_update")
class AgentCallUpdate(ConsoleEvent):
    """A call of this agent changed. ``status``: talking (a click-to-dial's from the start), held,
    consulting, conference, ended (the agent's part is over, hung up or passed on by a transfer:
    wrap-up pending; ``detail.transferred`` says where a transfer sent it) or closed (wrapped up, or
    a consulted agent's consultation over: remove from the screen). A ringing offer is an
    ``AgentOffer``, not an update; no status "transferred" is sent: the ended call carries it."""

    linkedid: str
    status: str
    direction: str = "inbound"
    peer_number: str = ""
    customer_id: int | None = None
    queue: str | None = None
    started_at: float = 0.0
    detail: dict[str, Any] | None = None


@event("supervisor.intervention")
class SupervisorIntervention(Event):
    """A supervisor acted on an agent. ``action``: spy.listen, spy.whisper, spy.barge, spy.stop,
    agent.force_not_ready, agent.force_logout, agent.set_skills. Published by the supervisor's
    interventions (``agent_console.supervisor``); here, beside the agent's other events, so that
    the public feed (``crm_core``, below the web layer) can map it."""

    actor: str
    actor_role: str
    action: str
    agent_id: str
    linkedid: str | None = None
    detail: dict[str, Any] | None = None
