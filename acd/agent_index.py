"""The available-agent index: per queue, the idle agents in idle order, and the strategy's pick.

A dict keeps insertion order and agents enter it when they become idle, so the head of a list is
the longest idle. Each queue has a list of all its idle agents and one per requirement its calls
have asked for, so the longest-idle qualified agent is the head of a list and most-skilled / round
robin look only at qualified agents. The router owns the agents, their queue membership and the
round-robin turn; the index reads them and owns only its lists.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence, Set

from acd.model import MAX_LEVEL, MIN_LEVEL, Agent, QueueConfig, QueuedCall, Requirement, Strategy

_RR_SCAN_MAX = 8  # round robin: up to this many candidates, scan them rather than walk the ranks


class _QueueIndex:
    """Available agents of one queue in idle order: all of them, and those meeting each requirement
    the queue's calls have asked for (built on first use, then kept up to date)."""

    __slots__ = ("any", "by")

    def __init__(self) -> None:
        self.any: dict[str, None] = {}
        self.by: dict[Requirement, dict[str, None]] = {}


class AgentIndex:
    """Idle, eligible agents per queue; ``insert`` / ``delete`` keep it, ``pick`` chooses from it.

    The caller keeps ``Agent.indexed`` and inserts an agent only when it is not in the index.
    """

    def __init__(
        self, queues: Iterable[QueueConfig], agents: Mapping[str, Agent], by_rank: Sequence[Agent],
        members: Mapping[str, Set[str]], rr_last: Mapping[str, int],
    ) -> None:
        self._agents = agents
        self._by_rank = by_rank  # login order
        self._members = members
        self._rr_last = rr_last  # queue -> rank of the agent last offered a call (round robin)
        self._index: dict[str, _QueueIndex] = {}
        # round-robin queues: login ranks of their idle agents, sorted
        self._rr_idle: dict[str, list[int]] = {}
        for q in queues:
            index = self._index[q.name] = _QueueIndex()
            levels = range(MIN_LEVEL, MAX_LEVEL + 1) if q.strategy is Strategy.MOST_SKILLED else None
            for step in q.steps:
                for skill, level in step.skills.items():
                    for lvl in levels or (level,):
                        index.by[((skill, lvl),)] = {}
            if q.strategy is Strategy.ROUND_ROBIN:
                self._rr_idle[q.name] = []
        self._slots: dict[str, list[dict[str, None]]] = {}  # agent -> the index lists it sits in when idle
        self._newest_idle: tuple[float, int] = (float("-inf"), 0)

    def forget_lists(self, agent_id: str) -> None:
        """The agent's skills or queues changed: find its lists again when it is next inserted."""
        self._slots.pop(agent_id, None)

    def pick(self, call: QueuedCall, cfg: QueueConfig) -> Agent | None:
        """The agent the queue's strategy picks among indexed (idle, eligible) agents that qualify."""
        index = self._index[cfg.name]
        need = call.need
        if not need:
            candidates = index.any
        else:
            found = index.by.get(need)
            candidates = found if found is not None else self._add_list(cfg.name, need)
        if not candidates:
            return None
        # every candidate meets the requirement, and they come longest idle first
        agents = self._agents
        strategy = cfg.strategy
        best: Agent | None = None
        if strategy is Strategy.LONGEST_IDLE:
            return agents[next(iter(candidates))]
        if strategy is Strategy.ROUND_ROBIN:
            if len(candidates) > _RR_SCAN_MAX:  # qualifying agents are dense: walk the ranks
                return self._next_in_turn(cfg.name, need)
            rr_last = self._rr_last[cfg.name]
            for agent_id in candidates:  # few candidates: the one next in turn among them
                agent = agents[agent_id]
                if best is None or (agent.rank <= rr_last, agent.rank) < (best.rank <= rr_last, best.rank):
                    best = agent
            return best
        scored = [s for s, _ in cfg.steps[0].requirement(call.skills)] or [s for s, _ in need]
        if len(scored) == 1 and len(need) <= 1 and (not need or need[0][0] == scored[0]):
            # Only that skill matters: the first agent of the top non-empty level list (idle order)
            # has exactly that level, as the level above is empty.
            skill = scored[0]
            floor = need[0][1] if need else MIN_LEVEL
            for level in range(MAX_LEVEL, floor - 1, -1):
                top = index.by.get(((skill, level),))
                if top is None:
                    top = self._add_list(cfg.name, ((skill, level),))
                if top:
                    return agents[next(iter(top))]
            # Nobody has the skill; a widened step lets anyone in the queue take it: longest idle.
            return agents[next(iter(candidates))]
        best_score = 0
        for agent_id in candidates:  # idle order: on equal scores the longest idle wins
            skills = agents[agent_id].skills
            score = 0
            for skill in scored:
                score += skills.get(skill, 0)
            if best is None or score > best_score:
                best, best_score = agents[agent_id], score
        return best

    def _next_in_turn(self, queue: str, need: Requirement) -> Agent | None:
        """Round robin: the first qualifying idle agent after the last one offered, in login order."""
        ranks = self._rr_idle[queue]
        start = bisect.bisect_right(ranks, self._rr_last[queue])
        by_rank = self._by_rank
        for i in range(len(ranks)):
            agent: Agent = by_rank[ranks[(start + i) % len(ranks)]]
            if agent.meets(need):
                return agent
        return None

    def insert(self, agent: Agent) -> None:
        agent_id = agent.agent_id
        slots = self._slots.get(agent_id)
        if slots is None:
            slots = self._slots[agent_id] = self._lists_of(agent)
        if agent.idle_key >= self._newest_idle:  # the usual case: appending keeps every list in order
            self._newest_idle = agent.idle_key
            for lst in slots:
                lst[agent_id] = None
        else:  # a returning agent (skills changed, phone re-registered) keeps its seniority
            for lst in slots:
                self._ordered_put(lst, agent)
        for q in agent.queues:
            ranks = self._rr_idle.get(q)
            if ranks is not None:
                bisect.insort(ranks, agent.rank)

    def delete(self, agent: Agent) -> None:
        agent_id = agent.agent_id
        for lst in self._slots.get(agent_id, ()):
            lst.pop(agent_id, None)
        for q in agent.queues:
            ranks = self._rr_idle.get(q)
            if ranks is not None:
                i = bisect.bisect_left(ranks, agent.rank)
                if i < len(ranks) and ranks[i] == agent.rank:
                    del ranks[i]

    def _lists_of(self, agent: Agent) -> list[dict[str, None]]:
        """The index lists ``agent`` belongs to while idle: per queue, all, and each (skill, level) list
        of that queue it qualifies for."""
        lists: list[dict[str, None]] = []
        skills = agent.skills
        for q in agent.queues:
            index = self._index[q]
            lists.append(index.any)
            for need, lst in index.by.items():
                for skill, level in need:
                    if skills.get(skill, 0) < level:
                        break
                else:
                    lists.append(lst)
        return lists

    def _add_list(self, queue: str, need: Requirement) -> dict[str, None]:
        """The list of a requirement a queue's calls ask for the first time: built once from its idle
        agents, then kept up to date. A queue holds one list per requirement its steps and its calls'
        skills produce (a handful), so an offer for any call starts at a qualified agent.
        """
        agents = self._agents
        lst = {a: None for a in self._index[queue].any if agents[a].meets(need)}
        self._index[queue].by[need] = lst
        for agent_id in self._members[queue]:
            if not agents[agent_id].indexed:
                self._slots.pop(agent_id, None)  # rebuilt with the new list when next indexed
        for agent_id in lst:
            self._slots[agent_id].append(lst)
        return lst

    def _ordered_put(self, lst: dict[str, None], agent: Agent) -> None:
        later = bool(lst) and self._agents[next(reversed(lst))].idle_key > agent.idle_key
        lst[agent.agent_id] = None
        if later:
            ordered = sorted(lst, key=lambda a: self._agents[a].idle_key)
            lst.clear()
            lst.update(dict.fromkeys(ordered))
