"""Ringing an agent for an offer: the agent's phone rung, the console popped, and the ring's outcome
handed back to the router (answered, no answer, or failed because the PBX was away). The ACD
service builds one (``acd.rings``) and hands it each ``Offer``; it keeps the rings under way (the
demo's stop waits for them, the ACD's stop cancels them). It sees the service as an
``acd.parts.RingsHost``.

    rings = Rings(acd)
    held = rings.hold_line(channel, line, 1.0)  # a caller's line at its hand-off (True: it rang)
    await rings.offer(call, offer)     # the ring is written now; its outcome in a task
    rings.in_flight()                  # rings whose agent leg may yet appear, ring or be hung up
    await rings.hang_up(agent_id)      # stop an agent's phone ringing (a withdrawn offer)

Two ways to ring, one outcome (``OriginateResult``):
- **from the caller's own line**, for the offer made as the IVR hands the caller to a queue (an
  agent is free): the IVR's FastAGI session is held open a moment (``hold_line``, the composition
  root's ``CallerLine``) and its last command is ``Dial()`` of the agent's phone, as app_queue
  rings from the caller's channel. The caller's thread at Asterisk is already waiting on that
  socket: the phone rings within a fraction of a millisecond, with no Originate thread and no
  bridge to pull the caller into. Dial's pre-dial handler marks the agent's leg as an originated
  one is marked (``cti-agent-predial``; the composition root's line adds the recording's start on
  the caller, crm_core.recorder); the call model's ``AgentDialEnded`` is the ring's outcome, and
  the dialplan (``cti-agent-dialled``) takes the caller on when the dial ends.
- **an Originate** of the agent's phone into ``cti-agent-connect``, whose ``Bridge()`` pulls the
  caller in: every other offer (a caller already waiting on the queue's music, a consultation,
  a value that cannot ride in the dial).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import re
from collections.abc import Callable
from typing import Any

from acd.calls import AgentPhone, LiveCall
from acd.decisions import Offer
from acd.errors import StaleOffer
from acd.events import AgentOffer, AgentOfferWithdrawn
from acd.parts import RingsHost
from acd.reconnect import KEEP_VAR
from acd.recovery import AGENT_VAR
from cti.ami.control import OriginateResult
from cti.errors import AmiActionFailed, CtiError
from cti.journey import AgentDialEnded, AgentRinging, AgentRingNoAnswer
from cti.logs import bind
from cti.safety import number_caller_id
from cti.tasks import TaskSet, cancel_all_and_wait

log = logging.getLogger(__name__)

# A caller's line to the PBX, held open at its hand-off to a queue (the IVR's FastAGI session):
# ``line(device, ring_s, options)`` writes ``Dial(device,ring_s,options)`` as the session's last
# command at once, on the caller's channel (the line may add options of its own); False when it
# cannot (the caller hung up, the session is over). Unsafe values raise ``UnsafeValue`` before
# anything is written.
CallerLine = Callable[[str, str, str], bool]
# The dialplan contexts a ring from the caller's line relies on (config/asterisk/extensions.conf):
# the agent's leg's marks before it rings, and the caller's way on when the dial ends.
PREDIAL_CONTEXT = "cti-agent-predial"
DIALLED_CONTEXT = "cti-agent-dialled"
# What may ride in the dial's arguments: no blank, quote, backslash, comma (Dial's separator),
# caret or parenthesis (Gosub's), nor '|'. Anything else is rung by an Originate.
_DIAL_WORD = re.compile(r"[^\s\"'\\,^()|]{1,128}")
# After the ring timeout, how long a dial's end may take to be told before the ring counts as
# failed (an AMI connection lost meanwhile).
DIAL_END_GRACE_S = 10.0


def dial_options(agent_id: str, caller_channel: str, phone: AgentPhone,
                 ring_timeout_s: float) -> tuple[str, str] | None:
    """``(ring_s, options)`` of the caller's ``Dial()`` of ``phone`` for ``agent_id`` (the device is
    ``phone.dial``); None when a value cannot ride in it. ``b()`` runs on the agent's leg before it
    rings (the marks of an originated leg, and a browser softphone's flag on the caller); ``g``: the
    caller goes on in the dialplan when the agent's leg leaves; ``m``: it hears the queue's music
    while the phone rings."""
    answer = f"{max(0.0, phone.answer_after_s):g}"
    if not all(_DIAL_WORD.fullmatch(v) for v in (agent_id, caller_channel, phone.dial, answer)):
        return None
    kind = "web" if phone.kind == "webrtc" else phone.kind
    ring_s = str(max(1, math.ceil(ring_timeout_s)))  # Dial() counts whole seconds
    return ring_s, f"b({PREDIAL_CONTEXT}^s^1({agent_id}^{caller_channel}^{answer}^{kind}))gm"


class Rings:
    """The offers of one ACD whose agent's phone rings."""

    def __init__(self, acd: RingsHost) -> None:
        self.acd = acd
        self._tasks = TaskSet(log, "acd: %s failed")  # the ring tasks
        # Rings of withdrawn offers (the caller hung up, the offer was cancelled) whose outcome
        # has not come back: the agent's leg may still appear and ring, and is hung up if answered.
        self._withdrawn: set[asyncio.Future[Any]] = set()
        # Callers' lines held at their hand-off (caller channel -> line, and whether it rang).
        self._lines: dict[str, tuple[CallerLine, asyncio.Future[bool]]] = {}
        # The callers' own dials under way (caller channel -> the ring's outcome): AgentDialEnded ends them.
        self._dials: dict[str, asyncio.Future[OriginateResult]] = {}

    # -- the caller's line ----------------------------------------------------------------------
    def hold_line(self, channel: str, line: CallerLine, timeout_s: float) -> asyncio.Future[bool]:
        """Offer ``channel``'s line for the ring of the offer the ACD makes as it enqueues the call.
        The future says, as soon as the ACD knows, whether it rang (True: the session's last
        command is written) or not (False: the ACD enqueued the call without ringing from it, or
        ``timeout_s`` passed); the holder then ends the session."""
        loop = asyncio.get_running_loop()
        held: asyncio.Future[bool] = loop.create_future()
        self.release_line(channel)
        self._lines[channel] = (line, held)
        timer = loop.call_later(timeout_s, self.release_line, channel)
        held.add_done_callback(lambda _: timer.cancel())
        return held

    def release_line(self, channel: str) -> None:
        """The ACD is done with the enqueue of ``channel``'s call: its line, if still held, is not
        used (the caller goes on to the queue's music)."""
        found = self._lines.pop(channel, None)
        if found is not None and not found[1].done():
            found[1].set_result(False)

    def dial_ended(self, ev: AgentDialEnded) -> None:
        """The caller's dial of an agent's phone ended: that ring's outcome (the agent's leg, if answered)."""
        out = self._dials.pop(ev.channel, None)
        if out is not None and not out.done():
            out.set_result(OriginateResult(ev.result == "answered", ev.result, None, None, ev.dest_channel or None))

    def in_flight(self) -> int:
        """Offers whose ring is still under way, withdrawn ones included until Asterisk has told
        their outcome: the agent's leg may yet appear, ring or be hung up."""
        return len(self._tasks) + len(self._withdrawn)

    async def stop(self) -> None:
        for channel in list(self._lines):
            self.release_line(channel)
        await self._tasks.stop()  # their rings join _withdrawn
        await cancel_all_and_wait(list(self._withdrawn), failures="log")

    async def offer(self, call: LiveCall, d: Offer) -> None:
        """Ring the agent's phone with ``call`` (which waits in cti-queue) and pop the console."""
        acd = self.acd
        now = acd.clock()
        call.status, call.agent_id = "ringing", d.agent_id
        # The ring (the caller's Dial, or an Originate) leaves now, from this step: not at the ring
        # task's turn, behind every subscriber QueueEntered and these events wake (the call logger,
        # the feed, the pop).
        sent = self._start_ring(call, d)
        task = self._tasks.spawn(self._ring(call, d, sent), f"acd.ring:{d.call_id}")
        call.ring_task = task
        task.add_done_callback(functools.partial(self._follow, sent))
        # A consultation is no new journey step of the call, nor the same offer rung again at the
        # phone's new contact (acd.ring_contacts): the call still rings that agent.
        if call.router_id is None and not d.again:
            await acd.bus.publish(AgentRinging(ts=now, linkedid=d.call_id, agent_id=d.agent_id, queue=d.queue))
        await acd.bus.publish(AgentOffer(
            ts=now, agent_id=d.agent_id, linkedid=call.linkedid, queue=d.queue,
            caller_number=call.caller_number, customer_id=call.customer_id,
            waited_s=now - (call.queued_at if d.waiting_since is None else d.waiting_since),
            skills=call.skills, ring_timeout_s=d.ring_timeout_s,
            campaign=call.campaign, callback=call.callback,
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

    def _start_ring(self, call: LiveCall, offer: Offer) -> asyncio.Future[OriginateResult]:
        """Ring the agent's phone: from the caller's held line, else with an Originate into the
        call's connect context (the AMI adapter writes it at once). The module docstring."""
        phone = self.acd.phones.get(offer.agent_id) or AgentPhone(offer.agent_id)
        held = self._lines.pop(call.caller_channel, None) if call.router_id is None else None
        if held is not None:
            line, rang = held
            dial = dial_options(offer.agent_id, call.caller_channel, phone, offer.ring_timeout_s)
            written = False
            if dial is not None:
                try:
                    written = line(phone.dial, *dial)
                except CtiError as err:
                    log.warning("acd: cannot ring %s from %s's line: %s", offer.agent_id, call.linkedid, err.message)
            if not rang.done():
                rang.set_result(written)
            if written:
                return self._dialled(call.caller_channel, offer.ring_timeout_s)
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
            caller_id=number_caller_id(call.caller_number),
            variables=variables, timeout_ms=int(offer.ring_timeout_s * 1000)))

    def _dialled(self, caller: str, ring_timeout_s: float) -> asyncio.Future[OriginateResult]:
        """The outcome of the caller's dial just written: its AgentDialEnded, or a failure when no
        end is told in time (the AMI link was lost meanwhile)."""
        loop = asyncio.get_running_loop()
        out: asyncio.Future[OriginateResult] = loop.create_future()
        self._dials[caller] = out
        late = loop.call_later(ring_timeout_s + DIAL_END_GRACE_S, self._dial_unended, caller, out)

        def over(_: asyncio.Future[OriginateResult]) -> None:
            late.cancel()
            if self._dials.get(caller) is out:
                del self._dials[caller]

        out.add_done_callback(over)
        return out

    @staticmethod
    def _dial_unended(caller: str, out: asyncio.Future[OriginateResult]) -> None:
        if not out.done():
            out.set_exception(CtiError(f"the dial from {caller} did not end in time"))

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
        elif result.reason == "cancelled":
            await self._cut_short(call, offer)
        else:
            await acd.bus.publish(AgentRingNoAnswer(ts=acd.clock(), linkedid=call.linkedid,
                                                    agent_id=offer.agent_id, queue=offer.queue))
            await acd.bus.publish(AgentOfferWithdrawn(ts=acd.clock(), agent_id=offer.agent_id,
                                                      linkedid=call.linkedid, reason="no_answer"))
            await acd.decide(lambda now: acd.router.offer_no_answer(call.rid, offer.agent_id, now))

    async def _cut_short(self, call: LiveCall, offer: Offer) -> None:
        """The caller's dial was cancelled from the caller's side: the caller hung up (its
        CallEnded follows at once and withdraws the offer), or something moved it while the phone
        rang. Not the agent's fault: a call still waiting is offered anew."""
        acd = self.acd
        await asyncio.sleep(acd.retry_s)  # a hang-up's CallEnded comes first
        if call.status != "ringing" or call.agent_id != offer.agent_id:
            return
        log.info("acd: the ring of %s for %s was cut short by the caller's side; offered again",
                 offer.agent_id, call.linkedid)
        await acd.decide(lambda now: acd.router.offer_failed(call.rid, offer.agent_id, now))

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


