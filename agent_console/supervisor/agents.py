"""Agent time as the supervisor sees it: when each agent entered its state, and logged-in /
available-idle / handle seconds per 15-minute bucket (for occupancy and utilization).

Pure and synchronous: ``changed(agent, state, since, phone_reachable, reason=...)`` is fed from
``agent.state_changed`` events, ``phone(agent, reachable, at)`` from ``agent.phone_reachability``;
``times(now)`` closes the open periods at ``now``; ``window(now, since)`` gives the time of exactly
``[since, now)`` (the wallboard's rolling window: a window starting inside a 15-minute bucket counts
none of the bucket's time before it), from the periods it keeps whole for ``exact_s``. An available
agent whose phone is unreachable
(``phone_offline``: the router offers them nothing) is logged in but not available idle. An agent not
ready ``outbound`` is on their own outbound call (acd.dial_readiness): handling, as on call and in
wrap-up; every other not-ready reason is only logged-in time. The
supervisor service rebuilds it from the recorded history (``crm_core.agent_log``) at start-up and
for past report intervals.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field

from acd.dial_readiness import OUTBOUND
from acd.kpis import AgentTime
from acd.model import PHONE_OFFLINE

log = logging.getLogger(__name__)

BUCKET_S = 900.0  # 15 min: every report interval (15 m, 30 m, 60 m, day, week) is a whole number of them
# Where the time of an agent not ready "outbound" counts: on their own outbound call (its talk and
# hold; its after-call work is the wrap_up state), handling time as an inbound call's is.
OWN_CALL = "own_call"
HANDLE_STATES = frozenset({"on_call", "wrap_up", OWN_CALL})  # talk + hold + after-call work (docs/kpis.md)
IDLE_STATES = frozenset({"available"})  # and reachable: PHONE_OFFLINE time is only logged-in time


def counted_state(state: str, phone_reachable: bool, reason: str | None = None) -> str:
    """Where the agent's time counts: the state, except ``PHONE_OFFLINE`` for an available agent
    whose phone is unreachable (as ``AgentView.counted_state``) and ``OWN_CALL`` for one not ready
    ``outbound``."""
    if state == "available" and not phone_reachable:
        return PHONE_OFFLINE
    if state == "not_ready" and reason == OUTBOUND:
        return OWN_CALL
    return state


@dataclass(slots=True)
class _Buckets:
    logged_in: dict[float, float] = field(default_factory=dict)
    idle: dict[float, float] = field(default_factory=dict)
    handle: dict[float, float] = field(default_factory=dict)


def _spread(into: dict[float, float], start: float, end: float) -> None:
    """Add [start, end) to ``into``, split on bucket boundaries (aligned on the epoch, i.e. UTC)."""
    t = start
    while t < end:
        b = t - t % BUCKET_S
        stop = min(end, b + BUCKET_S)
        into[b] = into.get(b, 0.0) + (stop - t)
        t = stop


class AgentClock:
    """Per agent: current state and since when, and the time spent per state class (per 15-minute
    bucket for ``keep_s``; period by period, for exact windows, for ``exact_s``)."""

    def __init__(self, *, keep_s: float = 8 * 86400.0, exact_s: float = 2 * 3600.0) -> None:
        self._state: dict[str, tuple[str, float]] = {}  # the ACD state and since when (time in state)
        self._reachable: dict[str, bool] = {}  # whether the agent's phone is registered (absent: yes)
        self._reason: dict[str, str | None] = {}  # the not-ready reason of the current state
        self._open: dict[str, tuple[str, float]] = {}  # the counted state not yet accounted, since when
        self._buckets: dict[str, _Buckets] = {}
        self._keep_s = keep_s
        # Closed periods (counted state, start, end) of the last ``exact_s``, per agent, oldest first.
        self._periods: dict[str, deque[tuple[str, float, float]]] = {}
        self._exact_s = exact_s
        self._latest = float("-inf")  # the latest end of a closed period
        self._kept_from = float("-inf")  # every period ending after this is kept
        self._warned_from: float | None = None  # the ``_kept_from`` a future-dated period was logged for

    def seed(self, agent_id: str, state: str, since: float, phone_reachable: bool = True, *,
             reason: str | None = None) -> None:
        """An agent already in ``state`` when the clock started (no time before ``since`` is counted)."""
        if agent_id not in self._state:
            self._state[agent_id] = (state, since)
            self._reachable[agent_id] = phone_reachable
            self._reason[agent_id] = reason
            self._recount(agent_id, since)

    def changed(self, agent_id: str, state: str, since: float, phone_reachable: bool | None = None, *,
                reason: str | None = None) -> None:
        """The agent entered ``state`` (with its not-ready ``reason``) at ``since``; ``phone_reachable``:
        its phone then, when known."""
        if phone_reachable is not None:
            self._reachable[agent_id] = phone_reachable
        self._reason[agent_id] = reason
        old = self._state.get(agent_id)
        # A new reason code in the same state: the time in state goes on.
        if old is None or old[0] != state or since < old[1]:
            self._state[agent_id] = (state, since)
        self._recount(agent_id, since)

    def phone(self, agent_id: str, reachable: bool, at: float) -> None:
        """The agent's phone became reachable or not at ``at`` (its state and reason unchanged)."""
        self._reachable[agent_id] = reachable
        self._recount(agent_id, at)

    def since(self, agent_id: str) -> float | None:
        cur = self._state.get(agent_id)
        return cur[1] if cur else None

    def _recount(self, agent_id: str, at: float) -> None:
        """Close the open period when where the agent counts changed at ``at``."""
        cur = self._state.get(agent_id)
        if cur is None:
            return  # a phone change before any state: kept for the first state
        counted = counted_state(cur[0], self._reachable.get(agent_id, True), self._reason.get(agent_id))
        open_ = self._open.get(agent_id)
        if open_ is not None:
            if open_[0] == counted and at >= open_[1]:
                return
            # An earlier time (the recorded history replayed over the clock seeded at start-up)
            # takes the period back to it, as it does the time in state.
            self._account(agent_id, open_[0], open_[1], max(open_[1], at))
        self._open[agent_id] = (counted, at)

    def _account(self, agent_id: str, state: str, start: float, end: float) -> None:
        if state == "logged_out" or end <= start:
            return
        self._keep_period(agent_id, state, start, end)
        b = self._buckets.setdefault(agent_id, _Buckets())
        _spread(b.logged_in, start, end)
        if state in IDLE_STATES:
            _spread(b.idle, start, end)
        elif state in HANDLE_STATES:
            _spread(b.handle, start, end)

    def _keep_period(self, agent_id: str, state: str, start: float, end: float) -> None:
        periods = self._periods.setdefault(agent_id, deque())
        periods.append((state, start, end))
        if end > self._latest:
            self._latest = end
            self._kept_from = max(self._kept_from, end - self._exact_s)
        # Mostly in time order; one replayed out of order stays a while, and ``window`` clips it.
        while periods and periods[0][2] <= self._kept_from:
            periods.popleft()

    def window(self, now: float, since: float) -> list[AgentTime]:
        """AgentTime per agent of exactly ``[since, now)`` (at ``since``; agents not logged in then
        left out). ValueError when ``since`` is older than ``now - exact_s``."""
        if since < now - self._exact_s:
            raise ValueError(f"agent periods are kept for exact_s={self._exact_s:g} s: none before "
                             f"{now - self._exact_s:.0f}, asked from {since:.0f}")
        if since < self._kept_from:
            # A period ending after ``now`` (a state change dated ahead: another node's clock, a bad
            # timestamp) moved what is kept past ``since``: the window starts where the periods do.
            if self._warned_from != self._kept_from:
                self._warned_from = self._kept_from
                log.warning("agent time: a state change dated %.0f s in the future; the wallboard's window "
                            "counts from %.0f, not %.0f", self._latest - now, self._kept_from, since)
            since = self._kept_from
        out: list[AgentTime] = []
        for agent_id in sorted(set(self._periods) | set(self._open)):
            totals = {"logged_in": 0.0, "idle": 0.0, "handle": 0.0}
            spans = list(self._periods.get(agent_id, ()))
            cur = self._open.get(agent_id)
            if cur is not None:
                spans.append((cur[0], cur[1], now))
            for state, start, end in spans:
                part = min(end, now) - max(start, since)
                if state == "logged_out" or part <= 0:
                    continue
                totals["logged_in"] += part
                if state in IDLE_STATES:
                    totals["idle"] += part
                elif state in HANDLE_STATES:
                    totals["handle"] += part
            if totals["logged_in"] > 0:
                out.append(AgentTime(agent=agent_id, at=since, logged_in_s=totals["logged_in"],
                                     available_idle_s=totals["idle"], handle_s=totals["handle"]))
        return out

    def times(self, now: float, since: float = 0.0) -> list[AgentTime]:
        """AgentTime per agent and 15-minute bucket from ``since`` to ``now`` (open periods included)."""
        horizon = now - self._keep_s
        out: list[AgentTime] = []
        for agent_id in set(self._buckets) | set(self._state):
            b = self._buckets.get(agent_id, _Buckets())
            for d in (b.logged_in, b.idle, b.handle):
                for k in [k for k in d if k < horizon]:
                    del d[k]
            extra = _Buckets()
            cur = self._open.get(agent_id)
            if cur is not None and cur[0] != "logged_out" and now > cur[1]:
                _spread(extra.logged_in, cur[1], now)
                if cur[0] in IDLE_STATES:
                    _spread(extra.idle, cur[1], now)
                elif cur[0] in HANDLE_STATES:
                    _spread(extra.handle, cur[1], now)
            for k in sorted(set(b.logged_in) | set(extra.logged_in)):
                if k + BUCKET_S <= since:
                    continue
                out.append(AgentTime(agent=agent_id, at=k,
                                     logged_in_s=b.logged_in.get(k, 0.0) + extra.logged_in.get(k, 0.0),
                                     available_idle_s=b.idle.get(k, 0.0) + extra.idle.get(k, 0.0),
                                     handle_s=b.handle.get(k, 0.0) + extra.handle.get(k, 0.0)))
        return out
