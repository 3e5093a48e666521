"""What an agent does with a connected call, carried out on the PBX: hang up, hold and resume,
blind and attended transfer, DTMF, and click-to-dial. ``acd.delivery`` routes calls to agents; this
module acts on the calls once they are the agent's. Both share the service's live calls.

    actions = CallActions(acd)      # acd: AcdService (it builds one: ``acd.actions``)
    await actions.hold(linkedid)
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from acd.calls import AgentPhone, LiveCall
from acd.errors import AcdError, InvalidRequest
from cti.errors import CtiError
from cti.journey import CallArrived, CallConnected, CallTransferred, HoldEnded, HoldStarted
from cti.trunks import EXTERNAL_CONTEXT, DialTarget, Route, Trunk, TrunksConfig, Unroutable

if TYPE_CHECKING:
    from acd.delivery import AcdService


# Only for an AcdService built without the configuration (in-memory tests): every number goes to
# the dialplan's simulated far end. The engine always sets the trunks of config/trunks.yaml.
SIMULATOR_ONLY = TrunksConfig(trunks=(Trunk(name="sim", kind="simulator"),),
                              outbound={"routes": (Route(prefix="", trunk="sim"),)})


class CallActions:
    """The agent's actions on their calls; ``acd`` owns the calls and publishes the updates."""

    def __init__(self, acd: AcdService, routing: TrunksConfig = SIMULATOR_ONLY) -> None:
        self.acd = acd
        self.routing = routing  # outbound routes: number -> trunk (config/trunks.yaml)

    def route(self, number: str, *, queue: str | None = None, campaign: str | None = None,
              field: str = "number") -> DialTarget:
        """``number`` normalised to E.164 and routed to its trunk; InvalidRequest (422) naming
        ``field`` when it is not a phone number or no route takes it."""
        try:
            return self.routing.route(number, queue=queue, campaign=campaign, field=field)
        except Unroutable as err:
            raise InvalidRequest(err.field, str(err).removeprefix(f"{err.field}: ")) from None

    @staticmethod
    def _route_vars(target: DialTarget) -> dict[str, str]:
        """Channel variables cti-external reads: the trunk chosen here and the presented number."""
        return {"CTI_TRUNK": target.trunk, **({"CTI_CALLER_ID": target.caller_id} if target.caller_id else {})}

    async def hangup(self, linkedid: str) -> None:
        """Hang up the caller; while consulting for an attended transfer, complete the transfer."""
        call = self.acd.calls[linkedid]
        if call.status == "consulting" and call.consult_channel and call.agent_channel:
            await self._complete_attended(call)
            return
        await self.acd.control.hangup(call.caller_channel)

    async def hold(self, linkedid: str) -> None:
        call = self.acd.calls[linkedid]
        if call.status != "talking" or call.agent_channel is None or call.agent_id is None:
            raise AcdError(f"call {linkedid} is not talking; only a connected call can be held")
        await self.acd.control.hold(call.caller_channel, peer=call.agent_channel)
        call.status = "held"
        await self.acd.bus.publish(HoldStarted(ts=self.acd.clock(), linkedid=linkedid, agent_id=call.agent_id))
        await self.acd.call_update(call, "held")

    async def resume(self, linkedid: str) -> None:
        call = self.acd.calls[linkedid]
        if call.status != "held" or call.agent_channel is None or call.agent_id is None:
            raise AcdError(f"call {linkedid} is not on hold")
        await self.acd.control.unhold(call.caller_channel, peer=call.agent_channel)
        call.status = "talking"
        await self.acd.bus.publish(HoldEnded(ts=self.acd.clock(), linkedid=linkedid, agent_id=call.agent_id))
        await self.acd.call_update(call, "talking")

    async def transfer(self, linkedid: str, *, target_kind: str, target: str, kind: str = "blind") -> None:
        """Blind transfer of the caller to a number or a queue (the agent leaves the call)."""
        call = self.acd.calls[linkedid]
        if call.agent_id is None or call.status not in ("talking", "held"):
            raise AcdError(f"call {linkedid} is not connected to an agent")
        agent = call.agent_id
        if target_kind in ("number", "agent") and not target.isdigit():
            raise AcdError(f"target: {target!r} is not a number or an agent extension (digits only)")
        if kind == "attended" and target_kind in ("number", "agent"):
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
                                skills=call.skills if target_kind == "queue" else None,
                                priority=call.priority, attributes=call.attributes)
            # The transferring agent named a colleague: prefer them. Sent to a queue, the call must
            # not wait for the customer's last agent -- the very agent who just passed it on.
            await self.acd.enqueue(requeued, preferred=target if target_kind == "agent" else None, by_history=False)

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
        await self.acd.control.hold(call.caller_channel, peer=call.agent_channel)
        call.status = "consulting"
        await self.acd.bus.publish(HoldStarted(ts=self.acd.clock(), linkedid=call.linkedid, agent_id=call.agent_id))
        await self.acd.call_update(call, "consulting")
        result = await self.acd.control.originate(
            dial, context="cti-agent-connect", exten="s",
            variables={"CTI_ANSWER_S": str(answer_after), "CTI_CALLER": call.agent_channel, **route_vars},
            timeout_ms=30000)
        if not result.success or not result.channel:
            await self.acd.control.unhold(call.caller_channel, peer=call.agent_channel)
            call.status = "talking"
            await self.acd.bus.publish(HoldEnded(ts=self.acd.clock(), linkedid=call.linkedid, agent_id=call.agent_id))
            await self.acd.call_update(call, "talking")
            raise AcdError(f"transfer target {target} did not answer; the caller is back with the agent")
        call.consult_channel, call.consult_target = result.channel, (target_kind, target)

    async def _complete_attended(self, call: LiveCall) -> None:
        """Attended transfer, step 2: the agent hangs up and the caller is bridged to the target."""
        assert call.consult_channel and call.agent_channel and call.agent_id and call.consult_target
        await self.acd.control.bridge(call.caller_channel, call.consult_channel)
        with contextlib.suppress(CtiError):  # the agent's leg went with the bridge the consultee left
            await self.acd.control.hangup(call.agent_channel, may_be_gone=True)
        now = self.acd.clock()
        await self.acd.bus.publish(HoldEnded(ts=now, linkedid=call.linkedid, agent_id=call.agent_id))
        kind, target = call.consult_target
        await self.acd.bus.publish(CallTransferred(ts=now, linkedid=call.linkedid, from_agent=call.agent_id,
                                               target=target, target_kind=kind, kind="attended"))
        await self.acd.release_agent(call)

    async def play_dtmf(self, linkedid: str, digits: str) -> None:
        call = self.acd.calls[linkedid]
        if call.agent_channel is None:
            raise AcdError(f"call {linkedid} has no agent leg to send DTMF on")
        for digit in digits:
            await self.acd.control.play_dtmf(call.agent_channel, digit)

    async def dial(self, agent_id: str, number: str, *, customer_id: int | None = None,
                   queue: str | None = None, campaign: str | None = None) -> str:
        """Click-to-dial: the agent's phone rings first, then the customer through the trunk the
        number routes to (caller ID of ``campaign``, else ``queue``, else the default)."""
        routed = self.route(number, queue=queue, campaign=campaign)
        number = routed.exten  # E.164 digits: what the CRM and the far-end tracking see
        phone = self.acd.phones.get(agent_id) or AgentPhone(agent_id)
        result = await self.acd.control.originate(
            phone.dial, context=EXTERNAL_CONTEXT, exten=routed.exten, caller_id=f"<{number}>",
            variables={"CTI_ANSWER_S": str(phone.answer_after_s), **self._route_vars(routed)}, timeout_ms=30000)
        if not result.success:
            raise AcdError(f"the phone of agent {agent_id} did not answer (reason {result.reason})")
        linkedid = result.linkedid or result.uniqueid or f"out-{agent_id}-{self.acd.clock()}"
        call = LiveCall(linkedid=linkedid, caller_channel=result.channel or "", caller_number=number,
                        queue="", direction="outbound", customer_id=customer_id, status="talking",
                        agent_id=agent_id, agent_channel=result.channel, answered_at=self.acd.clock(),
                        far_end=self.acd.early_far_end.pop(linkedid, None))
        self.acd.calls[linkedid] = call
        await self.acd.bus.publish(CallArrived(ts=self.acd.clock(), linkedid=linkedid, channel=call.caller_channel,
                                           caller_number=number, dnis=number, direction="outbound",
                                           agent_id=agent_id))
        await self.acd.bus.publish(CallConnected(ts=self.acd.clock(), linkedid=linkedid, agent_id=agent_id))
        await self.acd.call_update(call, "talking")
        return linkedid
