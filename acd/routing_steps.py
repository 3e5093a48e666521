"""The steps the router's events are made of: timers and queue limits, a call's way through its
queue (waiting, offered, answered, moved, ended), and an agent's state machine with the seams to
the idle-agent index.

``RoutingSteps`` changes the state ``acd.routing_state.RoutingState`` holds; every public event of
``acd.routing.Router`` runs the timers that fell due (``_begin``) and then some of these steps, each
appending its decisions to the event's list. Pure: no I/O, no clock, no awaits.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

from acd import timers
from acd.decisions import (
    AgentStateChange,
    Announce,
    CancelOffer,
    Decision,
    LimitAction,
    Offer,
    Overflow,
    Requeue,
    WrapUpEnded,
)
from acd.errors import AcdError
from acd.model import (
    Agent,
    AgentEvent,
    AgentState,
    CallEvent,
    CallState,
    LimitKind,
    LimitSpec,
    QueueConfig,
    QueuedCall,
    Strategy,
    moved_skills,
    next_agent_state,
    next_call_state,
)
from acd.routing_state import RoutingState

# The adapter reports a ring-no-answer itself after ``ring_timeout_s``; the router's own timer
# fires this much later, only as a backstop for a lost event (a dropped AMI connection).
RING_GRACE_S = 5.0
MISSED = "missed"
_WORKING = (AgentState.ON_CALL, AgentState.WRAP_UP)  # an agent's handle time runs through both


_P = ParamSpec("_P")
_S = TypeVar("_S", bound="RoutingSteps")


def keeps_timer_decisions(
    method: Callable[Concatenate[_S, _P], list[Decision]],
) -> Callable[Concatenate[_S, _P], list[Decision]]:
    """For a public event: when the event is refused (an AcdError), the decisions of the timers
    that ran before it are not lost: the next call returns them first."""

    @functools.wraps(method)
    def wrapper(self: _S, /, *args: _P.args, **kwargs: _P.kwargs) -> list[Decision]:
        try:
            return method(self, *args, **kwargs)
        except AcdError:
            self._carry = self._current
            raise

    return wrapper


class RoutingSteps(RoutingState):
    """The router's internal steps; ``acd.routing.Router`` calls them from its events."""

    # ---- timers -------------------------------------------------------------------------------

    def _begin(self, now: float) -> tuple[list[Decision], float]:
        # A clock that steps back a little (NTP) must not reorder the idle index: clamp.
        now = max(now, self._now)
        out, self._carry = self._carry, []
        self._current = out
        for due, kind, subject, token in self._timers.due(now):
            self._now = due
            self._fire_timer(kind, subject, token, due, out)
        self._now = now
        return out, now

    def _fire_timer(self, kind: int, subject: str, token: int, now: float, out: list[Decision]) -> None:
        if kind == timers.WRAP:
            agent = self._agents.get(subject)
            if agent is not None and agent.wrap_epoch == token and agent.state is AgentState.WRAP_UP:
                self._wrap_done(agent, now, out)
            return
        call = self._calls.get(subject)
        if call is None:
            return
        if kind == timers.PARK:
            if call.parked and call.offer_no == token and call.state is CallState.WAITING:
                call.parked = False  # the pause between callback attempts is over: back at its place
                self._requeue_waiting(call, now, out)
            return
        if kind == timers.RING:
            if call.state is CallState.RINGING and call.offer_no == token and call.agent_id is not None:
                out.append(CancelOffer(call_id=call.call_id, agent_id=call.agent_id, reason="ring_timeout"))
                self._missed(call, self._agents[call.agent_id], now, out)
            return
        if call.epoch != token:
            return
        cfg = self._queues[call.queue]
        if kind == timers.STEP:
            if call.pinned:
                return
            call.step += 1
            call.need = cfg.steps[call.step].requirement(call.skills)
            if call.state is CallState.WAITING and not call.parked:
                self._requeue_waiting(call, now, out)
        elif kind == timers.PREF:
            call.pref_active = False
            if call.state is CallState.WAITING and not call.parked:
                self._requeue_waiting(call, now, out)
        elif kind == timers.ANNOUNCE:
            if call.state is CallState.WAITING and not call.virtual:
                pos, ewt, low, high = self.estimate(call.call_id)
                out.append(Announce(call_id=call.call_id, queue=call.queue, position=pos, ewt_s=ewt,
                                    ewt_low_s=low, ewt_high_s=high))
            if cfg.announce_every_s:
                self._timers.at(now + cfg.announce_every_s, timers.ANNOUNCE, call.call_id, call.epoch)
        elif call.state is CallState.WAITING:  # overflow or max wait; while ringing see _missed
            self._check_limits(call, now, out)

    def _check_limits(self, call: QueuedCall, now: float, out: list[Decision]) -> bool:
        """Apply an expired overflow / max wait; True when the call left its queue. A virtual-hold
        entry meets neither: nobody is on the line to send anywhere."""
        if call.virtual:
            return False
        cfg = self._queues[call.queue]
        waited = now - call.entered_queue_at
        if cfg.max_wait_s is not None and waited >= cfg.max_wait_s:
            self._limit(call, "max_wait", cfg.max_wait_action or LimitSpec(LimitKind.HANGUP), now, out)
            return True
        if (cfg.overflow_to is not None and cfg.overflow_after_s is not None and waited >= cfg.overflow_after_s
                and not call.pinned):
            self._offered_stats_of(call).overflowed_out()
            out.append(Overflow(call_id=call.call_id, from_queue=call.queue, to_queue=cfg.overflow_to, wait_s=waited))
            self._move(call, cfg.overflow_to, now, out)
            return True
        return False

    # ---- call flow ----------------------------------------------------------------------------

    def _enter_queue(self, call: QueuedCall, cfg: QueueConfig, now: float, out: list[Decision]) -> None:
        call.queue, call.entered_queue_at, call.step = cfg.name, now, 0
        call.ewt_s = call.ewt_at = None
        call.epoch += 1
        call.armed = False
        call.need = () if call.pinned else cfg.steps[0].requirement(call.skills)
        pref = self._agents.get(call.preferred_agent or "")
        call.pref_active = call.pinned or bool(
            cfg.preferred_agent_s > 0 and pref is not None and cfg.name in pref.queues
            and pref.state is not AgentState.LOGGED_OUT)
        if (not call.pref_active and pref is not None and pref.indexed and cfg.name in pref.queues
                and pref.meets(call.need) and not self._offers_held):
            # No window to wait for the customer's last agent, but they are free: they take it.
            self._offer(call, pref, now, out)
            return
        self._requeue_waiting(call, now, out)

    def _move(self, call: QueuedCall, queue: str, now: float, out: list[Decision], *, carried_s: float = 0.0) -> None:
        """``carried_s``: the waits no queue counted (a supervisor's move); an overflow or a limit
        counted the call in the queue it left, and the next queue counts its own stay."""
        call.moved_wait_s = carried_s
        self._wait.remove(call)
        call.state = next_call_state(call.call_id, call.state, CallEvent.MOVE)
        call.queue = queue
        # The IVR's topic skill of the queue it leaves stays behind (a transfer to a queue drops it too).
        call.skills = moved_skills(call.skills, queue, self._queues)
        call.answered_before = False  # a stay in another queue: that queue counts its own answer
        self._offered_stats_of(call).entered()
        self._enter_queue(call, self._queues[queue], now, out)

    def _limit(self, call: QueuedCall, reason: str, spec: LimitSpec, now: float, out: list[Decision]) -> None:
        self._offered_stats_of(call).left_by_limit()
        out.append(LimitAction(call_id=call.call_id, queue=call.queue, reason=reason, action=spec.action,
                               target=spec.target, wait_s=max(0.0, now - call.entered_queue_at)))
        if spec.action is LimitKind.QUEUE and spec.target is not None:
            self._move(call, spec.target, now, out)
            return
        self._wait.remove(call)
        call.state = next_call_state(call.call_id, call.state, CallEvent.LEAVE)
        del self._calls[call.call_id]

    def _requeue_waiting(self, call: QueuedCall, now: float, out: list[Decision]) -> None:
        """Route a call that (again) waits: offer it now, or keep it among its queue's waiting calls."""
        if self._offers_held:
            chosen = None
        elif call.pref_active:
            agent = self._agents.get(call.preferred_agent or "")
            chosen = (agent if agent is not None and agent.indexed and call.queue in agent.queues
                      and agent.meets(call.need) else None)
        else:
            chosen = self._pick_agent(call, self._queues[call.queue])
        if chosen is not None:
            self._offer(call, chosen, now, out)
            return
        self._wait.add(call)
        if call.ewt_s is None:  # its first estimate in this queue, checked when an agent answers
            # Calls ahead: all those waiting (exact for calls of equal priority, O(1) unlike position()).
            ahead = len(self._wait.ids(call.queue))
            call.ewt_s = self._stats[call.queue].estimated_wait(ahead, self._servers(call.queue))
            call.ewt_at = now
        if not call.armed:
            self._timers.arm(call, self._queues[call.queue], now)

    def _offer(self, call: QueuedCall, agent: Agent, now: float, out: list[Decision]) -> None:
        cfg = self._queues[call.queue]
        self._wait.remove(call)
        call.state = next_call_state(call.call_id, call.state, CallEvent.OFFER)
        call.agent_id, call.offered_at = agent.agent_id, now
        call.offer_no += 1
        self._index_remove(agent)
        agent.offers.add(call.call_id)
        if cfg.strategy is Strategy.ROUND_ROBIN:
            self._rr_last[cfg.name] = agent.rank
        ring_s = self._ring_offer(call, agent, out)
        self._fire(agent, AgentEvent.OFFER, None, now, out, about=call)  # maybe in another call's context
        self._timers.at(now + ring_s + RING_GRACE_S, timers.RING, call.call_id, call.offer_no)

    def _ring_offer(self, call: QueuedCall, agent: Agent, out: list[Decision], *, again: bool = False) -> float:
        """The ``Offer`` that rings ``agent`` with ``call``; its ring's timeout."""
        cfg = self._queues[call.queue]
        ring_s = cfg.ring_timeout_s + (cfg.callback_ring_s if call.virtual else 0.0)
        out.append(Offer(call_id=call.call_id, agent_id=agent.agent_id, queue=call.queue,
                         ring_timeout_s=ring_s, customer_id=call.customer_id, callback=call.virtual,
                         waiting_since=call.waiting_since, again=again))
        return ring_s

    def _ring_again(self, call: QueuedCall, agent: Agent, now: float, out: list[Decision]) -> None:
        """The ringing phone moved to a new SIP contact (a browser phone's page reload,
        acd.phone_contacts): the ring to the old one is stopped (``CancelOffer`` ring_again) and the
        same offer rings the agent again, a whole ring long; the call keeps ringing them (its place,
        its timers), the agent stays reserved: no state change, no miss."""
        out.append(CancelOffer(call_id=call.call_id, agent_id=agent.agent_id, reason="ring_again"))
        call.offer_no += 1  # the old ring's backstop is void
        ring_s = self._ring_offer(call, agent, out, again=True)
        self._timers.at(now + ring_s + RING_GRACE_S, timers.RING, call.call_id, call.offer_no)

    def _withdraw_offer(self, call: QueuedCall, agent: Agent, reason: str, now: float, out: list[Decision]) -> None:
        """The offer ends without blaming the agent; the call waits again (not yet among the waiting)."""
        out.append(CancelOffer(call_id=call.call_id, agent_id=agent.agent_id, reason=reason))
        agent.offers.discard(call.call_id)
        self._fire(agent, AgentEvent.CANCEL, None, now, out)
        call.state = next_call_state(call.call_id, call.state, CallEvent.REQUEUE)
        call.agent_id = None

    def _missed(self, call: QueuedCall, agent: Agent, now: float, out: list[Decision]) -> None:
        agent.offers.discard(call.call_id)
        if agent.state is AgentState.RESERVED:
            agent.not_ready_after_call = None  # not ready now ("missed"): a request made while it rang is spent
            self._fire(agent, AgentEvent.NO_ANSWER, MISSED, now, out)
        else:
            self._fire(agent, AgentEvent.NO_ANSWER, None, now, out)
            agent.not_ready_after_call = MISSED
            self._settle(agent, call, now, out)
        call.state = next_call_state(call.call_id, call.state, CallEvent.REQUEUE)
        call.agent_id = None
        call.misses += 1
        out.append(Requeue(call_id=call.call_id, queue=call.queue, reason="no_answer"))
        if not self._check_limits(call, now, out):
            if not call.armed:
                self._timers.arm(call, self._queues[call.queue], now)
            self._requeue_waiting(call, now, out)

    def _end_connected(self, call: QueuedCall, now: float, out: list[Decision], *, wrap_up: bool = True) -> None:
        """A connected call ends: its agent wraps up (``wrap_up``), or has nothing to wrap up and
        goes on as after an offer that never connected."""
        agent = self._agents[call.agent_id or ""]
        call.state = next_call_state(call.call_id, call.state, CallEvent.END)
        self._stats_of(call).talked(now - call.answered_at if call.answered_at is not None else 0.0)
        del self._calls[call.call_id]
        agent.calls.discard(call.call_id)
        self._settle(agent, call, now, out, connected=wrap_up)
        if agent.state in (AgentState.ON_CALL, AgentState.AVAILABLE):
            self._agent_freed(agent, now, out)

    def _settle(self, agent: Agent, call: QueuedCall, now: float, out: list[Decision], *,
                connected: bool = False) -> None:
        """After an interaction of an on-call agent ended: wrap-up if none is left. The wrap-up
        belongs to the ``connected`` call that ended (its after-call work, ``WrapUpEnded``); a call
        that ends while the agent is on another connected call (capacity > 1) has no wrap-up state
        of its own; offers that only ring then are withdrawn (docs/kpis.md, ACW). An
        offer that never connected leaves nothing to wrap up: the agent goes where one who only had
        that offer would (available, or not ready with the reason pending: "missed" for a ring-out)."""
        if agent.state is not AgentState.ON_CALL:
            return
        pulled = []
        if connected and agent.offers and not agent.calls:
            # No other call connected, only offers ringing: the call has its wrap-up, and an agent in
            # wrap-up is offered nothing. The offers are withdrawn (the agent not blamed); their calls
            # wait again at their place once the agent is in wrap-up (not offered back to them).
            for call_id in sorted(agent.offers):
                offer = self._calls[call_id]
                self._withdraw_offer(offer, agent, "wrap_up", now, out)
                out.append(Requeue(call_id=call_id, queue=offer.queue, reason="agent_wrap_up"))
                pulled.append(offer)
        if agent.load:
            self._fire(agent, AgentEvent.RELEASE, None, now, out)
            if connected:
                out.append(WrapUpEnded(agent_id=agent.agent_id, call_id=call.call_id, reason="other_call", at=now))
            return
        if not connected:
            reason, agent.not_ready_after_call = agent.not_ready_after_call, None
            if reason is not None:
                self._index_remove(agent)
                self._fire(agent, AgentEvent.NOT_READY, reason, now, out)
            else:
                self._fire(agent, AgentEvent.IDLE, None, now, out)
            return
        # Its end is known before the state change, which carries it (the console's countdown).
        wrap = agent.wrap_up_s if agent.wrap_up_s is not None else self._queues[call.queue].wrap_up_s
        agent.wrap_epoch += 1
        agent.wrap_until = now + wrap
        self._fire(agent, AgentEvent.END, None, now, out)
        agent.wrap_call = call.call_id if connected else None
        for offer in pulled:  # in wrap-up now: not offered to this agent (unless its wrap-up is 0 s, below)
            if not self._check_limits(offer, now, out):
                if not offer.armed:
                    self._timers.arm(offer, self._queues[offer.queue], now)
                self._requeue_waiting(offer, now, out)
        if wrap <= 0:
            self._wrap_done(agent, now, out)
        else:
            self._timers.at(agent.wrap_until, timers.WRAP, agent.agent_id, agent.wrap_epoch)

    def _wrap_done(self, agent: Agent, now: float, out: list[Decision], why: str = "timer") -> None:
        """The wrap-up ends on its own (``why``: its timer, or the engine's stop)."""
        agent.wrap_until = None
        if agent.not_ready_after_call is not None:
            reason, agent.not_ready_after_call = agent.not_ready_after_call, None
            self._fire(agent, AgentEvent.NOT_READY, reason, now, out, wrap_end=why)
            return
        self._fire(agent, AgentEvent.WRAP_DONE, None, now, out, wrap_end=why)
        self._agent_freed(agent, now, out)

    # ---- agent side ---------------------------------------------------------------------------

    def _fire(self, agent: Agent, event: AgentEvent, reason: str | None, now: float, out: list[Decision], *,
              about: QueuedCall | None = None, wrap_end: str | None = None) -> None:
        """One step of the agent's state machine and its decisions; ``wrap_end``: why a wrap-up
        ends, when not the event's own name (the timer, with a not-ready reason pending)."""
        old = agent.state
        new = next_agent_state(agent.agent_id, old, event, call_id=about.call_id if about else None,
                               queue=about.queue if about else None)
        was = self._is_serving(agent)
        agent.state = new
        self._serving_changed(agent, was)
        agent.reason = reason if new is AgentState.NOT_READY else None
        if agent.indexed and new is not AgentState.AVAILABLE and new is not AgentState.ON_CALL:
            self._index_remove(agent)  # e.g. a capacity-2 agent idle on one call that wraps up
        if new is AgentState.AVAILABLE and old is not AgentState.AVAILABLE:
            self._seq += 1
            agent.idle_since, agent.idle_seq = now, self._seq
        if old in _WORKING and new not in _WORKING and agent.work_since is not None:
            # Handle time ends with the wrap-up (or with an offer that never connected, when nothing is
            # left to wrap up): the queue's service rate is what estimates use.
            if agent.work_queue in self._stats:
                self._stats[agent.work_queue].handled(now - agent.work_since)
            agent.work_queue = agent.work_since = None
        if new is not old or event is AgentEvent.NOT_READY:
            agent.state_since = now
            out.append(AgentStateChange(agent_id=agent.agent_id, old=old, new=new, reason=agent.reason, at=now,
                                        phone_reachable=agent.registered,
                                        wrap_until=agent.wrap_until if new is AgentState.WRAP_UP else None))
        if old is AgentState.WRAP_UP and new is not AgentState.WRAP_UP and agent.wrap_call is not None:
            ended_by = wrap_end or ("timer" if event is AgentEvent.WRAP_DONE else event.value)
            out.append(WrapUpEnded(agent_id=agent.agent_id, call_id=agent.wrap_call, reason=ended_by, at=now))
            agent.wrap_call = None

    def _agent_freed(self, agent: Agent, now: float, out: list[Decision], *, fresh: bool = True) -> None:
        """The agent may take work: offer it the best call it qualifies for, or index it as idle."""
        if agent.indexed or not agent.eligible():
            return
        call = None if self._offers_held else self._pick_call(agent)
        if call is not None:
            self._offer(call, agent, now, out)
            return
        if fresh and agent.state is AgentState.ON_CALL:  # capacity > 1: idle since its last change
            self._seq += 1
            agent.idle_since, agent.idle_seq = now, self._seq
        self._index_add(agent)

    # The seams to the indexes; bench/routing.py's naive comparator overrides these four.

    def _pick_call(self, agent: Agent) -> QueuedCall | None:
        return self._wait.pick(agent)

    def _pick_agent(self, call: QueuedCall, cfg: QueueConfig) -> Agent | None:
        return self._idle.pick(call, cfg)

    def _index_insert(self, agent: Agent) -> None:
        self._idle.insert(agent)

    def _index_delete(self, agent: Agent) -> None:
        self._idle.delete(agent)

    def _index_add(self, agent: Agent) -> None:
        agent.indexed = True
        self._index_insert(agent)

    def _index_remove(self, agent: Agent) -> None:
        if agent.indexed:
            agent.indexed = False
            self._index_delete(agent)
