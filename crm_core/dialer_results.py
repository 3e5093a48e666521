"""The campaign dialer's results side: what becomes of each attempt once dialled. Its outcome is
recorded once (``settle``: the CRM row, the pacer's sample, ``CampaignAttemptEnded``, and
``CallClosed`` for a call whose end Asterisk will not report); an attempt that dialled no one is
withdrawn (``withdraw``); what the PBX and the ACD report (the far end's Dial result, the call's
end, an agent connected, agents' states) is followed here. The tick side, which paces and dials,
is ``crm_core.dialer.CampaignDialer``, built on this class through ``crm_core.dialer_calls.DialerCalls``
(which places the calls and follows those no Originate answer confirmed).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from acd.delivery import AcdService
from acd.events import AgentStateChanged
from acd.model import AgentState
from crm_core import campaigns
from crm_core.campaign_answers import Answers
from crm_core.campaign_runs import Attempt, LiveCampaign
from crm_core.db import Database
from cti.bus import EventBus
from cti.journey import CallArrived, CallClosed, CallConnected, CallEnded, CampaignAttemptEnded, FarEndResult
from cti.tasks import TaskSet

log = logging.getLogger("crm_core.dialer")  # one log for the dialer, both sides

# FarEndResult.result -> the attempt's outcome when nobody answered.
FAR_END = {"no_answer": "no_answer", "cancelled": "no_answer", "busy": "busy"}
BUSY_STATES = (AgentState.RESERVED, AgentState.ON_CALL, AgentState.WRAP_UP)
_BUSY_VALUES = frozenset(s.value for s in BUSY_STATES)


class DialerResults:
    """Records each attempt's result once; follows what the PBX and the ACD report of the calls.
    ``CampaignDialer`` sets the state below and runs the ticks."""

    db: Database
    acd: AcdService
    bus: EventBus
    clock: Callable[[], float]
    live: dict[int, LiveCampaign]
    answers: Answers
    _attempts: dict[str, Attempt]  # every attempt not yet finished, by linkedid
    _busy_since: dict[str, float]  # agent -> when their current call began
    _handled: dict[str, tuple[int, float]]  # agent -> (campaign, connected at)
    _task: asyncio.Task[None] | None
    _fenced: bool
    _stopped: bool
    _tasks: TaskSet
    _lock: asyncio.Lock

    async def tick(self) -> None:
        """The tick side's (``CampaignDialer.tick``): an agent freed up may be dialled for."""
        raise NotImplementedError

    def track(self, a: Attempt) -> None:
        """Follow an attempt dialled elsewhere (a preview call) until its result."""
        self._attempts[a.linkedid] = a

    async def withdraw(self, a: Attempt) -> None:
        """An attempt that dialled no one (``campaigns.withdraw_attempt``): no outcome, no pacer
        sample, no event."""
        if a.done:
            return
        a.done = True
        self._attempts.pop(a.linkedid, None)
        if (run := self.live.get(a.campaign_id)) is not None:
            run.ringing.pop(a.linkedid, None)  # not a ring the pacer learns from
        async with self.db.session() as s:
            await campaigns.withdraw_attempt(session=s, linkedid=a.linkedid)
        log.info("campaign %s: attempt %s withdrawn (no one was dialled)", a.campaign_id, a.linkedid)

    async def settle(self, a: Attempt, outcome: str, agent_id: str | None = None, *, closes: bool = False) -> None:
        """Record the attempt's outcome once (CRM row, pacer, ``CampaignAttemptEnded``). ``closes``: the
        call's end will not be reported (no channel was made, or its end was not seen): unless Asterisk
        reported it already, the call is ended here (``CallClosed``), and published first if it never
        was (an attempt no Originate was written for), so that its one interaction is begun and ended."""
        if a.done:
            return
        a.done = True
        closes = closes and not a.ended.is_set()
        if closes and not a.arrived:
            a.arrived = True
            await self.bus.publish(arrived_event(a))
        run = self.live.get(a.campaign_id)
        if run is not None and run.ringing.pop(a.linkedid, None) is not None and outcome != "human":
            run.pacer.record_attempt(self.clock(), answered=False, ring_s=self.clock() - a.dialled_at)
        self._attempts.pop(a.linkedid, None)
        async with self.db.session() as s:
            await campaigns.finish_attempt(session=s, linkedid=a.linkedid, outcome=outcome,
                                           now=datetime.fromtimestamp(self.clock(), UTC), agent_id=agent_id)
        await self.bus.publish(CampaignAttemptEnded(ts=self.clock(), linkedid=a.linkedid, campaign_id=a.campaign_id,
                                                    contact_id=a.contact_id, result=outcome))
        if closes:
            await self.bus.publish(CallClosed(ts=self.clock(), linkedid=a.linkedid, outcome=outcome))
        log.info("campaign %s: attempt %s -> %s", a.campaign_id, a.linkedid, outcome)

    # -- what the PBX and the ACD report -----------------------------------------------------------
    def _on_far_end(self, ev: FarEndResult) -> None:
        a = self._attempts.get(ev.linkedid)
        if a is not None and a.far_end != "answered":
            a.far_end = ev.result

    async def _on_call_ended(self, ev: CallEnded) -> None:
        a = self._attempts.get(ev.linkedid)
        if a is not None and (run := self.live.get(a.campaign_id)) is not None:
            await self.answers.hung_up(run, a)  # hung up during the drop grace
        if a is not None:
            a.ended.set()
            if a.preview and a.far_end == "answered":
                await self.settle(a, "human")
            else:
                await self.settle(a, FAR_END.get(a.far_end or "", "failed"))

    def _on_connected(self, ev: CallConnected) -> None:
        if ev.linkedid.startswith("cmp"):
            campaign_id = int(ev.linkedid[3:].split("-", 1)[0])
            self._handled[ev.agent_id] = (campaign_id, ev.ts)

    def _on_agent_state(self, ev: AgentStateChanged) -> None:
        state = ev.state
        if state in _BUSY_VALUES:
            self._busy_since.setdefault(ev.agent_id, ev.ts)
            return
        since = self._busy_since.pop(ev.agent_id, None)
        handled = self._handled.pop(ev.agent_id, None)
        if handled is not None and (run := self.live.get(handled[0])) is not None:
            # Timed from the reservation, as the floor times the calls in progress (busy_elapsed):
            # timed from the connect, every busy agent would look closer to the end of their call.
            run.pacer.record_handle(ev.ts - (since if since is not None else handled[1]))
        if state != AgentState.AVAILABLE.value or not self.live:
            return  # no campaign in memory: nothing to dial for the agent (a started one ticks itself)
        if self._task is not None and not self._fenced:
            # Now, not next tick: the tick first gives the agent to a person waiting out the grace,
            # else dials for them.
            self._spawn(self.tick(), f"dialer.free.{ev.agent_id}")
        elif any(run.waiting for run in self.live.values()):
            self._spawn(self._serve_all(), f"dialer.serve.{ev.agent_id}")

    async def _serve_all(self) -> None:
        async with self._lock:
            for run in list(self.live.values()):
                await self.answers.serve(run)

    def _spawn(self, coro: Any, name: str) -> None:
        if self._stopped:
            coro.close()
            return
        self._tasks.spawn(coro, name)


def arrived_event(a: Attempt) -> CallArrived:
    return CallArrived(ts=a.dialled_at, linkedid=a.linkedid, channel="", caller_number=a.digits, caller_name=a.name,
                       dnis=a.digits, direction="outbound", agent_id=a.agent_id)
