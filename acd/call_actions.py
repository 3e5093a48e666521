"""What an agent does with a connected call, carried out on the PBX: hang up, hold and resume,
blind and attended transfer (to an agent: through the ACD, which reserves and pops the target),
cancelling a consultation, a three-way conference, the call's tags and attributes, DTMF, and
click-to-dial. ``acd.delivery`` routes calls to agents; this
module acts on the calls once they are the agent's. Both share the service's live calls.

    actions = CallActions(acd)      # acd: AcdService (it builds one: ``acd.actions``), an acd.parts.CallActionsHost
    await actions.hold(linkedid)
"""

from __future__ import annotations

import contextlib
import logging
import uuid

from acd.calls import CONSULT_SUFFIX, AgentPhone, LiveCall
from acd.errors import AcdError, DialRefused, DialUnconfirmed, InvalidRequest, PhoneDidNotAnswer
from acd.model import AgentState, moved_skills
from acd.parts import CallActionsHost
from cti.errors import CtiError
from cti.journey import CallArrived, CallConnected, CallTransferred, HoldEnded, HoldStarted
from cti.trunks import EXTERNAL_CONTEXT, DialTarget, Route, Trunk, TrunksConfig, Unroutable

log = logging.getLogger(__name__)

# Only for an AcdService built without the configuration (in-memory tests): every number goes to
# the dialplan's simulated far end. The engine always sets the trunks of config/trunks.yaml.
SIMULATOR_ONLY = TrunksConfig(trunks=(Trunk(name="sim", kind="simulator"),),
                              outbound={"routes": (Route(prefix="", trunk="sim"),)})


class CallActions:
    """The agent's actions on their calls; ``acd`` owns the calls and publishes the updates."""

    def __init__(self, acd: CallActionsHost, routing: TrunksConfig = SIMULATOR_ONLY) -> None:
        self.acd = acd
        self.routing = routing  # outbound routes: number -> trunk (config/trunks.yaml)
        # Queues whose callers answer a survey after the agent hangs up (acd.survey): the engine sets it.
        self.survey_queues: frozenset[str] = frozenset()
        self._leaving: set[str] = set()  # calls whose agent is leaving the conference, by linkedid

    def _live(self, linkedid: str) -> LiveCall:
        """The live call; a call in wrap-up (``acd.wrapups``) or gone is refused, not a KeyError."""
        call = self.acd.calls.get(linkedid)
        if call is None:
            wrapping = any(lid == linkedid for _, lid in self.acd.wrapups)  # keyed (agent_id, linkedid)
            state = "in wrap-up" if wrapping else "not connected"
            raise AcdError(f"call {linkedid} is {state}; only a connected call can be acted on")
        return call

    def route(self, number: str, *, queue: str | None = None, campaign: str | None = None,
              field: str = "number", caller_id: str | None = None) -> DialTarget:
        """``number`` normalised to E.164 and routed to its trunk; InvalidRequest (422) naming
        ``field`` when it is not a phone number or no route takes it."""
        try:
            return self.routing.route(number, queue=queue, campaign=campaign, field=field, caller_id=caller_id)
        except Unroutable as err:
            raise InvalidRequest(err.field, str(err).removeprefix(f"{err.field}: ")) from None

    @staticmethod
    def _route_vars(target: DialTarget) -> dict[str, str]:
        """Channel variables cti-external reads: the trunk chosen here and the presented number."""
        return {"CTI_TRUNK": target.trunk, **({"CTI_CALLER_ID": target.caller_id} if target.caller_id else {})}

    async def hangup(self, linkedid: str) -> None:
        """Hang up the caller; while consulting for an attended transfer, complete the transfer; in
        a conference, the agent leaves it (caller and third party talk on; once the third party has
        left, the caller is hung up)."""
        call = self._live(linkedid)
        if call.status == "consulting" and call.consult_channel and call.agent_channel:
            await self._complete_attended(call)
            return
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
            return
        # A conference the third party left: caller and agent alone, the agent's Hang up ends it
        # (the caller is the ConfBridge's marked user).
        if call.direction == "inbound" and call.queue in self.survey_queues and call.status == "talking":
            # The caller goes on to the survey; the agent's leg ends with the bridge it leaves.
            await self.acd.control.redirect(call.caller_channel, "cti-survey", "s")
            if call.agent_channel:
                with contextlib.suppress(CtiError):
                    await self.acd.control.hangup(call.agent_channel, may_be_gone=True)
            await self.acd.release_agent(call)
            return
        await self.acd.control.hangup(call.caller_channel)

    @staticmethod
    def _customer_answered(call: LiveCall) -> None:
        """A click-to-dial call's only leg, before the customer answers, is the agent's own (it runs
        the Dial): holding or transferring it would end the Dial and hang up the customer."""
        if call.direction == "outbound" and call.caller_channel == call.agent_channel:
            raise AcdError(f"call {call.linkedid}: the customer has not answered yet; nothing to hold or transfer")

    async def hold(self, linkedid: str) -> None:
        call = self._live(linkedid)
        if call.status != "talking" or call.agent_channel is None or call.agent_id is None:
            raise AcdError(f"call {linkedid} is not talking; only a connected call can be held")
        self._customer_answered(call)
        await self.acd.control.hold(call.caller_channel, peer=call.agent_channel)
        call.status = "held"
        await self.acd.bus.publish(HoldStarted(ts=self.acd.clock(), linkedid=linkedid, agent_id=call.agent_id,
                                               queue=call.queue or None))
        await self.acd.call_update(call, "held")

    async def resume(self, linkedid: str) -> None:
        call = self._live(linkedid)
        if call.status != "held" or call.agent_channel is None or call.agent_id is None:
            raise AcdError(f"call {linkedid} is not on hold")
        await self.acd.control.unhold(call.caller_channel, peer=call.agent_channel)
        call.status = "talking"
        await self.acd.bus.publish(HoldEnded(ts=self.acd.clock(), linkedid=linkedid, agent_id=call.agent_id,
                                             queue=call.queue or None))
        await self.acd.call_update(call, "talking")

    async def transfer(self, linkedid: str, *, target_kind: str, target: str, kind: str = "blind",
                       note: str = "") -> None:
        """Transfer the caller to a number, a queue or a named agent: blind (the agent leaves the
        call) or attended (the agent first talks to the target). ``note`` travels with the call to
        the next agent's pop. A named agent is waited for, never replaced by another one."""
        call = self._live(linkedid)
        if call.agent_id is None or call.status not in ("talking", "held"):
            raise AcdError(f"call {linkedid} is not connected to an agent")
        self._customer_answered(call)
        agent = call.agent_id
        if target_kind in ("number", "agent") and not target.isdigit():
            raise AcdError(f"target: {target!r} is not a number or an agent extension (digits only)")
        if target_kind == "agent":
            if target == agent:
                raise AcdError(f"target: the call is already yours, agent {agent}")
            if self.acd.agent_state(target) is AgentState.LOGGED_OUT:
                raise AcdError(f"target: agent {target} is not logged in; the call stays with you")
        if kind == "attended" and target_kind == "agent":
            await self._consult_agent(call, target, note)
            return
        if kind == "attended" and target_kind == "number":
            await self._consult(call, target_kind, target)
            return
        if target_kind == "number":
            routed = self.route(target, queue=call.queue or None, field="target")
            for name, value in self._route_vars(routed).items():
                await self.acd.control.set_var(call.caller_channel, name, value)
            await self.acd.control.redirect(call.caller_channel, EXTERNAL_CONTEXT, routed.exten)
        elif target_kind in ("queue", "agent"):
            await self.acd.control.redirect(call.caller_channel, "cti-queue", "s")
        else:
            raise AcdError(f"target_kind: unknown kind {target_kind!r}")
        await self.acd.bus.publish(CallTransferred(ts=self.acd.clock(), linkedid=linkedid, from_agent=agent,
                                               target=target, target_kind=target_kind, kind=kind))
        await self.acd.release_agent(call)
        if target_kind in ("queue", "agent"):
            queue = target if target_kind == "queue" else call.queue
            requeued = LiveCall(linkedid=linkedid, caller_channel=call.caller_channel,
                                caller_number=call.caller_number, queue=queue, customer_id=call.customer_id,
                                skills=moved_skills(call.skills, queue, self.acd.queue_names())
                                if target_kind == "queue" else None,
                                priority=call.priority, attributes=call.attributes, tags=list(call.tags),
                                note=note, transfer_from=agent)
            # The transferring agent named a colleague: the call waits for them (the router refuses
            # a colleague who logged out meanwhile; it then waits in the queue). Sent to a queue, it
            # must not wait for the customer's last agent -- the very agent who just passed it on.
            try:
                await self.acd.enqueue(requeued, required=target if target_kind == "agent" else None,
                                       by_history=False)
            except AcdError:
                if target_kind != "agent":
                    raise
                await self.acd.enqueue(requeued, by_history=False)

    async def _consult(self, call: LiveCall, target_kind: str, target: str) -> None:
        """Attended transfer, step 1: the caller goes on hold and the agent talks to the target."""
        if call.status != "talking" or call.agent_channel is None or call.agent_id is None:
            raise AcdError(f"call {call.linkedid}: only a connected call can be transferred with consultation")
        route_vars: dict[str, str] = {}
        if target_kind == "number":
            routed = self.route(target, queue=call.queue or None, field="target")
            dial, route_vars = f"Local/{routed.exten}@{EXTERNAL_CONTEXT}/n", self._route_vars(routed)
            answer_after = self.acd.phones.get(call.agent_id, AgentPhone(call.agent_id)).answer_after_s
        else:
            phone = self.acd.phones.get(target) or AgentPhone(target)
            dial, answer_after = phone.dial, phone.answer_after_s
        await self._hold_for_consult(call, (target_kind, target))
        result = await self.acd.control.originate(
            dial, context="cti-consult-connect", exten="s",
            variables={"CTI_ANSWER_S": str(answer_after), "CTI_CALLER": call.agent_channel, **route_vars},
            timeout_ms=30000)
        if not result.success or not result.channel:
            call.consult_target = None
            await self._back_from_consult(call)
            raise AcdError(f"transfer target {target} did not answer; the caller is back with the agent")
        # Answered is not yet talking: cti-consult-connect's Bridge() pulls the agent's leg in an
        # instant later. A conference or completion sent before that would redirect the target's
        # leg out of the Bridge() that is pulling the agent's, and the agent's leg ends with it.
        if not await self.acd.control.wait_bridged(result.channel, call.agent_channel):
            call.consult_target = None
            with contextlib.suppress(CtiError):
                await self.acd.control.hangup(result.channel, may_be_gone=True)
            await self._back_from_consult(call)
            raise AcdError(f"transfer target {target} answered but could not be connected to the agent; "
                           "the caller is back with the agent")
        call.consult_channel = result.channel

    async def _consult_agent(self, call: LiveCall, target: str, note: str) -> None:
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
        call = self._live(linkedid)
        if call.status != "consulting" or call.agent_channel is None:
            raise AcdError(f"call {linkedid} is not consulting; there is no consultation to cancel")
        consult, channel = call.consult, call.consult_channel
        call.consult = None
        call.consult_channel = call.consult_target = None
        if consult is not None:
            channel = channel or consult.agent_channel
            await self.acd.consultations.drop(consult, wrap_up=wrap_up, reason=reason)
        # Back to the caller first: the AMI Bridge moves the agent's leg out of the consultation,
        # so hanging up the target's leg afterwards cannot take the agent's leg with it.
        await self._back_from_consult(call)
        if channel:
            with contextlib.suppress(CtiError):
                await self.acd.control.hangup(channel, may_be_gone=True)

    async def consultation_left(self, linkedid: str, channel: str) -> None:
        """The consulted party's own end hung up during the consultation (``channel``, its leg: the
        consulted agent's phone, the number's far end): the caller is back with the agent, as
        after Back to caller, and a consulted agent wraps up (``target_hung_up``)."""
        call = self.acd.calls.get(linkedid)
        if call is None or call.status != "consulting" or call.consult_channel != channel or not call.agent_channel:
            return
        # cti-consult-connect's Bridge() ended with the party's leg, and its F sends the agent's leg
        # on to cti-park-agent: the unhold's Bridge must find it there, out of the consultation's
        # bridge (caught in it, it would be moved with its after-bridge goto still pending).
        await self.acd.control.wait_bridged(call.agent_channel, channel, together=False)
        if call.status != "consulting" or call.consult_channel != channel:
            return  # the agent went back to the caller (or completed the transfer) meanwhile
        await self.cancel_consult(linkedid, reason="target_hung_up", wrap_up=True)

    async def consulted_hangup(self, linkedid: str) -> None:
        """The consulted agent hangs up (their console): during the consultation the caller is back
        with the transferring agent; in the conference they leave it, the others talk on."""
        call = self._live(linkedid)
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
        call = self._live(linkedid)
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
        assert call.agent_channel is not None and call.agent_id is not None
        with contextlib.suppress(CtiError):
            await self.acd.control.hangup(call.agent_channel, may_be_gone=True)
        consult, call.consult = call.consult, None
        if call.consult_target is not None:
            kind, target = call.consult_target
            await self.acd.bus.publish(CallTransferred(ts=self.acd.clock(), linkedid=call.linkedid,
                                                       from_agent=call.agent_id, target=target, target_kind=kind,
                                                       kind="attended"))  # journey kinds: blind | attended
        await self.acd.release_agent(call)
        if consult is not None:
            await self.acd.consultations.adopt(consult, call)

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
        await self.acd.control.bridge(call.caller_channel, call.consult_channel)
        with contextlib.suppress(CtiError):  # the agent's leg went with the bridge the consultee left
            await self.acd.control.hangup(call.agent_channel, may_be_gone=True)
        now = self.acd.clock()
        await self.acd.bus.publish(HoldEnded(ts=now, linkedid=call.linkedid, agent_id=call.agent_id,
                                             queue=call.queue or None))
        kind, target = call.consult_target
        await self.acd.bus.publish(CallTransferred(ts=now, linkedid=call.linkedid, from_agent=call.agent_id,
                                               target=target, target_kind=kind, kind="attended"))
        consult, call.consult = call.consult, None
        await self.acd.release_agent(call)
        if consult is not None:
            await self.acd.consultations.adopt(consult, call)

    async def set_attributes(self, linkedid: str, *, tags: list[str] | None = None,
                             values: dict[str, str] | None = None) -> None:
        """The agent tags the call and writes key-value attributes; they follow transfers."""
        call = self._live(linkedid)
        if call.agent_id is None or call.status in ("queued", "ringing", "ended", "gone"):
            raise AcdError(f"call {linkedid} is not connected to an agent")
        if values:
            call.attributes = {**(call.attributes or {}), **values}
        for tag in tags or ():
            if tag not in call.tags:
                call.tags.append(tag)
        await self.acd.call_update(call, call.status)

    async def play_dtmf(self, linkedid: str, digits: str) -> None:
        call = self._live(linkedid)
        if call.agent_channel is None:
            raise AcdError(f"call {linkedid} has no agent leg to send DTMF on")
        for digit in digits:
            await self.acd.control.play_dtmf(call.agent_channel, digit)

    async def dial(self, agent_id: str, number: str, *, customer_id: int | None = None,
                   queue: str | None = None, campaign: str | None = None, caller_id: str | None = None,
                   callback: bool = False, channel_id: str | None = None) -> str:
        """Click-to-dial: the agent's phone rings first, then the customer through the trunk the
        number routes to (caller ID ``caller_id`` when that trunk lists it, else of ``campaign``, else
        ``queue``, else the default). ``campaign`` (a preview campaign's contact) and ``callback`` (a
        preview callback's call) also say on the agent's screen what the call is. ``channel_id``: the
        agent's leg's uniqueid, so the call's linkedid, chosen before the call exists (a preview
        attempt's); by default one is made here. Either way a call Asterisk places after an
        Originate it never answered (``DialUnconfirmed``) is known by it."""
        routed = self.route(number, queue=queue, campaign=campaign, caller_id=caller_id)
        number = routed.exten  # E.164 digits: what the CRM and the far-end tracking see
        phone = self.acd.phones.get(agent_id) or AgentPhone(agent_id)
        channel_id = channel_id or f"cti-{uuid.uuid4().hex}"
        result = await self.acd.control.originate(
            phone.dial, context=EXTERNAL_CONTEXT, exten=routed.exten, caller_id=f"<{number}>",
            variables={"CTI_ANSWER_S": str(phone.answer_after_s), **self._route_vars(routed)}, timeout_ms=30000,
            channel_id=channel_id)
        if result.timed_out:  # written, and Asterisk said nothing: the phones may have rung
            raise DialUnconfirmed(f"the dial from the phone of agent {agent_id}: {result.reason}", channel_id)
        if result.refused:  # no channel was made: the phone never rang
            # Asterisk's words go to the log only, as for every step it refuses (agent_console.errors).
            log.warning("acd: Asterisk refused the dial from the phone of agent %s: %s", agent_id, result.reason)
            raise DialRefused(f"the phone system refused to call the phone of agent {agent_id} "
                              "(the details are in the engine's log)")
        if not result.success:
            raise PhoneDidNotAnswer(f"the phone of agent {agent_id} did not answer (reason {result.reason})")
        linkedid = result.linkedid or result.uniqueid or channel_id
        # The agent's leg runs the Dial to the customer: until the customer answers (acd.follower's
        # on_far_end names their leg) it is the only channel the call has, and no one to hold.
        customer = self.acd.early_customer_leg.pop(linkedid, None)
        call = LiveCall(linkedid=linkedid, caller_channel=customer or result.channel or "", caller_number=number,
                        queue="", direction="outbound", customer_id=customer_id, status="talking",
                        agent_id=agent_id, agent_channel=result.channel, answered_at=self.acd.clock(),
                        far_end=self.acd.early_far_end.pop(linkedid, None), campaign=campaign, callback=callback)
        self.acd.calls[linkedid] = call
        await self.acd.bus.publish(CallArrived(ts=self.acd.clock(), linkedid=linkedid, channel=call.caller_channel,
                                           caller_number=number, dnis=number, direction="outbound",
                                           agent_id=agent_id))
        await self.acd.bus.publish(CallConnected(ts=self.acd.clock(), linkedid=linkedid, agent_id=agent_id,
                                                 customer_id=customer_id))
        await self.acd.call_update(call, "talking")
        return linkedid
