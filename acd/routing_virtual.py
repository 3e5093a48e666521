"""The router's events of virtual-hold entries: a waiting entry whose caller hung up to be called
back at its turn (``acd.virtual_hold``), the callback that reaches them, and one that does not.

``VirtualHoldEvents`` is a layer of ``acd.routing.Router`` (between ``acd.routing_steps`` and
``acd.routing_agents``): one object, not a delegation. Pure: no I/O, no clock, no awaits.
"""

from __future__ import annotations

from acd import timers
from acd.decisions import Decision
from acd.errors import InvalidRequest, StaleOffer
from acd.model import CallEvent, CallState, next_call_state
from acd.routing_steps import RING_GRACE_S, RoutingSteps, keeps_timer_decisions


class VirtualHoldEvents(RoutingSteps):
    """The public events of virtual-hold entries; ``acd.routing.Router`` has the others."""

    @keeps_timer_decisions
    def hold_virtually(self, call_id: str, now: float) -> list[Decision]:
        """The waiting caller hung up to be called back: it keeps its place (entry time, priority),
        hears no announcements and meets no max-wait or overflow. Its queue counts it now, as the
        reports do (docs/kpis.md): offered and not answered, no abandon, in the denominators of the
        service level and the abandon rate; a caller put back after an answer was counted answered,
        and this stay's wait adds to its answer's. The callback's answer counts in no figure of
        offered calls, only as the agent's handled call (``QueuedCall.settled``)."""
        out, now = self._begin(now)
        call = self._call(call_id)
        if call.state is not CallState.WAITING or call.virtual:
            raise InvalidRequest("call_id", f"call {call_id} is {call.state.value}, not waiting on the line")
        stats = self._offered_stats_of(call)
        if call.answered_before:
            stats.waited_again(now - call.entered_queue_at)
        else:
            stats.callback_requested()
        call.virtual = call.settled = True
        return out

    @keeps_timer_decisions
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

    @keeps_timer_decisions
    def callback_missed(self, call_id: str, agent_id: str, now: float, *, retry_at: float | None) -> list[Decision]:
        """The callback was not answered (or not confirmed): the agent is free again, not blamed.
        With ``retry_at`` the entry keeps its place but is offered to no one until then; without, it
        leaves the queue (the callback failed; counted when its caller pressed the key, it counts in no
        other figure). A report for an offer no longer ringing is ignored."""
        out, now = self._begin(now)
        call = self._calls.get(call_id)
        if call is None or call.state is not CallState.RINGING or call.agent_id != agent_id or not call.virtual:
            return out
        agent = self._agents[agent_id]
        self._withdraw_offer(call, agent, "callback_missed", now, out)
        self._settle(agent, call, now, out)
        if retry_at is None:
            call.state = next_call_state(call_id, call.state, CallEvent.LEAVE)
            self._offered_stats_of(call).left_by_limit()
            del self._calls[call_id]
        else:
            call.parked = True
            call.token += 1  # its entries among the waiting calls are void (a REQUEUEd call looks waiting)
            self._timers.at(max(retry_at, now), timers.PARK, call_id, call.offer_no)
        self._agent_freed(agent, now, out)
        return out
