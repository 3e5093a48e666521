"""Ringing an agent for an offer: the agent's leg originated into the call's connect context, the
console popped, and the ring's outcome handed back to the router (answered, no answer, or failed
because the PBX was away). The ACD service builds one (``acd.rings``) and hands it each ``Offer``;
it keeps the rings under way (the demo's stop waits for them, the ACD's stop cancels them).

    rings = Rings(acd)
    await rings.offer(call, offer)     # the Originate is written now; its outcome in a task
    rings.in_flight()                  # rings whose agent leg may yet appear, ring or be hung up
    await rings.hang_up(agent_id)      # stop an agent's phone ringing (a withdrawn offer)
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from typing import TYPE_CHECKING, Any

from acd.calls import AgentPhone, LiveCall
from acd.decisions import Offer
from acd.errors import StaleOffer
from acd.events import AgentOffer, AgentOfferWithdrawn
from acd.reconnect import KEEP_VAR
from acd.recovery import AGENT_VAR
from cti.ami.control import OriginateResult
from cti.errors import AmiActionFailed, CtiError
from cti.journey import AgentRinging, AgentRingNoAnswer
from cti.logs import bind
from cti.tasks import cancel_all_and_wait

if TYPE_CHECKING:
    from acd.delivery import AcdService

log = logging.getLogger(__name__)


class Rings:
    """The offers of one ACD whose agent's phone rings."""

    def __init__(self, acd: AcdService) -> None:
        self.acd = acd
        self._tasks: set[asyncio.Task[None]] = set()
        # Originates of withdrawn offers (the caller hung up, the offer was cancelled) whose outcome
        # has not come back: the agent's leg may still appear and ring, and is hung up if answered.
        self._withdrawn: set[asyncio.Future[Any]] = set()

    def in_flight(self) -> int:
        """Offers whose ring is still under way, withdrawn ones included until Asterisk has told
        their outcome: the agent's leg may yet appear, ring or be hung up."""
        return len(self._tasks) + len(self._withdrawn)

    async def stop(self) -> None:
        await cancel_all_and_wait(list(self._tasks), failures="log")  # their Originates join _withdrawn
        await cancel_all_and_wait(list(self._withdrawn), failures="log")

    async def offer(self, call: LiveCall, d: Offer) -> None:
        """Ring the agent's phone with ``call`` (which waits in cti-queue) and pop the console."""
        acd = self.acd
        now = acd.clock()
        call.status, call.agent_id = "ringing", d.agent_id
        # The Originate leaves now, from this step: not at the ring task's turn, behind every
        # subscriber QueueEntered and these events wake (the call logger, the feed, the pop).
        sent = self._originate(call, d)
        task = asyncio.create_task(self._ring(call, d, sent), name=f"acd.ring:{d.call_id}")
        call.ring_task = task
        self._tasks.add(task)
        task.add_done_callback(self._done)
        task.add_done_callback(functools.partial(self._follow, sent))
        if call.router_id is None:  # a consultation is no new journey step of the call
            await acd.bus.publish(AgentRinging(ts=now, linkedid=d.call_id, agent_id=d.agent_id, queue=d.queue))
        await acd.bus.publish(AgentOffer(
            ts=now, agent_id=d.agent_id, linkedid=call.linkedid, queue=d.queue,
            caller_number=call.caller_number, customer_id=call.customer_id,
            waited_s=now - call.queued_at, skills=call.skills, ring_timeout_s=d.ring_timeout_s,
            pop=await acd.consultations.transfer_pop(call, d.agent_id, now)))

    async def hang_up(self, agent_id: str, *, strict: bool = False) -> None:
        """Stop an agent's phone ringing; the originate then fails and its task ends. ``strict``:
        an unreachable PBX raises (a channel already gone never does)."""
        phone = self.acd.phones.get(agent_id)
        if phone is None:
            return
        for name in list(self.acd.live_channels()):
            if name.startswith(phone.channel_prefix):
                try:
                    await self.acd.control.hangup(name, may_be_gone=True)
                except AmiActionFailed:
                    pass
                except CtiError:
                    if strict:
                        raise

    def _follow(self, sent: asyncio.Future[OriginateResult], _task: asyncio.Task[None]) -> None:
        """The ring task ended. Cancelled (the offer withdrawn) before the Originate's outcome came
        back, the Originate is still out there: Asterisk may yet create the agent's leg and ring it.
        Its outcome is followed, and a leg answered meanwhile hung up, as ``_ring`` does for one
        answered after its offer ended."""
        if not sent.done():
            self._withdrawn.add(sent)
            sent.add_done_callback(self._withdrawn_outcome)

    def _withdrawn_outcome(self, sent: asyncio.Future[OriginateResult]) -> None:
        if sent.cancelled() or sent.exception() is not None:
            self._withdrawn.discard(sent)
            return
        result = sent.result()
        if not (result.success and result.channel):
            self._withdrawn.discard(sent)
            return
        log.info("acd: agent leg %s answered after its offer was withdrawn: hung up", result.channel)
        hangup = asyncio.ensure_future(self.acd.control.hangup(result.channel, may_be_gone=True))
        self._withdrawn.add(hangup)
        self._withdrawn.discard(sent)
        hangup.add_done_callback(self._hung_up)

    def _hung_up(self, hangup: asyncio.Future[None]) -> None:
        self._withdrawn.discard(hangup)
        if not hangup.cancelled() and (err := hangup.exception()) is not None and not isinstance(err, CtiError):
            log.error("acd: hanging up a withdrawn offer's leg failed", exc_info=err)

    def _done(self, task: asyncio.Task[None]) -> None:
        """A ring task's fault is logged here, never lost as "exception was never retrieved"."""
        self._tasks.discard(task)
        if not task.cancelled() and (err := task.exception()) is not None:
            log.error("acd: %s failed", task.get_name(), exc_info=err)

    def _originate(self, call: LiveCall, offer: Offer) -> asyncio.Future[OriginateResult]:
        """Ring the agent's phone into the call's connect context (the AMI adapter writes it at once)."""
        phone = self.acd.phones.get(offer.agent_id) or AgentPhone(offer.agent_id)
        # A consultation's leg keeps the agent's leg alive when it hangs up (cti-consult-connect).
        context = "cti-consult-connect" if call.router_id is not None else "cti-agent-connect"
        variables = {"CTI_ANSWER_S": str(phone.answer_after_s), "CTI_LINKEDID": call.linkedid,
                     "CTI_CALLER": call.caller_channel, AGENT_VAR: offer.agent_id}
        if phone.kind == "webrtc":  # a browser leg that leaves the bridge was lost, not hung up (acd.reconnect)
            variables[KEEP_VAR] = "1"
        # A future either way (the AMI adapter's is one already; a fake's coroutine runs as a task):
        # the ring task may be cancelled, the Originate's outcome is still followed (_follow).
        return asyncio.ensure_future(self.acd.control.originate(
            phone.dial, context=context, exten="s",
            caller_id=f"<{call.caller_number}>" if call.caller_number else None,
            variables=variables, timeout_ms=int(offer.ring_timeout_s * 1000)))

    async def _ring(self, call: LiveCall, offer: Offer, sent: asyncio.Future[OriginateResult]) -> None:
        acd = self.acd
        bind(call.linkedid, agent=offer.agent_id, queue=offer.queue)  # this task's log context (cti.logs)
        try:
            result = await asyncio.shield(sent)  # a cancelled ring leaves the Originate to _follow
        except CtiError as err:
            await self._failed(call, offer, err)
            return
        if call.status != "ringing" or call.agent_id != offer.agent_id:
            if result.success and result.channel:  # answered after the offer was withdrawn
                await acd.control.hangup(result.channel)
            return
        if result.success:
            call.agent_channel = result.channel
            try:
                await acd.decide(lambda now: acd.router.offer_answered(call.rid, offer.agent_id, now))
            except StaleOffer:
                # The router moved on (ring backstop, caller gone) while the phone was answered.
                log.info("acd: agent %s answered call %s after its offer ended", offer.agent_id, call.linkedid)
                call.agent_channel = None
                if result.channel:
                    with contextlib.suppress(CtiError):
                        await acd.control.hangup(result.channel, may_be_gone=True)
        else:
            await acd.bus.publish(AgentRingNoAnswer(ts=acd.clock(), linkedid=call.linkedid,
                                                    agent_id=offer.agent_id, queue=offer.queue))
            await acd.bus.publish(AgentOfferWithdrawn(ts=acd.clock(), agent_id=offer.agent_id,
                                                      linkedid=call.linkedid, reason="no_answer"))
            await acd.decide(lambda now: acd.router.offer_no_answer(call.rid, offer.agent_id, now))

    async def _failed(self, call: LiveCall, offer: Offer, err: CtiError) -> None:
        """The PBX could not carry the offer out (AMI dropped while the phone rang): not the agent's
        fault. The phone may still ring (the originate had gone out), so it is stopped once the PBX
        answers again -- before the router may offer the call anew, to this very phone perhaps."""
        acd = self.acd
        log.warning("acd: offer of %s to %s failed (%s); withdrawn, the call waits again",
                    call.linkedid, offer.agent_id, err.message)
        deadline = acd.clock() + offer.ring_timeout_s
        await asyncio.sleep(acd.retry_s)  # a PBX still down must not make offers spin
        while True:
            try:
                await self.hang_up(offer.agent_id, strict=True)
                break
            except CtiError:
                if acd.clock() > deadline:
                    break
                await asyncio.sleep(acd.retry_s)
        await acd.decide(lambda now: acd.router.offer_failed(call.rid, offer.agent_id, now))


