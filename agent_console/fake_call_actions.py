"""The fake desk's actions on a call (``agent_console.fakes.FakeDesk`` is built on them): hang up,
hold, resume, transfer (blind, or attended through a consultation), the conference, the call's tags
and tones, each checked as the real desk checks it (``agent_console.desk`` over the ACD's
acd.call_actions and acd.consult_actions) and published as it publishes them."""

from __future__ import annotations

from acd.events import AgentOffer
from acd.model import AgentState
from agent_console.errors import (
    CallNotFound,
    IllegalAgentAction,
    InvalidInput,
    NotYourCall,
    TargetNotFound,
)
from agent_console.fake_acd import CallRecord as _Call
from agent_console.fake_acd import FakeAcd
from agent_console.ports import TargetKind, TransferKind


class FakeCallActions(FakeAcd):
    """The agent's actions on a call they hold, in memory, on the fake ACD's world."""

    def _own(self, agent_id: str, call_id: str, *, consult_ok: bool = False) -> _Call:
        leg = self.consults.get(call_id)
        if leg is not None and leg.agent_id == agent_id:
            if _consulted(leg) and not consult_ok:
                raise IllegalAgentAction("during a consultation you can only hang up; the call is not yours yet")
            return leg
        call = self.calls.get(call_id)
        if call is None:
            raise CallNotFound(f"no call {call_id}")
        if call.agent_id != agent_id:
            raise NotYourCall(f"call {call_id} is not yours")
        return call

    async def hangup(self, agent_id: str, call_id: str) -> None:
        call = self._own(agent_id, call_id, consult_ok=True)
        self.actions.append(("hangup", agent_id, {"call_id": call_id}))
        if call.status == "ended":
            raise IllegalAgentAction("the call has already ended")
        leg = self.consults.get(call_id)
        if call is leg and _consulted(leg):  # the consulted agent hangs up: the caller is back with the first
            await self.cancel_consult(self.calls[call_id].agent_id, call_id)
            return
        consult = (call.detail or {}).get("consult")
        if call.status in ("consulting", "conference") and consult and consult.get("role") == "transferring":
            # The transfer completes (or the agent leaves the conference): the ended call says where it went.
            call.detail = {**(call.detail or {}), "transferred": {
                "kind": "attended", "target_kind": consult["target_kind"], "target": consult["target"]}}
        await self._end(call, "ended")  # the real ACD's only status for a call the agent's part of is over
        if leg is not None and leg is not call and leg.status in ("consulting", "conference"):
            # The transfer completes: the consulted agent's call now, which says who passed it on.
            leg.status, leg.detail = "talking", {k: v for k, v in (leg.detail or {}).items() if k != "consult"}
            await self._call_update(leg)

    async def hold(self, agent_id: str, call_id: str) -> None:
        call = self._own(agent_id, call_id)
        if call.status != "talking":
            raise IllegalAgentAction(f"cannot hold a call that is {call.status}")
        call.status = "held"
        self.actions.append(("hold", agent_id, {"call_id": call_id}))
        await self._call_update(call)

    async def resume(self, agent_id: str, call_id: str) -> None:
        call = self._own(agent_id, call_id)
        if call.status != "held":
            raise IllegalAgentAction(f"cannot resume a call that is {call.status}")
        call.status = "talking"
        self.actions.append(("resume", agent_id, {"call_id": call_id}))
        await self._call_update(call)

    async def transfer(self, agent_id: str, call_id: str, *, kind: TransferKind, target_kind: TargetKind,
                       target: str, note: str = "") -> None:
        call = self._own(agent_id, call_id)
        if call.status not in ("talking", "held"):
            raise IllegalAgentAction(f"cannot transfer a call that is {call.status}")
        if target_kind in ("number", "agent") and not target.lstrip("+").isdigit():
            raise InvalidInput("target", f"a {target_kind} to transfer to is digits only")
        target = target.lstrip("+")
        if target_kind == "queue" and target not in self.queues:
            raise TargetNotFound(f"unknown queue {target!r}")
        if target_kind == "agent" and target == agent_id:
            raise IllegalAgentAction(f"target: the call is already yours, agent {agent_id}")
        if target_kind == "agent" and self._agent(target).state is AgentState.LOGGED_OUT:
            raise IllegalAgentAction(f"target: agent {target} is not logged in; the call stays with you")
        self.actions.append(("transfer", agent_id, {"call_id": call_id, "kind": kind, "target_kind": target_kind,
                                                   "target": target, **({"note": note} if note else {})}))
        if target_kind == "queue":
            kind = "blind"  # as acd.call_actions.transfer: a queue has nobody to consult
        if kind == "attended":
            call.status = "consulting"  # detail.consult as acd.calls.call_detail shapes it
            call.detail = {"consult": {"role": "transferring", "target_kind": target_kind, "target": target}}
            await self._call_update(call)
            if target_kind == "agent" and self._agent(target).state is AgentState.AVAILABLE:
                await self._consult(call, target, note)  # a target not free: it waits (not rung here)
            return
        # As acd.calls.call_detail: the agent's ended call says where their transfer sent it.
        call.detail = {**(call.detail or {}), "transferred": {"kind": kind, "target_kind": target_kind,
                                                              "target": target}}
        await self._end(call, "ended")

    async def _consult(self, call: _Call, target: str, note: str) -> None:
        """The consulted agent's phone rings and they answer: a call still the first agent's."""
        leg = _Call(call.call_id, target, "consulting", call.direction, call.peer_number, call.customer_id,
                    call.queue, self.clock(), {"transfer": {"from_agent": call.agent_id, "note": note},
                                               "consult": {"role": "consulted", "from_agent": call.agent_id}})
        self.consults[call.call_id] = leg
        await self._step(target, "offer")
        await self.bus.publish(AgentOffer(ts=self.clock(), agent_id=target, linkedid=call.call_id,
                                          queue=call.queue or "", caller_number=call.peer_number,
                                          customer_id=call.customer_id, waited_s=0.0, skills={}))
        await self._call_update(leg)
        await self._step(target, "connect")

    async def cancel_consult(self, agent_id: str, call_id: str) -> None:
        call = self._own(agent_id, call_id)
        if call.status != "consulting":
            raise IllegalAgentAction(f"no consultation to cancel on a call that is {call.status}")
        call.status, call.detail = "talking", None
        self.actions.append(("cancel_consult", agent_id, {"call_id": call_id}))
        await self._call_update(call)
        leg = self.consults.pop(call_id, None)
        if leg is not None:  # the consulted agent's leg goes: no wrap-up for a consultation
            for status in ("ended", "closed"):
                leg.status = status
                await self._call_update(leg)
            await self._step(leg.agent_id, "end")
            await self._step(leg.agent_id, "wrapped")

    async def conference(self, agent_id: str, call_id: str) -> None:
        call = self._own(agent_id, call_id)
        if call.status != "consulting":
            raise IllegalAgentAction(f"a conference needs a consultation; the call is {call.status}")
        call.status = "conference"
        self.actions.append(("conference", agent_id, {"call_id": call_id}))
        await self._call_update(call)
        leg = self.consults.get(call_id)
        if leg is not None:
            leg.status = "conference"
            await self._call_update(leg)

    async def set_call_attributes(self, agent_id: str, call_id: str, *, tags: list[str],
                                  values: dict[str, str]) -> None:
        call = self._own(agent_id, call_id)
        detail = dict(call.detail or {})
        detail["tags"] = sorted(set(detail.get("tags", [])) | set(tags))
        detail["attributes"] = {**detail.get("attributes", {}), **values}
        call.detail = detail
        self.actions.append(("call_attributes", agent_id, {"call_id": call_id, "tags": tags, "values": values}))
        await self._call_update(call)

    async def send_dtmf(self, agent_id: str, call_id: str, digits: str) -> None:
        call = self._own(agent_id, call_id)
        if call.status == "ended":
            raise IllegalAgentAction(f"cannot send tones on a call that is {call.status}")
        if not digits or any(d not in "0123456789*#ABCDabcd" for d in digits):  # as CallControl.play_dtmf
            raise IllegalAgentAction("could not send the digits: one of 0-9, *, #, A-D each")
        self.actions.append(("dtmf", agent_id, {"call_id": call_id, "digits": digits}))


def _consulted(leg: _Call) -> bool:
    """A consulted agent's leg while the call is still the transferring agent's."""
    return bool(leg.detail and leg.detail.get("consult", {}).get("role") == "consulted") and leg.status != "ended"
