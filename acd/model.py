"""The ACD's nouns: agents and their state machine, queue configuration, routing steps, queued calls.

The agent state machine is one table for all queues (an agent is in one state, whatever queues it
serves); a queued call has its own small table. Both raise ``IllegalTransition`` on a step that is
not in the table and log every step as ``agent 1001: available -[offer]-> reserved``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from acd.errors import IllegalTransition

log = logging.getLogger("acd.transitions")

MIN_LEVEL = 1
MAX_LEVEL = 5
PHONE_OFFLINE = "phone_offline"  # AgentView.counted_state of an available agent whose phone is unreachable


class AgentState(StrEnum):
    LOGGED_OUT = "logged_out"
    AVAILABLE = "available"
    RESERVED = "reserved"  # an offer rings on the agent's phone
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    NOT_READY = "not_ready"


class AgentEvent(StrEnum):
    LOGIN = "login"
    LOGOUT = "logout"
    READY = "ready"
    NOT_READY = "not_ready"
    OFFER = "offer"
    ANSWER = "answer"
    NO_ANSWER = "no_answer"
    CANCEL = "cancel"  # the offer was withdrawn (caller hung up, ring timeout backstop)
    RELEASE = "release"  # one interaction ended while others remain (capacity > 1)
    END = "end"  # the last interaction ended: wrap-up starts
    IDLE = "idle"  # the last interaction was an offer that never connected: no wrap-up, nothing to do
    WRAP_DONE = "wrap_done"


_A = AgentState
_E = AgentEvent

# (state, event) -> next state. Offers go to AVAILABLE agents, or ON_CALL agents with spare capacity
# (never a second offer while one rings). Self-loops in ON_CALL are the capacity > 1 cases.
AGENT_TRANSITIONS: dict[tuple[AgentState, AgentEvent], AgentState] = {
    (_A.LOGGED_OUT, _E.LOGIN): _A.NOT_READY,
    (_A.NOT_READY, _E.READY): _A.AVAILABLE,
    (_A.NOT_READY, _E.NOT_READY): _A.NOT_READY,  # a new reason code
    (_A.NOT_READY, _E.LOGOUT): _A.LOGGED_OUT,
    # The agent's own call (their dial: not ready "outbound" for it, acd.dial_readiness) ended.
    (_A.NOT_READY, _E.END): _A.WRAP_UP,
    (_A.AVAILABLE, _E.OFFER): _A.RESERVED,
    (_A.AVAILABLE, _E.NOT_READY): _A.NOT_READY,
    (_A.AVAILABLE, _E.LOGOUT): _A.LOGGED_OUT,
    (_A.RESERVED, _E.ANSWER): _A.ON_CALL,
    (_A.RESERVED, _E.NO_ANSWER): _A.NOT_READY,  # reason "missed"
    (_A.RESERVED, _E.CANCEL): _A.AVAILABLE,
    # An agent may always log out between calls: the offer ringing them is withdrawn (acd.routing_agents).
    (_A.RESERVED, _E.LOGOUT): _A.LOGGED_OUT,
    (_A.ON_CALL, _E.OFFER): _A.ON_CALL,
    (_A.ON_CALL, _E.ANSWER): _A.ON_CALL,
    (_A.ON_CALL, _E.NO_ANSWER): _A.ON_CALL,  # goes not ready "missed" after the call
    (_A.ON_CALL, _E.CANCEL): _A.ON_CALL,
    (_A.ON_CALL, _E.RELEASE): _A.ON_CALL,
    (_A.ON_CALL, _E.END): _A.WRAP_UP,
    # The last interaction was an offer that never connected (a capacity > 1 agent whose call ended
    # while it rang): no conversation, no wrap-up; where an agent with only that offer would go.
    (_A.ON_CALL, _E.IDLE): _A.AVAILABLE,
    (_A.ON_CALL, _E.NOT_READY): _A.NOT_READY,  # ... with a reason chosen meanwhile, or "missed"
    (_A.WRAP_UP, _E.WRAP_DONE): _A.AVAILABLE,
    (_A.WRAP_UP, _E.READY): _A.AVAILABLE,  # the agent finished wrap-up early
    (_A.WRAP_UP, _E.NOT_READY): _A.NOT_READY,  # includes "not ready after this call"
}


# The states that are about a call: one rings, is talked on or is wrapped up. A step that neither
# leaves nor enters one of them (login, ready, not ready, logout between calls) is about no call.
_WITH_A_CALL = frozenset({_A.RESERVED, _A.ON_CALL, _A.WRAP_UP})


def next_agent_state(agent_id: str, state: AgentState, event: AgentEvent, *, call_id: str | None = None,
                     queue: str | None = None) -> AgentState:
    """The state after ``event``; raises ``IllegalTransition`` when the table has no such step.
    ``call_id`` / ``queue``: the call the step is about, when it is not the one the caller's log
    context names (an offer made as the agent's last call ends). A step about no call names none,
    whatever the context (a ready after a break, made from the task that wrapped up the last call)."""
    try:
        new = AGENT_TRANSITIONS[(state, event)]
    except KeyError:
        raise IllegalTransition(f"agent {agent_id}", state.value, event.value) from None
    about: dict[str, str | None] | None = None
    if call_id is not None:
        about = {"call_id": call_id, "agent": agent_id, "queue": queue}
    elif state not in _WITH_A_CALL and new not in _WITH_A_CALL:
        about = {"call_id": None, "agent": agent_id, "queue": None}  # cti.logs.ContextFilter keeps these
    log.info("agent %s: %s -[%s]-> %s", agent_id, state, event, new, extra=about)  # StrEnum prints its value
    return new


class CallState(StrEnum):
    WAITING = "waiting"
    RINGING = "ringing"
    CONNECTED = "connected"
    DONE = "done"  # answered and ended, abandoned, or sent elsewhere by a limit


class CallEvent(StrEnum):
    OFFER = "offer"
    ANSWER = "answer"
    REQUEUE = "requeue"  # no answer, or the offer was cancelled while the caller still waits
    MOVE = "move"  # overflow / limit action "queue": waits in another queue
    ABANDON = "abandon"
    END = "end"
    LEAVE = "leave"  # a limit action took it out (voicemail, callback, hang-up)


_C = CallState
_CE = CallEvent
CALL_TRANSITIONS: dict[tuple[CallState, CallEvent], CallState] = {
    (_C.WAITING, _CE.OFFER): _C.RINGING,
    (_C.WAITING, _CE.MOVE): _C.WAITING,
    (_C.WAITING, _CE.ABANDON): _C.DONE,
    (_C.WAITING, _CE.LEAVE): _C.DONE,
    (_C.RINGING, _CE.ANSWER): _C.CONNECTED,
    (_C.RINGING, _CE.REQUEUE): _C.WAITING,
    (_C.RINGING, _CE.ABANDON): _C.DONE,
    (_C.CONNECTED, _CE.END): _C.DONE,
}


def next_call_state(call_id: str, state: CallState, event: CallEvent) -> CallState:
    try:
        new = CALL_TRANSITIONS[(state, event)]
    except KeyError:
        raise IllegalTransition(f"call {call_id}", state.value, event.value) from None
    log.debug("call %s: %s -[%s]-> %s", call_id, state, event, new)
    return new


class Strategy(StrEnum):
    LONGEST_IDLE = "longest_idle"
    MOST_SKILLED = "most_skilled"
    ROUND_ROBIN = "round_robin"


class LimitKind(StrEnum):
    VOICEMAIL = "voicemail"
    CALLBACK = "callback"
    QUEUE = "queue"  # wait in ``target`` queue instead
    HANGUP = "hangup"  # play the announcement ``target`` (if any), then hang up


@dataclass(frozen=True, slots=True)
class LimitSpec:
    action: LimitKind
    target: str | None = None


Requirement = tuple[tuple[str, int], ...]  # sorted (skill, minimum level); () = anyone in the queue


@dataclass(frozen=True, slots=True)
class RoutingStep:
    """From ``after_s`` seconds of waiting on, agents need ``skills`` (minimum levels).

    The call's own required skills are added; ``call_skill_cap`` lowers their levels (0 drops
    them), which is how a step widens skills the IVR asked for.
    """

    after_s: float = 0.0
    skills: Mapping[str, int] = field(default_factory=dict)
    call_skill_cap: int | None = None

    def requirement(self, call_skills: Mapping[str, int] | None) -> Requirement:
        need = dict(self.skills)
        for skill, level in (call_skills or {}).items():
            if self.call_skill_cap is not None:
                level = min(level, self.call_skill_cap)
            if level >= MIN_LEVEL and level > need.get(skill, 0):
                need[skill] = level
        return tuple(sorted(need.items()))


def moved_skills(skills: dict[str, int] | None, queue: str, queues: Iterable[str]) -> dict[str, int] | None:
    """The skills a call moved to ``queue`` (a transfer, an overflow, a limit's queue action, a
    supervisor's move) still asks for: the caller's own (a language), not
    another queue's topic skill the IVR asked for there (skills are named like the queues they
    serve): a support caller sent to billing needs a billing agent, as billing's steps say, not one
    who also has support (they waited until billing's last step dropped the call's skills)."""
    others = set(queues) - {queue}
    kept = {k: v for k, v in (skills or {}).items() if k not in others}
    return kept or None


@dataclass(frozen=True, slots=True)
class QueueConfig:
    name: str
    steps: tuple[RoutingStep, ...] = (RoutingStep(),)
    strategy: Strategy = Strategy.LONGEST_IDLE
    wrap_up_s: float = 10.0
    ring_timeout_s: float = 15.0
    max_wait_s: float | None = None
    max_wait_action: LimitSpec | None = None
    max_length: int | None = None
    max_length_action: LimitSpec | None = None
    no_agents_action: LimitSpec | None = None
    overflow_after_s: float | None = None
    overflow_to: str | None = None
    announce_every_s: float | None = None
    service_level_s: float = 20.0
    short_abandon_s: float = 5.0
    preferred_agent_s: float = 0.0  # how long a call waits for the agent who served the customer last
    callback_ring_s: float = 30.0  # virtual hold: how long the customer's phone rings on a callback


@dataclass(slots=True, eq=False)
class Agent:
    """An agent as the router tracks it; mutated only by the router."""

    agent_id: str
    skills: dict[str, int]
    capacity: int
    queues: tuple[str, ...]
    rank: int  # login order, for round robin
    state: AgentState = AgentState.LOGGED_OUT
    reason: str | None = None  # the not-ready reason code
    not_ready_after_call: str | None = None  # reason to apply when the current work ends
    registered: bool = True
    wrap_up_s: float | None = None  # overrides the queue's wrap-up time
    wrap_until: float | None = None
    idle_since: float = 0.0
    idle_seq: int = 0  # ties of idle_since break by this, then by nothing else
    state_since: float = 0.0  # when the current state (or not-ready reason) began: each AgentStateChange's ``at``
    offers: set[str] = field(default_factory=set)  # ringing call ids
    calls: set[str] = field(default_factory=set)  # connected call ids
    indexed: bool = False  # in the router's available-agent index
    wrap_epoch: int = 0  # invalidates a pending wrap-up timer
    wrap_call: str | None = None  # the call whose end put the agent in wrap-up (its after-call work)
    work_queue: str | None = None  # queue of the call being handled (its handle time ends with wrap-up)
    work_since: float | None = None  # when that call was answered

    @property
    def load(self) -> int:
        return len(self.offers) + len(self.calls)

    @property
    def idle_key(self) -> tuple[float, int]:
        return (self.idle_since, self.idle_seq)

    def eligible(self) -> bool:
        """Could take a new offer now (skills and queue membership aside)."""
        if not self.registered or self.offers or self.load >= self.capacity:
            return False
        if self.state is AgentState.AVAILABLE:
            return True
        return self.state is AgentState.ON_CALL and self.not_ready_after_call is None

    def meets(self, need: Requirement) -> bool:
        skills = self.skills
        for skill, level in need:  # a plain loop: this is the innermost check of every scan
            if skills.get(skill, 0) < level:
                return False
        return True


@dataclass(slots=True, eq=False)
class QueuedCall:
    """A call the router holds: waiting, ringing an agent, or connected."""

    call_id: str
    queue: str
    skills: dict[str, int] | None
    priority: int
    enqueued_at: float  # first queue entry; orders calls across queues
    seq: int
    entered_queue_at: float  # entry into the current queue (per-queue wait statistics)
    preferred_agent: str | None = None
    customer_id: int | str | None = None
    state: CallState = CallState.WAITING
    step: int = 0
    need: Requirement = ()
    agent_id: str | None = None  # offered to / connected with
    offered_at: float | None = None
    answered_at: float | None = None
    misses: int = 0
    pref_active: bool = False  # waits for its preferred agent only
    pinned: bool = False  # a transfer to a named agent: waits for ``preferred_agent`` only, no window
    counted: bool = True  # False: a consultation between agents, left out of the queue's statistics
    armed: bool = False  # the timers of this queue stay are scheduled
    epoch: int = 0  # one per queue stay: timers of an earlier stay are void
    token: int = 0  # one per insertion among the waiting calls: older heap entries are void
    offer_no: int = 0  # one per offer: a ring timer of an earlier offer is void
    ewt_s: float | None = None  # the wait estimated when it started waiting in this queue
    ewt_at: float | None = None  # ... and when
    virtual: bool = False  # virtual hold: the caller hung up and keeps its place; it is called back
    parked: bool = False  # a virtual entry between callback attempts: keeps its place, offered to no one
    # The queue's figures of offered calls are done with it: a virtual-hold entry was counted when its
    # caller pressed the key (a web request never was: no call entered a queue). Its callback's answer,
    # hang-up, limits and moves count in none of them; its talk and handle time do (docs/kpis.md).
    settled: bool = False
    # Where the caller's present wait started when not at ``enqueued_at``: a call put back in queue
    # after its agent's softphone was lost keeps its place, but its talk was no wait (docs/kpis.md).
    waiting_since: float | None = None
    # Put back in this queue after an answer (that lost agent): the queue counted its answer already.
    answered_before: bool = False
    # The waits of the stays before a supervisor's move: no queue counted them, the queue that now
    # has the call adds them to its own stay's when it counts its answer or abandon (docs/kpis.md).
    moved_wait_s: float = 0.0

    @property
    def wait_start(self) -> float:
        """Since when the caller waits, as the wallboard counts it (longest wait, callers waiting)."""
        return self.enqueued_at if self.waiting_since is None else self.waiting_since

    @property
    def order(self) -> tuple[int, float, int]:
        """Smaller goes first: higher priority, then older, then earlier seq."""
        return (-self.priority, self.enqueued_at, self.seq)


@dataclass(frozen=True, slots=True)
class AgentView:
    agent_id: str
    state: AgentState
    reason: str | None
    skills: Mapping[str, int]
    capacity: int
    queues: tuple[str, ...]
    registered: bool
    idle_since: float
    not_ready_after_call: str | None
    offers: tuple[str, ...]
    calls: tuple[str, ...]
    wrap_until: float | None = None  # when wrap-up ends on its own (console countdown)
    state_since: float = 0.0  # when the current state (or not-ready reason) began (the console's state timer)

    @property
    def counted_state(self) -> str:
        """Where boards and metrics count the agent: its state, or ``phone_offline`` when available
        but its phone is unreachable (a closed console, a softphone unregistered): the router offers
        such an agent no call, so it is not counted available."""
        if self.state is AgentState.AVAILABLE and not self.registered:
            return PHONE_OFFLINE
        return self.state.value


@dataclass(frozen=True, slots=True)
class CallView:
    call_id: str
    queue: str
    state: CallState
    priority: int
    enqueued_at: float
    entered_queue_at: float
    step: int
    need: Requirement
    preferred_agent: str | None
    pref_active: bool
    agent_id: str | None
    pinned: bool = False
    virtual: bool = False
    parked: bool = False
