"""Asterisk's own app_queue as the fallback while no engine runs (docs/resilience.md).

Each engine queue whose ``fallback`` is ``app_queue`` has an app_queue queue ``cti-fallback-<queue>``
(queues.conf, rendered by ``cti.pbx``). Nobody calls it while the engine runs; when the engine's
heartbeat stops, the dialplan sends waiting callers there. Its members must then be the agents who
were logged in, on their own phones: this adapter keeps them so while the engine runs, from the
ACD's ``AgentStateChanged``. At login the agent's phone joins (``QueueAdd`` with the phone's device
as ``StateInterface``: with ``ringinuse = no`` app_queue never rings a phone the engine's calls keep
busy), it is paused while the agent is not ready, and it leaves at logout. Members left by an
earlier engine are taken as they are (``Already there``) or removed by ``reconcile`` at start.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from acd.calls import AgentPhone
from acd.events import AgentStateChanged
from acd.model import AgentState, AgentView
from cti.bus import EventBus
from cti.errors import CtiError

log = logging.getLogger(__name__)

PREFIX = "cti-fallback-"  # as cti.pbx names the queues
Send = Callable[..., Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class _Member:
    interface: str
    paused: bool


class FallbackMembers:
    """Keeps each fallback queue's members equal to the agents logged in to the engine's queue."""

    def __init__(self, send: Send, bus: EventBus, phones: Mapping[str, AgentPhone], queues: Iterable[str]) -> None:
        self._send, self.bus, self.phones = send, bus, phones
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
                await self._action("QueueRemove", {"Queue": PREFIX + queue, "Interface": have[queue].interface})
                del have[queue]
            for queue in sorted(wanted):
                old = have.get(queue)
                if old is not None and old.interface != want.interface:
                    await self._action("QueueRemove", {"Queue": PREFIX + queue, "Interface": old.interface})
                    old = None
                if old is None:
                    await self._add(queue, agent, phone, want)
                elif old.paused != want.paused:
                    await self._pause(queue, want)
                have[queue] = want
        except CtiError as err:  # AMI away: the next state change (or the next start) puts it right
            log.warning("fallback queue members of agent %s not updated: %s", agent, err.message)
        if not have:
            self.members.pop(agent, None)

    async def _add(self, queue: str, agent: str, phone: AgentPhone, member: _Member) -> None:
        try:
            await self._send("QueueAdd", {"Queue": PREFIX + queue, "Interface": member.interface, "MemberName": agent,
                                          "StateInterface": _state_interface(phone),
                                          "Paused": "true" if member.paused else "false"})
        except CtiError as err:
            if "already" not in err.message.lower():
                raise
            await self._pause(queue, member)  # left by an earlier engine: take it as it is now

    async def _pause(self, queue: str, member: _Member) -> None:
        await self._action("QueuePause", {"Queue": PREFIX + queue, "Interface": member.interface,
                                          "Paused": "true" if member.paused else "false"})

    async def _action(self, action: str, headers: dict[str, str]) -> None:
        try:
            await self._send(action, headers)
        except CtiError as err:
            if "not there" in err.message.lower() or "not found" in err.message.lower():
                return  # already gone (an Asterisk restart forgets dynamic members)
            raise

    async def reconcile(self, agents: Iterable[AgentView]) -> list[str]:
        """Remove the members no logged-in agent stands for (left by an earlier engine for agents
        the recovery did not log in again); returns the interfaces removed."""
        agents = list(agents)
        removed: list[str] = []
        for queue in sorted(self.queues):
            try:
                reply = await self._send("QueueStatus", {"Queue": PREFIX + queue}, expect="list")
            except CtiError as err:
                log.warning("fallback queue %s%s: %s", PREFIX, queue, err.message)
                continue
            ours = {(self.phones.get(a.agent_id) or AgentPhone(a.agent_id)).dial for a in agents
                    if queue in a.queues and a.state is not AgentState.LOGGED_OUT}
            for item in reply.items:
                interface = item.get("Location") or item.get("Interface") or ""
                if item.get("Event") == "QueueMember" and interface and interface not in ours:
                    try:
                        await self._action("QueueRemove", {"Queue": PREFIX + queue, "Interface": interface})
                        removed.append(interface)
                    except CtiError as err:
                        log.warning("fallback queue %s%s: %s not removed: %s", PREFIX, queue, interface, err.message)
        return removed


def _state_interface(phone: AgentPhone) -> str:
    """The device whose state says the phone is busy: ``PJSIP/1001``, or the simulated phone's
    Local extension (Asterisk reports it in use while a Local channel to it is up)."""
    return phone.device if phone.registers else f"Local/{phone.extension}@cti-sim-phone"
