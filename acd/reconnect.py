"""A browser softphone lost mid-call (page reloaded, network gone) never drops the caller.

The console's leg is originated with ``CTI_KEEP_CALLER=1``: when it leaves the bridge without the
engine hanging up the caller, the dialplan (``cti-agent-lost``) sends the caller back to the music
of ``cti-queue`` instead of hanging it up. This watcher notices the loss from the agent's device
state (the leg's end changes it), shows the call as held in the console, and rings the *same*
agent again as soon as their softphone is registered again; answered, the call is the agent's as
before. If the agent is not back within ``requeue_after_s``, the agent's part ends (wrap-up) and
the call waits again ahead of every caller who arrived after it, with fresh queue timers. An agent
who declines that ring (the console's Decline: a 486, Originate reason busy) lets the call go the
same way at once, and goes not ready "missed" after their wrap-up, as after a missed offer: the
engine does not ring them again for it.

    reconnect = PhoneReconnect(acd, requeue_after_s=60)   # AcdService builds it: ``acd.reconnect``
    # AcdService hands it the device states of agents' phones and the calls' ends; the watcher
    # sees the service as an ``acd.parts.ReconnectHost``
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import uuid
from collections.abc import Iterable
from typing import Literal

from acd.calls import AgentPhone, LiveCall, to_queue_music
from acd.parts import ReconnectHost
from acd.recovery import AGENT_VAR
from acd.routing_steps import MISSED
from cti.ami.events import DeviceStateChange
from cti.errors import CtiError
from cti.journey import CallEnded
from cti.logs import bind
from cti.safety import number_caller_id
from cti.tasks import TaskSet, cancel_all_and_wait

log = logging.getLogger(__name__)

Rang = Literal["answered", "declined"] | None

KEEP_VAR = "CTI_KEEP_CALLER"  # on the agent leg's originate: extensions.conf [cti-agent-connect]
# The engine's own hang-ups of an agent's leg (survey, transfers) update the call right after: a
# leg still unaccounted for after this long was lost, not hung up by the engine.
SETTLE_S = 0.3
# The agent's phone refused the ring again: 486 Busy Here (the console's Decline) is cause 17, a 603
# Decline cause 21. Asterisk 22's OriginateResponse says Reason 0 (failed) for it, not 5 (busy): the
# cause is on the leg's own Hangup, hence on its CallEnded (the leg is a call of its own, its linkedid
# the ChannelId the originate gave it), which may come just after the OriginateResponse.
DECLINE_CAUSES = frozenset({17, 21})
DECLINED_REASON = 5  # an Asterisk whose OriginateResponse does say busy
CAUSE_WAIT_S = 1.0


class PhoneReconnect:
    """Calls whose browser leg was lost: the caller on music, the agent rung again when back."""

    def __init__(self, acd: ReconnectHost, *, requeue_after_s: float = 60.0, ring_s: float = 30.0,
                 retry_s: float = 1.0) -> None:
        self.acd, self.requeue_after_s, self.ring_s, self.retry_s = acd, requeue_after_s, ring_s, retry_s
        self.lost: dict[str, asyncio.Task[None]] = {}  # linkedid -> its watcher
        self._back: dict[str, asyncio.Event] = {}  # agent -> set when their softphone registers
        self._rings: dict[str, asyncio.Future[int]] = {}  # a ring again's leg id -> its hang-up cause
        self._ringing: dict[str, str] = {}  # agent -> the leg id of the ring again in flight to their phone
        # Hang-ups of rings again whose phone went away: kept until they end, not stopped (one AMI
        # action each, and AMI closes after the ACD).
        self._unrings = TaskSet(log, "acd: %s failed")

    async def stop(self) -> None:
        await cancel_all_and_wait(list(self.lost.values()), failures="log")

    def on_device_state(self, ev: DeviceStateChange, owners: Iterable[tuple[str, AgentPhone]]) -> None:
        """A device state of agents' phones (``owners``, from the ACD's own subscription): a browser
        phone back sets its agent's wait; one that lost its leg starts a watcher."""
        for agent_id, phone in owners:
            if phone.kind == "webrtc":
                self._webrtc_state(ev, agent_id)

    def _webrtc_state(self, ev: DeviceStateChange, agent_id: str) -> None:
        if ev.state not in ("UNAVAILABLE", "INVALID") and agent_id in self._back:
            self._back[agent_id].set()
        elif ev.state in ("UNAVAILABLE", "INVALID") and (leg := self._ringing.get(agent_id)) is not None:
            # The phone rung is gone (a frozen page's INVITE can stay pending for the whole ring): the
            # ring is hung up, so that the page's next registration is rung at once, not after it.
            self._unrings.spawn(self._hang_up_ring(leg), f"acd.reconnect:unring:{agent_id}")
        live = set(self.acd.live_channels())
        for call in list(self.acd.calls.values()):
            if (call.agent_id == agent_id and call.status in ("talking", "held") and call.linkedid not in self.lost
                    and call.agent_channel is not None and call.agent_channel not in live
                    and call.caller_channel in live):
                task = asyncio.create_task(self._watch(call, call.agent_channel), name=f"acd.reconnect:{call.linkedid}")
                self.lost[call.linkedid] = task
                task.add_done_callback(functools.partial(self._done, call.linkedid))

    def _done(self, linkedid: str, task: asyncio.Task[None]) -> None:
        if self.lost.get(linkedid) is task:
            del self.lost[linkedid]
        if not task.cancelled() and (err := task.exception()) is not None:
            log.error("acd: reconnecting call %s failed", linkedid, exc_info=err)

    def on_call_ended(self, ev: CallEnded) -> None:
        """A call ended (the ACD's own subscription hands it on)."""
        ring = self._rings.get(ev.linkedid)
        if ring is not None and not ring.done():
            ring.set_result(ev.cause)  # a ring again's leg ended (refused, unanswered, failed)
        task = self.lost.get(ev.linkedid)
        if task is not None:
            task.cancel()  # the caller left while waiting for their agent: the delivery wraps it up

    async def _watch(self, call: LiveCall, leg: str) -> None:
        bind(call.linkedid, agent=call.agent_id, queue=call.queue)
        await asyncio.sleep(SETTLE_S)
        live = set(self.acd.live_channels())
        if call.status not in ("talking", "held") or call.agent_channel != leg or call.caller_channel not in live:
            return
        agent_id = call.agent_id or ""
        phone = self.acd.phones.get(agent_id) or AgentPhone(agent_id, "webrtc")
        log.warning("acd: agent %s's softphone left call %s (page reloaded or network lost); the caller "
                    "waits on music for them", agent_id, call.linkedid)
        was_held, call.status, call.agent_channel = call.status == "held", "held", None
        if was_held:  # parked in cti-hold
            await to_queue_music(self.acd.control, call.caller_channel)
        await self.acd.call_update(call, "held")
        back = self._back.setdefault(agent_id, asyncio.Event())
        deadline = self.acd.clock() + self.requeue_after_s
        try:
            while (left := deadline - self.acd.clock()) > 0:
                rang = await self._ring_again(call, phone, left)
                if rang == "answered":
                    return
                if rang == "declined":
                    await self._declined(call)
                    return
                back.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(back.wait(), min(self.retry_s, max(left, 0.01)))
            await self._requeue(call)
        except asyncio.CancelledError:
            await self._stop_ringing(phone)
            raise

    async def _ring_again(self, call: LiveCall, phone: AgentPhone, left_s: float) -> Rang:
        """Ring the agent's softphone into the caller's bridge: answered, declined by the agent, or
        not (yet) rung (None: the watcher tries again)."""
        if self.acd.device_state(phone.device) in ("UNAVAILABLE", "INVALID"):
            return None  # not registered (yet): the next registration wakes the watcher
        leg_id = f"cti-{uuid.uuid4().hex}"
        ended: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._rings[leg_id] = ended
        agent_id = call.agent_id or ""
        self._ringing[agent_id] = leg_id
        try:
            try:
                result = await self.acd.control.originate(
                    phone.dial, context="cti-agent-connect", exten="s",
                    caller_id=number_caller_id(call.caller_number),
                    variables={"CTI_LINKEDID": call.linkedid, "CTI_CALLER": call.caller_channel,
                               AGENT_VAR: call.agent_id or "", KEEP_VAR: "1"},
                    timeout_ms=int(min(self.ring_s, left_s) * 1000), channel_id=leg_id)
            except CtiError as err:
                log.info("acd: ringing agent %s again failed: %s", call.agent_id, err.message)
                return None
            if not result.success:
                declined = result.reason == DECLINED_REASON or await _cause(ended) in DECLINE_CAUSES
                return "declined" if declined else None
        finally:
            del self._rings[leg_id]
            if self._ringing.get(agent_id) == leg_id:
                del self._ringing[agent_id]
        if call.status != "held" or call.agent_channel is not None:  # the caller left meanwhile
            if result.channel:
                with contextlib.suppress(CtiError):
                    await self.acd.control.hangup(result.channel, may_be_gone=True)
            return "answered"
        call.agent_channel, call.status = result.channel, "talking"
        log.info("acd: agent %s is back on call %s", call.agent_id, call.linkedid)
        await self.acd.call_update(call, "talking")
        return "answered"

    async def _declined(self, call: LiveCall) -> None:
        """The agent declined the ring again: a missed offer's "not now". Not ready "missed" once
        their part's wrap-up ends (pending now, while they are still on the call: nothing offers
        them the call back meanwhile), and the call waits again at once for another agent."""
        log.warning("acd: agent %s declined call %s when rung again; it waits for another agent",
                    call.agent_id, call.linkedid)
        if call.agent_id is not None:
            with contextlib.suppress(CtiError):  # logged out meanwhile: nothing to keep them from
                await self.acd.set_not_ready(call.agent_id, MISSED)
        await self._put_back(call)

    async def _requeue(self, call: LiveCall) -> None:
        """The agent did not come back: their part ends (wrap-up), the caller waits again at the head."""
        log.warning("acd: agent %s not back within %.0f s; call %s waits for another agent",
                    call.agent_id, self.requeue_after_s, call.linkedid)
        await self._put_back(call)

    async def _put_back(self, call: LiveCall) -> None:
        """The agent's part ends (wrap-up), the caller waits again at its place, its timers fresh."""
        await self.acd.release_agent(call)
        again = dataclasses.replace(call, status="queued", agent_id=None, agent_channel=None, answered_at=None,
                                    ring_task=None, consult=None)
        await self.acd.restore_waiting(again, fresh_timers=True)

    async def _hang_up_ring(self, leg_id: str) -> None:
        """Hang up a ring again in flight (AMI finds a channel by its unique id as by its name)."""
        with contextlib.suppress(CtiError):
            await self.acd.control.hangup(leg_id, may_be_gone=True)

    async def _stop_ringing(self, phone: AgentPhone) -> None:
        for name in list(self.acd.live_channels()):
            if name.startswith(phone.channel_prefix):
                with contextlib.suppress(CtiError):
                    await self.acd.control.hangup(name, may_be_gone=True)


async def _cause(ended: asyncio.Future[int]) -> int | None:
    """The hang-up cause of a ring's leg, once its CallEnded is in (None: not within CAUSE_WAIT_S)."""
    with contextlib.suppress(TimeoutError):
        return await asyncio.wait_for(asyncio.shield(ended), CAUSE_WAIT_S)
    return None
