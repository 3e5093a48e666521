"""What the router decides, as data. The ACD adapter carries each one out, in list order."""

from __future__ import annotations

from dataclasses import dataclass

from acd.model import AgentState, LimitKind


@dataclass(frozen=True, slots=True, kw_only=True)
class Offer:
    """Ring ``agent_id`` with ``call_id``; report back answered / no answer within the timeout.
    ``callback``: a virtual-hold entry's turn: the agent is reserved and the customer is called back
    first (``Router.callback_answered`` / ``callback_missed``); the timeout includes that ring."""

    call_id: str
    agent_id: str
    queue: str
    ring_timeout_s: float
    customer_id: int | str | None = None
    callback: bool = False
    # Where the caller's present wait started when not at its queue entry (a call put back after its
    # agent's softphone was lost: its talk was no wait); the agent's pop says how long it waited.
    waiting_since: float | None = None
    # The same offer rung again at the phone's new contact (acd.phone_contacts): no new journey step.
    again: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelOffer:
    """Stop ringing ``agent_id`` (reason: caller_hung_up, ring_timeout, agent_missed, logout, wrap_up:
    the agent's only connected call ended while it rang, and an agent in wrap-up is offered nothing;
    ring_again: the same offer is made again at once, to the phone's new contact)."""

    call_id: str
    agent_id: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Bridge:
    call_id: str
    agent_id: str
    queue: str
    wait_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Requeue:
    """The call waits again (music on hold) in ``queue`` after an offer failed."""

    call_id: str
    queue: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Overflow:
    call_id: str
    from_queue: str
    to_queue: str
    wait_s: float = 0.0  # the call's stay in ``from_queue`` (docs/kpis.md: a stay's wait)
    reason: str = "overflow"  # or "moved": a supervisor moved the waiting caller (Router.move_waiting)
    # The waits no queue counted that ``to_queue`` counts with its own stay (a supervisor's move: the
    # stays before it); 0 for an overflow (docs/kpis.md, moved between queues).
    carried_s: float = 0.0
    actor: str | None = None  # reason "moved": who moved it (a user name), and their role
    actor_role: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Announce:
    """Tell the caller its position (1 = next) and the estimated wait in seconds, with the range
    (``ewt_low_s``..``ewt_high_s``) the estimate's known error allows."""

    call_id: str
    queue: str
    position: int
    ewt_s: float
    ewt_low_s: float | None = None
    ewt_high_s: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LimitAction:
    """A queue limit was hit (reason: max_wait, max_length, no_agents); carry out ``action``.

    For ``queue`` the router already moved the call to ``target``; for the other actions the call
    has left the router.
    """

    call_id: str
    queue: str
    reason: str
    action: LimitKind
    target: str | None = None
    wait_s: float = 0.0  # the call's stay in ``queue`` until the limit (docs/kpis.md: a stay's wait)


@dataclass(frozen=True, slots=True, kw_only=True)
class Abandoned:
    call_id: str
    queue: str
    wait_s: float
    system_failure: bool = False  # the PBX crashed under the call: not the caller's abandon


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentStateChange:
    agent_id: str
    old: AgentState
    new: AgentState
    reason: str | None
    at: float
    phone_reachable: bool = True  # the agent's phone was registered then (KPIs: available but offline is not idle)
    wrap_until: float | None = None  # entering wrap-up: when it ends on its own (the console's countdown)


@dataclass(frozen=True, slots=True, kw_only=True)
class PhoneReachability:
    """A logged-in agent's phone became reachable or unreachable; ``state``/``reason``: the agent's,
    unchanged (an available agent whose phone is unreachable is offered nothing)."""

    agent_id: str
    reachable: bool
    state: AgentState
    reason: str | None
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class NotReadyPending:
    """The agent keeps its state; ``reason`` is the not-ready it takes once its work ends (None:
    withdrawn). Only the agent's console shows it; the state's history does not change."""

    agent_id: str
    reason: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class WrapUpEnded:
    """``agent_id`` left the wrap-up state that the end of ``call_id`` put them in, at ``at``: the
    call's after-call work ends. ``reason``: timer, ready, not_ready; other_call: the call ended while
    the agent was on another one (capacity > 1), so it had no wrap-up state of its own."""

    agent_id: str
    call_id: str
    reason: str
    at: float


Decision = (Offer | CancelOffer | Bridge | Requeue | Overflow | Announce | LimitAction | Abandoned | AgentStateChange
            | NotReadyPending | PhoneReachability | WrapUpEnded)
