"""The outbound campaign dialer: paces each running campaign with ``acd.pacing`` and places its
calls on the PBX; answered humans go to an agent through the ACD (with the pop).

One attempt, on the PBX:

    Originate Local/<digits>@cti-external/n (CTI_TRUNK, CTI_CALLER_ID: the campaign's caller ID)
      ChannelId = the attempt's linkedid, chosen here so the attempt row exists before the dial
      ;2 dials the customer through the trunk; when the customer answers, ;1 enters cti-campaign:
      AMD() -> AGI campaign -> this module decides:
        HUMAN (or NOTSURE) with an agent free  -> the ACD queues the call (cti-queue) and rings the agent
        HUMAN with no agent free               -> the person waits, no message, at most ``grace_s``
                                                  (2 s at most) for an agent who frees up: then queued
                                                  as above; past the grace, a drop: the drop
                                                  message, hang up (never silence)
        MACHINE                                -> the campaign's message, or hang up to retry later
      (``crm_core.campaign_answers``)

The campaigns' states are read every ``refresh_s`` while one runs; idle, only on ``CampaignChanged``
(a start, pause, resume or stop through ``command`` on any node, over the bus) or every
``IDLE_REFRESH_S``.

Preview campaigns are not paced: ``crm_core.campaign_preview`` hands contacts to agents and
registers the calls they dial here (``track``), where their results are settled the same way.

This module is the tick side (read the campaigns, pace, pick the contacts to dial, and AMD's
verdict on an answered call); placing one attempt's call and following a call whose Originate was
never answered is ``crm_core.dialer_calls.DialerCalls``, and the results side (``settle``,
``withdraw``, what the PBX and the ACD report) ``crm_core.dialer_results.DialerResults``, which
``CampaignDialer`` extends through ``DialerCalls``.

Results: the far end's Dial result (``FarEndResult``: no_answer, busy...) or the AGI's verdict,
recorded once per attempt (``crm_core.campaigns.finish_attempt``) and published as
``CampaignAttemptEnded``; with the ``CallArrived`` published once the Originate is written, the
call logger writes exactly one interaction per attempt, linked to the campaign and the contact. The
pacer learns from every result and every agent's handle time.

Errors: a number no route takes ends its attempt as ``failed``; PBX errors are logged, the
attempt ends when Asterisk reports the call gone (``CallEnded``). An Originate never written (AMI
not connected: ``AmiNotSent``) called no one: it is no attempt (``withdraw``) and no call is
published; one written, then lost with the connection or never answered, is followed
(``follow_unconfirmed``): ``failed`` when no channel of it is seen within the grace. An attempt
settled without its call's end (refused, lost, not answered by Asterisk, no route, the end not
seen) has its call ended (``CallClosed``, once): its interaction and the feed would keep it in
progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from acd.delivery import AcdService
from acd.errors import UnknownQueue
from acd.events import AgentStateChanged
from acd.model import AgentState
from acd.pacing import DialMode, Floor, Pacer, PacingConfig
from crm_core import campaigns
from crm_core.campaign_answers import MAX_GRACE_S, Answers
from crm_core.campaign_models import Campaign, CampaignContact
from crm_core.campaign_runs import Attempt, LiveCampaign, Waiting, eligible
from crm_core.db import Database
from crm_core.dialer_calls import DialerCalls
from crm_core.dialer_results import BUSY_STATES
from crm_core.errors import ContactTaken, IllegalCampaignStep
from crm_core.events import CampaignChanged
from cti.agi.session import AgiSession
from cti.ami.control import CallControl
from cti.bus import EventBus, observe
from cti.errors import CtiError
from cti.journey import CallConnected, CallEnded, FarEndResult
from cti.tasks import TaskSet, cancel_and_wait
from cti.trunks import TrunksConfig

log = logging.getLogger(__name__)
# Every pacing decision and every answered person against what the pacer believed (DEBUG only;
# bench/dialer_pbx.py turns it on with BENCH_DEBUG=1).
pace_log = logging.getLogger(__name__ + ".pace")

# With no campaign running, how often the campaigns are read though no CampaignChanged came (a state
# changed outside the engine's API); running, every ``refresh_s``.
IDLE_REFRESH_S = 60.0


class CampaignDialer(DialerCalls):
    """Runs every running campaign: a tick paces, dials, and completes campaigns with nothing left."""

    def __init__(self, db: Database, acd: AcdService, control: Callable[[], CallControl], bus: EventBus, *,
                 routing: TrunksConfig, clock: Callable[[], float] = time.time, tick_s: float = 0.5,
                 refresh_s: float = 2.0, idle_refresh_s: float = IDLE_REFRESH_S, dial_timeout_s: int = 30,
                 grace_s: float = MAX_GRACE_S, unconfirmed_grace_s: float | None = None,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
                 pbx_up: Callable[[], bool] = lambda: True) -> None:
        self.db, self.acd, self.control, self.bus = db, acd, control, bus
        self.pbx_up = pbx_up  # AMI connected: while it is not, every dial would fail and count as an attempt
        self.routing, self.clock = routing, clock
        self.tick_s, self.refresh_s, self.dial_timeout_s = tick_s, refresh_s, dial_timeout_s
        self.unconfirmed_grace_s = unconfirmed_grace_s  # None: dialer_calls.UNCONFIRMED_GRACE_S
        self.idle_refresh_s = idle_refresh_s  # with no campaign to run: CampaignChanged wakes it sooner
        self.live: dict[int, LiveCampaign] = {}
        self._attempts: dict[str, Attempt] = {}  # every attempt not yet finished, by linkedid
        self._busy_since: dict[str, float] = {}  # agent -> when their current call began
        self._handled: dict[str, tuple[int, float]] = {}  # agent -> (campaign, connected at)
        self._refreshed = float("-inf")
        self._fenced = False
        self._stopped = False  # stopping: nothing new is started (a freed agent's tick would dial)
        self._task: asyncio.Task[None] | None = None
        self._tasks = TaskSet(log, "dialer: %s failed")
        self._lock = asyncio.Lock()
        self.answers = Answers(acd, self._lock, self.settle, clock=clock, grace_s=grace_s, sleep=sleep)

    # -- life cycle -----------------------------------------------------------------------------
    def subscribe(self) -> None:
        self.bus.subscribe(CallEnded, self._on_call_ended, name="dialer.call_ended")
        # Looked up and noted in memory: observers, called as each event is published, rather than
        # worker tasks woken for every call whether or not a campaign dialled it.
        observe(self.bus, FarEndResult, self._on_far_end, name="dialer.far_end")
        observe(self.bus, CallConnected, self._on_connected, name="dialer.connected")
        # In memory and quick (a task only when a freed agent may be dialed for): an observer,
        # called as each state is published, not a worker task woken ~5 times per call.
        observe(self.bus, AgentStateChanged, self._on_agent_state, name="dialer.agent_state")
        # A campaign started, paused, resumed or stopped on any node (its API): read the campaigns now.
        observe(self.bus, CampaignChanged, self._on_campaign_changed, name="dialer.campaign_changed")

    async def start(self) -> None:
        """Attempts a previous run left without a result end as ``failed`` (and are retried per rule)."""
        now = datetime.fromtimestamp(self.clock(), UTC)
        async with self.db.session() as s:
            for c in await campaigns.list_campaigns(session=s, states=("running", "paused")):
                if await campaigns.release_dialing(session=s, campaign_id=c.id, now=now):
                    log.warning("campaign %s: attempts of a previous run had no result: failed", c.id)
        self._task = asyncio.create_task(self._loop(), name="dialer.tick")

    async def stop(self) -> None:
        self._stopped = True
        await cancel_and_wait(self._task)
        await self._tasks.stop()

    def fence(self) -> None:
        """Another engine node routes now: this one dials nothing more (calls in progress end as they do)."""
        self._fenced = True
        if self._task is not None:
            self._task.cancel()

    async def command(self, campaign_id: int, event: str, actor: str) -> Campaign:
        """start / pause / resume / stop, then the dialer follows at once."""
        async with self.db.session() as s:
            campaign = await campaigns.get_campaign(session=s, campaign_id=campaign_id)
            await campaigns.change_state(session=s, campaign=campaign, event=event, actor=actor)
        self._refreshed = float("-inf")
        try:
            await self.tick()
        except Exception:  # the change is written: the loop's next tick follows it
            log.exception("dialer: tick after campaign %s %s failed", campaign_id, event)
        try:  # the dialer of the node that routes (maybe not this one) follows it at once
            await self.bus.publish(CampaignChanged(ts=self.clock(), campaign_id=campaign_id, state=campaign.state,
                                                   actor=actor))
        except CtiError as err:  # written: the other nodes' dialers see it within IDLE_REFRESH_S
            log.error("dialer: campaign %s %s, but the bus did not take the news: %s", campaign_id, event,
                      err.message)
        return campaign

    def view(self, campaign_id: int) -> dict[str, Any] | None:
        run = self.live.get(campaign_id)
        return run.view(self.clock()) if run is not None else None

    # -- pacing ---------------------------------------------------------------------------------
    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:  # one bad tick (the database away) must not stop the dialer
                log.exception("dialer: tick failed")
            await asyncio.sleep(self.tick_s)

    async def tick(self) -> None:
        if self._fenced:
            return
        async with self._lock:
            now = self.clock()
            if now - self._refreshed >= (self.refresh_s if self._busy() else self.idle_refresh_s):
                await self._refresh(now)
            for run in list(self.live.values()):
                await self.answers.serve(run)
                floor = self._floor(run, now)
                if run.measured_at is not None:  # occupancy: agent time busy, sampled every tick
                    dt = min(now - run.measured_at, self.tick_s * 4)  # a stalled loop does not count
                    run.agent_seconds += dt * (floor.idle + len(floor.busy_elapsed))
                    run.busy_seconds += dt * len(floor.busy_elapsed)
                run.measured_at = now if run.state == "running" else None
                run.last_floor = floor
                if run.state != "running":
                    continue
                n = run.pacer.calls_to_dial(floor, now)
                if n > 0 and pace_log.isEnabledFor(logging.DEBUG):
                    pace_log.debug("campaign %s dials %d: %s", run.id, n, _belief(run, floor, now))
                if n > 0 and self.pbx_up():
                    await self._dial_some(run, n, now)

    def _busy(self) -> bool:
        """A campaign runs, or has calls under way: its state and progress are followed every
        ``refresh_s``. Otherwise (none, or paused ones) only a change (``CampaignChanged``) or
        ``idle_refresh_s`` brings a read: an idle engine does not query the table every 2 s."""
        return any(run.state == "running" or run.ringing or run.waiting for run in self.live.values())

    def _on_campaign_changed(self, ev: CampaignChanged) -> None:
        self._refreshed = float("-inf")
        if self._task is not None and not self._fenced:
            self._spawn(self.tick(), f"dialer.changed.{ev.campaign_id}")

    async def _refresh(self, now: float) -> None:
        """Follow the campaigns' states in the database; a running one with nothing left completes.
        Finished campaigns are read only while this dialer still runs them (they pile up over time)."""
        self._refreshed = now
        async with self.db.session() as s:
            rows = await campaigns.list_campaigns(session=s, states=("running", "paused"), also=list(self.live))
            for c in rows:
                run = self.live.get(c.id)
                if c.state in ("stopped", "completed"):
                    if run is not None:
                        run.state = c.state
                        if not run.ringing and not run.waiting:
                            del self.live[c.id]
                    continue
                if run is None:
                    run = self.live[c.id] = self._live_campaign(c)
                run.state = c.state
                if c.state == "running" and not run.ringing:
                    prog = await campaigns.progress(session=s, campaign_id=c.id,
                                                    now=datetime.fromtimestamp(now, UTC))
                    if prog.remaining == 0:
                        with contextlib.suppress(IllegalCampaignStep):  # stopped or paused meanwhile
                            run.state = await campaigns.change_state(session=s, campaign=c, event="complete")

    def _live_campaign(self, c: Campaign) -> LiveCampaign:
        mode = DialMode(c.mode)
        pacer = Pacer(PacingConfig(mode=mode, drop_cap=c.drop_cap, max_lines_per_agent=c.max_lines_per_agent,
                                   max_ring_s=float(self.dial_timeout_s)))
        skills = dict(c.skills or {})
        try:
            need = self.acd.first_need(c.queue, skills)
        except UnknownQueue:  # a queue removed from the configuration: nobody is free for it anyway
            need = skills
        return LiveCampaign(id=c.id, name=c.name, queue=c.queue, skills=skills, mode=mode,
                            state=c.state, caller_id=c.caller_id, drop_cap=c.drop_cap, pacer=pacer,
                            settings={"drop_message": c.drop_message, "machine_action": c.machine_action,
                                      "machine_message": c.machine_message, "script": c.script}, need=need)

    def _floor(self, run: LiveCampaign, now: float) -> Floor:
        idle, busy = 0, []
        for agent in self.acd.agents():
            if not eligible(agent, run.queue, run.need):
                continue
            if agent.state is AgentState.AVAILABLE and not agent.offers and not agent.calls:
                idle += 1
            elif agent.state in BUSY_STATES:
                busy.append(now - self._busy_since.get(agent.agent_id, now))
        return Floor(idle=idle, busy_elapsed=tuple(busy),
                     ringing=tuple(now - a.dialled_at for a in run.ringing.values()), waiting=len(run.waiting))

    # -- dialling -------------------------------------------------------------------------------
    async def _dial_some(self, run: LiveCampaign, n: int, now: float) -> None:
        when = datetime.fromtimestamp(now, UTC)
        started: list[Attempt] = []
        async with self.db.session() as s:
            campaign = await campaigns.get_campaign(session=s, campaign_id=run.id)
            for contact in await campaigns.due_contacts(session=s, campaign=campaign, now=when, limit=n):
                linkedid = f"cmp{run.id}-{uuid.uuid4().hex[:20]}"
                try:
                    attempt = await campaigns.begin_attempt(session=s, campaign=campaign, contact_id=contact.id,
                                                            linkedid=linkedid, now=when)
                except ContactTaken:  # changed since due_contacts read it (another node's dialer)
                    continue
                if attempt is not None:
                    started.append(self.new_attempt(run, contact, linkedid, now))
        if pace_log.isEnabledFor(logging.DEBUG):
            run.last_dial = f"{now:.1f}: {_belief(run, run.last_floor, now)} dialled {len(started)}"
        for a in started:
            run.ringing[a.linkedid] = a
            self._attempts[a.linkedid] = a
            run.dials += 1
            self._spawn(self._place(run, a), f"dialer.place.{a.linkedid}")

    @staticmethod
    def new_attempt(run: LiveCampaign, contact: CampaignContact, linkedid: str, now: float) -> Attempt:
        return Attempt(linkedid=linkedid, campaign_id=run.id, contact_id=contact.id, digits=contact.number[1:],
                        customer_id=contact.customer_id, name=contact.name, data=dict(contact.data or {}),
                        dialled_at=now)

    async def answered(self, linkedid: str, channel: str, amd_status: str) -> tuple[str, str]:
        """The customer answered and AMD listened: ``(next, sound)`` for the dialplan: ``queue``
        (an agent takes it), ``drop`` or ``message`` (play ``sound``, hang up), ``hangup``.

        A person with no agent free waits here (the dialplan hears nothing) for an agent who
        frees up within ``grace_s``; past it they are dropped."""
        # Under the tick's lock: between leaving ``ringing`` and the ACD's offer, a tick would see
        # the agent idle and no call on its way to them, and dial one call too many.
        async with self._lock:
            a = self._attempts.get(linkedid)
            run = self.live.get(a.campaign_id) if a is not None else None
            if a is None or run is None or a.done:
                return "hangup", ""
            if pace_log.isEnabledFor(logging.DEBUG) and amd_status.upper() != "MACHINE":
                now = self.clock()
                agents = {ag.agent_id: (ag.state.value, len(ag.offers), len(ag.calls)) for ag in self.acd.agents()
                          if eligible(ag, run.queue, run.need)}
                pace_log.debug("campaign %s %s %s after %.1f s: now %s; agents %s; at the last dial %s", run.id,
                               linkedid, "to an agent" if self.answers.free(run) else "WAITS for an agent",
                               now - a.dialled_at, _belief(run, self._floor(run, now), now), agents, run.last_dial)
            verdict = await self.answers.verdict(run, a, channel, amd_status)
        return await self.answers.wait(verdict) if isinstance(verdict, Waiting) else verdict

def _belief(run: LiveCampaign, floor: Floor, now: float) -> str:
    s = run.pacer.stats(now, floor)
    return (f"idle {floor.idle}, busy {[round(b) for b in floor.busy_elapsed]}, ringing "
            f"{[round(r, 1) for r in floor.ringing]}, answer rate {s.answer_rate:.3f} (+1 se "
            f"{run.pacer.answer_rate_bound(now):.3f}), handle {s.mean_handle_s:.0f} s "
            f"({run.pacer.handle_samples} ended), drop {s.drop_rate:.1%} of {s.answered_in_window}")


def make_campaign_route(dialer: CampaignDialer) -> Callable[[AgiSession], Any]:
    """The FastAGI route ``campaign`` (dialplan cti-campaign, after AMD)."""

    async def campaign_route(session: AgiSession) -> None:
        linkedid = session.env.get("uniqueid", "")
        amd = await session.get_variable("AMDSTATUS") or ""
        nxt, sound = await dialer.answered(linkedid, session.env.get("channel", ""), amd)
        await session.set_variable("CTI_NEXT", nxt)
        await session.set_variable("CTI_SOUND", sound)

    return campaign_route
