"""The two desks the conformance suite (test_desk_conformance.py) runs its scenarios on, and the
transcript it compares: ``FakeWorld`` (``agent_console.fakes.FakeDesk``) and ``RealWorld``
(``agent_console.desk.EngineDesk`` over the real ACD service and router, ``FakeCallControl`` for
Asterisk, a SQLite CRM), each with the real ``AgentHub`` that makes the console's view."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from agent_console.app import status_of
from agent_console.desk import EngineDesk
from agent_console.fakes import FakeDesk
from agent_console.hub import AgentHub
from agent_console.ports import AgentDesk
from agent_console.protocol import CallbackView, CallView, OfferView
from agent_console.service import ConsoleService
from crm_core.db import Database
from crm_core.models import Callback
from cti.ami.control import FakeCallControl, OriginateResult
from cti.bus import InProcessBus
from cti.errors import CtiError
from cti.journey import CallEnded, IvrFinished

QUEUES = ("support", "sales", "billing")
SKILLS = {"1001": {"support": 3, "sales": 3, "billing": 3}, "1002": {"support": 3}}
CALLER = "+8613800138000"


class World(Protocol):
    """A desk and the other side of it: callers, the callback book."""

    @property
    def desk(self) -> AgentDesk: ...

    @property
    def hub(self) -> AgentHub: ...

    async def call_in(self, agent_id: str, queue: str = "support") -> str:
        """A caller in ``queue`` offered to ``agent_id`` (the only one free for it), who answers."""

    async def offer(self, agent_id: str, queue: str = "support") -> str:
        """A caller in ``queue`` offered to ``agent_id``, whose phone rings until ``answer``."""

    async def answer(self, call_id: str) -> None: ...

    async def caller_hangs_up(self, call_id: str) -> None: ...

    async def add_callback(self, queue: str | None, agent_id: str | None = None) -> int: ...

    async def settle(self) -> None: ...


class Pops:
    async def build_pop(self, linkedid: str, agent_id: str, info: dict[str, Any]) -> dict[str, Any]:
        return {"caller_number": info.get("caller_number") or ""}


def console_hub(desk: AgentDesk, bus: InProcessBus) -> AgentHub:
    hub = AgentHub(desk=desk, pops=Pops(), service=ConsoleService(desk))
    hub.subscribe(bus)
    return hub


@dataclass
class FakeWorld:
    desk: FakeDesk
    hub: AgentHub
    bus: InProcessBus

    async def call_in(self, agent_id: str, queue: str = "support") -> str:
        call_id = await self.desk.offer_call(agent_id, caller_number=CALLER, queue=queue)
        await self.settle()
        await self.desk.answer(call_id)
        await self.settle()
        return call_id

    async def offer(self, agent_id: str, queue: str = "support") -> str:
        call_id = await self.desk.offer_call(agent_id, caller_number=CALLER, queue=queue)
        await self.settle()
        return call_id

    async def answer(self, call_id: str) -> None:
        await self.desk.answer(call_id)
        await self.settle()

    async def caller_hangs_up(self, call_id: str) -> None:
        await self.desk.caller_hangs_up(call_id)
        await self.settle()

    async def add_callback(self, queue: str | None, agent_id: str | None = None) -> int:
        return self.desk.add_callback("+8613800138001", queue=queue, agent_id=agent_id,
                                      due_at=time.time() - 60)

    async def settle(self) -> None:
        await self.bus.drain()
        await asyncio.sleep(0)


@dataclass
class RealWorld:
    desk: EngineDesk
    hub: AgentHub
    bus: InProcessBus
    db: Database
    calls: int = 0
    hung: int = 0  # FakeCallControl's hangups already turned into the call model's CallEnded

    async def call_in(self, agent_id: str, queue: str = "support") -> str:
        self.calls += 1
        linkedid = f"17000000{self.calls}.1"
        await self.bus.publish(IvrFinished(ts=time.time(), linkedid=linkedid, flow="main", outcome="queue",
                                           channel=f"PJSIP/trunk-{self.calls}", caller_number=CALLER, queue=queue))
        await self.bus.drain()
        call = self.desk.acd.calls[linkedid]
        assert call.ring_task is not None and call.agent_id == agent_id, call
        await call.ring_task  # FakeCallControl's Originate answers: the agent picked up
        await self.settle()
        return linkedid

    async def offer(self, agent_id: str, queue: str = "support") -> str:
        control = self.desk.acd.control
        assert isinstance(control, Pbx)
        self.calls += 1
        linkedid = f"17000000{self.calls}.1"
        control.ringing[linkedid] = asyncio.get_running_loop().create_future()
        await self.bus.publish(IvrFinished(ts=time.time(), linkedid=linkedid, flow="main", outcome="queue",
                                           channel=f"PJSIP/trunk-{self.calls}", caller_number=CALLER, queue=queue))
        await self.settle()
        assert self.desk.acd.calls[linkedid].agent_id == agent_id
        return linkedid

    async def answer(self, call_id: str) -> None:
        control = self.desk.acd.control
        assert isinstance(control, Pbx)
        control.ringing.pop(call_id).set_result(None)
        ring = self.desk.acd.calls[call_id].ring_task
        assert ring is not None
        await ring
        await self.settle()

    async def caller_hangs_up(self, call_id: str) -> None:
        await self.bus.publish(CallEnded(ts=time.time(), linkedid=call_id))
        await self.settle()

    async def add_callback(self, queue: str | None, agent_id: str | None = None) -> int:
        async with self.db.session() as s:
            cb = Callback(number="+8613800138001", queue=queue, agent_id=agent_id,
                          due_at=datetime.now(UTC) - timedelta(minutes=1))
            s.add(cb)
            await s.flush()
            return cb.id

    async def settle(self) -> None:
        """The bus delivered; a channel the desk hung up is gone at the PBX (the call model's CallEnded)."""
        await self.bus.drain()
        control = self.desk.acd.control
        assert isinstance(control, FakeCallControl)
        for hung in control.called("hangup")[self.hung:]:
            self.hung += 1
            ended = [c.linkedid for c in self.desk.acd.calls.values()
                     if hung["channel"] in (c.caller_channel, c.agent_channel)]
            for linkedid in ended:
                await self.bus.publish(CallEnded(ts=time.time(), linkedid=linkedid))
            await self.bus.drain()
        await asyncio.sleep(0)


class Pbx(FakeCallControl):
    """FakeCallControl whose every Originate is a new call (its own linkedid and channel), and whose
    agents' phones, while ``ringing`` holds their call, ring until the test answers."""

    def __init__(self) -> None:
        super().__init__()
        self.ringing: dict[str, asyncio.Future[None]] = {}  # linkedid -> the agent picks up

    async def originate(self, channel: str, **kw: Any) -> OriginateResult:
        n = len(self.called("originate")) + 1
        result = OriginateResult(True, 4, f"out.{n}", f"out.{n}", f"PJSIP/agent-{n:08x}")
        self.originate_result = result
        await super().originate(channel, **kw)
        pickup = self.ringing.get((kw.get("variables") or {}).get("CTI_LINKEDID", ""))
        if pickup is not None:
            await pickup
        return result


# -- the transcript -----------------------------------------------------------------------------


@dataclass
class Transcript:
    """Each step's answer and what the agents' consoles then show; call and callback ids are named
    in the order they appear (the two desks number them differently)."""

    world: World
    agents: tuple[str, ...] = ("1001", "1002")
    lines: list[tuple[Any, ...]] = field(default_factory=list)
    names: dict[Any, str] = field(default_factory=dict)

    def name(self, key: Any, prefix: str = "call") -> str:
        return self.names.setdefault(key, f"{prefix}{len(self.names) + 1}")

    async def step(self, what: str, action: Callable[[], Awaitable[Any]]) -> Any:
        try:
            value: Any = await action()
            answer: Any = self._plain(value)
        except CtiError as err:
            value, answer = None, ("error", err.code, status_of(err), getattr(err, "field", None))
        await self.world.settle()
        self.lines.append((what, answer, await self.consoles()))
        return value

    def _plain(self, value: Any, top: bool = True) -> Any:
        if isinstance(value, str):
            return self.name(value) if top else value  # a call id (dial's answer), else as it is
        if isinstance(value, CallbackView):
            return ("callback", value.state, value.claimed_by, value.calling)
        if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], CallbackView):
            return (self._plain(value[0]), self._plain(value[1]))  # call_callback: (call id, callback)
        if isinstance(value, tuple):
            return tuple(self._plain(v, False) for v in value)
        if isinstance(value, dict):  # a wrap-up's answer: its ids depend on the CRM behind the desk
            return ("keys", tuple(sorted(value)))
        return value

    async def consoles(self) -> tuple[Any, ...]:
        return tuple([(agent, self._hub_view(agent), await self._snapshot(agent)) for agent in self.agents])

    def _hub_view(self, agent_id: str) -> Any:
        snap = self.world.hub.snaps.get(agent_id)
        if snap is None:
            return None
        s = snap.state
        return ((s.state, s.reason, tuple(s.queues), s.not_ready_after_call), self._offer(snap.offer),
                self._calls(snap.calls.values()))

    def _offer(self, offer: OfferView | None) -> Any:
        if offer is None:
            return None
        return (self.name(offer.call_id), offer.queue, offer.caller_number, offer.direction)

    def _calls(self, calls: Iterable[CallView]) -> tuple[Any, ...]:
        return tuple(sorted((self.name(c.call_id), c.status, c.direction, json.dumps(c.detail, sort_keys=True))
                            for c in calls))

    async def _snapshot(self, agent_id: str) -> Any:
        snap = await self.world.desk.snapshot(agent_id)
        s = snap.state
        return ((s.state, s.reason, tuple(s.queues), s.not_ready_after_call), self._offer(snap.offer),
                self._calls(snap.calls))


Scenario = Callable[[World, Transcript], Awaitable[None]]
