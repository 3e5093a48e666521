"""The pure router: state + event + ``now`` in, decisions out. No I/O, no clock, no awaits.

Every public method first runs the timers that fell due up to ``now`` (wrap-up ends, widening
steps, preferred-agent windows, overflow, max wait, announcements, the ring backstop), each at its
own due time, then handles its event, and returns every decision taken, in order.

The router owns the agents and the calls and handles the events; three parts it composes keep
the indexes that make it fast: ``AgentIndex`` (idle agents per queue, in idle order, and the
strategy's pick), ``WaitingCalls`` (waiting calls per queue, a heap per requirement) and ``Timers``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Concatenate, ParamSpec

from acd import timers
from acd.agent_index import AgentIndex
from acd.decisions import (
    Abandoned,
    AgentStateChange,
    Announce,
    Bridge,
    CancelOffer,
    Decision,
    LimitAction,
    NotReadyPending,
    Offer,
    Overflow,
    PhoneReachability,
    Requeue,
    WrapUpEnded,
)
from acd.errors import AcdError, InvalidRequest, StaleOffer, UnknownAgent, UnknownCall, UnknownQueue
from acd.model import (
    MAX_LEVEL,
    MIN_LEVEL,
    Agent,
    AgentEvent,
    AgentState,
    AgentView,
    CallEvent,
    CallState,
    CallView,
    LimitKind,
    LimitSpec,
    QueueConfig,
    QueuedCall,
    Requirement,
    Strategy,
    next_agent_state,
    next_call_state,
)
from acd.stats import QueueSnapshot, QueueStats, WaitingCall
from acd.timers import Timers
from acd.waiting import WaitingCalls

# The adapter reports a ring-no-answer itself after ``ring_timeout_s``; the router's own timer
# fires this much later, only as a backstop for a lost event (a dropped AMI connection).
RING_GRACE_S = 5.0
MISSED = "missed"
_WORKING = (AgentState.ON_CALL, AgentState.WRAP_UP)  # an agent's handle time runs through both

_P = ParamSpec("_P")


def _keeps_timer_decisions(
    method: Callable[Concatenate[Router, _P], list[Decision]],
) -> Callable[Concatenate[Router, _P], list[Decision]]:
    """When the event is refused (an AcdError), the decisions of the timers that ran before it are
    not lost: the next call returns them first."""

    @functools.wraps(method)
    def wrapper(self: Router, /, *args: _P.args, **kwargs: _P.kwargs) -> list[Decision]:
        try:
            return method(self, *args, **kwargs)
        except AcdError:
            self._carry = self._current
            raise

    return wrapper


class Router:
    """Skill-based routing for a set of queues; one instance owns every agent's state."""

    def __init__(self, queues: Iterable[QueueConfig]) -> None:
        self._queues: dict[str, QueueConfig] = {q.name: q for q in queues}
        self._stats = {n: QueueStats(q.service_level_s, q.short_abandon_s) for n, q in self._queues.items()}
        self._uncounted = QueueStats()  # where the figures of calls no statistic sees go (consultations)
        self._members: dict[str, set[str]] = {n: set() for n in self._queues}
        # queue -> {number of queues an agent serves: serving agents with that many}: see _servers
        self._serving: dict[str, dict[int, int]] = {n: {} for n in self._queues}
        self._rr_last: dict[str, int] = dict.fromkeys(self._queues, -1)  # rank of the agent last offered
        self._by_rank: list[Agent] = []
        self._agents: dict[str, Agent] = {}
        self._calls: dict[str, QueuedCall] = {}
        self._idle = AgentIndex(self._queues.values(), self._agents, self._by_rank, self._members, self._rr_last)
        self._wait = WaitingCalls(self._queues, self._calls)
        self._timers = Timers()
        self._seq = 0
        self._now = float("-inf")
        self._carry: list[Decision] = []  # timer decisions of a refused call, returned by the next one
        self._current: list[Decision] = []
        self._offers_held = False  # hold_offers

    # ---- agents -------------------------------------------------------------------------------

    @_keeps_timer_decisions
    def agent_login(
        self, agent_id: str, skills: Mapping[str, int], now: float, *, capacity: int = 1,
        queues: Sequence[str] = (), wrap_up_s: float | None = None, ready: bool = False,
        registered: bool = True,
    ) -> list[Decision]:
        """Log in (state not ready, reason "login"), or straight to available with ``ready``."""
        out, now = self._begin(now)
        self._check_skills(skills)
        if capacity < 1:
            raise InvalidRequest("capacity", "must be at least 1")
        for q in queues:
            self._queue(q)
        agent = self._agents.get(agent_id)
        if agent is None:
            agent = Agent(agent_id, dict(skills), capacity, tuple(queues), rank=len(self._agents))
            self._agents[agent_id] = agent
            self._by_rank.append(agent)
        elif agent.state is not AgentState.LOGGED_OUT:
            raise InvalidRequest("agent_id", f"agent {agent_id} is already logged in")
        agent.skills, agent.capacity, agent.queues = dict(skills), capacity, tuple(queues)
        self._idle.forget_lists(agent_id)
        agent.wrap_up_s, agent.registered, agent.not_ready_after_call = wrap_up_s, registered, None
        self._fire(agent, AgentEvent.LOGIN, "login", now, out)
        for q in agent.queues:
            self._members[q].add(agent_id)
        if ready:
            self._fire(agent, AgentEvent.READY, None, now, out)
            self._agent_freed(agent, now, out)
        return out

    @_keeps_timer_decisions
    def agent_logout(self, agent_id: str, now: float) -> list[Decision]:
        out, now = self._begin(now)
        agent = self._agent(agent_id)
        self._fire(agent, AgentEvent.LOGOUT, None, now, out)
        self._index_remove(agent)
        for q in agent.queues:
            self._members[q].discard(agent_id)
        for call in [c for c in self._calls.values() if c.pinned and c.preferred_agent == agent_id
                     and c.state is CallState.WAITING]:
            # Its agent left: the transfer cannot reach them; the call goes to its queue's agents.
            call.pinned = call.pref_active = False
            call.need = self._queues[call.queue].steps[call.step].requirement(call.skills)
            out.append(Requeue(call_id=call.call_id, queue=call.queue, reason="target_logged_out"))
            self._requeue_waiting(call, now, out)
        return out

    @_keeps_timer_decisions
    def set_ready(self, agent_id: str, now: float) -> list[Decision]:
        """Available now; during a call it only withdraws a pending "not ready after this call"."""
        out, now = self._begin(now)
        agent = self._agent(agent_id)
        if agent.state in (AgentState.ON_CALL, AgentState.RESERVED) and agent.not_ready_after_call:
            agent.not_ready_after_call = None
            out.append(NotReadyPending(agent_id=agent_id, reason=None))
            self._agent_freed(agent, now, out)
            return out
        if agent.state is AgentState.WRAP_UP:
            agent.wrap_epoch += 1
        agent.not_ready_after_call = None  # ready now: a pending "not ready after this call" is withdrawn
        self._fire(agent, AgentEvent.READY, None, now, out)
        self._agent_freed(agent, now, out)
        return out

    @_keeps_timer_decisions
    def set_not_ready(self, agent_id: str, reason: str, now: float) -> list[Decision]:
        """Not ready with ``reason`` now; while ringing or talking, once the work ends."""
        out, now = self._begin(now)
        agent = self._agent(agent_id)
        if agent.state in (AgentState.ON_CALL, AgentState.RESERVED):
            agent.not_ready_after_call = reason
            self._index_remove(agent)
            out.append(NotReadyPending(agent_id=agent_id, reason=reason))  # the console says "then not ready"
            return out
        if agent.state is AgentState.WRAP_UP:
            agent.wrap_epoch += 1
        agent.not_ready_after_call = None  # not ready now: nothing is left pending for the next call
        self._index_remove(agent)
        self._fire(agent, AgentEvent.NOT_READY, reason, now, out)
        return out

    @_keeps_timer_decisions
    def not_ready_after_call(self, agent_id: str, now: float, reason: str = "after_call") -> list[Decision]:
        """Go not ready when the current call and its wrap-up end (now, if there is no work)."""
        out, now = self._begin(now)
        agent = self._agent(agent_id)
        if agent.state in (AgentState.ON_CALL, AgentState.RESERVED, AgentState.WRAP_UP):
            agent.not_ready_after_call = reason
            self._index_remove(agent)
            out.append(NotReadyPending(agent_id=agent_id, reason=reason))
            return out
        self._index_remove(agent)
        self._fire(agent, AgentEvent.NOT_READY, reason, now, out)
        return out

    @_keeps_timer_decisions
    def set_device_registered(self, agent_id: str, registered: bool, now: float) -> list[Decision]:
        """Agents whose phone is unregistered are not offered calls; they keep their idle seniority."""
        out, now = self._begin(now)
        agent = self._agent(agent_id)
        was = self._is_serving(agent)
        if agent.registered is not registered and agent.state is not AgentState.LOGGED_OUT:
            out.append(PhoneReachability(agent_id=agent_id, reachable=registered, state=agent.state,
                                         reason=agent.reason, at=now))
        agent.registered = registered
        self._serving_changed(agent, was)
        if registered:
            self._agent_freed(agent, now, out, fresh=False)
        else:
            self._index_remove(agent)
        return out

    @_keeps_timer_decisions
    def set_skills(self, agent_id: str, skills: Mapping[str, int], now: float) -> list[Decision]:
        """Live skill change; it counts from the next decision on (also the one it triggers)."""
        out, now = self._begin(now)
        self._check_skills(skills)
        agent = self._agent(agent_id)
        was_indexed = agent.indexed
        self._index_remove(agent)
        agent.skills = dict(skills)
        self._idle.forget_lists(agent_id)
        if was_indexed:
            self._agent_freed(agent, now, out, fresh=False)
        return out

    # ---- calls --------------------------------------------------------------------------------

    @_keeps_timer_decisions
    def enqueue(
        self, call_id: str, queue: str, now: float, *, skills: Mapping[str, int] | None = None,
        priority: int = 0, preferred_agent: str | None = None, customer_id: int | str | None = None,
        required_agent: str | None = None, counted: bool = True, virtual: bool = False,
    ) -> list[Decision]:
        """Queue a call. ``required_agent`` (a transfer to a named agent) pins it: it waits for that
        agent only, whatever their skills, and is refused when that agent is not logged in.
        ``counted`` False (an agent consulting a colleague): routed like any call, but no queue
        statistic sees it (no offered call, no talk or handle time, no estimate checked).
        ``virtual``: a web callback request, waiting without a caller on the line (``hold_virtually``)."""
        out, now = self._begin(now)
        cfg = self._queue(queue)
        if call_id in self._calls:
            raise InvalidRequest("call_id", f"call {call_id} is already queued")
        if skills:
            self._check_skills(skills)
        if required_agent is not None:
            target = self._agents.get(required_agent)
            if target is None or target.state is AgentState.LOGGED_OUT:
                raise InvalidRequest("required_agent", f"agent {required_agent} is not logged in")
            if queue not in target.queues:
                if not target.queues:
                    raise InvalidRequest("required_agent", f"agent {required_agent} serves no queue")
                queue, cfg = target.queues[0], self._queues[target.queues[0]]
            preferred_agent, skills = required_agent, None
        self._seq += 1
        call = QueuedCall(
            call_id, queue, dict(skills) if skills else None, priority, now, self._seq, now,
            preferred_agent=preferred_agent, customer_id=customer_id, pinned=required_agent is not None,
            counted=counted, virtual=virtual,
        )
        self._calls[call_id] = call
        self._stats_of(call).entered()
        if call.pinned:
            self._enter_queue(call, cfg, now, out)
        elif not self._members[queue] and cfg.no_agents_action is not None:
            self._limit(call, "no_agents", cfg.no_agents_action, now, out)
        elif cfg.max_length is not None and len(self._wait.ids(queue)) >= cfg.max_length:
            self._limit(call, "max_length", cfg.max_length_action or LimitSpec(LimitKind.HANGUP), now, out)
        else:
            self._enter_queue(call, cfg, now, out)
        return out

    @_keeps_timer_decisions
    def restore_waiting(
        self, call_id: str, queue: str, now: float, *, entered_at: float, skills: Mapping[str, int] | None = None,
        priority: int = 0, customer_id: int | str | None = None, virtual: bool = False,
        fresh_timers: bool = False, queue_entered_at: float | None = None,
    ) -> list[Decision]:
        """Take back a caller that kept waiting while no engine ran (``acd.recovery``): it keeps its
        original entry time, hence its place among the waiting calls and its timers' due times.
        No queue statistics are counted again: the first engine counted its entry. ``virtual``: a
        virtual-hold entry the engine persisted (``acd.virtual_hold``). ``fresh_timers``: its place
        is kept but its queue timers start now (a call whose agent's softphone was lost and did not
        come back, ``acd.reconnect``), and so does its wait (the wallboard's: its talk was no wait).
        ``queue_entered_at``: its entry into ``queue`` when it was moved there after ``entered_at``
        (an overflow, a limit's queue action): this stay's wait and timers count from there, the
        caller's wait and place from ``entered_at`` (docs/kpis.md)."""
        out, now = self._begin(now)
        cfg = self._queue(queue)
        if call_id in self._calls:
            raise InvalidRequest("call_id", f"call {call_id} is already queued")
        if skills:
            self._check_skills(skills)
        self._seq += 1
        entered = min(entered_at, now)
        stay = entered if queue_entered_at is None else min(max(queue_entered_at, entered), now)
        call = QueuedCall(call_id, queue, dict(skills) if skills else None, priority, entered, self._seq,
                          now if fresh_timers else stay, customer_id=customer_id, virtual=virtual,
                          waiting_since=now if fresh_timers else None, answered_before=fresh_timers)
        self._calls[call_id] = call
        call.need = cfg.steps[0].requirement(call.skills)
        call.epoch += 1
        self._requeue_waiting(call, now, out)
        return out

    @_keeps_timer_decisions
    def attach_connected(
        self, call_id: str, agent_id: str, queue: str, now: float, *, entered_at: float, answered_at: float,
        skills: Mapping[str, int] | None = None, priority: int = 0, customer_id: int | str | None = None,
    ) -> list[Decision]:
        """Re-attach a call that stayed connected while no engine ran (``acd.recovery``): the agent
        (logged in, not on another call) goes on call with it through the usual offer and answer
        steps, and wraps up when it ends. A not-ready reason the agent had applies after the call."""
        out, now = self._begin(now)
        self._queue(queue)
        agent = self._agent(agent_id)
        if call_id in self._calls:
            raise InvalidRequest("call_id", f"call {call_id} is already known")
        if agent.state not in (AgentState.AVAILABLE, AgentState.NOT_READY):
            raise InvalidRequest("agent_id", f"agent {agent_id} is {agent.state.value}, cannot take a call")
        self._seq += 1
        call = QueuedCall(call_id, queue, dict(skills) if skills else None, priority, entered_at, self._seq,
                          entered_at, customer_id=customer_id, state=CallState.CONNECTED, agent_id=agent_id,
                          offered_at=answered_at, answered_at=answered_at)
        self._calls[call_id] = call
        self._index_remove(agent)
        if agent.state is AgentState.NOT_READY:
            agent.not_ready_after_call = agent.reason or "login"
            self._fire(agent, AgentEvent.READY, None, now, out)
        self._fire(agent, AgentEvent.OFFER, None, now, out)
        self._fire(agent, AgentEvent.ANSWER, None, now, out)
        agent.calls.add(call_id)
        return out

    @_keeps_timer_decisions
    def offer_answered(self, call_id: str, agent_id: str, now: float) -> list[Decision]:
        out, now = self._begin(now)
        call = self._calls.get(call_id)
        if call is None or call.state is not CallState.RINGING or call.agent_id != agent_id:
            raise StaleOffer(f"call {call_id} is not ringing agent {agent_id}")
        agent = self._agents[agent_id]
        call.state = next_call_state(call_id, call.state, CallEvent.ANSWER)
        call.answered_at = now
        agent.offers.discard(call_id)
        agent.calls.add(call_id)
        if agent.work_since is None and call.counted:
            agent.work_queue, agent.work_since = call.queue, now
        self._fire(agent, AgentEvent.ANSWER, None, now, out)
        wait = now - call.entered_queue_at
        if call.answered_before:  # put back after its agent was lost: this stay's wait adds to its answer's
            self._stats_of(call).waited_again(wait)
        else:
            self._stats_of(call).answered_after(wait)
        if call.ewt_s is not None and call.ewt_at is not None:
            self._stats_of(call).ewt_observed(call.ewt_s, now - call.ewt_at)
        out.append(Bridge(call_id=call_id, agent_id=agent_id, queue=call.queue, wait_s=wait))
        self._agent_freed(agent, now, out)  # capacity > 1: may take another
        return out

    @_keeps_timer_decisions
    def offer_no_answer(self, call_id: str, agent_id: str, now: float) -> list[Decision]:
        """The agent did not answer: it goes not ready "missed", the call waits at its place again.

        A report for an offer that is no longer ringing (the backstop fired first) is ignored.
        """
        out, now = self._begin(now)
        call = self._calls.get(call_id)
        if call is None or call.state is not CallState.RINGING or call.agent_id != agent_id:
            return out
        self._missed(call, self._agents[agent_id], now, out)
        return out

    @_keeps_timer_decisions
    def offer_failed(self, call_id: str, agent_id: str, now: float) -> list[Decision]:
        """The offer could not be carried out (the PBX connection dropped while the phone rang): the
        offer is withdrawn without blaming the agent, and the call waits at its place (the head,
        for a call that was next) again. A report for an offer no longer ringing is ignored."""
        out, now = self._begin(now)
        call = self._calls.get(call_id)
        if call is None or call.state is not CallState.RINGING or call.agent_id != agent_id:
            return out
        agent = self._agents[agent_id]
        self._withdraw_offer(call, agent, "error", now, out)
        self._settle(agent, call, now, out)
        out.append(Requeue(call_id=call_id, queue=call.queue, reason="offer_failed"))
        if not self._check_limits(call, now, out):
            if not call.armed:
                self._timers.arm(call, self._queues[call.queue], now)
            self._requeue_waiting(call, now, out)
        self._agent_freed(agent, now, out)
        return out

    @_keeps_timer_decisions
    def withdraw(self, call_id: str, now: float) -> list[Decision]:
        """Take a call out of the ACD without counting it as abandoned (a cancelled consultation):
        waiting, it leaves; ringing, the offer is cancelled; connected, it ends (the agent wraps up)."""
        out, now = self._begin(now)
        call = self._call(call_id)
        if call.state is CallState.CONNECTED:
            self._end_connected(call, now, out)
            return out
        agent = self._agents[call.agent_id] if call.state is CallState.RINGING and call.agent_id else None
        if agent is not None:
            out.append(CancelOffer(call_id=call_id, agent_id=agent.agent_id, reason="withdrawn"))
            agent.offers.discard(call_id)
            self._fire(agent, AgentEvent.CANCEL, None, now, out)
            self._settle(agent, call, now, out)
            call.state = next_call_state(call_id, call.state, CallEvent.REQUEUE)
        self._wait.remove(call)
        call.state = next_call_state(call_id, call.state, CallEvent.LEAVE)
        del self._calls[call_id]
        if agent is not None:
            self._agent_freed(agent, now, out)
        return out

    @_keeps_timer_decisions
    def take_over(self, call_id: str, now: float) -> list[Decision]:
        """A consultation became the customer's call (the transfer completed): from now on the
        queue's statistics count its talk and its agent's handle time."""
        out, now = self._begin(now)
        call = self._call(call_id)
        if call.state is not CallState.CONNECTED or call.agent_id is None:
            raise InvalidRequest("call_id", f"call {call_id} is {call.state.value}, not connected")
        call.counted = True
        agent = self._agents[call.agent_id]
        if agent.work_since is None:
            agent.work_queue, agent.work_since = call.queue, call.answered_at if call.answered_at is not None else now
        return out

    @_keeps_timer_decisions
    def caller_hung_up(self, call_id: str, now: float, *, system_failure: bool = False) -> list[Decision]:
        """The caller left: abandoned while waiting or ringing (the offer is cancelled).
        ``system_failure``: the PBX crashed under the call; counted apart, not as an abandon."""
        out, now = self._begin(now)
        call = self._call(call_id)
        if call.state is CallState.CONNECTED:
            self._end_connected(call, now, out)
            return out
        if call.state is CallState.RINGING:
            agent = self._agents[call.agent_id or ""]
            out.append(CancelOffer(call_id=call_id, agent_id=agent.agent_id, reason="caller_hung_up"))
            agent.offers.discard(call_id)
            self._fire(agent, AgentEvent.CANCEL, None, now, out)
            self._settle(agent, call, now, out)
        else:
            self._wait.remove(call)
        call.state = next_call_state(call_id, call.state, CallEvent.ABANDON)
        wait = now - call.entered_queue_at
        if system_failure:
            self._stats_of(call).cut_by_system()
        elif not call.answered_before:  # a caller put back after an answer is an answered call, no abandon
            self._stats_of(call).abandoned_after(wait)
        del self._calls[call_id]
        out.append(Abandoned(call_id=call_id, queue=call.queue, wait_s=wait, system_failure=system_failure))
        if call.agent_id is not None:
            self._agent_freed(self._agents[call.agent_id], now, out)
        return out

    @_keeps_timer_decisions
    def call_ended(self, call_id: str, now: float) -> list[Decision]:
        """A bridged call ended: the agent wraps up (queue's or agent's wrap-up time)."""
        out, now = self._begin(now)
        call = self._call(call_id)
        if call.state is not CallState.CONNECTED:
            raise InvalidRequest("call_id", f"call {call_id} is {call.state.value}, not connected")
        self._end_connected(call, now, out)
        return out

    # ---- virtual hold: a waiting entry without a caller on the line ----------------------------

    @_keeps_timer_decisions
    def hold_virtually(self, call_id: str, now: float) -> list[Decision]:
        """The waiting caller hung up to be called back: it keeps its place (entry time, priority),
        hears no announcements and meets no max-wait or overflow; neither abandoned nor counted twice."""
        out, now = self._begin(now)
        call = self._call(call_id)
        if call.state is not CallState.WAITING or call.virtual:
            raise InvalidRequest("call_id", f"call {call_id} is {call.state.value}, not waiting on the line")
        call.virtual = True
        return out

    @_keeps_timer_decisions
    def callback_answered(self, call_id: str, agent_id: str, now: float, *, new_id: str) -> list[Decision]:
        """The customer answered its callback: from now on it is a caller on the line named ``new_id``
        (the callback's own call), ringing the reserved agent for the queue's ring timeout."""
        out, now = self._begin(now)
        call = self._calls.get(call_id)
        if call is None or call.state is not CallState.RINGING or call.agent_id != agent_id or not call.virtual:
            raise StaleOffer(f"call {call_id} is not a callback reserving agent {agent_id}")
        if new_id != call_id:
            if new_id in self._calls:
                raise InvalidRequest("new_id", f"call {new_id} is already queued")
            del self._calls[call_id]
            call.call_id = new_id
            self._calls[new_id] = call
            agent = self._agents[agent_id]
            agent.offers.discard(call_id)
            agent.offers.add(new_id)
        call.virtual = False
        call.offer_no += 1  # the backstop of the callback's ring is void; the agent's own ring starts
        call.epoch += 1  # timers of the virtual stay named the old id; the caller's stay arms anew
        call.armed = False
        cfg = self._queues[call.queue]
        self._timers.at(now + cfg.ring_timeout_s + RING_GRACE_S, timers.RING, new_id, call.offer_no)
        return out

    @_keeps_timer_decisions
    def callback_missed(self, call_id: str, agent_id: str, now: float, *, retry_at: float | None) -> list[Decision]:
        """The callback was not answered (or not confirmed): the agent is free again, not blamed.
        With ``retry_at`` the entry keeps its place but is offered to no one until then; without, it
        leaves the queue (the callback failed). A report for an offer no longer ringing is ignored."""
        out, now = self._begin(now)
        call = self._calls.get(call_id)
        if call is None or call.state is not CallState.RINGING or call.agent_id != agent_id or not call.virtual:
            return out
        agent = self._agents[agent_id]
        self._withdraw_offer(call, agent, "callback_missed", now, out)
        self._settle(agent, call, now, out)
        if retry_at is None:
            call.state = next_call_state(call_id, call.state, CallEvent.LEAVE)
            self._stats_of(call).left_by_limit()
            del self._calls[call_id]
        else:
            call.parked = True
            call.token += 1  # its entries among the waiting calls are void (a REQUEUEd call looks waiting)
            self._timers.at(max(retry_at, now), timers.PARK, call_id, call.offer_no)
        self._agent_freed(agent, now, out)
        return out

    @_keeps_timer_decisions
    def end_wrap_ups(self, now: float) -> list[Decision]:
        """The engine stops: every agent in wrap-up leaves it now, as its timer would end it
        (available, or not ready with the reason pending), and the call's after-call work ends with
        reason "stopped": no engine would say when it ended otherwise. After ``hold_offers``, so an
        agent freed so is offered nothing."""
        out, now = self._begin(now)
        for agent in self._by_rank:
            if agent.state is AgentState.WRAP_UP:
                agent.wrap_epoch += 1  # its timer is void
                self._wrap_done(agent, now, out, why="stopped")
        return out

    @_keeps_timer_decisions
    def tick(self, now: float) -> list[Decision]:
        out, _ = self._begin(now)
        return out

    def hold_offers(self) -> None:
        """From now on no call is offered: calls wait, an agent who frees up stays idle, and the rest
        (hang-ups, agent states, wrap-ups, timers) goes on. For an engine that stops, or that
        another node has taken the routing from: what it offered would ring with no engine to
        connect it."""
        self._offers_held = True

    # ---- queries ------------------------------------------------------------------------------

    def agent(self, agent_id: str) -> AgentView:
        a = self._agent(agent_id)
        return AgentView(
            a.agent_id, a.state, a.reason, dict(a.skills), a.capacity, a.queues, a.registered, a.idle_since,
            a.not_ready_after_call, tuple(sorted(a.offers)), tuple(sorted(a.calls)),
            a.wrap_until if a.state is AgentState.WRAP_UP else None,
        )

    def agent_queues(self, agent_id: str) -> tuple[tuple[str, ...], str | None]:
        """(queues, not_ready_after_call) of the agent: what a published state change carries, without
        building the whole view (its skills copied, its offers and calls sorted) several times per call."""
        a = self._agent(agent_id)
        return a.queues, a.not_ready_after_call

    def agents(self) -> list[AgentView]:
        return [self.agent(a) for a in self._agents]

    def call(self, call_id: str) -> CallView:
        c = self._call(call_id)
        return CallView(
            c.call_id, c.queue, c.state, c.priority, c.enqueued_at, c.entered_queue_at, c.step, c.need,
            c.preferred_agent, c.pref_active, c.agent_id, c.pinned, c.virtual, c.parked,
        )

    def calls(self) -> list[CallView]:
        return [self.call(c) for c in self._calls]

    def next_due(self) -> float | None:
        """When the earliest timer falls due (the adapter may sleep until then and ``tick``)."""
        return self._timers.next_due()

    def first_need(self, queue: str, skills: Mapping[str, int] | None) -> Requirement:
        """What a call with ``skills`` entering ``queue`` asks of an agent before any step widens it."""
        return self._queue(queue).steps[0].requirement(skills)

    def has_queue(self, name: str) -> bool:
        return name in self._queues

    def queue_names(self) -> list[str]:
        """The configured queues' names (no figures computed: see ``queue_snapshots``)."""
        return list(self._queues)

    def waiting(self, queue: str) -> list[str]:
        """Waiting call ids of ``queue``, next first."""
        self._queue(queue)
        return sorted(self._wait.ids(queue), key=lambda c: self._calls[c].order)

    def position(self, call_id: str) -> tuple[int, float]:
        """(position, estimated wait in seconds) of a waiting call; position 1 is next."""
        call = self._call(call_id)
        order = call.order
        pos = 1 + sum(1 for c in self._wait.ids(call.queue) if self._calls[c].order < order)
        return pos, self._stats[call.queue].estimated_wait(pos, self._servers(call.queue))

    def estimates(self, queue: str) -> dict[str, float]:
        """Estimated wait of every call waiting in ``queue`` (one sort, not one scan per call)."""
        servers = self._servers(queue)
        stats = self._stats[queue]
        return {c: stats.estimated_wait(pos, servers) for pos, c in enumerate(self.waiting(queue), 1)}

    def estimate(self, call_id: str) -> tuple[int, float, float, float]:
        """(position, estimated wait, low, high): the estimate and the range its known error allows."""
        pos, ewt = self.position(call_id)
        low, high = self._stats[self._call(call_id).queue].ewt_range(ewt)
        return pos, ewt, low, high

    def queue_snapshot(self, queue: str, now: float) -> QueueSnapshot:
        self._queue(queue)
        calls = [c for c in self._calls.values() if c.queue == queue and c.counted]
        waiting = [c for c in calls if c.state is CallState.WAITING and not c.virtual]
        members = [self._agents[a] for a in self._members[queue]]
        return self._stats[queue].snapshot(
            queue,
            waiting=len(waiting),
            virtual=sum(1 for c in calls if c.virtual),
            ringing=sum(1 for c in calls if c.state is CallState.RINGING),
            connected=sum(1 for c in calls if c.state is CallState.CONNECTED),
            # The caller's wait since it first queued (docs/kpis.md): an overflow does not start it again;
            # being put back after a lost agent's talk does.
            longest_wait_s=max((now - c.wait_start for c in waiting), default=0.0),
            agents_logged_in=len(members),
            # Available is what could be offered a call: an agent whose phone is unreachable is not.
            agents_available=sum(1 for a in members if a.state is AgentState.AVAILABLE and a.registered),
        )

    def waiting_calls(self, now: float) -> list[WaitingCall]:
        """The callers waiting now, queue by queue (configured order), next first: the calls that
        ``queue_snapshot`` counts waiting, and the virtual-hold entries keeping their place."""
        by_queue: dict[str, list[QueuedCall]] = {q: [] for q in self._queues}
        for c in self._calls.values():
            if c.state is CallState.WAITING and c.counted:  # not an agent consulting a colleague
                by_queue[c.queue].append(c)
        return [WaitingCall(c.call_id, queue, pos, c.priority, c.wait_start, now - c.wait_start, c.virtual)
                for queue, calls in by_queue.items()
                for pos, c in enumerate(sorted(calls, key=lambda c: c.order), 1)]

    def queue_snapshots(self, now: float) -> list[QueueSnapshot]:
        return [self.queue_snapshot(q, now) for q in self._queues]

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
            self._stats_of(call).overflowed_out()
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

    def _move(self, call: QueuedCall, queue: str, now: float, out: list[Decision]) -> None:
        self._wait.remove(call)
        call.state = next_call_state(call.call_id, call.state, CallEvent.MOVE)
        call.queue = queue
        call.answered_before = False  # a stay in another queue: that queue counts its own answer
        self._stats_of(call).entered()
        self._enter_queue(call, self._queues[queue], now, out)

    def _limit(self, call: QueuedCall, reason: str, spec: LimitSpec, now: float, out: list[Decision]) -> None:
        self._stats_of(call).left_by_limit()
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
        ring_s = cfg.ring_timeout_s + (cfg.callback_ring_s if call.virtual else 0.0)
        out.append(Offer(call_id=call.call_id, agent_id=agent.agent_id, queue=call.queue,
                         ring_timeout_s=ring_s, customer_id=call.customer_id, callback=call.virtual,
                         waiting_since=call.waiting_since))
        self._fire(agent, AgentEvent.OFFER, None, now, out, about=call)  # maybe in another call's context
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

    def _end_connected(self, call: QueuedCall, now: float, out: list[Decision]) -> None:
        agent = self._agents[call.agent_id or ""]
        call.state = next_call_state(call.call_id, call.state, CallEvent.END)
        self._stats_of(call).talked(now - call.answered_at if call.answered_at is not None else 0.0)
        del self._calls[call.call_id]
        agent.calls.discard(call.call_id)
        self._settle(agent, call, now, out, connected=True)
        if agent.state is AgentState.ON_CALL:
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
        self._fire(agent, AgentEvent.END, None, now, out)
        agent.wrap_call = call.call_id if connected else None
        for offer in pulled:  # in wrap-up now: not offered to this agent (unless its wrap-up is 0 s, below)
            if not self._check_limits(offer, now, out):
                if not offer.armed:
                    self._timers.arm(offer, self._queues[offer.queue], now)
                self._requeue_waiting(offer, now, out)
        wrap = agent.wrap_up_s if agent.wrap_up_s is not None else self._queues[call.queue].wrap_up_s
        agent.wrap_epoch += 1
        agent.wrap_until = now + wrap
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
            out.append(AgentStateChange(agent_id=agent.agent_id, old=old, new=new, reason=agent.reason, at=now,
                                        phone_reachable=agent.registered))
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

    # ---- lookups ------------------------------------------------------------------------------

    def _stats_of(self, call: QueuedCall) -> QueueStats:
        return self._stats[call.queue] if call.counted else self._uncounted

    def _servers(self, queue: str) -> float:
        """The agents serving ``queue``: ready or working (busy agents come back after their handle
        time, which the AHT includes), each shared equally among the queues it serves. Kept up to
        date on every state change, so an estimate costs no scan of the queue's agents."""
        return sum(n / k for k, n in self._serving[queue].items())

    @staticmethod
    def _is_serving(agent: Agent) -> bool:
        return agent.registered and agent.state not in (AgentState.NOT_READY, AgentState.LOGGED_OUT)

    def _serving_changed(self, agent: Agent, was: bool) -> None:
        now_serving = self._is_serving(agent)
        if now_serving is was or not agent.queues:
            return
        k, step = len(agent.queues), 1 if now_serving else -1
        for q in agent.queues:
            counts = self._serving[q]
            counts[k] = counts.get(k, 0) + step

    def _agent(self, agent_id: str) -> Agent:
        try:
            return self._agents[agent_id]
        except KeyError:
            raise UnknownAgent(f"no agent {agent_id}") from None

    def _call(self, call_id: str) -> QueuedCall:
        try:
            return self._calls[call_id]
        except KeyError:
            raise UnknownCall(f"no call {call_id} in the ACD") from None

    def _queue(self, name: str) -> QueueConfig:
        try:
            return self._queues[name]
        except KeyError:
            raise UnknownQueue(f"no queue {name!r}") from None

    @staticmethod
    def _check_skills(skills: Mapping[str, int]) -> None:
        for skill, level in skills.items():
            if not MIN_LEVEL <= level <= MAX_LEVEL:
                raise InvalidRequest(f"skills.{skill}", f"level {level} is outside {MIN_LEVEL}..{MAX_LEVEL}")
