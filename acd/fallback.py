"""Asterisk's own app_queue as the fallback while no engine runs (docs/resilience.md).

Each engine queue whose ``fallback`` is ``app_queue`` has an app_queue queue of its own (queues.conf,
rendered by ``cti.pbx``). Nobody calls it while the engine runs; when the engine's heartbeat stops,
the dialplan sends waiting callers there. Its members must then be the agents who were logged in, on
their own phones: ``FallbackMembers`` keeps them so while the engine runs, from the ACD's
``AgentStateChanged``. At login the agent's phone joins, with the phone's device as the member's
state interface (with ``ringinuse = no`` app_queue never rings a phone the engine's calls keep
busy); it is paused while the agent is not ready, and it leaves at logout. Members left by an
earlier engine are taken as they are (``add`` answers False) or removed by ``reconcile`` at start.
Members are not persistent (queues.conf ``persistentmembers = no``): when AMI comes back (an
Asterisk restart forgot them, or actions failed while AMI was away) ``resync`` reads the queues and
carries out only the difference with the agents.

Per call an agent changes state four to six times (reserved, on call, wrap-up, available), and
none of those changes what app_queue must know. So the members follow the states as a bus observer
(``note``, a plain function called as each state is published): it works out the wanted
membership in memory and, only when that differs from what was last wanted, hands the agent to
one worker task that makes the PBX match the latest wanted membership. No task is woken for the
other states, and states published back to back (a login straight to ready: not ready, then
available) cost the PBX one action per queue, not two.

The PBX side is the ``FallbackQueues`` port: ``cti.ami.queue_members.AmiFallbackQueues`` over AMI,
``FakeFallbackQueues`` in memory for tests.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from acd.calls import AgentPhone
from acd.events import AgentStateChanged
from acd.model import AgentState, AgentView
from cti.bus import EventBus, observe
from cti.errors import AmiActionFailed, CtiError
from cti.safety import check_value

log = logging.getLogger(__name__)


class FallbackQueues(Protocol):
    """The members of the fallback queue of each engine queue (named by the engine queue).
    Raises CtiError when the PBX cannot be reached or refuses."""

    async def add(self, queue: str, interface: str, *, name: str, state_interface: str, paused: bool) -> bool:
        """Add a member; False when the interface is a member already (it is left as it is)."""

    async def remove(self, queue: str, interface: str) -> None:
        """Remove a member; one already gone is no error."""

    async def pause(self, queue: str, interface: str, paused: bool) -> None:
        """Pause or unpause a member; one already gone is no error."""

    async def members(self, queue: str) -> list[str]:
        """The members' interfaces."""


@dataclass(frozen=True, slots=True)
class _Member:
    interface: str
    paused: bool


class FallbackMembers:
    """Keeps each fallback queue's members equal to the agents logged in to the engine's queue."""

    def __init__(self, queues_port: FallbackQueues, bus: EventBus, phones: Mapping[str, AgentPhone],
                 queues: Iterable[str]) -> None:
        self.port, self.bus, self.phones = queues_port, bus, phones
        self.queues = frozenset(queues)
        self.members: dict[str, dict[str, _Member]] = {}  # agent -> queue -> member
        # Per agent, what decides its membership in the last state ``note`` handed over (logged out /
        # not ready / other, the state's queues, the phone), and the states still to carry out (the
        # latest per agent, in the order the agents changed) by the ``_sync`` task.
        self._wanted: dict[str, tuple[int, tuple[str, ...], AgentPhone | None]] = {}
        self._pending: dict[str, AgentStateChanged] = {}
        self._syncing: asyncio.Task[None] | None = None
        self._resyncing: asyncio.Task[None] | None = None
        self._resync_again = False

    def subscribe(self) -> None:
        if self.queues:
            observe(self.bus, AgentStateChanged, self.note, name="acd.fallback_members")

    def note(self, ev: AgentStateChanged) -> None:
        """The observer: hand the agent to the sync task only when its wanted membership changed."""
        agent = ev.agent_id
        wanted = self._wanted_of(ev)
        if self._wanted.get(agent) == wanted:
            return  # reserved, on call, wrap-up, available again: nothing for app_queue
        self._wanted[agent] = wanted
        self._pending.pop(agent, None)  # keep the order of the latest change
        self._pending[agent] = ev
        self._start_sync()

    def _start_sync(self) -> None:
        if self._syncing is None or self._syncing.done():
            self._syncing = asyncio.create_task(self._sync(), name="acd.fallback_sync")

    async def _sync_idle(self) -> None:
        """Until the sync task has carried out every change handed to it."""
        while self._syncing is not None and not self._syncing.done():
            await asyncio.shield(self._syncing)

    def _wanted_of(self, ev: AgentStateChanged) -> tuple[int, tuple[str, ...], AgentPhone | None]:
        state = ev.state
        return (0 if state == "logged_out" else 1 if state == "not_ready" else 2, ev.queues,
                self.phones.get(ev.agent_id))

    async def _sync(self) -> None:
        """Carry out the latest wanted membership of each agent handed over, until none is left."""
        pending = self._pending
        while pending:
            agent = next(iter(pending))
            ev = pending.pop(agent)
            try:
                done = await self._apply(ev)
            except Exception:
                log.exception("fallback queue members of agent %s not updated", agent)
                done = False
            if not done and agent not in pending:
                self._wanted.pop(agent, None)  # not carried out (AMI away): the next state change tries again

    def resync(self, agents: Callable[[], Iterable[AgentView]]) -> None:
        """AMI is back: what the PBX holds may not be what was carried out. A restarted Asterisk
        forgot every member; a logout whose removal failed meanwhile is still a member. Compare
        the fallback queues with the agents (``agents``: read when the queues have been read) and
        carry out only the difference (``_resync``)."""
        if not self.queues:
            return
        if self._resyncing is not None and not self._resyncing.done():
            self._resync_again = True  # AMI came back again meanwhile: one more pass after this one
            return
        self._resyncing = asyncio.create_task(self._resync(agents), name="acd.fallback_resync")

    async def _resync(self, agents: Callable[[], Iterable[AgentView]]) -> None:
        while True:
            self._resync_again = False
            try:
                await self._sync_idle()  # the changes noted before
                await self.reconcile(list(agents()))  # members nobody stands for, as at start
                present = {queue: set(await self.port.members(queue)) for queue in sorted(self.queues)}
            except CtiError as err:  # AMI away again: its next connection tries again
                log.warning("fallback queue members not compared after AMI came back: %s", err.message)
                return
            except Exception:
                log.exception("fallback queue members not compared after AMI came back")
                return
            await self._sync_idle()  # a change noted meanwhile
            # From here to the end of the pass nothing is awaited: no change is carried out between.
            old, self.members = self.members, {}
            for view in agents():
                if view.state is AgentState.LOGGED_OUT:
                    continue
                ev = AgentStateChanged(ts=time.time(), agent_id=view.agent_id, state=view.state.value,
                                       queues=view.queues)
                wanted, want = self._want(ev)
                known = old.get(view.agent_id, {})
                # In the PBX now: as last carried out, or (an earlier engine's member, or one whose
                # pause is not known) the opposite of what is wanted, so that its pause is set.
                have = {q: known.get(q) or _Member(want.interface, paused=not want.paused)
                        for q in wanted if want.interface in present[q]}
                if have:
                    self.members[view.agent_id] = have
                if set(have) != wanted or any(m != want for m in have.values()):
                    self._wanted[view.agent_id] = self._wanted_of(ev)
                    self._pending.pop(view.agent_id, None)
                    self._pending[view.agent_id] = ev
            if self._pending:
                self._start_sync()
            if not self._resync_again:
                return

    async def wait_synced(self) -> None:
        """Until every state noted so far is carried out (tests, shutdown)."""
        while True:
            running = [t for t in (self._resyncing, self._syncing) if t is not None and not t.done()]
            if not running:
                return
            await asyncio.shield(running[0])

    def _want(self, ev: AgentStateChanged) -> tuple[frozenset[str], _Member]:
        queues = frozenset() if ev.state == "logged_out" else frozenset(q for q in ev.queues if q in self.queues)
        phone = self.phones.get(ev.agent_id) or AgentPhone(ev.agent_id)
        return queues, _Member(phone.dial, paused=ev.state == "not_ready")

    async def on_state(self, ev: AgentStateChanged) -> None:
        """Make the PBX match this state now (what the sync task does with each state it is handed)."""
        await self._apply(ev)

    async def _apply(self, ev: AgentStateChanged) -> bool:
        agent = ev.agent_id
        wanted, want = self._want(ev)
        phone = self.phones.get(agent) or AgentPhone(agent)
        have = self.members.setdefault(agent, {})
        done = True
        try:
            for queue in sorted(set(have) - wanted):
                await self.port.remove(queue, have[queue].interface)
                del have[queue]
            for queue in sorted(wanted):
                old = have.get(queue)
                if old is not None and old.interface != want.interface:
                    await self.port.remove(queue, old.interface)
                    old = None
                if old is None:
                    added = await self.port.add(queue, want.interface, name=agent,
                                                state_interface=_state_interface(phone), paused=want.paused)
                    if not added:  # left by an earlier engine: take it as it is now
                        await self.port.pause(queue, want.interface, want.paused)
                elif old.paused != want.paused:
                    await self.port.pause(queue, want.interface, want.paused)
                have[queue] = want
        except CtiError as err:  # AMI away: the next state change (or the next start) puts it right
            log.warning("fallback queue members of agent %s not updated: %s", agent, err.message)
            done = False
        if not have:
            self.members.pop(agent, None)
        return done

    async def reconcile(self, agents: Iterable[AgentView]) -> list[str]:
        """Remove the members no logged-in agent stands for (left by an earlier engine for agents
        the recovery did not log in again); returns the interfaces removed."""
        agents = list(agents)
        removed: list[str] = []
        for queue in sorted(self.queues):
            try:
                present = await self.port.members(queue)
            except CtiError as err:
                log.warning("fallback queue of %s: %s", queue, err.message)
                continue
            ours = {(self.phones.get(a.agent_id) or AgentPhone(a.agent_id)).dial for a in agents
                    if queue in a.queues and a.state is not AgentState.LOGGED_OUT}
            for interface in present:
                if interface in ours:
                    continue
                try:
                    await self.port.remove(queue, interface)
                    removed.append(interface)
                except CtiError as err:
                    log.warning("fallback queue of %s: %s not removed: %s", queue, interface, err.message)
        return removed


def _state_interface(phone: AgentPhone) -> str:
    """The device whose state says the phone is busy: ``PJSIP/1001``, or the simulated phone's
    Local extension (Asterisk reports it in use while a Local channel to it is up)."""
    return phone.device if phone.registers else f"Local/{phone.extension}@cti-sim-phone"


@dataclass
class FakeFallbackQueues:
    """In-memory FallbackQueues for tests: checks values like the real one (cti.safety), keeps the
    members and records every call as (method, arguments)."""

    queues: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # queue -> interface -> member
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    fail: dict[str, str] = field(default_factory=dict)  # method name -> message of the AmiActionFailed it raises

    def _record(self, method: str, **kwargs: Any) -> None:
        for key, value in kwargs.items():
            if isinstance(value, str):
                check_value(key, value)
        self.calls.append((method, kwargs))
        if method in self.fail:
            raise AmiActionFailed(f"{method}: {self.fail[method]}")

    async def add(self, queue: str, interface: str, *, name: str, state_interface: str, paused: bool) -> bool:
        self._record("add", queue=queue, interface=interface, name=name, state_interface=state_interface,
                     paused=paused)
        members = self.queues.setdefault(queue, {})
        if interface in members:
            return False
        members[interface] = {"name": name, "state_interface": state_interface, "paused": paused}
        return True

    async def remove(self, queue: str, interface: str) -> None:
        self._record("remove", queue=queue, interface=interface)
        self.queues.get(queue, {}).pop(interface, None)

    async def pause(self, queue: str, interface: str, paused: bool) -> None:
        self._record("pause", queue=queue, interface=interface, paused=paused)
        member = self.queues.get(queue, {}).get(interface)
        if member is not None:
            member["paused"] = paused

    async def members(self, queue: str) -> list[str]:
        self._record("members", queue=queue)
        return list(self.queues.get(queue, {}))
