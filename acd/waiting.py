"""The waiting calls: per queue, grouped by requirement (a heap per group), and the pick for an agent.

An agent that becomes free looks at the head of each group it qualifies for, not at every call.
Calls waiting for their preferred agent only sit in that agent's own groups. A heap entry carries
the call's ``token`` at insertion: an entry whose call moved on (offered, gone, regrouped) is void
and dropped when it reaches the head.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Iterable, Mapping

from acd.model import Agent, CallState, QueuedCall, Requirement

_HeapEntry = tuple[tuple[int, float, int], str, int]  # (call order, call id, token)


class _Heap(list[_HeapEntry]):
    """Waiting calls of one requirement group, next first; ``live`` counts those still in it, so a
    group all of whose calls moved on is emptied at once instead of popped entry by entry."""

    __slots__ = ("live",)

    def __init__(self) -> None:
        super().__init__()
        self.live = 0


class WaitingCalls:
    """Where each waiting call waits, per queue; the router owns the calls and reads them here."""

    def __init__(self, queues: Iterable[str], calls: Mapping[str, QueuedCall]) -> None:
        self._calls = calls
        names = list(queues)
        self._groups: dict[str, dict[Requirement, _Heap]] = {n: {} for n in names}
        # queue -> preferred agent -> requirement -> heap: calls waiting for that agent only
        self._pref_groups: dict[str, dict[str, dict[Requirement, _Heap]]] = {n: {} for n in names}
        self._group_of: dict[str, _Heap] = {}  # waiting call -> the group it is live in
        self._waiting: dict[str, dict[str, None]] = {n: {} for n in names}

    def ids(self, queue: str) -> Collection[str]:
        """Ids of the calls waiting in ``queue``, in no particular order."""
        return self._waiting[queue]

    def add(self, call: QueuedCall) -> None:
        """The call waits in its queue, in the group of its current requirement (it leaves any other)."""
        self.remove(call)  # a regrouped call (widened step, window closed) leaves its old group
        call.token += 1
        if call.pref_active:
            groups = self._pref_groups[call.queue].setdefault(call.preferred_agent or "", {})
        else:
            groups = self._groups[call.queue]
        heap = groups.get(call.need)
        if heap is None:
            heap = groups[call.need] = _Heap()
        heapq.heappush(heap, (call.order, call.call_id, call.token))
        heap.live += 1
        self._group_of[call.call_id] = heap
        self._waiting[call.queue][call.call_id] = None

    def remove(self, call: QueuedCall) -> None:
        """The call stops waiting where it waited (offered, gone, moved or regrouped)."""
        self._waiting[call.queue].pop(call.call_id, None)
        heap = self._group_of.pop(call.call_id, None)
        if heap is not None:
            heap.live -= 1
            if not heap.live:
                heap.clear()

    def pick(self, agent: Agent) -> QueuedCall | None:
        """Best waiting call for ``agent`` over its queues: priority, then oldest (fair across queues)."""
        best: QueuedCall | None = None
        for q in agent.queues:
            best = self._best_head(agent, self._groups[q], best)
            preferred = self._pref_groups[q].get(agent.agent_id)
            if preferred:
                best = self._best_head(agent, preferred, best)
        return best

    def _best_head(
        self, agent: Agent, groups: dict[Requirement, _Heap], best: QueuedCall | None,
    ) -> QueuedCall | None:
        for need, heap in list(groups.items()):
            if not agent.meets(need):
                continue
            head = self._head(heap)
            if head is None:
                del groups[need]
            elif best is None or head.order < best.order:
                best = head
        return best

    def _head(self, heap: _Heap) -> QueuedCall | None:
        calls = self._calls
        while heap:
            _, call_id, token = heap[0]
            call = calls.get(call_id)
            if call is not None and call.token == token and call.state is CallState.WAITING:
                return call
            heapq.heappop(heap)
        return None
