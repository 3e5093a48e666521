"""The attended transfer, carried out on the PBX: the agent consults a number or an agent (through
the ACD, which reserves and pops the target) with the caller on hold, then goes back to the caller,
completes the transfer, or makes a three-way conference; and what happens when a party's own phone
hangs up meanwhile. ``acd.call_actions`` owns the agent's other actions and hands these here; a
consulted number's ring, until its leg talks with the agent's, is ``acd.consult_ring``'s.

    consults = ConsultActions(acd, route)   # acd: an acd.parts.CallActionsHost; route: CallActions.route
    await consults.consult(call, "number", "8610557")
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from acd.calls import CONSULT_SUFFIX, AgentPhone, LiveCall, transferred
from acd.consult_ring import NumberRings
from acd.errors import AcdError, TargetNoAnswer
from acd.held_caller import wait_again_after_hold
from acd.parts import CallActionsHost
from cti.errors import CtiError
from cti.journey import HoldEnded, HoldStarted
from cti.trunks import EXTERNAL_CONTEXT, DialTarget

# Why the ACD took the caller back to the agent by itself (a cancel_consult reason) -> the reason its
# update says once (``detail.consult_ended``): the consulted agent did not answer, or is no longer
# there (logged out, or their phone went offline, before answering). The agent's own Back to caller,
# and a consulted party who hung up after talking with them, say nothing: the agent knows.
_TOLD = {"no_answer": "no_answer", "target_logged_out": "unavailable", "target_offline": "unavailable"}


def live_call(acd: CallActionsHost, linkedid: str) -> LiveCall:
    """The live call; a call in wrap-up (``acd.wrapups``) or gone is refused, not a KeyError."""
    call = acd.calls.get(linkedid)
    if call is None:
        wrapping = any(lid == linkedid for _, lid in acd.wrapups)  # keyed (agent_id, linkedid)
        state = "in wrap-up" if wrapping else "not connected"
        raise AcdError(f"call {linkedid} is {state}; only a connected call can be acted on")
    return call


def route_vars(target: DialTarget) -> dict[str, str]:
    """Channel variables cti-external reads: the trunk chosen here and the presented number."""
    return {"CTI_TRUNK": target.trunk, **({"CTI_CALLER_ID": target.caller_id} if target.caller_id else {})}


class ConsultActions:
    """The agent's attended transfers; ``acd`` owns the calls, ``route`` routes a number (``CallActions.route``)."""

    def __init__(self, acd: CallActionsHost, route: Callable[..., DialTarget]) -> None:
        self.acd = acd
        self.route = route
        self._leaving: set[str] = set()  # calls whose agent is leaving the conference, by linkedid
        self._completing: set[str] = set()  # calls whose transfer is being completed, by linkedid
        self.rings = NumberRings(acd)  # the numbers consulted, ringing until bridged with the agent

    async def agent_hangup(self, call: LiveCall) -> bool:
        """The transferring agent's Hang up while consulting (completes the transfer) or in a
        conference (they leave it); False when the call is neither."""
        linkedid = call.linkedid
        if call.status == "consulting" and call.consult_channel and call.agent_channel:
            await self._complete_attended(call)
            return True
        if call.status == "consulting":  # the target still rings: hanging up would drop the held caller
            raise AcdError(f"call {linkedid}: the transfer target has not answered yet; cancel the consultation "
                           "to go back to the caller")
        if call.status == "conference" and call.agent_channel and call.consult_channel:
            # Once: the agent's leg hung up here reports its leaving (ConferenceLeft), which the
            # follower takes for the agent's phone hanging up, as it may be (or a double click).
            if linkedid not in self._leaving:
                self._leaving.add(linkedid)
                try:
                    await self._leave_conference(call)
                finally:
                    self._leaving.discard(linkedid)
            return True
        return False

    async def consult(self, call: LiveCall, target_kind: str, target: str) -> None:
        """Attended transfer to a number, step 1: the caller goes on hold and the agent talks to the
        number (``target_kind`` "number": an agent is consulted through the ACD, ``consult_agent``)."""
        if call.status != "talking" or call.agent_channel is None or call.agent_id is None:
            raise AcdError(f"call {call.linkedid}: only a connected call can be transferred with consultation")
        if target_kind != "number":
            raise AcdError(f"target_kind: {target_kind!r}; a consultation rings a number, or an agent through the ACD")
        routed = self.route(target, queue=call.queue or None, field="target")
        answer_after = self.acd.phones.get(call.agent_id, AgentPhone(call.agent_id)).answer_after_s
        await self._hold_for_consult(call, (target_kind, target))
        # It rings as long as the trunk lets any number ring (trunks.yaml's dial_timeout_s).
        rang = await self.rings.ring(
            call, target, f"Local/{routed.exten}@{EXTERNAL_CONTEXT}/n",
            {"CTI_ANSWER_S": str(answer_after), "CTI_CALLER": call.agent_channel, **route_vars(routed)},
            timeout_ms=routed.ring_s * 1000)
        if not rang.connected:
            call.consult_target = None
            await self._back_from_consult(call)
            if rang.channel is None:
                raise TargetNoAnswer(target)
            raise AcdError(f"transfer target {target} answered but could not be connected to the agent; "
                           "the caller is back with the agent")
        assert rang.channel is not None
        call.consult_channel = rang.channel
        if rang.alone:  # the agent's phone hung up meanwhile: the transfer completes now
            await self.consultation_alone(call.linkedid, rang.channel)

    async def consult_agent(self, call: LiveCall, target: str, note: str) -> None:
        """Attended transfer to an agent, step 1: the caller goes on hold and the consultation is
        offered to the target through the ACD (reserved, screen pop with the note), ringing them
        as soon as they are free. Their phone, once answered, talks to this agent."""
        if call.status != "talking" or call.agent_channel is None or call.agent_id is None:
            raise AcdError(f"call {call.linkedid}: only a connected call can be transferred with consultation")
        await self._hold_for_consult(call, ("agent", target))
        # Its queue: the call's, or (an outbound call has none) one the target is logged in to, so that
        # the talk they take over counts where they work.
        queue = call.queue or next(iter(self.acd.router.agent(target).queues), "") \
            or next(iter(self.acd.queue_names()), "")
        consult = LiveCall(linkedid=call.linkedid, router_id=call.linkedid + CONSULT_SUFFIX,
                           caller_channel=call.agent_channel, caller_number=call.caller_number, queue=queue,
                           customer_id=call.customer_id,
                           priority=call.priority, attributes=call.attributes, tags=list(call.tags), note=note,
                           transfer_from=call.agent_id)
        call.consult = consult
        try:
            await self.acd.consultations.enqueue(consult, target)
        except AcdError:
            call.consult = call.consult_target = None
            await self._back_from_consult(call)
            raise

    async def _hold_for_consult(self, call: LiveCall, target: tuple[str, str]) -> None:
        """The caller on hold, the call ``consulting`` ``target`` (kind, target): its agent's console
        is told whom they consult by that very update (``detail.consult``)."""
        assert call.agent_channel is not None and call.agent_id is not None
        await self.acd.control.hold(call.caller_channel, peer=call.agent_channel)
        # Asterisk answers the hold's Redirect before the two legs have left their bridge, and each
        # leaves on its own: apart once the caller has left, the agent's leg may still be in the
        # bridge, its Redirect pending. The consultation's Bridge() pulls the agent's leg: found
        # still there, it is moved, then its pending Redirect takes it out again to the park and the
        # target's leg, left alone in its bridge, hangs up ("consulting" a channel that is gone); a
        # conference's Redirect meeting it meanwhile fails ("channel not up"). So both must be out.
        await self.acd.control.wait_bridged(call.agent_channel, call.caller_channel, together=False)
        call.status, call.consult_target = "consulting", target
        await self.acd.bus.publish(HoldStarted(ts=self.acd.clock(), linkedid=call.linkedid, agent_id=call.agent_id,
                                               queue=call.queue or None))
        await self.acd.call_update(call, "consulting")

    async def _back_from_consult(self, call: LiveCall) -> None:
        """The caller and the agent talk again (the agent's leg leaves any consultation bridge)."""
        assert call.agent_channel is not None and call.agent_id is not None
        await self.acd.control.unhold(call.caller_channel, peer=call.agent_channel)
        call.status = "talking"
        await self.acd.bus.publish(HoldEnded(ts=self.acd.clock(), linkedid=call.linkedid, agent_id=call.agent_id,
                                             queue=call.queue or None))
        await self.acd.call_update(call, "talking")

    async def cancel_consult(self, linkedid: str, *, reason: str = "cancelled", wrap_up: bool = False) -> None:
        """Cancel a consultation: the target's leg (ringing or talking) goes, the caller is back
        with the agent. Also what happens when an agent target does not answer, or hangs up.
        ``reason``: a consulted agent's ``ConsultationEnded``'s, if they answered; ``wrap_up``:
        they wrap up (else they are free at once)."""
        call = live_call(self.acd, linkedid)
        if call.status != "consulting" or call.agent_channel is None:
            raise AcdError(f"call {linkedid} is not consulting; there is no consultation to cancel")
        consult, channel, target = call.consult, call.consult_channel, call.consult_target
        ring, answered = self.rings.drop(call)
        call.consult = None
        call.consult_channel = call.consult_target = None
        if consult is not None:
            channel = channel or consult.agent_channel
            await self.acd.consultations.drop(consult, wrap_up=wrap_up, reason=reason)
        if ring and not channel:
            # A number still ringing, or answered and not yet recorded (no consultation channel yet),
            # hung up by its uniqueid before the agent's leg leaves its park: answered, its Bridge()
            # could pull that leg from the caller.
            with contextlib.suppress(CtiError):
                await self.acd.control.hangup(ring, may_be_gone=True)
            if answered:
                # Its Bridge() may have pulled the agent's leg already: the unhold's Bridge must find
                # that leg back in its park, out of the bridge (as in consultation_left).
                await self.acd.control.wait_bridged(call.agent_channel, answered, together=False)
        # Back to the caller first: the AMI Bridge moves the agent's leg out of the consultation,
        # so hanging up the target's leg afterwards cannot take the agent's leg with it.
        told = _TOLD.get(reason)
        if told is not None and target is not None:  # the agent did not ask: their console says why
            call.consult_ended = (told, *target)
        try:
            await self._back_from_consult(call)
        finally:
            call.consult_ended = None  # told once, by the update that takes the caller back
        if channel:
            with contextlib.suppress(CtiError):
                await self.acd.control.hangup(channel, may_be_gone=True)

    async def consultation_left(self, linkedid: str, channel: str) -> None:
        """The consulted party's own end hung up during the consultation (``channel``, its leg: the
        consulted agent's phone, the number's far end): the caller is back with the agent, as
        after Back to caller. A consulted agent, who only talked with the transferring agent, is
        free at once (``target_hung_up``), as after their console's Hang up."""
        call = self.acd.calls.get(linkedid)
        if call is None or call.status != "consulting" or call.consult_channel != channel or not call.agent_channel:
            return
        # cti-consult-connect's Bridge() ended with the party's leg, and its F sends the agent's leg
        # on to cti-park-agent: the unhold's Bridge must find it there, out of the consultation's
        # bridge (caught in it, it would be moved with its after-bridge goto still pending).
        await self.acd.control.wait_bridged(call.agent_channel, channel, together=False)
        if call.status != "consulting" or call.consult_channel != channel:
            return  # the agent went back to the caller (or completed the transfer) meanwhile
        await self.cancel_consult(linkedid, reason="target_hung_up")

    async def consulted_hangup(self, linkedid: str) -> None:
        """The consulted agent hangs up (their console): during the consultation the caller is back
        with the transferring agent; in the conference they leave it, the others talk on."""
        call = live_call(self.acd, linkedid)
        if call.status != "conference":
            await self.cancel_consult(linkedid, reason="target_hung_up")
            return
        channel = call.consult_channel
        await self.acd.consultations.left_conference(call)  # first: their leg's end is then no news
        if channel:
            with contextlib.suppress(CtiError):
                await self.acd.control.hangup(channel, may_be_gone=True)

    async def conference(self, linkedid: str) -> None:
        """Three-way call: caller, agent and the consulted party meet in a ConfBridge named after the
        call (cti-conference); any of them may leave and the others talk on."""
        call = live_call(self.acd, linkedid)
        channel = call.consult_channel
        if call.status != "consulting" or not channel or call.agent_channel is None or call.agent_id is None:
            raise AcdError(f"call {linkedid}: a conference needs an answered consultation")
        # An agent's consultation is "answered" when their phone answers, before its Bridge()
        # has joined the two agents: redirecting either then would break that Bridge().
        if not await self.acd.control.wait_bridged(channel, call.agent_channel):
            raise AcdError(f"call {linkedid}: the consulted party is not connected to the agent; "
                           "no conference (cancel the consultation to go back to the caller)")
        room = "".join(c for c in linkedid if c.isdigit()) or "0"
        await self.acd.control.redirect(call.agent_channel, "cti-conference", room, extra_channel=channel,
                                        extra_context="cti-conference", extra_exten=room)
        await self.acd.control.redirect(call.caller_channel, "cti-conference-customer", room)
        call.status = "conference"
        await self.acd.bus.publish(HoldEnded(ts=self.acd.clock(), linkedid=linkedid, agent_id=call.agent_id,
                                             queue=call.queue or None))
        await self.acd.call_update(call, "conference")
        if call.consult is not None:
            call.consult.status = "conference"
            await self.acd.call_update(call.consult, "conference")

    async def _leave_conference(self, call: LiveCall) -> None:
        """The agent leaves the conference: a consulted agent takes the call over."""
        assert call.agent_channel is not None
        with contextlib.suppress(CtiError):
            await self.acd.control.hangup(call.agent_channel, may_be_gone=True)
        await self._handed_over(call, hold_ended=False)  # the caller's hold ended when the conference began

    async def _complete_attended(self, call: LiveCall) -> None:
        """Attended transfer, step 2: the agent hangs up and the caller is bridged to the target."""
        assert call.consult_channel and call.agent_channel and call.agent_id and call.consult_target
        # A consulted agent's consultation is "answered" when their phone answers, before the leg's
        # cti-consult-connect Bridge() has pulled the agent's leg: an AMI Bridge then yanks the
        # target's leg out of that Bridge() while it is pulling the agent's, and Asterisk could leave
        # the caller's yanked original ("Surrogate/...") behind for good. Once the two agents are
        # bridged, the AMI Bridge moves the target's leg from that bridge instead.
        if not await self.acd.control.wait_bridged(call.consult_channel, call.agent_channel):
            raise AcdError(f"call {call.linkedid}: the consulted party is not connected to the agent; "
                           "the transfer was not completed (cancel the consultation to go back to the caller)")
        if not self._complete_once(call):
            return
        try:
            # The leg's Bridge() ending after this is the caller leaving the transferred call, not
            # the agent's leg leaving the consultation (cti-consult-connect).
            await self.acd.control.set_var(call.consult_channel, "CTI_TRANSFERRED", "1")
            await self.acd.control.bridge(call.caller_channel, call.consult_channel)
            with contextlib.suppress(CtiError):  # the agent's leg went with the bridge the consultee left
                await self.acd.control.hangup(call.agent_channel, may_be_gone=True)
            await self._handed_over(call)
        finally:
            self._completing.discard(call.linkedid)

    def _complete_once(self, call: LiveCall) -> bool:
        """Claim ``call``'s completion: the console's Hang up and the agent's phone hanging up
        (``consultation_alone``) may both try; False when the other did, or the call moved on."""
        if call.linkedid in self._completing or call.status != "consulting" or call.consult_channel is None:
            return False
        self._completing.add(call.linkedid)
        return True

    async def consultation_alone(self, linkedid: str, channel: str, uniqueid: str = "") -> None:
        """The transferring agent's own phone hung up during the consultation: ``channel``, the
        consultation's leg, waits alone (cti-consult-alone). As the console's Hang up there, the
        transfer completes: the caller and the consulted party talk, the agent wraps up. A leg not
        yet recorded (its ``uniqueid`` still the call's ring) is kept for ``consult``, which completes
        the transfer once it has recorded the leg."""
        call = self.acd.calls.get(linkedid)
        if call is not None and self.rings.left_alone(call, channel, uniqueid):
            return
        if call is None or call.consult_channel != channel or not self._complete_once(call):
            return  # Back to caller left the leg alone (it hangs it up), or the call moved on
        try:
            # cti-consult-alone ends the leg once the caller it is then bridged with is gone.
            await self.acd.control.set_var(channel, "CTI_HELD_CALLER", call.caller_channel)
            await self.acd.control.bridge(call.caller_channel, channel)
            await self._handed_over(call)
        finally:
            self._completing.discard(linkedid)

    async def parked_agent_left(self, linkedid: str, channel: str) -> None:
        """The transferring agent's own phone hung up while the consultation still rang (``channel``,
        their leg, parked): there is nobody to hand the caller to yet, nor to go back to. The ringing
        stops, and the caller waits in the queue again (``wait_again_after_hold``)."""
        call = self.acd.calls.get(linkedid)
        if (call is None or call.status != "consulting" or call.agent_channel != channel or call.consult_channel
                or linkedid in self._completing or self.rings.answered_alone(call)):
            return  # answered meanwhile: the consultation's leg, left alone, completes the transfer
        assert call.agent_id is not None
        consult, (ring, _) = call.consult, self.rings.drop(call)
        call.consult = call.consult_target = None
        if consult is not None:
            ring = ring or consult.agent_channel
            await self.acd.consultations.drop(consult, wrap_up=False, reason="cancelled")
        if ring:
            with contextlib.suppress(CtiError):
                await self.acd.control.hangup(ring, may_be_gone=True)
        await wait_again_after_hold(self.acd, call)

    async def _handed_over(self, call: LiveCall, *, hold_ended: bool = True) -> None:
        """The caller is the consulted party's: the transferring agent's part ends (the caller's hold
        with it, ``hold_ended``: not after a conference; then the transfer, then wrap-up), and a
        consulted agent holds the call."""
        assert call.agent_id is not None
        now = self.acd.clock()
        consult, call.consult = call.consult, None  # taken before any await: the call's end may race
        if hold_ended:
            await self.acd.bus.publish(HoldEnded(ts=now, linkedid=call.linkedid, agent_id=call.agent_id,
                                                 queue=call.queue or None))
        if call.consult_target is not None:
            kind, target = call.consult_target
            await self.acd.bus.publish(transferred(call, ts=now, from_agent=call.agent_id, kind="attended",
                                                   target_kind=kind, target=target))
        await self.acd.release_agent(call)
        if consult is not None:
            await self.acd.consultations.adopt(consult, call)
