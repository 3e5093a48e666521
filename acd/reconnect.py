"""A browser softphone lost mid-call (page reloaded, network gone) never drops the caller.

The console's leg is originated with ``CTI_KEEP_CALLER=1``: when it leaves the bridge without the
engine hanging up the caller, the dialplan (``cti-agent-lost``) sends the caller back to the music
of ``cti-queue`` instead of hanging it up. This watcher notices the loss from the agent's device
state (the leg's end changes it), shows the call as held in the console, and rings the *same*
agent again as soon as their softphone is registered again; answered, the call is the agent's as
before. If the agent is not back within ``requeue_after_s``, the agent's part ends (wrap-up) and
the call waits again ahead of every caller who arrived after it, with fresh queue timers.

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
from collections.abc import Iterable

from acd.calls import AgentPhone, LiveCall
from acd.parts import ReconnectHost
from acd.recovery import AGENT_VAR
from cti.ami.events import DeviceStateChange
from cti.errors import CtiError
from cti.journey import CallEnded
from cti.logs import bind
from cti.tasks import cancel_all_and_wait

log = logging.getLogger(__name__)

KEEP_VAR = "CTI_KEEP_CALLER"  # on the agent leg's originate: extensions.conf [cti-agent-connect]
# The engine's own hang-ups of an agent's leg (survey, transfers) update the call right after: a
# leg still unaccounted for after this long was lost, not hung up by the engine.
SETTLE_S = 0.3


class PhoneReconnect:
    """Calls whose browser leg was lost: the caller on music, the agent rung again when back."""

    def __init__(self, acd: ReconnectHost, *, requeue_after_s: float = 60.0, ring_s: float = 30.0,
                 retry_s: float = 1.0) -> None:
        self.acd, self.requeue_after_s, self.ring_s, self.retry_s = acd, requeue_after_s, ring_s, retry_s
        self.lost: dict[str, asyncio.Task[None]] = {}  # linkedid -> its watcher
        self._back: dict[str, asyncio.Event] = {}  # agent -> set when their softphone registers

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
        if was_held:  # parked in cti-hold; cti-queue's music also watches the engine's heartbeat
            with contextlib.suppress(CtiError):
                await self.acd.control.redirect(call.caller_channel, "cti-queue", "s")
        await self.acd.call_update(call, "held")
        back = self._back.setdefault(agent_id, asyncio.Event())
        deadline = self.acd.clock() + self.requeue_after_s
        try:
            while (left := deadline - self.acd.clock()) > 0:
                if await self._ring_again(call, phone, left):
                    return
                back.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(back.wait(), min(self.retry_s, max(left, 0.01)))
            await self._requeue(call)
        except asyncio.CancelledError:
            await self._stop_ringing(phone)
            raise

    async def _ring_again(self, call: LiveCall, phone: AgentPhone, left_s: float) -> bool:
        """Ring the agent's softphone into the caller's bridge; True once answered."""
        if self.acd.device_state(phone.device) in ("UNAVAILABLE", "INVALID"):
            return False  # not registered (yet): the next registration wakes the watcher
        try:
            result = await self.acd.control.originate(
                phone.dial, context="cti-agent-connect", exten="s",
                caller_id=f"<{call.caller_number}>" if call.caller_number else None,
                variables={"CTI_LINKEDID": call.linkedid, "CTI_CALLER": call.caller_channel,
                           AGENT_VAR: call.agent_id or "", KEEP_VAR: "1"},
                timeout_ms=int(min(self.ring_s, left_s) * 1000))
        except CtiError as err:
            log.info("acd: ringing agent %s again failed: %s", call.agent_id, err.message)
            return False
        if not result.success:
            return False
        if call.status != "held" or call.agent_channel is not None:  # the caller left meanwhile
            if result.channel:
                with contextlib.suppress(CtiError):
                    await self.acd.control.hangup(result.channel, may_be_gone=True)
            return True
        call.agent_channel, call.status = result.channel, "talking"
        log.info("acd: agent %s is back on call %s", call.agent_id, call.linkedid)
        await self.acd.call_update(call, "talking")
        return True

    async def _requeue(self, call: LiveCall) -> None:
        """The agent did not come back: their part ends (wrap-up), the caller waits again at the head."""
        log.warning("acd: agent %s not back within %.0f s; call %s waits for another agent",
                    call.agent_id, self.requeue_after_s, call.linkedid)
        await self.acd.release_agent(call)
        again = dataclasses.replace(call, status="queued", agent_id=None, agent_channel=None, answered_at=None,
                                    ring_task=None, consult=None)
        await self.acd.restore_waiting(again, fresh_timers=True)

    async def _stop_ringing(self, phone: AgentPhone) -> None:
        for name in list(self.acd.live_channels()):
            if name.startswith(phone.channel_prefix):
                with contextlib.suppress(CtiError):
                    await self.acd.control.hangup(name, may_be_gone=True)
