"""Asterisk's own app_queue as the fallback while no engine runs (docs/resilience.md).

Each engine queue whose ``fallback`` is ``app_queue`` has an app_queue queue of its own (queues.conf,
rendered by ``cti.pbx``). Nobody calls it while the engine runs; when the engine's heartbeat stops,
the dialplan sends waiting callers there. Its members must then be the agents who were logged in, on
their own phones: ``FallbackMembers`` keeps them so while the engine runs, from the ACD's
``AgentStateChanged``. At login the agent's phone joins, with the phone's device as the member's
state interface (with ``ringinuse = no`` app_queue never rings a phone the engine's calls keep
busy); it is paused while the agent is not ready, and it leaves at logout. Members left by an
earlier engine are taken as they are (``add`` answers False) or removed by ``reconcile`` at start.

The PBX side is the ``FallbackQueues`` port: ``cti.ami.queue_members.AmiFallbackQueues`` over AMI,
``FakeFallbackQueues`` in memory for tests.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from acd.calls import AgentPhone
from acd.events import AgentStateChanged
from acd.model import AgentState, AgentView
from cti.bus import EventBus
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

    def subscribe(self) -> None:
        if self.queues:
            self.bus.subscribe(AgentStateChanged, self.on_state, name="acd.fallback_members")

    async def on_state(self, ev: AgentStateChanged) -> None:
        agent = ev.agent_id
        wanted = set() if ev.state == "logged_out" else {q for q in ev.queues if q in self.queues}
        phone = self.phones.get(agent) or AgentPhone(agent)
        want = _Member(phone.dial, paused=ev.state == "not_ready")
        have = self.members.setdefault(agent, {})
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
        if not have:
            self.members.pop(agent, None)

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
