"""A campaign call someone answered, after AMD: a machine's message, or a person handed to an agent
through the ACD, held for the drop grace, or dropped (docs/outbound.md, "What a drop is").

    HUMAN (or NOTSURE), an agent free  -> the ACD queues the call (cti-queue), the agent's phone rings
    HUMAN, no agent free               -> ``Waiting``: the person hears nothing for at most ``grace_s``
                                          (2 s at most); the first agent to free up takes the oldest
                                          waiting person (``serve``); past the grace: the drop
                                          message, hang up, recorded ``dropped``
    MACHINE                            -> the campaign's message, or hang up to retry later

Every step runs under the dialer's lock (``crm_core.dialer``), except the grace's wait itself: a tick
meanwhile sees the waiting people (``Floor.waiting``) and gives them the agents that free up first.
Results go through the dialer's ``settle`` (the CRM row, the pacer, ``CampaignAttemptEnded``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from acd.calls import LiveCall
from acd.delivery import AcdService
from acd.model import AgentState
from crm_core.campaign_runs import Attempt, LiveCampaign, Waiting, eligible

log = logging.getLogger("crm_core.dialer.pace")  # the dialer's pacing log (DEBUG only)

# The usual rule for an answered call: connected to an agent within 2 s of the person's greeting,
# or it is abandoned. The drop grace never goes beyond it.
MAX_GRACE_S = 2.0
Verdict = tuple[str, str]  # (next, sound) for the dialplan: queue, drop, message, hangup


class Answers:
    """What happens to a campaign call once AMD has listened (``crm_core.dialer`` looks the call up)."""

    def __init__(self, acd: AcdService, lock: asyncio.Lock, settle: Callable[[Attempt, str], Awaitable[None]], *,
                 clock: Callable[[], float], grace_s: float = MAX_GRACE_S,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        if not 0.0 <= grace_s <= MAX_GRACE_S:
            raise ValueError(f"grace_s: {grace_s} is not between 0 and {MAX_GRACE_S}")
        self.acd, self.lock, self.settle, self.clock = acd, lock, settle, clock
        self.grace_s, self.sleep = grace_s, sleep

    def free(self, run: LiveCampaign) -> bool:
        return any(eligible(ag, run.queue, run.need) and ag.state is AgentState.AVAILABLE
                   and not ag.offers and not ag.calls for ag in self.acd.agents())

    async def verdict(self, run: LiveCampaign, a: Attempt, channel: str, amd_status: str) -> Verdict | Waiting:
        """AMD's verdict on an answered call (under the lock): the dialplan's next step, or a person
        to hold through the grace (``wait``)."""
        now = self.clock()
        machine = amd_status.upper() == "MACHINE"
        run.ringing.pop(a.linkedid, None)
        run.pacer.record_attempt(now, answered=not machine, ring_s=now - a.dialled_at)
        if machine:
            leave = run.settings["machine_action"] == "message" and run.settings["machine_message"]
            await self.settle(a, "machine")
            return ("message", run.settings["machine_message"]) if leave else ("hangup", "")
        waiting = Waiting(run=run, attempt=a, channel=channel, answered_at=now,
                          verdict=asyncio.get_running_loop().create_future())
        if self.free(run):
            return await self._to_agent(waiting)
        if self.grace_s <= 0.0:
            return await self._drop(waiting)
        run.waiting.append(waiting)
        return waiting

    async def wait(self, waiting: Waiting) -> Verdict:
        """Hold the person (not under the lock) until an agent takes them or the grace is over."""
        timer = asyncio.ensure_future(self.sleep(self.grace_s))
        try:
            await asyncio.wait((waiting.verdict, timer), return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
        async with self.lock:
            if not waiting.verdict.done():  # the grace is over and no agent freed up: a drop
                waiting.verdict.set_result(await self._drop(waiting))
        return waiting.verdict.result()

    async def serve(self, run: LiveCampaign) -> None:
        """People waiting out the grace take the agents free now, oldest answer first (under the lock)."""
        while run.waiting and self.free(run):
            waiting = run.waiting.pop(0)
            if not waiting.verdict.done():
                log.debug("campaign %s %s to an agent after %.1f s of grace", run.id, waiting.attempt.linkedid,
                          self.clock() - waiting.answered_at)
                waiting.verdict.set_result(await self._to_agent(waiting))

    async def hung_up(self, run: LiveCampaign, a: Attempt) -> None:
        """The call ended: a person still waiting was never connected, a drop (the AGI hangs up)."""
        for waiting in [w for w in run.waiting if w.attempt is a]:
            async with self.lock:
                if not waiting.verdict.done():
                    await self._drop(waiting)
                    waiting.verdict.set_result(("hangup", ""))

    async def _to_agent(self, waiting: Waiting) -> Verdict:
        """The ACD queues the answered person to the agent free for them (under the lock)."""
        run, a = waiting.run, waiting.attempt
        run.pacer.record_connect(self.clock(), dropped=False)
        attributes = {"campaign": run.name, **({"contact": a.name} if a.name else {}),
                      **{k: str(v) for k, v in a.data.items()}}
        if run.settings["script"]:
            attributes["script"] = run.settings["script"][:2000]
        await self.acd.enqueue(LiveCall(linkedid=a.linkedid, caller_channel=waiting.channel, caller_number=a.digits,
                                        queue=run.queue, customer_id=a.customer_id, skills=run.skills or None,
                                        attributes=attributes, campaign=run.name), by_history=False)
        await self.settle(a, "human")
        return "queue", ""

    async def _drop(self, waiting: Waiting) -> Verdict:
        """No agent within the grace (or the person hung up waiting): a drop (under the lock)."""
        run, a, now = waiting.run, waiting.attempt, self.clock()
        with contextlib.suppress(ValueError):
            run.waiting.remove(waiting)
        run.pacer.record_connect(now, dropped=True)
        log.debug("campaign %s %s DROPPED after %.1f s of grace", run.id, a.linkedid, now - waiting.answered_at)
        await self.settle(a, "dropped")
        return "drop", run.settings["drop_message"]
