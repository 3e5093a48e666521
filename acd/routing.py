"""The pure router: state + event + ``now`` in, decisions out. No I/O, no clock, no awaits.

Every public method first runs the timers that fell due up to ``now`` (wrap-up ends, widening
steps, preferred-agent windows, overflow, max wait, announcements, the ring backstop), each at its
own due time, then handles its event, and returns every decision taken, in order.

``Router`` is built in five layers, one module each, read from the bottom up:

    acd.routing_state   RoutingState: what the router knows (queues, statistics, agents, calls, the
                        indexes: ``AgentIndex``, ``WaitingCalls``, ``Timers``), the lookups and the
                        read-only views (agent and call views, waiting lists, estimates, snapshots)
    acd.routing_steps   RoutingSteps: the steps events are made of (timers and queue limits, a call's
                        flow, an agent's state machine, the seams to the indexes)
    acd.routing_virtual VirtualHoldEvents: the public events of virtual-hold entries (a caller who
                        hung up to be called back at its turn, the callback answered or missed)
    acd.routing_agents  AgentEvents: the public events of agents (log in and out, ready and not
                        ready, the phone's registration, skills)
    acd.routing         Router: the other public events (calls, the engine's stop), here

They are one object (a subclass, not a delegation): the hot path pays no extra call per step.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from acd.decisions import (
    Abandoned,
    Bridge,
    CancelOffer,
    Decision,
    Overflow,
    Requeue,
)
from acd.errors import CallNotMovable, CallNotWaiting, InvalidRequest, StaleOffer
from acd.model import (
    AgentEvent,
    AgentState,
    CallEvent,
    CallState,
    LimitKind,
    LimitSpec,
    QueuedCall,
    next_call_state,
)
from acd.routing_agents import AgentEvents
from acd.routing_steps import RING_GRACE_S, keeps_timer_decisions

__all__ = ["RING_GRACE_S", "Router"]


class Router(AgentEvents):
    """Skill-based routing for a set of queues; one instance owns every agent's state."""

    # ---- calls --------------------------------------------------------------------------------

    @keeps_timer_decisions
    def enqueue(
        self, call_id: str, queue: str, now: float, *, skills: Mapping[str, int] | None = None,
        priority: int = 0, preferred_agent: str | None = None, customer_id: int | str | None = None,
        required_agent: str | None = None, counted: bool = True, virtual: bool = False,
    ) -> list[Decision]:
        """Queue a call. ``required_agent`` (a transfer to a named agent) pins it: it waits for that
        agent only, whatever their skills, and is refused when that agent is not logged in.
        ``counted`` False (an agent consulting a colleague): routed like any call, but no queue
        statistic sees it (no offered call, no talk or handle time, no estimate checked).
        ``virtual``: a web callback request, waiting without a caller on the line (``hold_virtually``):
        no call entered the queue, so no figure of offered calls counts it (``QueuedCall.settled``)."""
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
            counted=counted, virtual=virtual, settled=virtual,
        )
        self._calls[call_id] = call
        self._offered_stats_of(call).entered()
        if call.pinned:
            self._enter_queue(call, cfg, now, out)
        elif not self._members[queue] and cfg.no_agents_action is not None:
            self._limit(call, "no_agents", cfg.no_agents_action, now, out)
        elif cfg.max_length is not None and len(self._wait.ids(queue)) >= cfg.max_length:
            self._limit(call, "max_length", cfg.max_length_action or LimitSpec(LimitKind.HANGUP), now, out)
        else:
            self._enter_queue(call, cfg, now, out)
        return out

    @keeps_timer_decisions
    def restore_waiting(
        self, call_id: str, queue: str, now: float, *, entered_at: float, skills: Mapping[str, int] | None = None,
        priority: int = 0, customer_id: int | str | None = None, virtual: bool = False,
        fresh_timers: bool = False, queue_entered_at: float | None = None, put_back_at: float | None = None,
        moved_wait_s: float = 0.0, settled: bool = False,
    ) -> list[Decision]:
        """Take back a caller that kept waiting while no engine ran (``acd.recovery``): it keeps its
        original entry time, hence its place among the waiting calls and its timers' due times.
        No queue statistics are counted again: the first engine counted its entry. ``virtual``: a
        virtual-hold entry the engine persisted (``acd.virtual_hold``). ``fresh_timers``: its place
        is kept but its queue timers start now (a call whose agent's softphone was lost and did not
        come back, ``acd.reconnect``), and so does its wait (the wallboard's: its talk was no wait).
        ``queue_entered_at``: its entry into ``queue`` when it was moved there after ``entered_at``
        (an overflow, a limit's queue action): this stay's wait and timers count from there, the
        caller's wait and place from ``entered_at`` (docs/kpis.md). ``put_back_at``: a caller an
        earlier engine put back after an answer (``fresh_timers`` there): it waits since then, and if
        it has not been moved since, its queue counted its answer already. ``moved_wait_s``: the waits
        of its stays before a supervisor's move (``Overflow.carried_s``), which ``queue`` counts with
        its own stay's; none for a caller put back after an answer. ``settled``: a virtual-hold
        callback's call (put back after its agent's softphone was lost): its queue counted the contact
        when the caller pressed the key (``QueuedCall.settled``); a ``virtual`` entry is settled too."""
        out, now = self._begin(now)
        cfg = self._queue(queue)
        if call_id in self._calls:
            raise InvalidRequest("call_id", f"call {call_id} is already queued")
        if skills:
            self._check_skills(skills)
        self._seq += 1
        entered = min(entered_at, now)
        stay = entered if queue_entered_at is None else min(max(queue_entered_at, entered), now)
        if fresh_timers:
            put_back_at = now
        answered_before = put_back_at is not None and (queue_entered_at is None or queue_entered_at <= put_back_at)
        if put_back_at is not None:
            put_back_at = min(max(put_back_at, entered), now)
            stay = max(stay, put_back_at)
        call = QueuedCall(call_id, queue, dict(skills) if skills else None, priority, entered, self._seq,
                          stay, customer_id=customer_id, virtual=virtual, settled=virtual or settled,
                          waiting_since=put_back_at, answered_before=answered_before)
        if not answered_before and math.isfinite(moved_wait_s):
            call.moved_wait_s = max(0.0, moved_wait_s)
        self._calls[call_id] = call
        call.need = cfg.steps[0].requirement(call.skills)
        call.epoch += 1
        self._requeue_waiting(call, now, out)
        return out

    @keeps_timer_decisions
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

    @keeps_timer_decisions
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
            self._offered_stats_of(call).waited_again(wait)
        else:
            self._offered_stats_of(call).answered_after(wait + call.moved_wait_s)
        if call.ewt_s is not None and call.ewt_at is not None:
            self._offered_stats_of(call).ewt_observed(call.ewt_s, now - call.ewt_at)
        out.append(Bridge(call_id=call_id, agent_id=agent_id, queue=call.queue, wait_s=wait))
        self._agent_freed(agent, now, out)  # capacity > 1: may take another
        return out

    @keeps_timer_decisions
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

    @keeps_timer_decisions
    def offer_failed(self, call_id: str, agent_id: str, now: float, *, reason: str = "error") -> list[Decision]:
        """The offer could not be carried out (the PBX connection dropped while the phone rang): the
        offer is withdrawn without blaming the agent, and the call waits at its place (the head,
        for a call that was next) again. A report for an offer no longer ringing is ignored.
        ``reason``: the ``CancelOffer``'s (``ring_again``: the phone moved to a new contact while it
        rang, acd.phone_contacts: the same agent is rung again at once with the call, which keeps
        ringing them, the agent reserved; a virtual-hold entry's offer is withdrawn as for an error)."""
        out, now = self._begin(now)
        call = self._calls.get(call_id)
        if call is None or call.state is not CallState.RINGING or call.agent_id != agent_id:
            return out
        agent = self._agents[agent_id]
        if reason == "ring_again" and not call.virtual:
            self._ring_again(call, agent, now, out)
            return out
        self._withdraw_offer(call, agent, reason, now, out)
        self._settle(agent, call, now, out)
        out.append(Requeue(call_id=call_id, queue=call.queue, reason="offer_failed"))
        if not self._check_limits(call, now, out):
            if not call.armed:
                self._timers.arm(call, self._queues[call.queue], now)
            self._requeue_waiting(call, now, out)
        self._agent_freed(agent, now, out)
        return out

    @keeps_timer_decisions
    def withdraw(self, call_id: str, now: float, *, wrap_up: bool = True) -> list[Decision]:
        """Take a call out of the ACD without counting it as abandoned (a cancelled consultation):
        waiting, it leaves; ringing, the offer is cancelled; connected, it ends: the agent wraps up,
        or (``wrap_up`` False: nothing to wrap up) goes straight on as after an offer that never
        connected (available, or not ready with the reason pending)."""
        out, now = self._begin(now)
        call = self._call(call_id)
        if call.state is CallState.CONNECTED:
            self._end_connected(call, now, out, wrap_up=wrap_up)
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

    @keeps_timer_decisions
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

    @keeps_timer_decisions
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
            self._offered_stats_of(call).abandoned_after(wait + call.moved_wait_s)
        del self._calls[call_id]
        out.append(Abandoned(call_id=call_id, queue=call.queue, wait_s=wait, system_failure=system_failure))
        if call.agent_id is not None:
            self._agent_freed(self._agents[call.agent_id], now, out)
        return out

    @keeps_timer_decisions
    def call_ended(self, call_id: str, now: float) -> list[Decision]:
        """A bridged call ended: the agent wraps up (queue's or agent's wrap-up time)."""
        out, now = self._begin(now)
        call = self._call(call_id)
        if call.state is not CallState.CONNECTED:
            raise InvalidRequest("call_id", f"call {call_id} is {call.state.value}, not connected")
        self._end_connected(call, now, out)
        return out

    @keeps_timer_decisions
    def move_waiting(self, call_id: str, queue: str, now: float, *, actor: str | None = None,
                     actor_role: str | None = None) -> list[Decision]:
        """A supervisor sends a waiting caller to ``queue``, as an overflow does (``Overflow`` with
        reason "moved"): it keeps its wait and place (its first entry), leaves the topic skill of the
        queue it left behind, waits for no named agent any more, and the new queue's timers count
        from now. In the statistics it is no overflow: the new queue counts the call with the waits
        of both stays (docs/kpis.md), the queue it left only as moved. Refused: a call ringing an
        agent or a virtual-hold entry (CallNotMovable), one no longer waiting (CallNotWaiting), its
        own queue (InvalidRequest naming ``queue``). ``actor``, ``actor_role``: who moved it, for the
        ``Overflow``."""
        out, now = self._begin(now)
        self._queue(queue)
        call = self._call(call_id)
        if call.state is CallState.RINGING:
            raise CallNotMovable(f"call {call_id} is ringing agent {call.agent_id}; move it if they do not answer")
        if call.state is not CallState.WAITING or not call.counted:
            raise CallNotWaiting(f"call {call_id} is no longer waiting ({call.state.value})")
        if call.virtual:
            raise CallNotMovable(f"call {call_id} is a virtual-hold entry: nobody is on the line to move")
        if call.queue == queue:
            raise InvalidRequest("queue", f"call {call_id} already waits in {queue}")
        # Not the queue's overflow: the queue that last has the call counts it, with the waits of
        # every stay no queue counted (docs/kpis.md, moved between queues). A caller put back after an
        # answer was counted answered by the queue it left; the new one counts its own stay.
        stay = max(0.0, now - call.entered_queue_at)
        self._offered_stats_of(call).moved_away()
        carried = 0.0 if call.answered_before else call.moved_wait_s + stay
        out.append(Overflow(call_id=call_id, from_queue=call.queue, to_queue=queue, wait_s=stay, reason="moved",
                            carried_s=carried, actor=actor, actor_role=actor_role))
        call.pinned = False
        self._move(call, queue, now, out, carried_s=carried)
        return out

    @keeps_timer_decisions
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

    @keeps_timer_decisions
    def tick(self, now: float) -> list[Decision]:
        out, _ = self._begin(now)
        return out

    def hold_offers(self) -> None:
        """From now on no call is offered: calls wait, an agent who frees up stays idle, and the rest
        (hang-ups, agent states, wrap-ups, timers) goes on. For an engine that stops, or that
        another node has taken the routing from: what it offered would ring with no engine to
        connect it."""
        self._offers_held = True
