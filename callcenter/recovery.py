"""Start-up recovery: the engine takes back the calls Asterisk kept while no engine ran.

The adapter around ``acd.recovery.plan``: it reads the call model's resync snapshot and the ACD's
channel variables (Getvar), restores the agents from the CRM's agent-state history, then carries
out the plan in an order that never offers a busy agent a call: agents log in (not ready),
connected calls are attached, half-rung agent legs are hung up, waiting callers are queued again
in their original order (callers still in the fallback's app_queue are redirected back to
``cti-queue`` first), and only then do agents become ready as they were (``recovery_agents``: an
agent on their own dial's call is not ready "outbound" again, that call taken back, the break they
dialled from pending; the call gone, they are back on that break). Each call taken back has
its interaction's customer where the interaction has one (an agent may have linked the call to
another customer than the one it was routed with, which its queue entry names), else its entry's.
Last, interactions the CRM still holds open for calls Asterisk no longer has (an IVR session the
crash cut off, a call the fallback served) are ended, at the time the dialplan's hangup handler
left in AstDB (``cti_away/<linkedid>``) when it knows it. See docs/resilience.md.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from acd.calls import QUEUE_CONTEXT, LiveCall
from acd.delivery import AcdService
from acd.dial_readiness import OUTBOUND
from acd.errors import AcdError
from acd.model import AgentState
from acd.recovery import (
    AGENT_VAR,
    CALL_VAR,
    ENTRY_VAR,
    FALLBACK_CONTEXT,
    LOST_VAR,
    WAITING_CONTEXTS,
    Attach,
    ChannelFacts,
    QueueEntry,
    RecoveryPlan,
    decode_entry,
    plan,
)
from callcenter.recovery_agents import LOGIN, LastState, Restore, last_states, restore, restore_order
from callcenter.recovery_last_agents import remember_last_agents
from callcenter.recovery_own_calls import own_calls_of
from crm_core.agent_log import states_between
from crm_core.db import Database
from crm_core.models import Interaction
from cti.ami.call_records import Phase
from cti.ami.callmodel import CallModel
from cti.ami.control import CallControl
from cti.bus import EventBus
from cti.errors import CtiError
from cti.journey import CallArrived, CallConnected, CallEnded, QueueEntered, VoicemailLeft
from cti.logs import call_context

log = logging.getLogger(__name__)
FACT_RETRY_S = (0.05, 0.15, 0.3, 0.5)  # between reads of a channel's variables that failed

# Agents logged in within this window before the restart are logged in again (older history: a
# shift that ended without a logout is not brought back).
HISTORY_S = 12 * 3600.0
_IN_CHUNK = 500  # linkedids per query (SQLite's bound parameters)


@dataclass
class RecoveryReport:
    waiting: list[str] = field(default_factory=list)  # linkedids queued again, in order
    attached: dict[str, str] = field(default_factory=dict)  # linkedid -> agent
    unattached: dict[str, str] = field(default_factory=dict)  # linkedid -> agent not logged in yet
    hung_up: list[str] = field(default_factory=list)  # agent legs
    agents: dict[str, str] = field(default_factory=dict)  # agent -> state restored
    closed: list[str] = field(default_factory=list)  # interactions ended for calls Asterisk no longer has
    pulled_back: list[str] = field(default_factory=list)  # callers taken back from the fallback's app_queue
    ended_at: dict[str, float] = field(default_factory=dict)  # closed interaction -> its real end (AstDB)
    lost_ivr: list[str] = field(default_factory=list)  # callers the dialplan queued after losing their IVR
    took_s: float = 0.0


class Recovery:
    """Runs once in ``Engine.start``, after the AMI resync and before the FastAGI server lets calls in."""

    def __init__(self, *, acd: AcdService, model: CallModel, control: CallControl, db: Database, bus: EventBus,
                 login: Callable[[str], Awaitable[None]], send: Callable[..., Awaitable[Any]] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.acd, self.model, self.control, self.db, self.bus = acd, model, control, db, bus
        self.login, self.clock = login, clock
        self.away = AwayRecords(send) if send is not None else None

    async def facts(self) -> list[ChannelFacts]:
        """Every live channel with the ACD's variables read back from Asterisk."""
        chans = [ch for call in self.model.calls() for ch in call.live]

        async def read(name: str, context: str) -> tuple[str | None, str | None, str | None, str | None]:
            entry, agent = await asyncio.gather(self.control.get_var(name, ENTRY_VAR),
                                                self.control.get_var(name, AGENT_VAR))
            if agent:
                return entry, agent, await self.control.get_var(name, CALL_VAR), None
            # The lost-IVR mark only on a caller no engine may have seen: waiting, or in the fallback.
            unseen = entry and (context in WAITING_CONTEXTS or context == FALLBACK_CONTEXT)
            return entry, agent, None, (await self.control.get_var(name, LOST_VAR) if unseen else None)

        async def one(name: str, context: str) -> tuple[str | None, str | None, str | None, str | None]:
            # A channel being moved (the fallback's Redirect, a masquerade) answers "No such channel"
            # for an instant, as a gone one does: ask again a few times over ~1 s before believing
            # it gone, or a caller still waiting would not be queued again.
            for delay in FACT_RETRY_S:
                try:
                    return await read(name, context)
                except CtiError:
                    await asyncio.sleep(delay)
            try:
                return await read(name, context)
            except CtiError as err:
                log.info("recovery: %s left out (%s): hung up meanwhile", name, err.message)
                return None, None, None, None

        found = await asyncio.gather(*(one(ch.name, ch.context) for ch in chans))
        return [ChannelFacts(name=ch.name, linkedid=ch.linkedid, context=ch.context, up=ch.phase is Phase.UP,
                             created=ch.created, bridge_id=ch.bridge_id, entry=decode_entry(entry),
                             agent_id=agent or None, for_call=for_call or None, lost_dnis=lost or None)
                for ch, (entry, agent, for_call, lost) in zip(chans, found, strict=True)]

    async def run(self) -> RecoveryReport:
        started = time.monotonic()
        report = RecoveryReport()
        facts = await self.facts()
        decided = plan(facts)
        customers = await self._customers(decided)
        await remember_last_agents(self.acd, self.db, self.clock())  # preferred-agent routing's memory
        last = await self._last_states()
        for agent_id, agent_last in last.items():
            if agent_last.state != "logged_out":
                try:
                    await self.login(agent_id)
                except Exception as err:  # an agent removed from the CRM meanwhile, say
                    log.warning("recovery: agent %s not logged in again: %s", agent_id, err)
        await self._attach(decided, customers, report)
        for leg in decided.hangups:
            log.info("recovery: hanging up agent %s's leg %s (%s)", leg.agent_id, leg.channel, leg.reason)
            try:
                await self.control.hangup(leg.channel, may_be_gone=True)
                report.hung_up.append(leg.channel)
            except CtiError as err:
                log.info("recovery: %s: %s", leg.channel, err.message)
        for w in decided.waiting:
            if self.acd.call_known(w.entry.linkedid):
                continue  # a caller whose IVR was lost, enqueued from its UserEvent while this ran
            with call_context(w.entry.linkedid, queue=w.entry.queue or None):  # its records name the call
                try:
                    if w.pull_back:  # out of app_queue's Queue() (which stops ringing) back to the engine's music
                        await self.control.redirect(w.channel, QUEUE_CONTEXT, "s")
                        report.pulled_back.append(w.entry.linkedid)
                    if w.lost_dnis is not None:
                        await self._log_lost(w.entry, w.channel, w.lost_dnis)
                        report.lost_ivr.append(w.entry.linkedid)
                    await self.acd.restore_waiting(_live(w.entry, w.channel, customers))
                    report.waiting.append(w.entry.linkedid)
                except (AcdError, CtiError) as err:  # a queue removed from the configuration; a caller gone
                    log.warning("recovery: caller %s not queued again: %s", w.entry.linkedid, err.message)
        own_calls = await own_calls_of(self.acd, self.db, last, facts, decided)
        for agent_id in restore_order(last):  # the longest idle first: the first caller waiting is theirs
            with call_context(agent=agent_id):
                report.agents[agent_id] = await self._restore_state(agent_id, last[agent_id], decided, own_calls)
        report.closed = await self._close_orphans(report)
        report.took_s = time.monotonic() - started
        log.info("recovery: %d waiting, %d attached, %d unattached, %d legs hung up, %d agents, %d closed in %.2f s",
                 len(report.waiting), len(report.attached), len(report.unattached), len(report.hung_up),
                 len(report.agents), len(report.closed), report.took_s)
        if report.lost_ivr:  # each of them missed the IVR while no engine answered
            log.warning("recovery: %d callers lost their IVR while no engine ran and were queued without it",
                        len(report.lost_ivr))
        return report

    async def _log_lost(self, entry: QueueEntry, channel: str, dnis: str) -> None:
        """A caller whose IVR was lost was queued by the dialplan while no engine ran: its arrival
        (unless its IVR had begun: the first CallArrived of a call is the one the log keeps) and its
        queue entry, at the time of the entry, as the engine would have logged them."""
        await self.bus.publish(CallArrived(ts=entry.entered_at, linkedid=entry.linkedid, channel=channel,
                                           caller_number=entry.caller_number, dnis=dnis))
        await self.bus.publish(QueueEntered(ts=entry.entered_at, linkedid=entry.linkedid, queue=entry.queue,
                                            channel=channel, priority=entry.priority))
        try:  # logged: the next engine's recovery must not log them again
            await self.control.set_var(channel, LOST_VAR, "")
        except CtiError as err:
            log.info("recovery: could not clear the lost-IVR mark of %s: %s", channel, err.message)

    async def _customers(self, decided: RecoveryPlan) -> dict[str, int]:
        """linkedid -> the customer of its interaction, for the calls taken back whose interaction names
        one: a customer an agent linked the call to (``PUT /api/crm/interactions/{id}/customer``) is
        there, and not in the queue entry, which keeps the one the call was routed with."""
        linkedids = sorted({a.entry.linkedid for a in decided.connected} | {w.entry.linkedid for w in decided.waiting})
        found: dict[str, int] = {}
        try:
            async with self.db.session() as s:
                for at in range(0, len(linkedids), _IN_CHUNK):
                    stmt = select(Interaction.linkedid, Interaction.customer_id).where(
                        Interaction.linkedid.in_(linkedids[at:at + _IN_CHUNK]), Interaction.customer_id.is_not(None))
                    found.update((lid, customer) for lid, customer in (await s.execute(stmt)).all()
                                 if customer is not None)
        except Exception:
            log.exception("recovery: could not read the calls' customers; they keep the ones they were routed with")
            return {}
        return found

    async def _attach(self, decided: RecoveryPlan, customers: dict[str, int], report: RecoveryReport) -> None:
        for a in decided.connected:
            with call_context(a.entry.linkedid, agent=a.agent_id, queue=a.entry.queue or None):
                await self._attach_one(a, customers, report)  # its records name the call (docs/observability.md)

    async def _attach_one(self, a: Attach, customers: dict[str, int], report: RecoveryReport) -> None:
        if a.lost_dnis is not None:  # lost its IVR, then app_queue connected it: all unlogged
            await self._log_lost(a.entry, a.caller_channel, a.lost_dnis)
            report.lost_ivr.append(a.entry.linkedid)
        call = _live(a.entry, a.caller_channel, customers)
        call.status = "held" if a.held else "talking"
        answered_at = await self._fallback_answer(a.agent_channel) if a.fallback else None
        answered_at = answered_at or a.answered_at
        call.agent_id, call.agent_channel, call.answered_at = a.agent_id, a.agent_channel, answered_at
        try:
            attached = await self.acd.attach(call)
        except AcdError as err:
            log.warning("recovery: call %s not attached to %s: %s", a.entry.linkedid, a.agent_id, err.message)
            return
        (report.attached if attached else report.unattached)[a.entry.linkedid] = a.agent_id
        if a.fallback:  # app_queue connected it while no engine ran: the CRM learns it now
            await self.bus.publish(CallConnected(ts=answered_at, linkedid=a.entry.linkedid, agent_id=a.agent_id,
                                                 queue=a.entry.queue))

    async def _fallback_answer(self, agent_channel: str) -> float | None:
        """When app_queue's agent answered (``CTI_ANSWERED_AT``, set by cti-fallback-member)."""
        try:
            value = await self.control.get_var(agent_channel, "CTI_ANSWERED_AT")
            return float(value) if value else None
        except (CtiError, ValueError):
            return None

    async def _restore_state(self, agent_id: str, last: LastState, decided: RecoveryPlan,
                             own_calls: Mapping[str, tuple[str, bool]]) -> str:
        """Ready as before the restart, or not ready with the same reason; an agent talking to a call
        the plan could not attach stays not ready (never offered a second call); an agent on their own
        call, or wrapping it up, as ``recovery_agents.restore`` decides."""
        if last.state == "logged_out":
            return last.state
        attached = agent_id in {a.agent_id for a in decided.connected}
        linkedid, taken_back = own_calls.get(agent_id, ("", False))
        step = restore(last, busy=agent_id in decided.busy_agents and not attached, own_call_live=taken_back,
                       phone_live=bool(linkedid))
        try:
            await self._carry_out(agent_id, step, linkedid)
        except AcdError as err:
            log.warning("recovery: agent %s: %s", agent_id, err.message)
            return "not_ready"
        return step.label

    async def _carry_out(self, agent_id: str, step: Restore, linkedid: str) -> None:
        if step.ready:
            await self.acd.set_ready(agent_id)
            return
        if not step.own_call:
            if step.not_ready is not None:
                await self.acd.set_not_ready(agent_id, step.not_ready)
            return
        # Logged in again not ready "login": the reason to give back first, then the own call's
        # "outbound" with it pending (Router.own_call_started), as the dial left them; nothing pending
        # (ready after the call): "outbound" alone.
        if step.not_ready is None:
            await self.acd.set_not_ready(agent_id, OUTBOUND)
        else:
            if step.not_ready != LOGIN:
                await self.acd.set_not_ready(agent_id, step.not_ready)
            await self.acd.own_call_started(agent_id, OUTBOUND)
        if step.watch:  # their dial may still ring their phone: given back once it is free
            before = AgentState.AVAILABLE if step.not_ready is None else AgentState.NOT_READY
            await self.acd.dial_readiness.give_back(agent_id, before, unconfirmed=linkedid)

    async def _last_states(self) -> dict[str, LastState]:
        now = self.clock()
        try:
            async with self.db.session() as s:
                rows = await states_between(session=s, since=now - HISTORY_S, until=now + 1)
        except Exception:
            log.exception("recovery: no agent-state history; agents log in again themselves")
            return {}
        return last_states(rows)  # an engine's end (its engine_down rows) is not the agent's own

    async def _close_orphans(self, report: RecoveryReport) -> list[str]:
        """End the interactions still open for calls that ended while no engine ran: at their real
        end when the dialplan left it in AstDB (and with the agent app_queue connected them to),
        else at the recovery."""
        live: set[str] = set()
        for call in self.model.calls():
            live.add(call.linkedid)
            live.update(call.merged)
        live.update(self.acd.calls)
        since = datetime.fromtimestamp(self.clock() - HISTORY_S, UTC)  # as the call logger writes times
        try:
            async with self.db.session() as s:
                stmt = select(Interaction.linkedid, Interaction.agent_id, Interaction.customer_id).where(
                    Interaction.ended_at.is_(None), Interaction.started_at >= since)
                open_calls = {lid: (agent, customer) for lid, agent, customer in (await s.execute(stmt)).all()}
        except Exception:
            log.exception("recovery: could not look for open interactions")
            return []
        closed = [lid for lid in open_calls if lid not in live]
        now = self.clock()
        for lid in closed:
            # Who handled the call and whom it was with, as the live path's call.ended says (the ACD's
            # call): the agent app_queue connected (the away record), else the one the CRM logged; the
            # customer the IVR recognised or an agent linked (the interaction's).
            logged_agent, customer_id = open_calls[lid]
            away = await self.away.get(lid) if self.away is not None else None
            if away is None:
                await self.bus.publish(CallEnded(ts=now, linkedid=lid, cause=0,
                                                 cause_text="ended while no engine ran (end time unknown)",
                                                 agent_id=logged_agent, customer_id=customer_id))
                continue
            if away.agent_id and away.answered_at is not None:
                await self.bus.publish(CallConnected(ts=away.answered_at, linkedid=lid, agent_id=away.agent_id,
                                                     queue=away.queue or None))
            if away.mailbox:
                await self.bus.publish(VoicemailLeft(ts=away.ended_at, linkedid=lid, mailbox=away.mailbox))
            text = f"ended while no engine ran ({away.fallback})" if away.fallback else "ended while no engine ran"
            await self.bus.publish(CallEnded(ts=away.ended_at, linkedid=lid, cause_text=text,
                                             queue=away.queue or None, agent_id=away.agent_id or logged_agent,
                                             customer_id=customer_id))
            report.ended_at[lid] = away.ended_at
        if self.away is not None:
            await self.away.clear()
        return closed


@dataclass(frozen=True, slots=True)
class AwayFacts:
    """What ``cti-away-hangup`` left for one call: ``end|fallback|queue|agent|answered|mailbox``."""

    ended_at: float
    fallback: str = ""
    queue: str = ""
    agent_id: str = ""
    answered_at: float | None = None
    mailbox: str = ""  # a voicemail message was left there

    @classmethod
    def decode(cls, text: str) -> AwayFacts | None:
        parts = text.split("|")
        try:
            ended = float(parts[0])
            answered = float(parts[4]) if len(parts) > 4 and parts[4] else None
        except ValueError:
            return None
        fallback, queue, agent = [*parts[1:4], "", "", ""][:3]
        return cls(ended, fallback, queue, agent, answered, parts[5] if len(parts) > 5 else "")


class AwayRecords:
    """AstDB family ``cti_away``, read with AMI DBGet (class reporting). The engine's AMI user may
    not write AstDB (that needs class system): clearing it is a Local channel into ``cti-away-db``."""

    FAMILY = "cti_away"

    def __init__(self, send: Callable[..., Awaitable[Any]]) -> None:
        self._send = send

    async def get(self, linkedid: str) -> AwayFacts | None:
        try:
            reply = await self._send("DBGet", {"Family": self.FAMILY, "Key": linkedid}, expect="list", timeout_s=5.0)
        except CtiError:  # "Database entry not found": the dialplan left nothing for this call
            return None
        value = next((item.get("Val") for item in reply.items if item.get("Val")), None)
        return AwayFacts.decode(value) if value else None

    async def clear(self) -> None:
        try:
            await self._send("Originate", {"Channel": "Local/clear@cti-away-db/n", "Context": "cti-away-db",
                                           "Exten": "done", "Priority": "1", "Timeout": "5000"}, timeout_s=10.0)
        except CtiError as err:
            log.warning("recovery: %s/ not cleared: %s", self.FAMILY, err.message)


def _live(entry: QueueEntry, channel: str, customers: Mapping[str, int] | None = None) -> LiveCall:
    """The ACD's call from its queue entry, with its interaction's customer (``customers``) where known."""
    customer_id = (customers or {}).get(entry.linkedid, entry.customer_id)
    return LiveCall(linkedid=entry.linkedid, caller_channel=channel, caller_number=entry.caller_number,
                    queue=entry.queue, customer_id=customer_id,
                    skills=dict(entry.skills) if entry.skills else None, priority=entry.priority,
                    queued_at=entry.entered_at, queue_entered_at=entry.queue_entered_at, put_back_at=entry.put_back_at,
                    moved_wait_s=entry.moved_wait_s, callback=entry.callback)
