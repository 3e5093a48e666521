"""What the router's decisions do outside the router: the events the ACD publishes and the actions it
takes on the PBX for each one (``acd.decisions``).

The ACD service (``acd.delivery.AcdService``) runs a router step and hands its decisions here,
in order: agent states and wrap-ups become the ACD's agent events (``acd.events``); an offer rings
the agent (``AcdService.ring_offer``, ``acd.ringing``) or, for a virtual-hold entry, calls the
customer back first; a bridge connects the call; overflows, queue limits and announcements move
or tell the caller on the PBX. It sees the service as an ``acd.parts.EffectsHost``.

    effects = DecisionEffects(acd)          # AcdService builds one: ``acd.effects``
    await effects.carry_out(router.tick(now))
"""

from __future__ import annotations

import logging

from acd.calls import LiveCall, linkedid_of
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
from acd.events import (
    AgentNotReadyPending,
    AgentOfferWithdrawn,
    AgentPhoneReachability,
    AgentStateChanged,
    AgentWrapUpEnded,
)
from acd.model import moved_skills
from acd.parts import EffectsHost
from cti.errors import CtiError
from cti.journey import CallbackRequested, CallConnected, QueueEntered, QueueLeft

log = logging.getLogger(__name__)


class DecisionEffects:
    """Carries out the router's decisions for one ACD service; ``acd`` owns the calls."""

    def __init__(self, acd: EffectsHost) -> None:
        self.acd = acd

    async def carry_out(self, decisions: list[Decision]) -> None:
        """Carry out one router step's decisions, in order; one the PBX refuses is logged, the rest go on."""
        for d in decisions:
            try:
                await self._one(d)
            except CtiError as err:
                log.warning("acd: could not carry out %s: %s", type(d).__name__, err.message)

    async def _one(self, d: Decision) -> None:
        acd = self.acd
        now = acd.clock()
        match d:
            case NotReadyPending():
                await acd.bus.publish(AgentNotReadyPending(ts=now, agent_id=d.agent_id, reason=d.reason))
            case AgentStateChange():
                queues, after_call = acd.router.agent_queues(d.agent_id)
                await acd.bus.publish(AgentStateChanged(
                    ts=now, agent_id=d.agent_id, state=d.new.value, reason=d.reason, since=d.at,
                    queues=tuple(queues), not_ready_after_call=after_call, phone_reachable=d.phone_reachable,
                    wrap_until=d.wrap_until))
            case WrapUpEnded():  # the call's after-call work ends with the state (the call log's ACW)
                wrapping = acd.wrapups.get((d.agent_id, linkedid_of(d.call_id)))
                if wrapping is not None and wrapping.wrap_left_at is None:  # the form's wrapup_s ends here
                    wrapping.wrap_left_at = d.at
                await acd.bus.publish(AgentWrapUpEnded(ts=d.at, agent_id=d.agent_id, linkedid=linkedid_of(d.call_id),
                                                       reason=d.reason))
            case PhoneReachability():
                await acd.bus.publish(AgentPhoneReachability(ts=now, agent_id=d.agent_id, reachable=d.reachable,
                                                             state=d.state.value, reason=d.reason, since=d.at))
                if not d.reachable:  # a consultation waiting for (or ringing) them would wait for nobody
                    await acd.consultations.target_unreachable(d.agent_id)  # once its grace passed
                else:
                    acd.consultations.target_reachable(d.agent_id)
            case Offer():
                if d.callback:  # a virtual-hold entry's turn: the customer is called back first
                    if acd.callbacks is not None:
                        acd.callbacks.turn(d)
                    return
                call = self._live(d.call_id)
                if call is None:
                    return
                await acd.ring_offer(call, d)
            case CancelOffer():
                if d.reason == "callback_missed":  # the agent was only reserved: nothing rang, nothing popped
                    return
                call = self._live(d.call_id)
                # "error": the ring task itself reports the failed offer; it must not be cancelled.
                if call is not None and call.ring_task is not None and d.reason not in ("ring_timeout", "error"):
                    call.ring_task.cancel()
                await acd.rings.hang_up(d.agent_id)
                if d.reason == "ring_again":  # the same offer follows at once: no news to the console
                    return
                reason = {"caller_hung_up": "caller_hangup", "error": "error", "withdrawn": "withdrawn",
                          "wrap_up": "withdrawn",  # the agent's call ended while it rang: wrap-up first
                          "logout": "withdrawn",  # the agent logged out while it rang: the next agent's
                          "phone_lost": "withdrawn"}  # its phone's contact gone past the grace (acd.ring_contacts)
                await acd.bus.publish(AgentOfferWithdrawn(
                    ts=now, agent_id=d.agent_id, linkedid=call.linkedid if call is not None else d.call_id,
                    reason=reason.get(d.reason, "no_answer")))
            case Bridge():
                call = self._live(d.call_id)
                if call is None:
                    return
                if call.router_id is not None:  # the consulted agent answered the transferring agent
                    await acd.consultations.answered(call, now)
                    return
                call.status, call.answered_at = "talking", now
                if call.customer_id is not None:
                    acd.remember_agent(call.customer_id, d.agent_id, now)
                customer = call.customer_id if isinstance(call.customer_id, int) else None
                await acd.bus.publish(CallConnected(ts=now, linkedid=d.call_id, agent_id=d.agent_id, queue=d.queue,
                                                    customer_id=customer))
                await acd.call_update(call, "talking")
            case Requeue():
                call = self._live(d.call_id)
                if call is not None:
                    call.status, call.agent_id, call.agent_channel = "queued", None, None
                if call is not None and call.router_id is not None:
                    await acd.consultations.requeued(call, d.reason)
            case Overflow():
                call = acd.calls.get(d.call_id)
                if call is not None:
                    await acd.bus.publish(QueueLeft(ts=now, linkedid=d.call_id, queue=d.from_queue,
                                                    reason=d.reason, waited_s=d.wait_s, target=d.to_queue,
                                                    actor=d.actor, actor_role=d.actor_role))
                    call.queue, call.queue_entered_at = d.to_queue, now  # a stay of its own (docs/kpis.md)
                    call.moved_wait_s = d.carried_s  # for a restarted engine: the entry carries it
                    call.skills = moved_skills(call.skills, d.to_queue, acd.router.queue_names())  # as the router's
                    await acd.remember_entry(call)
                    await acd.bus.publish(QueueEntered(ts=now, linkedid=d.call_id, queue=d.to_queue,
                                                       channel=call.caller_channel, priority=call.priority,
                                                       skills=call.skills, customer_id=call.customer_id))
            case Announce():
                call = acd.calls.get(d.call_id)
                # Not over another prompt (the virtual-hold offer): the next announcement comes a period later.
                if (call is not None and call.status == "queued"
                        and acd.floor.claim(call.caller_channel, "announcement", now)):
                    try:
                        await self._announce(call, d)
                    except BaseException:
                        acd.floor.release(call.caller_channel, "announcement")
                        raise
            case LimitAction():
                await self._limit(d, now)
            case Abandoned():
                await acd.bus.publish(QueueLeft(ts=now, linkedid=d.call_id, queue=d.queue,
                                                reason="system_failure" if d.system_failure else "abandoned",
                                                waited_s=d.wait_s))

    async def _announce(self, call: LiveCall, d: Announce) -> None:
        control = self.acd.control
        await control.set_var(call.caller_channel, "CTI_POSITION", str(d.position))
        await control.set_var(call.caller_channel, "CTI_EWT", str(int(d.ewt_s)))
        await control.set_var(call.caller_channel, "CTI_EWT_LOW", "" if d.ewt_low_s is None else str(int(d.ewt_low_s)))
        await control.set_var(call.caller_channel, "CTI_EWT_HIGH",
                              "" if d.ewt_high_s is None else str(int(d.ewt_high_s)))
        await control.redirect(call.caller_channel, "cti-announce", "s")

    async def _limit(self, d: LimitAction, now: float) -> None:
        """A queue limit (max wait, max length, no agents) sends the caller on: another queue, voicemail,
        a callback, an announcement or a hang-up."""
        acd = self.acd
        call = acd.calls.get(d.call_id)
        if call is None:
            return
        waited = d.wait_s  # this stay in the queue (docs/kpis.md), as every QueueLeft says
        action = d.action.value
        if action == "queue":
            await acd.bus.publish(QueueLeft(ts=now, linkedid=d.call_id, queue=d.queue, reason="overflow",
                                            waited_s=waited, target=d.target))
            call.queue, call.queue_entered_at = d.target or call.queue, now
            call.moved_wait_s = 0.0  # the queue it left counted the call (docs/kpis.md)
            call.skills = moved_skills(call.skills, call.queue, acd.router.queue_names())  # as the router's
            # Where a restarted engine (or the fallback's app_queue) finds the caller: its new queue.
            acd.spawn(acd.remember_entry(call), f"acd.remember:{call.linkedid}")
            await acd.bus.publish(QueueEntered(ts=now, linkedid=d.call_id, queue=call.queue,
                                               channel=call.caller_channel, priority=call.priority,
                                               skills=call.skills, customer_id=call.customer_id))
            return
        reason = {"voicemail": "voicemail", "callback": "callback"}.get(action, "timeout")
        await acd.bus.publish(QueueLeft(ts=now, linkedid=d.call_id, queue=d.queue, reason=reason,
                                        waited_s=waited, target=d.target))
        acd.calls.pop(d.call_id, None)
        if action == "voicemail":
            if d.target:
                await acd.control.set_var(call.caller_channel, "CTI_MAILBOX", d.target)
            await acd.control.redirect(call.caller_channel, "cti-voicemail", "s")
        elif action == "callback":
            await acd.bus.publish(CallbackRequested(ts=now, linkedid=d.call_id, number=call.caller_number,
                                                    queue=d.queue, customer_id=call.customer_id))
            await acd.control.hangup(call.caller_channel)
        elif d.target:  # the announcement, then the dialplan hangs up
            await acd.control.set_var(call.caller_channel, "CTI_ANNOUNCE", d.target)
            await acd.control.redirect(call.caller_channel, "cti-announce-hangup", "s")
        else:
            await acd.control.hangup(call.caller_channel)

    def _live(self, router_id: str) -> LiveCall | None:
        """A waiting or connected call by its router id: a caller's call, or a consultation."""
        return self.acd.calls.get(router_id) or self.acd.consultations.calls.get(router_id)
