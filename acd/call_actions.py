"""What an agent does with a connected call, carried out on the PBX: hang up, hold and resume,
blind transfer, the call's tags and attributes, DTMF, and click-to-dial; the attended transfer
(consultation, back to caller, conference, completion) is ``acd.consult_actions``', reached from
here. ``acd.delivery`` routes calls to agents; this module acts on the calls once they are the
agent's. Both share the service's live calls.

    actions = CallActions(acd)      # acd: AcdService (it builds one: ``acd.actions``), an acd.parts.CallActionsHost
    await actions.hold(linkedid)
"""

from __future__ import annotations

import contextlib
import logging
import uuid

from acd.calls import QUEUE_CONTEXT, AgentPhone, LiveCall, transferred
from acd.consult_actions import ConsultActions, live_call, route_vars
from acd.errors import AcdError, DialLost, DialRefused, DialUnconfirmed, InvalidRequest, PhoneDidNotAnswer
from acd.held_caller import wait_again_after_hold
from acd.model import AgentState, moved_skills
from acd.parts import CallActionsHost
from cti.errors import AmiNotSent, AmiUnavailable, CtiError
from cti.journey import CallArrived, CallConnected, HoldEnded, HoldStarted
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
        self.consults = ConsultActions(acd, self.route)  # attended transfers (acd.consult_actions)

    def _live(self, linkedid: str) -> LiveCall:
        return live_call(self.acd, linkedid)

    def route(self, number: str, *, queue: str | None = None, campaign: str | None = None,
              field: str = "number", caller_id: str | None = None) -> DialTarget:
        """``number`` normalised to E.164 and routed to its trunk; InvalidRequest (422) naming
        ``field`` when it is not a phone number or no route takes it."""
        try:
            return self.routing.route(number, queue=queue, campaign=campaign, field=field, caller_id=caller_id)
        except Unroutable as err:
            raise InvalidRequest(err.field, str(err).removeprefix(f"{err.field}: ")) from None

    async def hangup(self, linkedid: str) -> None:
        """Hang up the caller; while consulting for an attended transfer, complete the transfer; in
        a conference, the agent leaves it (caller and third party talk on; once the third party has
        left, the caller is hung up)."""
        call = self._live(linkedid)
        if await self.consults.agent_hangup(call):
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
        the next agent's pop. A named agent is waited for, never replaced by another one. An
        attended transfer to a queue has nobody to consult (the queue picks an agent once the
        caller waits there): it is carried out, and published, as the blind transfer it is."""
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
            await self.consults.consult_agent(call, target, note)
            return
        if kind == "attended" and target_kind == "number":
            await self.consults.consult(call, target_kind, target)
            return
        kind = "blind"  # a queue asked "attended" too: the agent talks to nobody before the caller goes
        if target_kind == "number":
            routed = self.route(target, queue=call.queue or None, field="target")
            for name, value in route_vars(routed).items():
                await self.acd.control.set_var(call.caller_channel, name, value)
            await self.acd.control.redirect(call.caller_channel, EXTERNAL_CONTEXT, routed.exten)
        elif target_kind in ("queue", "agent"):
            await self.acd.control.redirect(call.caller_channel, QUEUE_CONTEXT, "s")
        else:
            raise AcdError(f"target_kind: unknown kind {target_kind!r}")
        await self._release_agent_leg(call)
        if call.status == "held":  # the caller's hold ends with the agent's part, as a resume ends it
            await self.acd.bus.publish(HoldEnded(ts=self.acd.clock(), linkedid=linkedid, agent_id=agent,
                                                 queue=call.queue or None))
        await self.acd.bus.publish(transferred(call, ts=self.acd.clock(), from_agent=agent, kind=kind,
                                               target_kind=target_kind, target=target))
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

    async def _release_agent_leg(self, call: LiveCall) -> None:
        """The caller, just moved on by a blind transfer, no longer needs the agent's leg: it ends.
        Bridged with the caller by its own Bridge() (or as a Dial's callee) it ends by itself once the
        caller leaves. But once the call has been on hold it is the park's (cti-park-agent), and the
        park's loop ends it only when the caller's channel is gone: the caller lives on with the
        number or the queue, so the agent's phone stayed up, parked, and their next dial was refused.
        CTI_RELEASED ends that loop at its next step, once the leg is out of the caller's bridge: an
        AMI Hangup now could reach the leg before the caller has left that bridge, and take it along."""
        if call.agent_channel is None:
            return
        with contextlib.suppress(CtiError):  # the agent's phone hung up meanwhile: nothing to release
            await self.acd.control.set_var(call.agent_channel, "CTI_RELEASED", "1")

    async def cancel_consult(self, linkedid: str, *, reason: str = "cancelled", wrap_up: bool = False) -> None:
        """Back to caller: the consultation ends (``ConsultActions.cancel_consult``)."""
        await self.consults.cancel_consult(linkedid, reason=reason, wrap_up=wrap_up)

    async def consultation_left(self, linkedid: str, channel: str) -> None:
        """The consulted party's own end hung up (``ConsultActions.consultation_left``)."""
        await self.consults.consultation_left(linkedid, channel)

    async def consultation_alone(self, linkedid: str, channel: str, uniqueid: str = "") -> None:
        """The transferring agent's own phone hung up (``ConsultActions.consultation_alone``)."""
        await self.consults.consultation_alone(linkedid, channel, uniqueid)

    async def parked_agent_left(self, linkedid: str, channel: str) -> None:
        """The agent's parked leg (``channel``) hung up by their phone: with the caller on a plain hold
        (below), or while the consultation's target rang (``ConsultActions.parked_agent_left``)."""
        call = self.acd.calls.get(linkedid)
        if call is not None and call.status == "held":
            await self._held_agent_left(call, channel)
            return
        await self.consults.parked_agent_left(linkedid, channel)

    async def _held_agent_left(self, call: LiveCall, channel: str) -> None:
        """The agent's phone hung up with the caller on a plain hold: as a desk phone put down ends the
        agent's part, they wrap up and the caller waits in the queue again at its place, rather than
        on hold's music for nobody. A browser softphone's leg ending by itself is a page reloaded or
        a network lost, never a hang-up (the console has its own): ``acd.reconnect`` rings that
        agent again when it is back."""
        if call.agent_channel != channel or call.agent_id is None:
            return
        if self.acd.phones.get(call.agent_id, AgentPhone(call.agent_id)).kind == "webrtc":
            return
        log.info("call %s: agent %s's phone hung up with the caller on hold; it waits in the queue again",
                 call.linkedid, call.agent_id)
        await wait_again_after_hold(self.acd, call)

    async def consulted_hangup(self, linkedid: str) -> None:
        """The consulted agent's console Hang up (``ConsultActions.consulted_hangup``)."""
        await self.consults.consulted_hangup(linkedid)

    async def conference(self, linkedid: str) -> None:
        """The three-way conference (``ConsultActions.conference``)."""
        await self.consults.conference(linkedid)

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
        Originate it never answered (``DialUnconfirmed``), or one written before AMI was lost
        (``DialLost``), is known by it, and adopted by the error's ``adopt`` once the agent's leg of
        it answered (``acd.dial_readiness``): the same LiveCall as here."""
        routed = self.route(number, queue=queue, campaign=campaign, caller_id=caller_id)
        number = routed.exten  # E.164 digits: what the CRM and the far-end tracking see
        phone = self.acd.phones.get(agent_id) or AgentPhone(agent_id)
        channel_id = channel_id or f"cti-{uuid.uuid4().hex}"
        placed_id = channel_id

        def placed(now: float) -> tuple[CallArrived]:
            # The call as a confirmed dial publishes it (below), once a channel of it is seen
            # (acd.dial_readiness); the agent connected to it once it is adopted (``adopt``).
            return (dial_arrived(now, placed_id, "", number, agent_id),)

        async def adopt(agent_channel: str) -> LiveCall:
            # The late call made the agent's, as a confirmed dial's (acd.dial_readiness: once its agent's
            # leg answered, i.e. a customer's leg of it seen); CallArrived went out when it was first seen.
            return await self._connected(placed_id, agent_id, agent_channel, number, customer_id=customer_id,
                                         campaign=campaign, callback=callback)

        try:
            result = await self.acd.control.originate(
                phone.dial, context=EXTERNAL_CONTEXT, exten=routed.exten, caller_id=f"<{number}>",
                variables={"CTI_ANSWER_S": str(phone.answer_after_s), **route_vars(routed)}, timeout_ms=30000,
                channel_id=channel_id)
        except AmiNotSent:  # never written: nobody was called
            raise
        except AmiUnavailable as err:  # written, then the connection lost with it pending: the phones may ring
            raise DialLost(f"the dial from the phone of agent {agent_id}: {err.message}", channel_id, placed,
                           adopt) from err
        if result.timed_out:  # written, and Asterisk said nothing: the phones may have rung
            raise DialUnconfirmed(f"the dial from the phone of agent {agent_id}: {result.reason}", channel_id, placed,
                                  adopt)
        if result.refused:  # no channel was made: the phone never rang
            # Asterisk's words go to the log only, as for every step it refuses (agent_console.errors).
            log.warning("acd: Asterisk refused the dial from the phone of agent %s: %s", agent_id, result.reason)
            raise DialRefused(f"the phone system refused to call the phone of agent {agent_id} "
                              "(the details are in the engine's log)")
        if not result.success:
            raise PhoneDidNotAnswer(f"the phone of agent {agent_id} did not answer (reason {result.reason})")
        linkedid = result.linkedid or result.uniqueid or channel_id
        await self._connected(linkedid, agent_id, result.channel or "", number, customer_id=customer_id,
                              campaign=campaign, callback=callback, arrived=False)
        return linkedid

    async def _connected(self, linkedid: str, agent_id: str, agent_channel: str, number: str, *,
                         customer_id: int | None, campaign: str | None, callback: bool,
                         arrived: bool = True) -> LiveCall:
        """A click-to-dial's call whose agent's leg (``agent_channel``) answered, the agent's from now
        on: talking, CallArrived published unless ``arrived`` already, then CallConnected, and the
        console's call card (``call_update``)."""
        # The agent's leg runs the Dial to the customer: until the customer answers (acd.follower's
        # on_far_end names their leg) it is the only channel the call has, and no one to hold.
        customer = self.acd.early_customer_leg.pop(linkedid, None)
        call = LiveCall(linkedid=linkedid, caller_channel=customer or agent_channel, caller_number=number,
                        queue="", direction="outbound", customer_id=customer_id, status="talking",
                        agent_id=agent_id, agent_channel=agent_channel or None, answered_at=self.acd.clock(),
                        far_end=self.acd.early_far_end.pop(linkedid, None), campaign=campaign, callback=callback)
        self.acd.calls[linkedid] = call
        if not arrived:
            await self.acd.bus.publish(dial_arrived(self.acd.clock(), linkedid, call.caller_channel, number, agent_id))
        await self.acd.bus.publish(CallConnected(ts=self.acd.clock(), linkedid=linkedid, agent_id=agent_id,
                                                 customer_id=customer_id))
        await self.acd.call_update(call, "talking")
        return call


def dial_arrived(now: float, linkedid: str, channel: str, number: str, agent_id: str) -> CallArrived:
    """A click-to-dial's call as published: outbound, the agent's, to ``number``."""
    return CallArrived(ts=now, linkedid=linkedid, channel=channel, caller_number=number, dnis=number,
                       direction="outbound", agent_id=agent_id)
