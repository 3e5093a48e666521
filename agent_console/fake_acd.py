"""The fake desk's world (``agent_console.fakes.FakeDesk`` is built on it): the agents' states (the
ACD's own machine, acd.model), their calls and offers, and the simulated ACD and phones that act on
them without the agent (``offer_call``, ``answer``, ``caller_hangs_up``, ``withdraw``). The agent's
own actions (the AgentDesk port) are FakeDesk's."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from acd.errors import IllegalTransition
from acd.events import AgentCallUpdate, AgentOffer, AgentOfferWithdrawn, AgentStateChanged
from acd.model import AgentEvent, AgentState, next_agent_state
from agent_console.errors import IllegalAgentAction
from agent_console.fakecrm import FakeCrm
from agent_console.views import CallView, OfferView, Pop
from cti.bus import EventBus
from cti.tasks import TaskSet

log = logging.getLogger(__name__)

# The agent's states and legal steps are the ACD's own (acd.model.AGENT_TRANSITIONS): the fake plays
# the router's part, it does not keep a second state machine. Console actions map to its events.
_EVENTS: dict[str, AgentEvent] = {
    "login": AgentEvent.LOGIN, "logout": AgentEvent.LOGOUT, "ready": AgentEvent.READY,
    "not_ready": AgentEvent.NOT_READY, "offer": AgentEvent.OFFER, "withdraw": AgentEvent.CANCEL,
    "connect": AgentEvent.ANSWER, "end": AgentEvent.END, "wrapped": AgentEvent.WRAP_DONE,
}
# Repeating what already holds is not a step (logging in again, "ready" while ready).
_ALREADY = {("login", AgentState.NOT_READY), ("login", AgentState.AVAILABLE), ("ready", AgentState.AVAILABLE)}


@dataclass
class CallRecord:
    call_id: str
    agent_id: str
    status: str
    direction: str
    peer_number: str
    customer_id: int | None
    queue: str | None
    started_at: float
    detail: dict[str, Any] | None = None

    def view(self) -> CallView:
        return CallView(call_id=self.call_id, status=self.status, direction=self.direction,
                        peer_number=self.peer_number, customer_id=self.customer_id, queue=self.queue,
                        started_at=self.started_at, detail=self.detail)


@dataclass
class AgentRecord:
    agent_id: str
    state: AgentState = AgentState.LOGGED_OUT
    reason: str | None = None
    since: float = 0.0
    queues: list[str] = field(default_factory=list)
    after_call: str | None = None
    offer: OfferView | None = None


@dataclass
class FakeAcd:
    """The ACD + telephony side of the fake desk, in memory: ``offer_call`` plays the ACD choosing an agent."""

    bus: EventBus
    crm: FakeCrm | None = None
    queues: tuple[str, ...] = ("support", "sales", "billing")
    # Each agent's skills, which name the queues it may log in to (policy.queues_open_to); None:
    # every agent may log in to every queue (the demo's agents are skilled for all of them).
    agent_skills: dict[str, dict[str, int]] | None = None
    answer_after_s: float | None = 1.0  # the simulated phone answers after this; None: never
    clock: Any = time.time
    agents: dict[str, AgentRecord] = field(default_factory=dict)
    calls: dict[str, CallRecord] = field(default_factory=dict)
    wrapups: list[dict[str, Any]] = field(default_factory=list)
    actions: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # (action, agent, args)
    # Attended transfers to an agent: the consulted agent's leg of the call, by call id (the call
    # keeps its id for both agents, as the real ACD's consultation does, acd.consultations).
    consults: dict[str, CallRecord] = field(default_factory=dict)
    _seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _tasks: TaskSet = field(default_factory=lambda: TaskSet(log, "fake desk: %s failed"))

    # -- state machine --
    def _agent(self, agent_id: str) -> AgentRecord:
        if agent_id not in self.agents:
            self.agents[agent_id] = AgentRecord(agent_id, since=self.clock())
        return self.agents[agent_id]

    async def _step(self, agent_id: str, action: str, *, reason: str | None = None) -> None:
        a = self._agent(agent_id)
        if (action, a.state) not in _ALREADY:
            try:
                to = next_agent_state(agent_id, a.state, _EVENTS[action])
            except IllegalTransition:
                raise IllegalAgentAction(f"cannot {action.replace('_', ' ')} while "
                                         f"{a.state.value.replace('_', ' ')}") from None
            if to is not a.state or to is AgentState.NOT_READY:
                a.state, a.since = to, self.clock()
                a.reason = reason if to is AgentState.NOT_READY else None
        await self._publish_state(a)

    async def _publish_state(self, a: AgentRecord) -> None:
        await self.bus.publish(AgentStateChanged(ts=self.clock(), agent_id=a.agent_id, state=a.state.value,
                                                 reason=a.reason, since=a.since, queues=tuple(a.queues),
                                                 not_ready_after_call=a.after_call))

    def _calls_of(self, agent_id: str) -> list[CallRecord]:
        return [c for c in (*self.calls.values(), *self.consults.values()) if c.agent_id == agent_id]

    def _on_a_call(self, agent_id: str) -> bool:
        return any(c.status != "ended" for c in self._calls_of(agent_id))

    async def _call_update(self, call: CallRecord) -> None:
        await self.bus.publish(AgentCallUpdate(
            ts=self.clock(), agent_id=call.agent_id, linkedid=call.call_id, status=call.status,
            direction=call.direction, peer_number=call.peer_number, customer_id=call.customer_id, queue=call.queue,
            started_at=call.started_at, detail=call.detail))

    def _later(self, delay: float, coro_fn: Any, *args: Any) -> None:
        async def run() -> None:
            await asyncio.sleep(delay)
            try:
                await coro_fn(*args)
            except Exception:  # the simulated party acts on its own: log, never lose
                log.exception("fake desk timer failed")
        self._tasks.spawn(run(), "fake_desk.later")

    async def close(self) -> None:
        await self._tasks.stop()

    async def _end(self, call: CallRecord, status: str) -> None:
        call.status = status
        await self._call_update(call)
        a = self._agent(call.agent_id)
        own_call = call.direction == "outbound" and a.state is AgentState.NOT_READY and a.reason == "outbound"
        if a.state is AgentState.ON_CALL or own_call:  # as the real ACD: an own call's end is a wrap-up too
            await self._step(call.agent_id, "end")

    # -- the simulated ACD and phones --
    async def offer_call(self, agent_id: str, *, caller_number: str, customer_id: int | None = None,
                         queue: str = "support", waited_s: float = 12.0, skills: dict[str, int] | None = None,
                         ivr_path: list[dict[str, Any]] | None = None, intent: str | None = None,
                         pop: dict[str, Any] | None = None, campaign: str | None = None,
                         callback: bool = False) -> str:
        """Play the ACD: reserve the agent, ring their phone (publish the offer), answer later.
        ``campaign``: a person that outbound campaign reached (progressive, predictive); ``callback``:
        virtual hold's callback (the customer kept their place and answered the engine's call)."""
        a = self._agent(agent_id)
        call_id = f"call-{int(self.clock())}-{next(self._seq)}"
        await self._step(agent_id, "offer")
        if self.crm is not None:
            self.crm.ivr[call_id] = {"path": ivr_path or [], "intent": intent, "flow": "main"}
        call = CallRecord(call_id, agent_id, "ringing", "inbound", caller_number, customer_id, queue, self.clock(),
                          {"campaign": campaign} if campaign else {"callback": True} if callback else None)
        self.calls[call_id] = call
        a.offer = OfferView(call_id=call_id, queue=queue, caller_number=caller_number, offered_at=self.clock(),
                            campaign=campaign, callback=callback,
                            pop=Pop(call_id=call_id, caller_number=caller_number, complete=False))
        await self.bus.publish(AgentOffer(ts=self.clock(), agent_id=agent_id, linkedid=call_id, queue=queue,
                                          caller_number=caller_number, customer_id=customer_id, waited_s=waited_s,
                                          skills=skills or {"general": 1}, campaign=campaign, callback=callback,
                                          pop=pop))
        if self.answer_after_s is not None:
            self._later(self.answer_after_s, self._connect, call)
        return call_id

    async def answer(self, call_id: str) -> None:
        """The agent picked up the phone (tests drive this when ``answer_after_s`` is None)."""
        await self._connect(self.calls[call_id])

    async def caller_hangs_up(self, call_id: str) -> None:
        call = self.calls.get(call_id)
        if call is not None and call.status == "ringing":
            await self.withdraw(call_id, "caller_hangup")
            return
        for part in (call, self.consults.get(call_id)):  # the agent's, and a consulted agent's leg
            if part is not None and part.status != "ended":
                await self._end(part, "ended")

    async def withdraw(self, call_id: str, reason: str = "no_answer") -> None:
        call = self.calls.pop(call_id)
        a = self._agent(call.agent_id)
        a.offer = None
        await self.bus.publish(AgentOfferWithdrawn(ts=self.clock(), agent_id=call.agent_id, linkedid=call_id,
                                                   reason=reason))
        await self._step(call.agent_id, "withdraw")

    async def _connect(self, call: CallRecord) -> None:
        if self.calls.get(call.call_id) is not call or call.status != "ringing":
            return
        a = self._agent(call.agent_id)
        a.offer = None
        call.status = "talking"
        await self._call_update(call)
        if a.state is AgentState.RESERVED:  # an outbound call leaves the agent not ready "outbound"
            await self._step(call.agent_id, "connect")
