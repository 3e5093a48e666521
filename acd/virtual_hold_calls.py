"""Virtual hold's callbacks (``acd.virtual_hold_pbx.VirtualHold`` holds one and hands it each turn):
the router reserves an agent with ``Offer(callback=True)``; ``turn`` originates the customer's number
through the outbound trunk into ``cti-vhold-answer``, whose ``vhold-answer`` route (``answer_route``)
asks "press 1" when the queue wants it and reports here. Answered (and confirmed): the router renames
the entry to the callback's own call (``callback_answered``) and the agent's phone rings with the
pop, as for any caller. Missed: ``callback_missed`` with the retry time of the policy, or the entry
fails once its attempts are used. Every change of an entry is saved through the ``VirtualHoldStore``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from typing import TYPE_CHECKING

from acd.calls import LiveCall
from acd.decisions import Offer
from acd.errors import AcdError
from acd.survey import play_prompt
from acd.virtual_hold import (
    CALLBACK_DNIS,
    EntryEvent,
    EntryState,
    VirtualEntry,
    VirtualHoldPolicy,
    VirtualHoldStore,
    attempt_result,
    callback_allowance_s,
    next_attempt,
    next_state,
)
from cti.agi.protocol import AgiCommandError
from cti.agi.session import AgiSession
from cti.errors import AgiHangup, AmiNotSent, AmiUnavailable, CtiError
from cti.journey import CallArrived
from cti.tasks import TaskSet

if TYPE_CHECKING:
    from acd.delivery import AcdService

log = logging.getLogger(__name__)

ANSWER_CONTEXT = "cti-vhold-answer"
ID_VAR = "CTI_VH_ID"  # on the caller's channel (offer) and the callback's (answer): the entry's id


class CallbackCalls:
    """Calls customers back at their entry's turn and hands the answered ones to the reserved agent."""

    def __init__(self, acd: AcdService, policies: dict[str, VirtualHoldPolicy], store: VirtualHoldStore,
                 entries: dict[str, VirtualEntry], *, far_end_wait_s: float = 1.0) -> None:
        """``policies`` and ``entries``: virtual hold's own (shared, not copied)."""
        self.acd, self.store, self.far_end_wait_s = acd, store, far_end_wait_s
        self.policies, self.entries = policies, entries
        self._answers: dict[str, asyncio.Future[bool]] = {}  # entry id -> the answered leg's confirmation
        self._tasks = TaskSet(log, "virtual hold: %s failed")

    async def stop(self) -> None:
        await self._tasks.stop()

    def turn(self, offer: Offer) -> None:
        """The router reserved ``offer.agent_id`` for this entry: call the customer (a task)."""
        self._tasks.spawn(self._call_back(offer), f"vhold.call:{offer.call_id}")

    async def _call_back(self, offer: Offer) -> None:
        entry = self.entries.get(offer.call_id)
        if entry is None:  # not ours (a restart lost it): free the agent, drop the entry
            await self.acd.decide(lambda now: self.acd.router.callback_missed(
                offer.call_id, offer.agent_id, now, retry_at=None))
            return
        policy = self.policies.get(entry.queue) or VirtualHoldPolicy()
        entry.state = next_state(entry.entry_id, entry.state, EntryEvent.TURN)
        await self.store.save(entry)
        answered = asyncio.get_running_loop().create_future()
        self._answers[entry.entry_id] = answered
        channel, linkedid, result, started = None, None, "failed", self.acd.clock()
        try:
            target = self.acd.actions.route(entry.number, queue=entry.queue)
            variables = {"CTI_TRUNK": target.trunk, ID_VAR: entry.entry_id,
                         "CTI_VH_CONFIRM": "1" if policy.confirm else "",
                         "CTI_VH_PROMPT": policy.confirm_prompt}
            caller_id = policy.caller_id or target.caller_id
            if caller_id:
                variables["CTI_CALLER_ID"] = caller_id
            res = await self.acd.control.originate(
                target.local_channel, context=ANSWER_CONTEXT, exten="s", caller_id=f"<{entry.number}>",
                variables=variables, timeout_ms=int(policy.ring_s * 1000))
            channel, linkedid = res.channel, res.linkedid or res.uniqueid
            confirmed: bool | None = None
            if res.success:
                try:
                    confirmed = await asyncio.wait_for(answered, 2 * policy.confirm_timeout_s + 10.0)
                except TimeoutError:
                    confirmed = False
            result = attempt_result(res.success, res.reason, confirmed=confirmed)
            if not res.success and linkedid:
                result = await self._far_end(linkedid) or result
        except AmiNotSent as err:  # nothing was dialled: the PBX is away, not the customer
            log.warning("virtual hold %s: the callback could not be placed, tried again later: %s", entry.entry_id,
                        err.message)
            await self._not_placed(entry, offer, policy)
            return
        except AmiUnavailable as err:  # the Originate was written: Asterisk may have dialled; an attempt
            log.warning("virtual hold %s: AMI dropped while the callback was placed (counted as failed): %s",
                        entry.entry_id, err.message)
        except (CtiError, AcdError) as err:
            log.warning("virtual hold %s: the callback could not be placed: %s", entry.entry_id, err.message)
        finally:
            self._answers.pop(entry.entry_id, None)
        entry.attempts.append({"at": self.acd.clock(), "result": result, "linkedid": linkedid,
                               "agent_id": offer.agent_id})
        if result == "answered" and channel and linkedid:
            await self._connect(entry, offer, channel, linkedid)
            return
        if channel:
            with contextlib.suppress(CtiError):
                await self.acd.control.hangup(channel, may_be_gone=True)
        if linkedid:  # the missed attempt is an outbound call in the CRM, with its far end's result
            await self.acd.bus.publish(CallArrived(ts=started, linkedid=linkedid, channel=channel or "",
                                                   caller_number=entry.number, dnis=CALLBACK_DNIS,
                                                   direction="outbound", callback_id=entry.entry_id))
        retry_at = next_attempt(policy, attempts=len(entry.attempts), now=self.acd.clock())
        entry.state = next_state(entry.entry_id, entry.state,
                                 EntryEvent.MISSED if retry_at is not None else EntryEvent.GAVE_UP)
        if retry_at is None:
            self.entries.pop(entry.entry_id, None)
        await self.store.save(entry)
        log.info("virtual hold %s: callback %d %s; %s", entry.entry_id, len(entry.attempts), result,
                 "failed" if retry_at is None else f"again in {retry_at - self.acd.clock():.0f} s")
        await self.acd.decide(lambda now: self.acd.router.callback_missed(
            entry.entry_id, offer.agent_id, now, retry_at=retry_at))

    async def _not_placed(self, entry: VirtualEntry, offer: Offer, policy: VirtualHoldPolicy) -> None:
        """No call was placed (AMI away): not an attempt; the entry waits ``retry_pause_s`` at its place."""
        entry.state = next_state(entry.entry_id, entry.state, EntryEvent.MISSED)
        await self.store.save(entry)
        retry_at = self.acd.clock() + policy.retry_pause_s
        await self.acd.decide(lambda now: self.acd.router.callback_missed(
            entry.entry_id, offer.agent_id, now, retry_at=retry_at))

    async def _far_end(self, linkedid: str) -> str | None:
        """Through a Local channel Asterisk's originate reason says only "failed"; the trunk's Dial
        said more (busy, no answer), which the call model publishes as FarEndResult: the ACD keeps
        those of calls it does not hold (``early_far_end``). It may come a moment after the originate."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.far_end_wait_s
        while True:
            found = self.acd.early_far_end.pop(linkedid, None)
            if found is not None or loop.time() >= deadline:
                return found
            await asyncio.sleep(0.05)

    async def _connect(self, entry: VirtualEntry, offer: Offer, channel: str, linkedid: str) -> None:
        """The customer answered: it is a caller on the line now, ringing the reserved agent."""
        try:
            await self.acd.decide(lambda now: self.acd.router.callback_answered(
                entry.entry_id, offer.agent_id, now, new_id=linkedid))
        except AcdError as err:  # the reservation ended meanwhile (the ring backstop): start again later
            log.warning("virtual hold %s: answered after its turn ended: %s", entry.entry_id, err.message)
            with contextlib.suppress(CtiError):
                await self.acd.control.hangup(channel, may_be_gone=True)
            entry.state = EntryState.VIRTUAL
            await self.store.save(entry)
            return
        entry.state = next_state(entry.entry_id, entry.state, EntryEvent.ANSWERED)
        entry.connected_linkedid = linkedid
        self.entries.pop(entry.entry_id, None)
        await self.store.save(entry)
        now = self.acd.clock()
        call = LiveCall(linkedid=linkedid, caller_channel=channel, caller_number=entry.number, queue=entry.queue,
                        customer_id=entry.customer_id, skills=entry.skills, priority=entry.priority,
                        attributes={"virtual_hold": entry.entry_id}, queued_at=entry.entered_at, callback=True)
        self.acd.calls[linkedid] = call
        # The callback leg is a call of its own in the CRM: handled by the agent, not offered again
        # (the caller's first call was the offered one). Its dnis names where it came from.
        await self.acd.bus.publish(CallArrived(ts=now, linkedid=linkedid, channel=channel,
                                               caller_number=entry.number, dnis=CALLBACK_DNIS,
                                               callback_id=entry.entry_id))
        policy = self.policies.get(entry.queue) or VirtualHoldPolicy()
        cfg_ring = offer.ring_timeout_s - callback_allowance_s(policy)  # the queue's own ring timeout
        await self.acd.ring_offer(call, dataclasses.replace(
            offer, call_id=linkedid, callback=False, ring_timeout_s=max(cfg_ring, 1.0)))

    def answer_reported(self, entry_id: str, confirmed: bool) -> None:
        """The callback's answered leg reached ``vhold-answer`` (and pressed 1, or not)."""
        fut = self._answers.get(entry_id)
        if fut is not None and not fut.done():
            fut.set_result(confirmed)

    async def answer_route(self, session: AgiSession) -> None:
        """The FastAGI route ``vhold-answer``: the answered leg says it is the customer (pressing 1)."""
        entry_id = ""
        confirmed = False
        try:
            entry_id = await session.get_variable(ID_VAR) or ""
            entry = self.entries.get(entry_id)
            if entry is not None and entry.language:  # the caller's language, as it was offered the key
                await session.set_variables({"CHANNEL(language)": entry.language})
            if (await session.get_variable("CTI_VH_CONFIRM") or "") != "1":
                confirmed = True
                return
            prompt = await session.get_variable("CTI_VH_PROMPT") or "cti/vhold_confirm"
            policy = self.policies.get(self.entries[entry_id].queue) if entry_id in self.entries else None
            timeout_ms = int((policy.confirm_timeout_s if policy else 8.0) * 1000)
            for _ in range(2):
                digit = await play_prompt(session, prompt, "1") or await session.wait_for_digit(timeout_ms)
                if digit == "1":
                    confirmed = True
                    return
        except AgiHangup:
            pass
        finally:
            self.answer_reported(entry_id, confirmed)
            if not confirmed:
                with contextlib.suppress(AgiHangup, AgiCommandError):
                    await session.hangup()
