"""Call delivery: the adapter that carries out the router's decisions on the real PBX.

The router (``acd.routing``) is pure; this service owns the clock, the AMI ``CallControl`` and the
bus. Callers wait in the ``cti-queue`` context (music on hold). An ``Offer`` originates the
agent's phone into ``cti-agent-connect``, which bridges it with the caller's channel: the phone rings (the
console pops at that moment), and when the agent answers Asterisk bridges both; a failed or
timed-out originate is a ring-no-answer and the router requeues the call at the head. An offer
made as the IVR hands the caller over rings from the caller's own line instead (``acd.ringing``).

The service holds the live calls and takes the commands (agents' logins and states, enqueues, the
calls a restarted engine takes back); each runs as one router step, one step at a time. Its parts
do the rest:

    acd.follower        the bus events it follows (hand-offs, calls' ends, phones' device states)
    acd.effects         what each step's decisions do: the ACD's events, actions on the PBX
    acd.ringing         the ringing itself: the agent's leg, the pop, the ring's outcome
    acd.consultations   attended transfers to an agent, riding on the same offers
    acd.call_actions    what agents do with their calls (hold, transfer, dial...)
    acd.consult_actions the attended transfer: consultation, back to caller, conference, completion
    acd.reconnect       a browser softphone lost mid-call, rung again
    acd.dial_readiness  an agent out of the queues while their own dial may ring, back after a failed one

Each part sees this service only through its protocol in ``acd.parts``, which names what the part
uses: the parts never import this module.

Agent phones are SIP endpoints (``PJSIP/1001``) or simulated phones (``Local/1001@cti-sim-phone``,
answering after a delay) for tests and the demo.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Iterable, Mapping
from typing import Any

from acd.announce import PromptFloor
from acd.call_actions import CallActions
from acd.calls import AgentPhone, LiveCall, PhoneBook, RecentAgents, call_detail
from acd.consultations import Consultations
from acd.decisions import (
    Offer,
)
from acd.dial_readiness import OUTBOUND, DialReadiness
from acd.effects import DecisionEffects
from acd.errors import AcdError, UnknownAgent
from acd.events import (
    AgentCallUpdate,
)
from acd.follower import JourneyFollower
from acd.handoff import Handoffs
from acd.model import AgentState, AgentView
from acd.parts import CallbackTurns, PopBuilder, RouterStep
from acd.reconnect import PhoneReconnect
from acd.recovery import ENTRY_VAR, QueueEntry, encode_entry
from acd.ringing import Rings
from acd.routing import Router
from acd.stats import QueueSnapshot, WaitingCall
from cti.ami.control import CallControl
from cti.bus import EventBus
from cti.errors import CtiError
from cti.journey import QueueEntered
from cti.tasks import TaskSet, cancel_and_wait

log = logging.getLogger(__name__)
STOP_WRITES_S = 2.0  # how long a stop waits for the queue entries being written on channels


class AcdService:
    """Runs the router against the PBX: enqueue from the IVR, offers, bridges, abandons, wrap-up."""

    def __init__(self, router: Router, control: CallControl, bus: EventBus, *,
                 phones: Mapping[str, AgentPhone] | None = None, clock: Callable[[], float] = time.time,
                 tick_s: float = 0.25, preferred_window_s: float = 3600.0,
                 live_channels: Callable[[], Iterable[str]] = tuple,
                 call_channels: Callable[[str], Iterable[str]] = lambda linkedid: (),
                 device_state: Callable[[str], str | None] = lambda device: None,
                 pop_builder: PopBuilder | None = None, retry_s: float = 0.5,
                 softphone_requeue_s: float = 60.0) -> None:
        self.router, self.control, self.bus, self.clock = router, control, bus, clock
        self.phones = PhoneBook(phones or {})
        self.calls: dict[str, LiveCall] = {}
        # Attended transfers to an agent (acd.consultations); its ``calls`` by router id.
        self.consultations = Consultations(self)
        # Builds a transferred call's screen pop (the console's PopSource); without it the pop
        # carries what the ACD knows: number, queue, the transfer and its note.
        self.pop_builder = pop_builder
        self.retry_s = retry_s  # between tries to reach the PBX again after a failed offer
        # Calls whose agent part is over, awaiting the agent's wrap-up: (agent, linkedid) -> call.
        self.wrapups: dict[tuple[str, str], LiveCall] = {}
        self.tick_s = tick_s
        self.live_channels = live_channels  # names of the PBX's live channels (from the call model)
        self.call_channels = call_channels  # linkedid -> the names of that call's live channels (the same)
        self.device_state = device_state  # e.g. "PJSIP/1001" -> "UNAVAILABLE" (from the call model)
        self.preferred_window_s = preferred_window_s
        self._last_agent = RecentAgents(preferred_window_s)  # customer -> the agent who served them
        self._lock = asyncio.Lock()  # router calls and their decisions run one at a time
        self._ticker: asyncio.Task[None] | None = None
        self._stopped = False  # no more offers (see stop)
        self._tasks = TaskSet(log, "acd: %s failed")  # background steps (spawn)
        # Far-end results that arrived before dial() registered their call (a busy number can
        # answer the Dial before the originate's response reaches us): linkedid -> result.
        self.early_far_end: OrderedDict[str, str] = OrderedDict()
        # The same calls' customer legs that answered: linkedid -> channel (acd.follower's on_far_end).
        self.early_customer_leg: OrderedDict[str, str] = OrderedDict()
        self.actions = CallActions(self)  # hold, transfer, DTMF, dial: on the calls held here
        # An agent's readiness around their own dial, given back after a failed one (acd.dial_readiness).
        self.dial_readiness = DialReadiness(self)
        # Calls that stayed connected through an engine restart, whose agent has not logged in again
        # yet: agent -> call, attached at the agent's login (``attach``).
        self.unattached: dict[str, LiveCall] = {}
        # Virtual hold (acd.virtual_hold_pbx): an ``Offer(callback=True)`` goes there, the customer is called first.
        self.callbacks: CallbackTurns | None = None
        # The announcements and the virtual-hold offer to a waiting caller, one at a time (acd.announce).
        self.floor = PromptFloor()
        # A browser softphone lost mid-call: its caller waits for the same agent (acd.reconnect).
        self.reconnect = PhoneReconnect(self, requeue_after_s=softphone_requeue_s)
        # Queue entries the IVR's hand-off wrote (acd.handoff): their enqueue writes nothing.
        self.handoffs = Handoffs(clock)
        self.rings = Rings(self)  # the agents' phones ringing for offers (acd.ringing)
        self.follower = JourneyFollower(self)  # the events the ACD follows on the bus (acd.follower)
        self.effects = DecisionEffects(self)  # what each router decision does (acd.effects)

    # -- life cycle -----------------------------------------------------------------------------
    def subscribe(self) -> None:
        """The journey's and the PBX's events the ACD follows (acd.follower)."""
        self.follower.subscribe()

    async def start(self) -> None:
        self._ticker = asyncio.create_task(self._tick_loop(), name="acd.tick")

    async def stop(self) -> None:
        """From now on the ACD offers no call: the events the bus still delivers while the engine
        stops (a call ending, a hand-off) must not ring an agent whom no engine will connect. They
        are still followed (a caller who hangs up is logged as abandoned, a freed agent is available)
        and a queue entry is still written on its channel, where the next engine reads it
        (acd.recovery). Rings under way are cancelled; the entries being written are waited for
        (bounded: AMI may be gone)."""
        self._stopped = True
        self.router.hold_offers()
        await cancel_and_wait(self._ticker)
        await self.rings.stop()
        await self.dial_readiness.stop()
        await self._tasks.stop(STOP_WRITES_S)
        await self.reconnect.stop()

    @property
    def stopped(self) -> bool:
        """Stopped: no more offers (``stop``)."""
        return self._stopped

    async def end_wrap_ups(self) -> None:
        """The engine stops (after ``stop``): the agents' wrap-ups end now (``Router.end_wrap_ups``),
        their calls' after-call work with them. Not for an engine fenced off: the node that routes
        now owns the agents' states."""
        if not self._stopped:
            raise RuntimeError("end_wrap_ups is for a stopped ACD: it would offer calls to the agents it frees")
        await self._run(self.router.end_wrap_ups)

    # -- agents ---------------------------------------------------------------------------------
    async def agent_login(self, agent_id: str, skills: Mapping[str, int], queues: Iterable[str], *,
                          phone: AgentPhone | None = None, ready: bool = False,
                          wrap_up_s: float | None = None) -> None:
        if phone is not None:
            self.phones[agent_id] = phone
        own = self.phones.setdefault(agent_id, AgentPhone(agent_id))
        registered = self.follower.registered_at_login(agent_id, own)
        pending = self.unattached.pop(agent_id, None)  # still talking since before a restart: never offered first
        await self._run(lambda now: self.router.agent_login(
            agent_id, skills, now, queues=list(queues), ready=ready and pending is None, wrap_up_s=wrap_up_s,
            registered=registered))
        if pending is not None and pending.status in ("talking", "held"):
            await self.attach(pending)
            if ready:
                await self.set_ready(agent_id)

    async def agent_logout(self, agent_id: str) -> None:
        await self._run(lambda now: self.router.agent_logout(agent_id, now))

    async def set_ready(self, agent_id: str) -> None:
        await self._run(lambda now: self.router.set_ready(agent_id, now))

    async def set_not_ready(self, agent_id: str, reason: str) -> None:
        """Not ready now, or once the current offer or call ends (the router decides which)."""
        await self._run(lambda now: self.router.set_not_ready(agent_id, reason, now))

    async def own_call_started(self, agent_id: str, reason: str) -> None:
        """Not ready ``reason`` for the agent's own call, the reason they had pending (Router.own_call_started)."""
        await self._run(lambda now: self.router.own_call_started(agent_id, reason, now))

    async def set_skills(self, agent_id: str, skills: Mapping[str, int]) -> None:
        await self._run(lambda now: self.router.set_skills(agent_id, skills, now))

    def agent(self, agent_id: str) -> AgentView:
        """The agent as the router sees it (raises UnknownAgent when not logged in)."""
        return self.router.agent(agent_id)

    def agent_state(self, agent_id: str) -> AgentState:
        try:
            return self.router.agent(agent_id).state
        except UnknownAgent:
            return AgentState.LOGGED_OUT

    def agents(self) -> list[AgentView]:
        return list(self.router.agents())

    def queue_snapshots(self, now: float) -> list[QueueSnapshot]:
        return list(self.router.queue_snapshots(now))

    def waiting_calls(self, now: float) -> list[WaitingCall]:
        """The callers waiting now (``Router.waiting_calls``) with their numbers: a caller's from its
        live call, a virtual-hold entry's the number it is to be called back on."""
        out = []
        for w in self.router.waiting_calls(now):
            call = self.calls.get(w.call_id)
            number = call.caller_number if call is not None else None
            if number is None and self.callbacks is not None:
                number = self.callbacks.number_of(w.call_id)
            out.append(dataclasses.replace(w, caller_number=number or ""))
        return out

    def first_need(self, queue: str, skills: Mapping[str, int] | None) -> dict[str, int]:
        """The skills an agent needs to be offered a call with ``skills`` the moment it enters ``queue``
        (the queue's first step with the call's own skills added)."""
        return dict(self.router.first_need(queue, skills))

    def queue_of(self, linkedid: str) -> str | None:
        """The queue of a call the ACD holds (live, or still to wrap up); None for one it does not,
        or that no queue had (a click-to-dial)."""
        call = self.calls.get(linkedid) or next((c for (_, lid), c in self.wrapups.items() if lid == linkedid), None)
        return (call.queue or None) if call is not None else None

    def handling_of(self, linkedid: str) -> tuple[str | None, int | None]:
        """The agent and customer of a call the ACD holds: the live call's, else the latest of the
        agents still to wrap it up (a transfer leaves one per agent); (None, None) for one it does not."""
        call = self.calls.get(linkedid)
        if call is None:
            ended = [c for (_, lid), c in self.wrapups.items() if lid == linkedid]
            call = max(ended, key=lambda c: c.ended_at or 0.0, default=None)
        return (None, None) if call is None else (call.agent_id, call.customer_id)

    def queue_names(self) -> list[str]:
        return sorted(self.router.queue_names())

    def rings_in_flight(self) -> int:
        """Offers whose ring is still under way: the agent's leg may yet appear, ring or be hung up."""
        return self.rings.in_flight()

    def call_known(self, linkedid: str) -> bool:
        """Whether the ACD holds this call, live or awaiting some agent's wrap-up."""
        return linkedid in self.calls or any(lid == linkedid for _, lid in self.wrapups)

    def agent_calls(self, agent_id: str) -> list[LiveCall]:
        live = [c for c in self.calls.values() if c.agent_id == agent_id and c.status not in ("gone", "ended")]
        consults = self.consultations.of_agent(agent_id)
        return live + consults + [c for (agent, _), c in self.wrapups.items() if agent == agent_id]

    def agent_call(self, agent_id: str, linkedid: str) -> LiveCall | None:
        """The agent's live call, a consultation it was called into (``router_id`` set), or the
        call it still has to wrap up."""
        call = self.calls.get(linkedid)
        if call is not None and call.agent_id == agent_id and call.status not in ("gone", "ended"):
            return call
        return self.consultations.find(agent_id, linkedid) or self.wrapups.get((agent_id, linkedid))

    # -- calls ----------------------------------------------------------------------------------
    async def enqueue(self, call: LiveCall, *, preferred: str | None = None, by_history: bool = True,
                      required: str | None = None) -> None:
        """Queue a call; it prefers ``preferred``, else (``by_history``) the customer's last agent;
        with ``required`` (a transfer to a named agent) it waits for that agent only."""
        now = self.clock()
        handed = self.handoffs.take(call)  # the IVR's last set wrote its entry, entered then
        first_queue = call.queue
        call.queued_at, call.status = now if handed is None else handed.entered_at, "queued"
        self.calls[call.linkedid] = call
        if preferred is None and by_history and call.customer_id is not None:
            preferred = self._last_agent.get(call.customer_id, now)
        await self.bus.publish(QueueEntered(ts=now, linkedid=call.linkedid, queue=call.queue,
                                            channel=call.caller_channel, priority=call.priority,
                                            skills=call.skills, customer_id=call.customer_id))
        await self._run(lambda t: self.router.enqueue(
            call.linkedid, call.queue, t, skills=call.skills, priority=call.priority,
            preferred_agent=preferred, customer_id=call.customer_id, required_agent=required))
        # An offer made just now has written its Originate already (ring_offer); the Setvar follows
        # it on the AMI link, and nobody waits for its answer: the next caller's entry must not.
        # A call a limit or an overflow moved on entry has had its new entry written by that move.
        if (handed is None or call.queue != handed.queue) and call.queue == first_queue:
            self.spawn(self.remember_entry(call), f"acd.remember:{call.linkedid}")

    def handoff_vars(self, linkedid: str, queue: str, *, priority: int = 0, customer_id: int | None = None,
                     skills: Mapping[str, int] | None = None, caller_number: str = "") -> dict[str, str]:
        """The channel variables the IVR's hand-off sets for the ACD (``CTI_ACD``, acd.handoff); the
        enqueue that follows does not write them again."""
        return self.handoffs.vars(linkedid, queue, priority=priority, customer_id=customer_id, skills=skills,
                                  caller_number=caller_number)

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        """A tracked background step of the ACD: its fault is logged, stop() waits for it."""
        self._tasks.spawn(coro, name)

    async def remember_entry(self, call: LiveCall) -> None:
        """Write the caller's queue entry on its channel, where a restarted engine finds it (acd.recovery)."""
        entry = QueueEntry(call.linkedid, call.queue, call.queued_at, call.priority, call.customer_id,
                           call.skills, call.caller_number, call.queue_entered_at, call.put_back_at,
                           call.moved_wait_s, callback=call.callback and call.direction == "inbound")
        try:
            await self.control.set_var(call.caller_channel, ENTRY_VAR, encode_entry(entry))
        except CtiError as err:  # the caller may have hung up meanwhile
            log.info("acd: could not record the queue entry of %s: %s", call.linkedid, err.message)

    # -- recovery: calls a restarted engine takes back (callcenter.recovery) -----------------------
    async def restore_waiting(self, call: LiveCall, *, fresh_timers: bool = False) -> None:
        """A caller that kept waiting while no engine ran waits again at its original place
        (``call.queued_at``); QueueEntered is not published twice. ``fresh_timers``: the queue's
        timers (overflow, limits) count from now (a call back from an agent, acd.reconnect), and so
        does its wait: a stay in the queue of its own, which QueueEntered opens (docs/kpis.md: its
        talk is no wait, its queue wait the sum of its stays). The put-back is written into the
        caller's entry, where a restarted engine finds it (``call.put_back_at``). A caller a supervisor
        moved keeps the waits before the move for its queue's figures (``call.moved_wait_s``). A
        virtual-hold callback's call counts in no figure of offered calls (docs/kpis.md)."""
        call.status = "queued"
        self.calls[call.linkedid] = call
        if fresh_timers:
            call.put_back_at, call.moved_wait_s = self.clock(), 0.0  # its answer was counted with them
            self.spawn(self.remember_entry(call), f"acd.remember:{call.linkedid}")
            await self.bus.publish(QueueEntered(ts=call.put_back_at, linkedid=call.linkedid, queue=call.queue,
                                                channel=call.caller_channel, priority=call.priority,
                                                skills=call.skills, customer_id=call.customer_id))
        await self._run(lambda now: self.router.restore_waiting(
            call.linkedid, call.queue, now, entered_at=call.queued_at, skills=call.skills, priority=call.priority,
            customer_id=call.customer_id, fresh_timers=fresh_timers, queue_entered_at=call.queue_entered_at,
            put_back_at=call.put_back_at, moved_wait_s=call.moved_wait_s,
            settled=call.callback and call.direction == "inbound"))  # a virtual-hold callback's call

    async def attach(self, call: LiveCall) -> bool:
        """A call that stayed connected: its agent (once logged in) is on call with it and wraps up
        when it ends. False while the agent is not logged in: attached at the agent's login."""
        assert call.agent_id is not None
        self.calls[call.linkedid] = call
        try:
            await self._run(lambda now: self.router.attach_connected(
                call.linkedid, call.agent_id or "", call.queue, now, entered_at=call.queued_at,
                answered_at=call.answered_at or now, skills=call.skills, priority=call.priority,
                customer_id=call.customer_id))
        except UnknownAgent:
            self.unattached[call.agent_id] = call
            return False
        await self.call_update(call, call.status)
        return True

    async def release_agent(self, call: LiveCall) -> None:
        """The agent's part of the call is over: wrap-up starts."""
        if call.status in ("ended", "gone"):
            return
        call.status, call.ended_at, call.wrap_left_at = "ended", self.clock(), None
        if call.agent_id is not None:
            self.wrapups[(call.agent_id, call.linkedid)] = call
        if self.calls.get(call.linkedid) is call:
            del self.calls[call.linkedid]
        if call.direction == "inbound":
            with contextlib.suppress(AcdError):
                await self._run(lambda now: self.router.call_ended(call.rid, now))
        elif call.agent_id is not None:  # the agent's own call, not ready "outbound" for it: its wrap-up
            agent_id = call.agent_id
            with contextlib.suppress(AcdError):  # logged out meanwhile
                await self._run(lambda now: self.router.own_call_ended(agent_id, call.linkedid, OUTBOUND, now))
        await self.call_update(call, "ended")

    def remember_agent(self, customer_id: int, agent_id: str, now: float) -> None:
        """``agent_id`` served the customer: their next call prefers that agent (``preferred_window_s``)."""
        self._last_agent.remember(customer_id, agent_id, now)

    def wrapped_up(self, agent_id: str, linkedid: str) -> None:
        """The agent submitted the wrap-up: forget the call."""
        self.wrapups.pop((agent_id, linkedid), None)

    # -- decisions ------------------------------------------------------------------------------
    async def decide(self, step: RouterStep) -> None:
        """Run one router step and carry out its decisions (for the ACD's other adapters: acd.virtual_hold_pbx)."""
        await self._run(step)

    async def _run(self, step: RouterStep) -> None:
        async with self._lock:
            decisions = step(self.clock())
        await self.effects.carry_out(decisions)

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            try:
                await self._run(self.router.tick)
            except Exception:
                log.exception("acd tick failed")

    async def ring_offer(self, call: LiveCall, d: Offer) -> None:
        """Ring the agent's phone with ``call`` (which waits in cti-queue) and pop the console (acd.ringing)."""
        if self._stopped:  # decided just before the stop: the next engine offers the call again
            return
        await self.rings.offer(call, d)

    async def call_update(self, call: LiveCall, status: str) -> None:
        if call.agent_id is None:
            return
        await self.bus.publish(AgentCallUpdate(
            ts=self.clock(), agent_id=call.agent_id, linkedid=call.linkedid, status=status,
            direction=call.direction, peer_number=call.caller_number, customer_id=call.customer_id,
            queue=call.queue or None, started_at=call.answered_at or call.queued_at,
            detail=call_detail(call)))

