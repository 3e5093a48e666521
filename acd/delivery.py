"""Call delivery: the adapter that carries out the router's decisions on the real PBX.

The router (``acd.routing``) is pure; this service owns the clock, the AMI ``CallControl`` and the
bus. Callers wait in the ``cti-queue`` context (music on hold). An ``Offer`` originates the
agent's phone into ``cti-agent-connect``, which bridges it with the caller's channel: the phone rings (the
console pops at that moment), and when the agent answers Asterisk bridges both; a failed or
timed-out originate is a ring-no-answer and the router requeues the call at the head.

Agent phones are SIP endpoints (``PJSIP/1001``) or simulated phones (``Local/1001@cti-sim-phone``,
answering after a delay) for tests and the demo.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from acd.decisions import (
    Abandoned,
    AgentStateChange,
    Announce,
    Bridge,
    CancelOffer,
    Decision,
    LimitAction,
    Offer,
    Overflow,
    Requeue,
)
from acd.errors import AcdError, StaleOffer
from acd.routing import Router
from agent_console.events import AgentCallUpdate, AgentOffer, AgentOfferWithdrawn, AgentStateChanged
from cti.ami.control import CallControl
from cti.ami.events import DeviceStateChange
from cti.bus import EventBus
from cti.errors import CtiError
from cti.journey import (
    AgentRinging,
    AgentRingNoAnswer,
    CallArrived,
    CallbackRequested,
    CallConnected,
    CallEnded,
    CallTransferred,
    FarEndResult,
    HoldEnded,
    HoldStarted,
    IvrFinished,
    QueueEntered,
    QueueLeft,
)

log = logging.getLogger(__name__)

CallStatus = Literal["queued", "ringing", "talking", "held", "consulting", "ended", "gone"]


@dataclass(frozen=True, slots=True)
class AgentPhone:
    """How to ring an agent: a registered SIP endpoint or a simulated phone."""

    extension: str
    kind: Literal["sip", "sim"] = "sim"
    answer_after_s: float = 2.0

    @property
    def dial(self) -> str:
        if self.kind == "sip":
            return f"PJSIP/{self.extension}"
        # /n: no Local-channel optimisation, so the agent's channel keeps one name for the call.
        return f"Local/{self.extension}@cti-sim-phone/n"

    @property
    def channel_prefix(self) -> str:
        return f"PJSIP/{self.extension}-" if self.kind == "sip" else f"Local/{self.extension}@cti-sim-phone-"


@dataclass(eq=False)
class LiveCall:
    linkedid: str
    caller_channel: str
    caller_number: str
    queue: str
    direction: str = "inbound"
    customer_id: int | None = None
    skills: dict[str, int] | None = None
    priority: int = 0
    attributes: dict[str, str] | None = None
    queued_at: float = 0.0
    status: CallStatus = "queued"
    agent_id: str | None = None
    agent_channel: str | None = None
    consult_channel: str | None = None  # attended transfer: the target's leg, talking to the agent
    consult_target: tuple[str, str] | None = None  # (target kind, target)
    answered_at: float | None = None
    far_end: str | None = None  # outbound: how the customer's leg ended (FarEndResult.result)
    ring_task: asyncio.Task[None] | None = field(default=None, repr=False)


class RecentAgents:
    """Customer -> the agent who last served them, for "preferred agent" routing. Entries older
    than the window are dropped as new ones arrive (insertion order is time order), so memory
    follows the window's traffic rather than growing all day."""

    def __init__(self, window_s: float, *, cap: int = 200_000) -> None:
        self.window_s, self.cap = window_s, cap
        self._served: OrderedDict[int, tuple[str, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._served)

    def remember(self, customer_id: int, agent_id: str, now: float) -> None:
        self._served[customer_id] = (agent_id, now)
        self._served.move_to_end(customer_id)
        while self._served:
            _, oldest = next(iter(self._served.values()))
            if now - oldest <= self.window_s and len(self._served) <= self.cap:
                break
            self._served.popitem(last=False)

    def get(self, customer_id: int, now: float) -> str | None:
        served = self._served.get(customer_id)
        if served is None or now - served[1] > self.window_s:
            return None
        return served[0]


class AcdService:
    """Runs the router against the PBX: enqueue from the IVR, offers, bridges, abandons, wrap-up."""

    def __init__(self, router: Router, control: CallControl, bus: EventBus, *,
                 phones: Mapping[str, AgentPhone] | None = None, clock: Callable[[], float] = time.time,
                 tick_s: float = 0.25, preferred_window_s: float = 3600.0,
                 live_channels: Callable[[], Iterable[str]] = tuple,
                 device_state: Callable[[str], str | None] = lambda device: None) -> None:
        self.router, self.control, self.bus, self.clock = router, control, bus, clock
        self.phones: dict[str, AgentPhone] = dict(phones or {})
        self.calls: dict[str, LiveCall] = {}
        # Calls whose agent part is over, awaiting the agent's wrap-up: (agent, linkedid) -> call.
        self.wrapups: dict[tuple[str, str], LiveCall] = {}
        self.tick_s = tick_s
        self.live_channels = live_channels  # names of the PBX's live channels (from the call model)
        self.device_state = device_state  # e.g. "PJSIP/1001" -> "UNAVAILABLE" (from the call model)
        self.preferred_window_s = preferred_window_s
        self._last_agent = RecentAgents(preferred_window_s)  # customer -> the agent who served them
        self._lock = asyncio.Lock()  # router calls and their decisions run one at a time
        self._ticker: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        # Far-end results that arrived before dial() registered their call (a busy number can
        # answer the Dial before the originate's response reaches us): linkedid -> result.
        self._early_far_end: OrderedDict[str, str] = OrderedDict()

    # -- life cycle -----------------------------------------------------------------------------
    def subscribe(self) -> None:
        self.bus.subscribe(IvrFinished, self._on_ivr_finished, name="acd.ivr_finished")
        self.bus.subscribe(CallEnded, self._on_call_ended, name="acd.call_ended")
        self.bus.subscribe(FarEndResult, self._on_far_end, name="acd.far_end")
        self.bus.subscribe(DeviceStateChange, self._on_device_state, name="acd.device_state")

    async def start(self) -> None:
        self._ticker = asyncio.create_task(self._tick_loop(), name="acd.tick")

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- agents ---------------------------------------------------------------------------------
    async def agent_login(self, agent_id: str, skills: Mapping[str, int], queues: Iterable[str], *,
                          phone: AgentPhone | None = None, ready: bool = False,
                          wrap_up_s: float | None = None) -> None:
        if phone is not None:
            self.phones[agent_id] = phone
        own = self.phones.setdefault(agent_id, AgentPhone(agent_id))
        registered = self._registered(own, self.device_state(f"PJSIP/{own.extension}"))
        await self._run(lambda now: self.router.agent_login(
            agent_id, skills, now, queues=list(queues), ready=ready, wrap_up_s=wrap_up_s, registered=registered))

    @staticmethod
    def _registered(phone: AgentPhone, state: str | None) -> bool:
        """A SIP phone Asterisk reports UNAVAILABLE (not registered) is not offered calls."""
        return phone.kind != "sip" or state not in ("UNAVAILABLE", "INVALID")

    async def _on_device_state(self, ev: DeviceStateChange) -> None:
        for agent_id, phone in self.phones.items():
            if phone.kind == "sip" and ev.device == f"PJSIP/{phone.extension}":
                registered = self._registered(phone, ev.state)
                try:
                    await self._run(lambda now, a=agent_id, r=registered: self.router.set_device_registered(a, r, now))
                except AcdError:
                    pass  # not logged in to the ACD

    async def agent_logout(self, agent_id: str) -> None:
        await self._run(lambda now: self.router.agent_logout(agent_id, now))

    async def set_ready(self, agent_id: str) -> None:
        await self._run(lambda now: self.router.set_ready(agent_id, now))

    async def set_not_ready(self, agent_id: str, reason: str) -> None:
        """Not ready now, or once the current offer or call ends (the router decides which)."""
        await self._run(lambda now: self.router.set_not_ready(agent_id, reason, now))

    async def set_skills(self, agent_id: str, skills: Mapping[str, int]) -> None:
        await self._run(lambda now: self.router.set_skills(agent_id, skills, now))

    def agent_calls(self, agent_id: str) -> list[LiveCall]:
        live = [c for c in self.calls.values() if c.agent_id == agent_id and c.status not in ("gone", "ended")]
        return live + [c for (agent, _), c in self.wrapups.items() if agent == agent_id]

    def agent_call(self, agent_id: str, linkedid: str) -> LiveCall | None:
        """The agent's live call or the call it still has to wrap up."""
        call = self.calls.get(linkedid)
        if call is not None and call.agent_id == agent_id and call.status not in ("gone", "ended"):
            return call
        return self.wrapups.get((agent_id, linkedid))

    # -- calls ----------------------------------------------------------------------------------
    async def enqueue(self, call: LiveCall, *, preferred: str | None = None, by_history: bool = True) -> None:
        """Queue a call; it prefers ``preferred``, else (``by_history``) the customer's last agent."""
        now = self.clock()
        call.queued_at, call.status = now, "queued"
        self.calls[call.linkedid] = call
        if preferred is None and by_history and call.customer_id is not None:
            preferred = self._last_agent.get(call.customer_id, now)
        await self.bus.publish(QueueEntered(ts=now, linkedid=call.linkedid, queue=call.queue,
                                            channel=call.caller_channel, priority=call.priority,
                                            skills=call.skills, customer_id=call.customer_id))
        await self._run(lambda t: self.router.enqueue(
            call.linkedid, call.queue, t, skills=call.skills, priority=call.priority,
            preferred_agent=preferred, customer_id=call.customer_id))

    async def hangup(self, linkedid: str) -> None:
        """Hang up the caller; while consulting for an attended transfer, complete the transfer."""
        call = self.calls[linkedid]
        if call.status == "consulting" and call.consult_channel and call.agent_channel:
            await self._complete_attended(call)
            return
        await self.control.hangup(call.caller_channel)

    async def hold(self, linkedid: str) -> None:
        call = self.calls[linkedid]
        if call.status != "talking" or call.agent_channel is None or call.agent_id is None:
            raise AcdError(f"call {linkedid} is not talking; only a connected call can be held")
        await self.control.hold(call.caller_channel, peer=call.agent_channel)
        call.status = "held"
        await self.bus.publish(HoldStarted(ts=self.clock(), linkedid=linkedid, agent_id=call.agent_id))
        await self._call_update(call, "held")

    async def resume(self, linkedid: str) -> None:
        call = self.calls[linkedid]
        if call.status != "held" or call.agent_channel is None or call.agent_id is None:
            raise AcdError(f"call {linkedid} is not on hold")
        await self.control.unhold(call.caller_channel, peer=call.agent_channel)
        call.status = "talking"
        await self.bus.publish(HoldEnded(ts=self.clock(), linkedid=linkedid, agent_id=call.agent_id))
        await self._call_update(call, "talking")

    async def transfer(self, linkedid: str, *, target_kind: str, target: str, kind: str = "blind") -> None:
        """Blind transfer of the caller to a number or a queue (the agent leaves the call)."""
        call = self.calls[linkedid]
        if call.agent_id is None or call.status not in ("talking", "held"):
            raise AcdError(f"call {linkedid} is not connected to an agent")
        agent = call.agent_id
        if target_kind in ("number", "agent") and not target.isdigit():
            raise AcdError(f"target: {target!r} is not a number or an agent extension (digits only)")
        if kind == "attended" and target_kind in ("number", "agent"):
            await self._consult(call, target_kind, target)
            return
        if target_kind == "number":
            await self.control.redirect(call.caller_channel, "cti-external", target)
        elif target_kind in ("queue", "agent"):
            await self.control.redirect(call.caller_channel, "cti-queue", "s")
        else:
            raise AcdError(f"target_kind: unknown kind {target_kind!r}")
        await self.bus.publish(CallTransferred(ts=self.clock(), linkedid=linkedid, from_agent=agent,
                                               target=target, target_kind=target_kind, kind=kind))
        await self._release_agent(call)
        if target_kind in ("queue", "agent"):
            queue = target if target_kind == "queue" else call.queue
            requeued = LiveCall(linkedid=linkedid, caller_channel=call.caller_channel,
                                caller_number=call.caller_number, queue=queue, customer_id=call.customer_id,
                                skills=call.skills if target_kind == "queue" else None,
                                priority=call.priority, attributes=call.attributes)
            # The transferring agent named a colleague: prefer them. Sent to a queue, the call must
            # not wait for the customer's last agent -- the very agent who just passed it on.
            await self.enqueue(requeued, preferred=target if target_kind == "agent" else None, by_history=False)

    async def _consult(self, call: LiveCall, target_kind: str, target: str) -> None:
        """Attended transfer, step 1: the caller goes on hold and the agent talks to the target."""
        if call.status != "talking" or call.agent_channel is None or call.agent_id is None:
            raise AcdError(f"call {call.linkedid}: only a connected call can be transferred with consultation")
        if target_kind == "number":
            dial = f"Local/{target}@cti-external/n"
            answer_after = self.phones.get(call.agent_id, AgentPhone(call.agent_id)).answer_after_s
        else:
            phone = self.phones.get(target) or AgentPhone(target)
            dial, answer_after = phone.dial, phone.answer_after_s
        await self.control.hold(call.caller_channel, peer=call.agent_channel)
        call.status = "consulting"
        await self.bus.publish(HoldStarted(ts=self.clock(), linkedid=call.linkedid, agent_id=call.agent_id))
        await self._call_update(call, "consulting")
        result = await self.control.originate(
            dial, context="cti-agent-connect", exten="s",
            variables={"CTI_ANSWER_S": str(answer_after), "CTI_CALLER": call.agent_channel}, timeout_ms=30000)
        if not result.success or not result.channel:
            await self.control.unhold(call.caller_channel, peer=call.agent_channel)
            call.status = "talking"
            await self.bus.publish(HoldEnded(ts=self.clock(), linkedid=call.linkedid, agent_id=call.agent_id))
            await self._call_update(call, "talking")
            raise AcdError(f"transfer target {target} did not answer; the caller is back with the agent")
        call.consult_channel, call.consult_target = result.channel, (target_kind, target)

    async def _complete_attended(self, call: LiveCall) -> None:
        """Attended transfer, step 2: the agent hangs up and the caller is bridged to the target."""
        assert call.consult_channel and call.agent_channel and call.agent_id and call.consult_target
        await self.control.bridge(call.caller_channel, call.consult_channel)
        with contextlib.suppress(CtiError):  # the agent's leg went with the bridge the consultee left
            await self.control.hangup(call.agent_channel, may_be_gone=True)
        now = self.clock()
        await self.bus.publish(HoldEnded(ts=now, linkedid=call.linkedid, agent_id=call.agent_id))
        kind, target = call.consult_target
        await self.bus.publish(CallTransferred(ts=now, linkedid=call.linkedid, from_agent=call.agent_id,
                                               target=target, target_kind=kind, kind="attended"))
        await self._release_agent(call)

    async def play_dtmf(self, linkedid: str, digits: str) -> None:
        call = self.calls[linkedid]
        if call.agent_channel is None:
            raise AcdError(f"call {linkedid} has no agent leg to send DTMF on")
        for digit in digits:
            await self.control.play_dtmf(call.agent_channel, digit)

    async def dial(self, agent_id: str, number: str, *, customer_id: int | None = None) -> str:
        """Click-to-dial: the agent's phone rings first, then the customer (``cti-external``)."""
        phone = self.phones.get(agent_id) or AgentPhone(agent_id)
        result = await self.control.originate(
            phone.dial, context="cti-external", exten=number, caller_id=f"<{number}>",
            variables={"CTI_ANSWER_S": str(phone.answer_after_s)}, timeout_ms=30000)
        if not result.success:
            raise AcdError(f"the phone of agent {agent_id} did not answer (reason {result.reason})")
        linkedid = result.linkedid or result.uniqueid or f"out-{agent_id}-{self.clock()}"
        call = LiveCall(linkedid=linkedid, caller_channel=result.channel or "", caller_number=number,
                        queue="", direction="outbound", customer_id=customer_id, status="talking",
                        agent_id=agent_id, agent_channel=result.channel, answered_at=self.clock(),
                        far_end=self._early_far_end.pop(linkedid, None))
        self.calls[linkedid] = call
        await self.bus.publish(CallArrived(ts=self.clock(), linkedid=linkedid, channel=call.caller_channel,
                                           caller_number=number, dnis=number, direction="outbound",
                                           agent_id=agent_id))
        await self.bus.publish(CallConnected(ts=self.clock(), linkedid=linkedid, agent_id=agent_id))
        await self._call_update(call, "talking")
        return linkedid

    # -- bus handlers ---------------------------------------------------------------------------
    async def _on_ivr_finished(self, ev: IvrFinished) -> None:
        if ev.outcome != "queue" or not ev.queue:
            return
        await self.enqueue(LiveCall(
            linkedid=ev.linkedid, caller_channel=ev.channel, caller_number=ev.caller_number, queue=ev.queue,
            customer_id=ev.customer_id, skills=dict(ev.skills) if ev.skills else None, priority=ev.priority,
            attributes=dict(ev.attributes) if ev.attributes else None))

    async def _on_call_ended(self, ev: CallEnded) -> None:
        call = self.calls.get(ev.linkedid)
        if call is None or call.status in ("ended", "gone"):
            return
        if call.status in ("queued", "ringing"):
            await self._run(lambda now: self.router.caller_hung_up(call.linkedid, now))
            call.status = "gone"
            self.calls.pop(call.linkedid, None)
        else:
            await self._release_agent(call)

    async def _on_far_end(self, ev: FarEndResult) -> None:
        """An outbound call's customer leg stopped ringing: remember how, and show it."""
        call = self.calls.get(ev.linkedid)
        if call is None:
            call = next((c for (_, lid), c in self.wrapups.items() if lid == ev.linkedid), None)
        if call is None:
            self._early_far_end[ev.linkedid] = ev.result
            while len(self._early_far_end) > 1000:
                self._early_far_end.popitem(last=False)
            return
        if call.direction != "outbound" or call.far_end == "answered":
            return  # an inbound call's transfer to a number; or a later leg of an answered call
        call.far_end = ev.result
        await self._call_update(call, call.status)

    async def _release_agent(self, call: LiveCall) -> None:
        """The agent's part of the call is over: wrap-up starts."""
        if call.status in ("ended", "gone"):
            return
        call.status = "ended"
        if call.agent_id is not None:
            self.wrapups[(call.agent_id, call.linkedid)] = call
        if self.calls.get(call.linkedid) is call:
            del self.calls[call.linkedid]
        if call.direction == "inbound":
            with contextlib.suppress(AcdError):
                await self._run(lambda now: self.router.call_ended(call.linkedid, now))
        await self._call_update(call, "ended")

    def wrapped_up(self, agent_id: str, linkedid: str) -> None:
        """The agent submitted the wrap-up: forget the call."""
        self.wrapups.pop((agent_id, linkedid), None)

    # -- decisions ------------------------------------------------------------------------------
    async def _run(self, step: Callable[[float], list[Decision]]) -> None:
        async with self._lock:
            decisions = step(self.clock())
        await self._execute(decisions)

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            try:
                await self._run(self.router.tick)
            except Exception:
                log.exception("acd tick failed")

    async def _execute(self, decisions: list[Decision]) -> None:
        for d in decisions:
            try:
                await self._carry_out(d)
            except CtiError as err:
                log.warning("acd: could not carry out %s: %s", type(d).__name__, err.message)

    async def _carry_out(self, d: Decision) -> None:
        now = self.clock()
        match d:
            case AgentStateChange():
                view = self.router.agent(d.agent_id)
                await self.bus.publish(AgentStateChanged(
                    ts=now, agent_id=d.agent_id, state=d.new.value, reason=d.reason, since=d.at,
                    queues=tuple(view.queues), not_ready_after_call=view.not_ready_after_call))
            case Offer():
                call = self.calls.get(d.call_id)
                if call is None:
                    return
                call.status, call.agent_id = "ringing", d.agent_id
                # The ring task first: it is then scheduled ahead of the subscribers these events
                # wake (the screen pop's lookup among them), so the phone rings sooner.
                task = asyncio.create_task(self._ring(call, d), name=f"acd.ring:{d.call_id}")
                call.ring_task = task
                self._tasks.add(task)
                task.add_done_callback(self._ring_done)
                await self.bus.publish(AgentRinging(ts=now, linkedid=d.call_id, agent_id=d.agent_id, queue=d.queue))
                await self.bus.publish(AgentOffer(
                    ts=now, agent_id=d.agent_id, linkedid=d.call_id, queue=d.queue,
                    caller_number=call.caller_number, customer_id=call.customer_id,
                    waited_s=now - call.queued_at, skills=call.skills, ring_timeout_s=d.ring_timeout_s))
            case CancelOffer():
                call = self.calls.get(d.call_id)
                if call is not None and call.ring_task is not None and d.reason != "ring_timeout":
                    call.ring_task.cancel()
                await self._hangup_ringing(d.agent_id)
                await self.bus.publish(AgentOfferWithdrawn(
                    ts=now, agent_id=d.agent_id, linkedid=d.call_id,
                    reason="caller_hangup" if d.reason == "caller_hung_up" else "no_answer"))
            case Bridge():
                call = self.calls.get(d.call_id)
                if call is None:
                    return
                call.status, call.answered_at = "talking", now
                if call.customer_id is not None:
                    self._last_agent.remember(call.customer_id, d.agent_id, now)
                await self.bus.publish(CallConnected(ts=now, linkedid=d.call_id, agent_id=d.agent_id, queue=d.queue))
                await self._call_update(call, "talking")
            case Requeue():
                call = self.calls.get(d.call_id)
                if call is not None:
                    call.status, call.agent_id, call.agent_channel = "queued", None, None
            case Overflow():
                call = self.calls.get(d.call_id)
                if call is not None:
                    await self.bus.publish(QueueLeft(ts=now, linkedid=d.call_id, queue=d.from_queue,
                                                     reason="overflow", waited_s=now - call.queued_at,
                                                     target=d.to_queue))
                    call.queue = d.to_queue
                    await self.bus.publish(QueueEntered(ts=now, linkedid=d.call_id, queue=d.to_queue,
                                                        channel=call.caller_channel, priority=call.priority,
                                                        skills=call.skills, customer_id=call.customer_id))
            case Announce():
                call = self.calls.get(d.call_id)
                if call is not None and call.status == "queued":
                    await self.control.set_var(call.caller_channel, "CTI_POSITION", str(d.position))
                    await self.control.set_var(call.caller_channel, "CTI_EWT", str(int(d.ewt_s)))
                    await self.control.redirect(call.caller_channel, "cti-announce", "s")
            case LimitAction():
                await self._limit(d, now)
            case Abandoned():
                await self.bus.publish(QueueLeft(ts=now, linkedid=d.call_id, queue=d.queue, reason="abandoned",
                                                 waited_s=d.wait_s))

    async def _limit(self, d: LimitAction, now: float) -> None:
        call = self.calls.get(d.call_id)
        if call is None:
            return
        waited = now - call.queued_at
        action = d.action.value
        if action == "queue":
            await self.bus.publish(QueueLeft(ts=now, linkedid=d.call_id, queue=d.queue, reason="overflow",
                                             waited_s=waited, target=d.target))
            call.queue = d.target or call.queue
            await self.bus.publish(QueueEntered(ts=now, linkedid=d.call_id, queue=call.queue,
                                                channel=call.caller_channel, priority=call.priority,
                                                skills=call.skills, customer_id=call.customer_id))
            return
        reason = {"voicemail": "voicemail", "callback": "callback"}.get(action, "timeout")
        await self.bus.publish(QueueLeft(ts=now, linkedid=d.call_id, queue=d.queue, reason=reason,
                                         waited_s=waited, target=d.target))
        self.calls.pop(d.call_id, None)
        if action == "voicemail":
            if d.target:
                await self.control.set_var(call.caller_channel, "CTI_MAILBOX", d.target)
            await self.control.redirect(call.caller_channel, "cti-voicemail", "s")
        elif action == "callback":
            await self.bus.publish(CallbackRequested(ts=now, linkedid=d.call_id, number=call.caller_number,
                                                     queue=d.queue, customer_id=call.customer_id))
            await self.control.hangup(call.caller_channel)
        else:
            await self.control.hangup(call.caller_channel)

    def _ring_done(self, task: asyncio.Task[None]) -> None:
        """A ring task's fault is logged here, never lost as "exception was never retrieved"."""
        self._tasks.discard(task)
        if not task.cancelled() and (err := task.exception()) is not None:
            log.error("acd: %s failed", task.get_name(), exc_info=err)

    async def _ring(self, call: LiveCall, offer: Offer) -> None:
        phone = self.phones.get(offer.agent_id) or AgentPhone(offer.agent_id)
        result = await self.control.originate(
            phone.dial, context="cti-agent-connect", exten="s",
            caller_id=f"<{call.caller_number}>" if call.caller_number else None,
            variables={"CTI_ANSWER_S": str(phone.answer_after_s), "CTI_LINKEDID": call.linkedid,
                       "CTI_CALLER": call.caller_channel},
            timeout_ms=int(offer.ring_timeout_s * 1000))
        if call.status != "ringing" or call.agent_id != offer.agent_id:
            if result.success and result.channel:  # answered after the offer was withdrawn
                await self.control.hangup(result.channel)
            return
        if result.success:
            call.agent_channel = result.channel
            try:
                await self._run(lambda now: self.router.offer_answered(call.linkedid, offer.agent_id, now))
            except StaleOffer:
                # The router moved on (ring backstop, caller gone) while the phone was answered.
                log.info("acd: agent %s answered call %s after its offer ended", offer.agent_id, call.linkedid)
                call.agent_channel = None
                if result.channel:
                    with contextlib.suppress(CtiError):
                        await self.control.hangup(result.channel, may_be_gone=True)
        else:
            await self.bus.publish(AgentRingNoAnswer(ts=self.clock(), linkedid=call.linkedid,
                                                     agent_id=offer.agent_id, queue=offer.queue))
            await self.bus.publish(AgentOfferWithdrawn(ts=self.clock(), agent_id=offer.agent_id,
                                                       linkedid=call.linkedid, reason="no_answer"))
            await self._run(lambda now: self.router.offer_no_answer(call.linkedid, offer.agent_id, now))

    async def _hangup_ringing(self, agent_id: str) -> None:
        """Stop an agent's phone ringing; the originate then fails and its task ends."""
        phone = self.phones.get(agent_id)
        if phone is None:
            return
        for name in list(self.live_channels()):
            if name.startswith(phone.channel_prefix):
                with contextlib.suppress(CtiError):
                    await self.control.hangup(name, may_be_gone=True)

    async def _call_update(self, call: LiveCall, status: str) -> None:
        if call.agent_id is None:
            return
        await self.bus.publish(AgentCallUpdate(
            ts=self.clock(), agent_id=call.agent_id, linkedid=call.linkedid, status=status,
            direction=call.direction, peer_number=call.caller_number, customer_id=call.customer_id,
            queue=call.queue or None, started_at=call.answered_at or call.queued_at,
            detail=call_detail(call)))


def call_detail(call: LiveCall) -> dict[str, Any] | None:
    """The console's ``detail`` of a call: IVR attributes, an outbound call's far-end result."""
    detail: dict[str, Any] = {}
    if call.attributes:
        detail["attributes"] = call.attributes
    if call.far_end is not None:
        detail["far_end"] = call.far_end
    return detail or None
