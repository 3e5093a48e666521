"""The router's events of an agent's day: log in and out, ready and not ready (now or after the
call), the phone's registration, a skill change.

``AgentEvents`` is a layer of ``acd.routing.Router`` (between ``acd.routing_virtual`` and it): one
object, not a delegation. Pure: no I/O, no clock, no awaits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from acd.decisions import CancelOffer, Decision, NotReadyPending, PhoneReachability, Requeue
from acd.errors import AcdError, IllegalTransition, InvalidRequest
from acd.model import Agent, AgentEvent, AgentState, CallEvent, CallState, next_call_state
from acd.routing_steps import keeps_timer_decisions
from acd.routing_virtual import VirtualHoldEvents


class AgentEvents(VirtualHoldEvents):
    """The public events of agents; ``acd.routing.Router`` has the calls' and the engine's."""

    # ---- agents -------------------------------------------------------------------------------

    @keeps_timer_decisions
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

    @keeps_timer_decisions
    def agent_logout(self, agent_id: str, now: float) -> list[Decision]:
        """Log out, between calls or while a call rings them (not during a call or its wrap-up).
        The offer ringing them is withdrawn (``CancelOffer`` reason logout; not missed: they are not
        blamed) and its call waits again at its place, for the next agent. A call pinned to them (a
        transfer, a consultation) no longer waits for them: a transfer goes to its queue's agents, a
        consultation (not counted) is handed back (``Requeue`` target_logged_out) for the ACD to end,
        never offered to another agent. Refused while a virtual-hold callback reserves them: the
        customer's phone is being called for them, and a second callback must not follow."""
        out, now = self._begin(now)
        agent = self._agent(agent_id)
        rung = [self._calls[c] for c in sorted(agent.offers)] if agent.state is AgentState.RESERVED else []
        if any(c.virtual for c in rung):
            raise AcdError(f"agent {agent_id}: a virtual-hold callback is calling the customer for you; "
                           "log out once it rings you, or once it is missed")
        for call in rung:
            out.append(CancelOffer(call_id=call.call_id, agent_id=agent_id, reason="logout"))
            agent.offers.discard(call.call_id)
            call.state = next_call_state(call.call_id, call.state, CallEvent.REQUEUE)
            call.agent_id = None
        self._fire(agent, AgentEvent.LOGOUT, None, now, out, about=rung[0] if rung else None)
        self._index_remove(agent)
        for q in agent.queues:
            self._members[q].discard(agent_id)
        for call in rung:
            if call.pinned and call.preferred_agent == agent_id:
                continue  # below, with the calls that waited for them
            out.append(Requeue(call_id=call.call_id, queue=call.queue, reason="agent_logged_out"))
            if not self._check_limits(call, now, out):
                if not call.armed:
                    self._timers.arm(call, self._queues[call.queue], now)
                self._requeue_waiting(call, now, out)
        for call in [c for c in self._calls.values() if c.pinned and c.preferred_agent == agent_id
                     and c.state is CallState.WAITING]:
            out.append(Requeue(call_id=call.call_id, queue=call.queue, reason="target_logged_out"))
            if not call.counted:
                # A consultation: the transferring agent asked for this agent, not the queue. It stays
                # pinned to them and leaves the waiting calls (offered to nobody, whoever logs in);
                # the ACD ends it (Router.withdraw).
                self._wait.remove(call)
                continue
            # A transfer: it cannot reach them; the call goes to its queue's agents.
            call.pinned = call.pref_active = False
            call.need = self._queues[call.queue].steps[call.step].requirement(call.skills)
            self._requeue_waiting(call, now, out)
        return out

    @keeps_timer_decisions
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

    @keeps_timer_decisions
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
        elif agent.not_ready_after_call is not None:  # on their own call (own_call_started): the break is off
            out.append(NotReadyPending(agent_id=agent_id, reason=None))
        agent.not_ready_after_call = None  # not ready now: nothing is left pending for the next call
        self._index_remove(agent)
        self._fire(agent, AgentEvent.NOT_READY, reason, now, out)
        return out

    @keeps_timer_decisions
    def not_ready_after_call(self, agent_id: str, now: float, reason: str = "after_call") -> list[Decision]:
        """Go not ready when the current call and its wrap-up end (now, if there is no work)."""
        out, now = self._begin(now)
        agent = self._agent(agent_id)
        if agent.state in (AgentState.ON_CALL, AgentState.RESERVED, AgentState.WRAP_UP):
            agent.not_ready_after_call = reason
            self._index_remove(agent)
            out.append(NotReadyPending(agent_id=agent_id, reason=reason))
            return out
        agent.not_ready_after_call = None  # not ready now, for this reason: no other one pending
        self._index_remove(agent)
        self._fire(agent, AgentEvent.NOT_READY, reason, now, out)
        return out

    @keeps_timer_decisions
    def own_call_started(self, agent_id: str, reason: str, now: float) -> list[Decision]:
        """The agent dials their own call: not ready ``reason`` (the engine's "outbound") while it is up,
        from available, wrap-up or not ready for another reason, so that its time counts as handling
        (docs/kpis.md). The not-ready reason they had (a break), or the one chosen for after the call
        being wrapped up, is pending meanwhile (``NotReadyPending``): the call's wrap-up, or a failed
        dial given back, leaves them in it. Already not ready ``reason``: nothing changes. Refused
        (IllegalTransition) while a call rings them or they talk."""
        out, now = self._begin(now)
        agent = self._agent(agent_id)
        if agent.state is AgentState.NOT_READY and agent.reason == reason:
            return out
        if agent.state not in (AgentState.AVAILABLE, AgentState.WRAP_UP, AgentState.NOT_READY):
            raise IllegalTransition(f"agent {agent_id}", agent.state.value, "own_call")
        back = agent.reason if agent.state is AgentState.NOT_READY else agent.not_ready_after_call
        if agent.state is AgentState.WRAP_UP:
            agent.wrap_epoch += 1  # its timer is void: the dial ends the wrap-up
        self._index_remove(agent)
        self._fire(agent, AgentEvent.NOT_READY, reason, now, out)
        agent.not_ready_after_call = back
        if back is not None:
            out.append(NotReadyPending(agent_id=agent_id, reason=back))  # the console: "then not ready: break"
        return out

    @keeps_timer_decisions
    def own_call_ended(self, agent_id: str, call_id: str, reason: str, now: float) -> list[Decision]:
        """The agent's own call ``call_id`` (a dial, not routed here) ended while they are not ready
        ``reason`` for it: they wrap it up, as an inbound call's agent does, with no timer (the
        console's wrap-up ends it: ready, or not ready for the reason chosen, or pending since the
        dial: the break they dialled from). In another state (one they chose meanwhile) they stay in it."""
        out, now = self._begin(now)
        agent = self._agent(agent_id)
        if agent.state is not AgentState.NOT_READY or agent.reason != reason:
            return out
        agent.wrap_epoch += 1
        agent.wrap_until = None
        self._fire(agent, AgentEvent.END, None, now, out)
        agent.wrap_call = call_id
        return out

    @keeps_timer_decisions
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

    @keeps_timer_decisions
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
