"""A number consulted for an attended transfer, from its ring until its answered leg is bridged with
the agent's: what ``acd.consult_actions`` waits for before the agent talks to the third party, and
what Back to caller or the agent's phone hanging up cuts short meanwhile.

    rings = NumberRings(acd)                     # acd: an acd.parts.CallActionsHost
    rang = await rings.ring(call, target, dial, variables, timeout_ms=routed.ring_s * 1000)
    rang.channel, rang.connected, rang.alone     # the answered leg; bridged with the agent's; left alone

The ring's uniqueid is chosen here (the Originate's ChannelId: the Local channel's ``;1`` half, the
leg cti-consult-connect runs on, takes it) and kept in ``call.consult_ring`` until the leg is
bridged: a report about the leg before that (``CtiConsultAlone``) names it by that uniqueid only.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass

from acd.calls import LiveCall
from acd.errors import AcdError
from acd.parts import CallActionsHost
from cti.errors import CtiError


@dataclass(frozen=True, slots=True)
class Rang:
    """How a consulted number's ring ended: ``channel``, its answered leg (None: no answer);
    ``connected``, bridged with the agent's leg; ``alone``, and the agent's leg left that bridge
    (their phone hung up) before the consultation was recorded."""

    channel: str | None
    connected: bool = False
    alone: bool = False


class NumberRings:
    """The consulted numbers' rings of ``acd``'s calls."""

    def __init__(self, acd: CallActionsHost) -> None:
        self.acd = acd
        # Numbers consulted that answered, while ring() waits for their leg's bridge with the agent's:
        # ring (uniqueid) -> (the leg's name, set False when the ring is dropped meanwhile, True when the
        # leg reports itself alone: the bridge came, and the agent's leg left it).
        self._connecting: dict[str, tuple[str, asyncio.Future[bool]]] = {}
        # Rings whose answered leg reported itself alone before ring() returned: ring -> the leg.
        self._alone: dict[str, str] = {}

    async def ring(self, call: LiveCall, target: str, dial: str, variables: dict[str, str], *,
                   timeout_ms: int) -> Rang:
        """Ring ``target`` (``dial``, into cti-consult-connect with ``variables``: CTI_CALLER, the
        agent's leg, among them) for ``call``, whose caller is on hold, for at most ``timeout_ms``;
        raises AcdError, its leg hung up, when Back to caller or the agent's phone hanging up ended
        the consultation meanwhile (``drop``). A leg that answered and was not bridged with the
        agent's is hung up."""
        assert call.agent_channel is not None
        # Its uniqueid, known before it rings: Back to caller, or the agent's phone hanging up, meanwhile
        # hangs it up (and clears it: the ring is no longer this consultation's).
        ring = call.consult_ring = f"cti-{uuid.uuid4().hex}"
        result = await self.acd.control.originate(
            dial, context="cti-consult-connect", exten="s", variables=variables, timeout_ms=timeout_ms,
            channel_id=ring)
        if call.consult_ring != ring:
            await self._ended_meanwhile(call, target, result.channel, "rang")
        if not result.success or not result.channel:
            call.consult_ring = None
            return Rang(None)
        # Answered is not yet talking: cti-consult-connect's Bridge() pulls the agent's leg in an
        # instant later. A conference or completion sent before that would redirect the target's
        # leg out of the Bridge() that is pulling the agent's, and the agent's leg ends with it.
        # Meanwhile the leg is still the ring (call.consult_ring), which Back to caller or the agent's
        # phone hanging up hangs up, ending this wait (the bridge then never comes).
        connected = await self._bridged_unless_dropped(ring, result.channel, call.agent_channel)
        alone = self._alone.pop(ring, None)
        if call.consult_ring != ring:
            await self._ended_meanwhile(call, target, result.channel, "was being connected")
        call.consult_ring = None
        if not connected:
            with contextlib.suppress(CtiError):
                await self.acd.control.hangup(result.channel, may_be_gone=True)
        return Rang(result.channel, connected, connected and alone == result.channel)

    async def _ended_meanwhile(self, call: LiveCall, target: str, channel: str | None, doing: str) -> None:
        """The consultation ended while ``target`` ``doing`` (rang, was being connected): Back to
        caller, or the agent's phone hanging up (the call then waits in the queue again). Its leg,
        answered all the same, has nobody left to talk to; raises what the agent is told."""
        if channel:
            with contextlib.suppress(CtiError):
                await self.acd.control.hangup(channel, may_be_gone=True)
        if self.acd.calls.get(call.linkedid) is not call:
            raise AcdError(f"call {call.linkedid}: the agent's phone hung up while {target} {doing}; "
                           "the caller waits in the queue again")
        raise AcdError(f"call {call.linkedid}: the consultation was cancelled while {target} {doing}; "
                       "the caller is back with the agent")

    async def _bridged_unless_dropped(self, ring: str, channel: str, agent_channel: str) -> bool:
        """Wait until the answered ``ring``'s leg ``channel`` and the agent's are bridged; False at
        once when the ring is dropped meanwhile (``drop``); True at once when the leg reported
        itself alone (``left_alone``): they were bridged, and the agent's leg left."""
        ended: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        if ring in self._alone:
            ended.set_result(True)
        self._connecting[ring] = (channel, ended)
        bridged = asyncio.ensure_future(self.acd.control.wait_bridged(channel, agent_channel))
        try:
            await asyncio.wait((bridged, ended), return_when=asyncio.FIRST_COMPLETED)
        finally:
            del self._connecting[ring]
            if not bridged.done():
                bridged.cancel()
        return ended.result() if ended.done() else not bridged.cancelled() and bridged.result()

    def drop(self, call: LiveCall) -> tuple[str | None, str | None]:
        """The consultation's ring stops being the call's: (its uniqueid, the leg's name if it has
        answered and ``ring`` waits for its bridge), and that wait ends."""
        ring, call.consult_ring = call.consult_ring, None
        connecting = self._connecting.get(ring) if ring else None
        self._alone.pop(ring or "", None)
        if connecting is None:
            return ring, None
        channel, ended = connecting
        if not ended.done():
            ended.set_result(False)
        return ring, channel

    def left_alone(self, call: LiveCall, channel: str, uniqueid: str) -> bool:
        """The agent's phone hung up while ``call``'s answered ring, its leg ``channel`` (``uniqueid``,
        the ring's), was not recorded yet: kept for ``ring``, which then reports it ``alone``. False
        when the leg is not that ring's."""
        if call.consult_channel is not None or not uniqueid or call.consult_ring != uniqueid:
            return False
        self._alone[uniqueid] = channel
        connecting = self._connecting.get(uniqueid)
        if connecting is not None and not connecting[1].done():
            connecting[1].set_result(True)
        return True

    def answered_alone(self, call: LiveCall) -> bool:
        """``call``'s ring answered, and its leg was left alone by the agent's (``left_alone``)."""
        return (call.consult_ring or "") in self._alone
