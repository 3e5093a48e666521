"""What the router knows, and what may be read of it without changing it.

``RoutingState`` holds the router's state: the queues and their statistics, the agents and the
calls, and the parts that index them (``AgentIndex``: idle agents per queue; ``WaitingCalls``:
waiting calls per queue; ``Timers``). It answers the read-only queries (agent and call views, the
waiting lists, positions and estimated waits, queue snapshots) and the lookups every event starts
with. The steps that change the state are ``acd.routing_steps``'; the events, ``acd.routing.Router``.
Pure like the router: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from acd.agent_index import AgentIndex
from acd.decisions import Decision
from acd.errors import InvalidRequest, UnknownAgent, UnknownCall, UnknownQueue
from acd.model import (
    MAX_LEVEL,
    MIN_LEVEL,
    Agent,
    AgentState,
    AgentView,
    CallState,
    CallView,
    QueueConfig,
    QueuedCall,
    Requirement,
)
from acd.stats import QueueSnapshot, QueueStats, WaitingCall
from acd.timers import Timers
from acd.waiting import WaitingCalls


class RoutingState:
    """The state of the router (``acd.routing.Router``) for a set of queues, and its read-only views."""

    def __init__(self, queues: Iterable[QueueConfig]) -> None:
        self._queues: dict[str, QueueConfig] = {q.name: q for q in queues}
        self._stats = {n: QueueStats(q.service_level_s, q.short_abandon_s) for n, q in self._queues.items()}
        self._uncounted = QueueStats()  # where the figures of calls no statistic sees go (consultations)
        self._members: dict[str, set[str]] = {n: set() for n in self._queues}
        # queue -> {number of queues an agent serves: serving agents with that many}: see _servers
        self._serving: dict[str, dict[int, int]] = {n: {} for n in self._queues}
        self._rr_last: dict[str, int] = dict.fromkeys(self._queues, -1)  # rank of the agent last offered
        self._by_rank: list[Agent] = []
        self._agents: dict[str, Agent] = {}
        self._calls: dict[str, QueuedCall] = {}
        self._idle = AgentIndex(self._queues.values(), self._agents, self._by_rank, self._members, self._rr_last)
        self._wait = WaitingCalls(self._queues, self._calls)
        self._timers = Timers()
        self._seq = 0
        self._now = float("-inf")
        self._carry: list[Decision] = []  # timer decisions of a refused call, returned by the next one
        self._current: list[Decision] = []
        self._offers_held = False  # hold_offers

    # ---- queries ------------------------------------------------------------------------------

    def agent(self, agent_id: str) -> AgentView:
        a = self._agent(agent_id)
        return AgentView(
            a.agent_id, a.state, a.reason, dict(a.skills), a.capacity, a.queues, a.registered, a.idle_since,
            a.not_ready_after_call, tuple(sorted(a.offers)), tuple(sorted(a.calls)),
            a.wrap_until if a.state is AgentState.WRAP_UP else None, a.state_since,
        )

    def agent_queues(self, agent_id: str) -> tuple[tuple[str, ...], str | None]:
        """(queues, not_ready_after_call) of the agent: what a published state change carries, without
        building the whole view (its skills copied, its offers and calls sorted) several times per call."""
        a = self._agent(agent_id)
        return a.queues, a.not_ready_after_call

    def agents(self) -> list[AgentView]:
        return [self.agent(a) for a in self._agents]

    def call(self, call_id: str) -> CallView:
        c = self._call(call_id)
        return CallView(
            c.call_id, c.queue, c.state, c.priority, c.enqueued_at, c.entered_queue_at, c.step, c.need,
            c.preferred_agent, c.pref_active, c.agent_id, c.pinned, c.virtual, c.parked,
        )

    def calls(self) -> list[CallView]:
        return [self.call(c) for c in self._calls]

    def next_due(self) -> float | None:
        """When the earliest timer falls due (the adapter may sleep until then and ``tick``)."""
        return self._timers.next_due()

    def first_need(self, queue: str, skills: Mapping[str, int] | None) -> Requirement:
        """What a call with ``skills`` entering ``queue`` asks of an agent before any step widens it."""
        return self._queue(queue).steps[0].requirement(skills)

    def has_queue(self, name: str) -> bool:
        return name in self._queues

    def queue_names(self) -> list[str]:
        """The configured queues' names (no figures computed: see ``queue_snapshots``)."""
        return list(self._queues)

    def waiting(self, queue: str) -> list[str]:
        """Waiting call ids of ``queue``, next first."""
        self._queue(queue)
        return sorted(self._wait.ids(queue), key=lambda c: self._calls[c].order)

    def position(self, call_id: str) -> tuple[int, float]:
        """(position, estimated wait in seconds) of a waiting call; position 1 is next."""
        call = self._call(call_id)
        order = call.order
        pos = 1 + sum(1 for c in self._wait.ids(call.queue) if self._calls[c].order < order)
        return pos, self._stats[call.queue].estimated_wait(pos, self._servers(call.queue))

    def estimates(self, queue: str) -> dict[str, float]:
        """Estimated wait of every call waiting in ``queue`` (one sort, not one scan per call)."""
        servers = self._servers(queue)
        stats = self._stats[queue]
        return {c: stats.estimated_wait(pos, servers) for pos, c in enumerate(self.waiting(queue), 1)}

    def estimate(self, call_id: str) -> tuple[int, float, float, float]:
        """(position, estimated wait, low, high): the estimate and the range its known error allows."""
        pos, ewt = self.position(call_id)
        low, high = self._stats[self._call(call_id).queue].ewt_range(ewt)
        return pos, ewt, low, high

    def queue_snapshot(self, queue: str, now: float) -> QueueSnapshot:
        self._queue(queue)
        calls = [c for c in self._calls.values() if c.queue == queue and c.counted]
        waiting = [c for c in calls if c.state is CallState.WAITING and not c.virtual]
        members = [self._agents[a] for a in self._members[queue]]
        return self._stats[queue].snapshot(
            queue,
            waiting=len(waiting),
            virtual=sum(1 for c in calls if c.virtual),
            ringing=sum(1 for c in calls if c.state is CallState.RINGING),
            connected=sum(1 for c in calls if c.state is CallState.CONNECTED),
            # The caller's wait since it first queued (docs/kpis.md): an overflow does not start it again;
            # being put back after a lost agent's talk does.
            longest_wait_s=max((now - c.wait_start for c in waiting), default=0.0),
            agents_logged_in=len(members),
            # Available is what could be offered a call: an agent whose phone is unreachable is not.
            agents_available=sum(1 for a in members if a.state is AgentState.AVAILABLE and a.registered),
        )

    def waiting_calls(self, now: float) -> list[WaitingCall]:
        """The callers waiting now, queue by queue (configured order), next first: the calls that
        ``queue_snapshot`` counts waiting, and the virtual-hold entries keeping their place."""
        by_queue: dict[str, list[QueuedCall]] = {q: [] for q in self._queues}
        for c in self._calls.values():
            if c.state is CallState.WAITING and c.counted:  # not an agent consulting a colleague
                by_queue[c.queue].append(c)
        return [WaitingCall(c.call_id, queue, pos, c.priority, c.wait_start, now - c.wait_start, c.virtual)
                for queue, calls in by_queue.items()
                for pos, c in enumerate(sorted(calls, key=lambda c: c.order), 1)]

    def queue_snapshots(self, now: float) -> list[QueueSnapshot]:
        return [self.queue_snapshot(q, now) for q in self._queues]

    # ---- lookups ------------------------------------------------------------------------------

    def _stats_of(self, call: QueuedCall) -> QueueStats:
        return self._stats[call.queue] if call.counted else self._uncounted

    def _offered_stats_of(self, call: QueuedCall) -> QueueStats:
        """Where the call's figures as an offered call go (entered, answered, abandoned, limits, moves,
        its estimate checked): nowhere for a call the queue settled already (``QueuedCall.settled``)."""
        return self._stats[call.queue] if call.counted and not call.settled else self._uncounted

    def _servers(self, queue: str) -> float:
        """The agents serving ``queue``: ready or working (busy agents come back after their handle
        time, which the AHT includes), each shared equally among the queues it serves. Kept up to
        date on every state change, so an estimate costs no scan of the queue's agents."""
        return sum(n / k for k, n in self._serving[queue].items())

    @staticmethod
    def _is_serving(agent: Agent) -> bool:
        return agent.registered and agent.state not in (AgentState.NOT_READY, AgentState.LOGGED_OUT)

    def _serving_changed(self, agent: Agent, was: bool) -> None:
        now_serving = self._is_serving(agent)
        if now_serving is was or not agent.queues:
            return
        k, step = len(agent.queues), 1 if now_serving else -1
        for q in agent.queues:
            counts = self._serving[q]
            counts[k] = counts.get(k, 0) + step

    def _agent(self, agent_id: str) -> Agent:
        try:
            return self._agents[agent_id]
        except KeyError:
            raise UnknownAgent(f"no agent {agent_id}") from None

    def _call(self, call_id: str) -> QueuedCall:
        try:
            return self._calls[call_id]
        except KeyError:
            raise UnknownCall(f"no call {call_id} in the ACD") from None

    def _queue(self, name: str) -> QueueConfig:
        try:
            return self._queues[name]
        except KeyError:
            raise UnknownQueue(f"no queue {name!r}") from None

    @staticmethod
    def _check_skills(skills: Mapping[str, int]) -> None:
        for skill, level in skills.items():
            if not MIN_LEVEL <= level <= MAX_LEVEL:
                raise InvalidRequest(f"skills.{skill}", f"level {level} is outside {MIN_LEVEL}..{MAX_LEVEL}")
