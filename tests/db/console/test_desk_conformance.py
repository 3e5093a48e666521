"""The fake desk behaves as the real one: the same scenarios, run on ``agent_console.fakes.FakeDesk``
(what hundreds of web tests and the demo run on) and on ``agent_console.desk.EngineDesk`` over the
real ACD service (``acd.delivery.AcdService``, its router, ``FakeCallControl`` for Asterisk) and a
real CRM database (SQLite), must give the same transcript: each step's answer (its value, or the
error as a client sees it: code, HTTP status, field) and what the agent's console then shows (the
hub's view of the published state and call updates, and the desk's snapshot a reload reads).
A difference is the fake's to fix: the real desk is the product."""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import pytest

from acd.delivery import AcdService
from acd.model import QueueConfig
from acd.routing import Router
from agent_console.app import status_of
from agent_console.desk import EngineDesk
from agent_console.fakecrm import FakeCrm
from agent_console.fakes import DISPOSITIONS, FakeDesk
from agent_console.hub import AgentHub
from agent_console.ports import AgentDesk, WrapUpInput
from agent_console.protocol import CallbackView, CallView, OfferView
from agent_console.service import ConsoleService
from crm_core import catalog
from crm_core.db import Database
from crm_core.models import Callback, User
from crm_core.schemas import DispositionIn
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


class _Pops:
    async def build_pop(self, linkedid: str, agent_id: str, info: dict[str, Any]) -> dict[str, Any]:
        return {"caller_number": info.get("caller_number") or ""}


def _hub(desk: AgentDesk, bus: InProcessBus) -> AgentHub:
    hub = AgentHub(desk=desk, pops=_Pops(), service=ConsoleService(desk))
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
        assert isinstance(control, _Pbx)
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
        assert isinstance(control, _Pbx)
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


class _Pbx(FakeCallControl):
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


@pytest.fixture(scope="module")
def crm_template(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A migrated CRM with the agents and the disposition catalog the fake desk knows (once a module)."""
    path = tmp_path_factory.mktemp("conformance") / "crm.db"

    async def make() -> None:
        db = Database(f"sqlite+aiosqlite:///{path}")
        try:
            await db.upgrade()
            async with db.session() as s:
                for agent_id, skills in SKILLS.items():
                    s.add(User(username=f"agent{agent_id}", password_hash="!", agent_id=agent_id, skills=skills))
                for d in DISPOSITIONS:
                    await catalog.create_disposition(session=s, data=DispositionIn(
                        code=d.code, label=d.label, resolves=d.resolves))
        finally:
            await db.dispose()

    asyncio.run(make())
    return path.read_bytes()


@pytest.fixture
async def worlds(crm_template: bytes, tmp_path: Path) -> AsyncIterator[dict[str, World]]:
    fake_bus, real_bus = InProcessBus(), InProcessBus()
    fake = FakeDesk(fake_bus, FakeCrm(), queues=QUEUES, answer_after_s=None,
                    agent_skills={a: dict(s) for a, s in SKILLS.items()})
    (tmp_path / "crm.db").write_bytes(crm_template)
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}")
    acd = AcdService(Router([QueueConfig(name=q) for q in QUEUES]), _Pbx(), real_bus)
    acd.subscribe()  # no acd.start(): no ticker, so no timer (wrap-up, ring) moves an agent on its own
    real = EngineDesk(acd, db, real_bus, journal=tmp_path / "wrapups.jsonl")
    both: dict[str, World] = {"fake": FakeWorld(fake, _hub(fake, fake_bus), fake_bus),
                              "real": RealWorld(real, _hub(real, real_bus), real_bus, db)}
    for bus in (fake_bus, real_bus):
        await bus.start()
    try:
        yield both
    finally:
        await fake.close()
        await acd.stop()
        for w in both.values():
            await w.hub.shutdown()
        for bus in (fake_bus, real_bus):
            await bus.stop()
        await db.dispose()


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


async def ready_and_not_ready(w: World, t: Transcript) -> None:
    d = w.desk
    await t.step("ready, logged out", lambda: d.set_ready("1001"))
    await t.step("not ready, logged out", lambda: d.set_not_ready("1001", "break"))
    await t.step("log in", lambda: d.login_queues("1001", ["support"]))
    for reason in ("missed", "login", "outbound", "supervisor", "offboarded", "", "Break"):
        await t.step(f"not ready {reason!r}: the engine's own", functools.partial(d.set_not_ready, "1001", reason))
    await t.step("ready", lambda: d.set_ready("1001"))
    await t.step("ready again", lambda: d.set_ready("1001"))
    await t.step("not ready lunch", lambda: d.set_not_ready("1001", "lunch"))
    await t.step("not ready break", lambda: d.set_not_ready("1001", "break"))
    await t.step("ready", lambda: d.set_ready("1001"))


async def queue_login(w: World, t: Transcript) -> None:
    d = w.desk
    await t.step("log out, logged out", lambda: d.logout_queues("1002", []))
    await t.step("unknown queue", lambda: d.login_queues("1002", ["nope"]))
    await t.step("one unknown queue", lambda: d.login_queues("1002", ["support", "nope"]))
    await t.step("no skill for billing", lambda: d.login_queues("1002", ["billing"]))
    await t.step("own queues", lambda: d.login_queues("1002", []))
    await t.step("1001 in support", lambda: d.login_queues("1001", ["support"]))
    await t.step("1001 adds billing", lambda: d.login_queues("1001", ["billing"]))
    await t.step("1001 adds an unknown queue", lambda: d.login_queues("1001", ["nope"]))
    await t.step("1001 leaves an unknown queue", lambda: d.logout_queues("1001", ["nope"]))
    await t.step("1001 leaves support", lambda: d.logout_queues("1001", ["support"]))
    await t.step("1001 leaves billing: logged out", lambda: d.logout_queues("1001", ["billing"]))
    await t.step("1001 back in sales only", lambda: d.login_queues("1001", ["sales"]))
    await t.step("1001 logs in again, no queue named", lambda: d.login_queues("1001", []))
    await t.step("1001 logs out", lambda: d.logout_queues("1001", []))
    await t.step("1001 back in its own queues", lambda: d.login_queues("1001", []))
    await t.step("1002 logs out", lambda: d.logout_queues("1002", []))
    await t.step("1002 logs out again", lambda: d.logout_queues("1002", []))


async def _on_a_call(w: World, t: Transcript) -> str:
    """1001 ready in support and on a call, 1002 logged in not ready."""
    await t.step("1001 logs in", lambda: w.desk.login_queues("1001", ["support"]))
    await t.step("1002 logs in", lambda: w.desk.login_queues("1002", ["support"]))
    await t.step("1001 ready", lambda: w.desk.set_ready("1001"))
    call = await w.call_in("1001")
    t.name(call)
    t.lines.append(("a call for 1001", None, await t.consoles()))
    return call


async def someone_elses_call(w: World, t: Transcript) -> None:
    d = w.desk
    call = await _on_a_call(w, t)
    await t.step("1002 hangs up 1001's call", lambda: d.hangup("1002", call))
    await t.step("1002 holds it", lambda: d.hold("1002", call))
    await t.step("1002 resumes it", lambda: d.resume("1002", call))
    await t.step("1002 transfers it", lambda: d.transfer("1002", call, kind="blind", target_kind="queue",
                                                         target="sales"))
    await t.step("1002 wraps it up", lambda: d.wrap_up("1002", call, WrapUpInput(disposition="resolved")))
    for verb in (d.hangup, d.hold, d.resume):
        await t.step(f"{verb.__name__} an unknown call", functools.partial(verb, "1001", "no-such-call"))
    await t.step("wrap up an unknown call", lambda: d.wrap_up("1001", "no-such-call",
                                                              WrapUpInput(disposition="resolved")))


async def a_call_to_its_end(w: World, t: Transcript) -> None:
    d = w.desk
    call = await _on_a_call(w, t)
    await t.step("resume a call not held", lambda: d.resume("1001", call))
    await t.step("wrap up while talking", lambda: d.wrap_up("1001", call, WrapUpInput(disposition="resolved")))
    await t.step("hold", lambda: d.hold("1001", call))
    await t.step("hold again", lambda: d.hold("1001", call))
    await t.step("resume", lambda: d.resume("1001", call))
    await t.step("transfer to an unknown queue", lambda: d.transfer("1001", call, kind="blind", target_kind="queue",
                                                                    target="nope"))
    await t.step("transfer to a bad number", lambda: d.transfer("1001", call, kind="blind", target_kind="number",
                                                                target="12&PJSIP/9"))
    await t.step("not ready during the call", lambda: d.set_not_ready("1001", "lunch"))
    await w.caller_hangs_up(call)
    t.lines.append(("the caller hangs up", None, await t.consoles()))
    await t.step("hang up the ended call", lambda: d.hangup("1001", call))
    await t.step("hold the ended call", lambda: d.hold("1001", call))
    await t.step("transfer the ended call", lambda: d.transfer("1001", call, kind="blind", target_kind="queue",
                                                               target="sales"))
    await t.step("unknown disposition", lambda: d.wrap_up("1001", call, WrapUpInput(disposition="nope")))
    await t.step("wrap up", lambda: d.wrap_up("1001", call, WrapUpInput(disposition="resolved", notes="done")))
    await t.step("wrap up twice", lambda: d.wrap_up("1001", call, WrapUpInput(disposition="resolved")))
    await t.step("hang up the wrapped-up call", lambda: d.hangup("1001", call))


async def dialling(w: World, t: Transcript) -> None:
    d = w.desk
    await t.step("dial, logged out", lambda: d.dial("1001", "+8613800138002", None))
    await t.step("log in", lambda: d.login_queues("1001", ["support"]))
    await t.step("ready", lambda: d.set_ready("1001"))
    for bad in ("12ab", "", "+", "100&PJSIP/9", "1 2"):
        await t.step(f"dial {bad!r}", functools.partial(d.dial, "1001", bad, None))
    call = await w.call_in("1001")
    t.name(call)
    await t.step("dial during a call", lambda: d.dial("1001", "+8613800138002", None))
    await t.step("not ready during the call", lambda: d.set_not_ready("1001", "lunch"))
    await w.caller_hangs_up(call)
    out = await t.step("dial during the wrap-up", lambda: d.dial("1001", "+8613800138002", None))
    await t.step("wrap up the call before", lambda: d.wrap_up("1001", call, WrapUpInput(disposition="resolved")))
    await t.step("ready during the outbound call", lambda: d.set_ready("1001"))
    await t.step("dial again", lambda: d.dial("1001", "+8613800138003", None))
    await t.step("hang up", lambda: d.hangup("1001", out))
    await t.step("wrap up the outbound call", lambda: d.wrap_up("1001", out, WrapUpInput(disposition="sale")))
    await t.step("dial when ready", lambda: d.dial("1001", "+8613800138004", None))


async def transfers(w: World, t: Transcript) -> None:
    d = w.desk
    call = await _on_a_call(w, t)
    await t.step("to oneself", lambda: d.transfer("1001", call, kind="blind", target_kind="agent", target="1001"))
    await t.step("to an agent logged out", lambda: d.transfer("1001", call, kind="blind", target_kind="agent",
                                                              target="1999"))
    await t.step("to a number with +", lambda: d.transfer("1001", call, kind="blind", target_kind="number",
                                                          target="+86 10"))
    await t.step("blind to a queue", lambda: d.transfer("1001", call, kind="blind", target_kind="queue",
                                                        target="sales"))
    await t.step("hold after the transfer", lambda: d.hold("1001", call))
    await t.step("wrap up", lambda: d.wrap_up("1001", call, WrapUpInput(disposition="escalated")))


async def callbacks_of_others(w: World, t: Transcript) -> None:
    d = w.desk
    await t.step("1001 logs in", lambda: d.login_queues("1001", ["support"]))
    await t.step("1002 logs in", lambda: d.login_queues("1002", ["support"]))
    support = await w.add_callback("support")
    billing = await w.add_callback("billing")
    personal = await w.add_callback(None, agent_id="1001")
    await t.step("claim an unknown callback", lambda: d.claim_callback("1001", 999))
    await t.step("release an unknown callback", lambda: d.release_callback("1001", 999))
    await t.step("1002 claims billing's", lambda: d.claim_callback("1002", billing))
    await t.step("1002 claims 1001's own", lambda: d.claim_callback("1002", personal))
    await t.step("1001 releases one not claimed", lambda: d.release_callback("1001", support))
    await t.step("1001 claims", lambda: d.claim_callback("1001", support))
    await t.step("1001 claims again", lambda: d.claim_callback("1001", support))
    await t.step("1002 claims 1001's claim", lambda: d.claim_callback("1002", support))
    await t.step("1002 releases 1001's claim", lambda: d.release_callback("1002", support))
    await t.step("1001 releases", lambda: d.release_callback("1001", support))
    await t.step("1002 claims", lambda: d.claim_callback("1002", support))
    await t.step("1001 claims its own", lambda: d.claim_callback("1001", personal))


async def call_controls(w: World, t: Transcript) -> None:
    d = w.desk
    await t.step("an agent the CRM does not know logs in", lambda: d.login_queues("1999", []))
    await t.step("catalog of 1002", lambda: _catalog(d, "1002"))
    await t.step("catalog of an unknown agent", lambda: _catalog(d, "1999"))
    call = await _on_a_call(w, t)
    await t.step("has it", lambda: d.has_call("1001", call))
    await t.step("1002 has it", lambda: d.has_call("1002", call))
    await t.step("tags on 1002's side", lambda: d.set_call_attributes("1002", call, tags=["vip"], values={}))
    await t.step("tags on an unknown call", lambda: d.set_call_attributes("1001", "nope", tags=["vip"], values={}))
    await t.step("tags", lambda: d.set_call_attributes("1001", call, tags=["vip"], values={"order": "A1"}))
    await t.step("bad tones", lambda: d.send_dtmf("1001", call, "x"))
    await t.step("tones of 1002", lambda: d.send_dtmf("1002", call, "1"))
    await t.step("tones", lambda: d.send_dtmf("1001", call, "12#"))
    await t.step("cancel no consultation", lambda: d.cancel_consult("1001", call))
    await t.step("conference without a consultation", lambda: d.conference("1001", call))
    await t.step("adds a queue during the call", lambda: d.login_queues("1001", ["billing"]))
    await t.step("leaves a queue during the call", lambda: d.logout_queues("1001", ["support"]))
    await t.step("logs out during the call", lambda: d.logout_queues("1001", []))
    await t.step("not ready during the call", lambda: d.set_not_ready("1001", "meeting"))
    await t.step("ready during the call: withdraws it", lambda: d.set_ready("1001"))
    await t.step("not ready again", lambda: d.set_not_ready("1001", "training"))
    await w.caller_hangs_up(call)
    t.lines.append(("the caller hangs up", None, await t.consoles()))
    await t.step("tones on the ended call", lambda: d.send_dtmf("1001", call, "1"))
    await t.step("wrap up with the engine's reason", lambda: d.wrap_up(
        "1001", call, WrapUpInput(disposition="resolved", not_ready_reason="missed")))
    await t.step("wrap up with a reason", lambda: d.wrap_up(
        "1001", call, WrapUpInput(disposition="resolved", not_ready_reason="lunch")))


async def _catalog(d: AgentDesk, agent_id: str) -> tuple[Any, ...]:
    c = await d.catalog(agent_id)  # the dispositions' order is the CRM's data (category, code), not the desk's
    return (tuple(r.code for r in c.reasons), tuple(sorted((x.code, x.resolves) for x in c.dispositions)),
            tuple(c.queues), tuple(c.login_queues))


async def working_callbacks(w: World, t: Transcript) -> None:
    d = w.desk
    support = await w.add_callback("support")
    await t.step("1001 logged out claims", lambda: d.claim_callback("1001", support))
    await t.step("1001 logs in", lambda: d.login_queues("1001", ["support"]))
    await t.step("1002 logs in", lambda: d.login_queues("1002", ["support"]))
    await t.step("1001 calls it unclaimed", lambda: d.call_callback("1001", support))
    await t.step("1001 skips it unclaimed", lambda: d.skip_callback("1001", support, "not_now"))
    await t.step("1001 claims", lambda: d.claim_callback("1001", support))
    await t.step("1002 skips 1001's claim", lambda: d.skip_callback("1002", support, "not_now"))
    await t.step("1002 calls 1001's claim", lambda: d.call_callback("1002", support))
    await t.step("the list of 1002", lambda: _callbacks(d, "1002"))
    await t.step("the list of 1001", lambda: _callbacks(d, "1001"))
    await t.step("1001 calls it", lambda: d.call_callback("1001", support))
    await t.step("1001 calls it again", lambda: d.call_callback("1001", support))
    await t.step("1001 releases it while calling", lambda: d.release_callback("1001", support))
    other = await w.add_callback("support")
    await t.step("1002 claims another", lambda: d.claim_callback("1002", other))
    await t.step("1002 skips it for no known reason", lambda: d.skip_callback("1002", other, "bored"))
    await t.step("1002 skips it for good", lambda: d.skip_callback("1002", other, "wrong_number"))
    await t.step("1002 skips an unknown one", lambda: d.skip_callback("1002", 999, "not_now"))
    await t.step("1002 claims it again", lambda: d.claim_callback("1002", other))


async def _callbacks(d: AgentDesk, agent_id: str) -> tuple[Any, ...]:
    return tuple((cb.state, cb.claimed_by, cb.calling) for cb in await d.callbacks(agent_id, everyone=False))


async def ringing(w: World, t: Transcript) -> None:
    d = w.desk
    await t.step("1001 logs in", lambda: d.login_queues("1001", ["support"]))
    await t.step("1001 ready", lambda: d.set_ready("1001"))
    first = await w.offer("1001")
    t.name(first)
    t.lines.append(("1001's phone rings", None, await t.consoles()))
    await t.step("not ready while it rings", lambda: d.set_not_ready("1001", "break"))
    await t.step("dial while it rings", lambda: d.dial("1001", "+8613800138002", None))
    await t.step("hold the ringing call", lambda: d.hold("1001", first))
    await t.step("wrap up the ringing call", lambda: d.wrap_up("1001", first, WrapUpInput(disposition="resolved")))
    await t.step("ready while it rings", lambda: d.set_ready("1001"))
    await w.caller_hangs_up(first)
    t.lines.append(("the caller hangs up while it rings", None, await t.consoles()))
    await t.step("hang up the call gone", lambda: d.hangup("1001", first))
    second = await w.offer("1001")
    t.name(second)
    t.lines.append(("1001's phone rings again", None, await t.consoles()))
    await w.answer(second)
    t.lines.append(("1001 answers", None, await t.consoles()))
    await t.step("hang up", lambda: d.hangup("1001", second))
    await t.step("wrap up", lambda: d.wrap_up("1001", second, WrapUpInput(disposition="resolved")))


async def consulting(w: World, t: Transcript) -> None:
    d = w.desk
    call = await _on_a_call(w, t)
    await t.step("consult a number", lambda: d.transfer("1001", call, kind="attended", target_kind="number",
                                                        target="8610555", note="refund"))
    await t.step("hold during it", lambda: d.hold("1001", call))
    await t.step("transfer again during it", lambda: d.transfer("1001", call, kind="blind", target_kind="queue",
                                                                target="sales"))
    await t.step("tones during it", lambda: d.send_dtmf("1001", call, "1"))
    await t.step("1002 cancels it", lambda: d.cancel_consult("1002", call))
    await t.step("cancel", lambda: d.cancel_consult("1001", call))
    await t.step("cancel again", lambda: d.cancel_consult("1001", call))
    await t.step("consult the number again", lambda: d.transfer("1001", call, kind="attended", target_kind="number",
                                                                target="8610555"))
    await t.step("conference", lambda: d.conference("1001", call))
    await t.step("conference again", lambda: d.conference("1001", call))
    await t.step("hold the conference", lambda: d.hold("1001", call))
    await t.step("leave it", lambda: d.hangup("1001", call))
    await t.step("wrap up", lambda: d.wrap_up("1001", call, WrapUpInput(disposition="escalated")))


async def consulting_an_agent(w: World, t: Transcript) -> None:
    d = w.desk
    call = await _on_a_call(w, t)
    await t.step("consult 1002, not ready", lambda: d.transfer("1001", call, kind="attended", target_kind="agent",
                                                                target="1002"))
    await t.step("cancel the waiting one", lambda: d.cancel_consult("1001", call))
    await t.step("1002 ready", lambda: d.set_ready("1002"))
    await t.step("consult 1002", lambda: d.transfer("1001", call, kind="attended", target_kind="agent", target="1002"))
    await t.step("1002 holds it", lambda: d.hold("1002", call))
    await t.step("1002 wraps it up", lambda: d.wrap_up("1002", call, WrapUpInput(disposition="resolved")))
    await t.step("1002 hangs up: back to 1001", lambda: d.hangup("1002", call))
    await t.step("consult 1002 again", lambda: d.transfer("1001", call, kind="attended", target_kind="agent",
                                                          target="1002"))
    await t.step("cancel", lambda: d.cancel_consult("1001", call))
    await t.step("consult 1002 once more", lambda: d.transfer("1001", call, kind="attended", target_kind="agent",
                                                              target="1002", note="refund"))
    await t.step("conference", lambda: d.conference("1001", call))
    await t.step("1001 leaves", lambda: d.hangup("1001", call))
    await t.step("1002 holds it now", lambda: d.hold("1002", call))
    await t.step("1002 resumes", lambda: d.resume("1002", call))
    await t.step("1001 wraps up", lambda: d.wrap_up("1001", call, WrapUpInput(disposition="escalated")))
    await t.step("1002 hangs up", lambda: d.hangup("1002", call))
    await t.step("1002 wraps up", lambda: d.wrap_up("1002", call, WrapUpInput(disposition="resolved")))
    second = await w.call_in("1001")
    t.name(second)
    await t.step("1002 ready again", lambda: d.set_ready("1002"))
    await t.step("consult 1002 on the second", lambda: d.transfer("1001", second, kind="attended",
                                                                  target_kind="agent", target="1002"))
    await t.step("1001 hangs up: the transfer completes", lambda: d.hangup("1001", second))
    await w.caller_hangs_up(second)
    t.lines.append(("the caller hangs up", None, await t.consoles()))


SCENARIOS: list[Scenario] = [ready_and_not_ready, queue_login, someone_elses_call, a_call_to_its_end, dialling,
                             transfers, callbacks_of_others, call_controls, working_callbacks, ringing,
                             consulting, consulting_an_agent]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.__name__ for s in SCENARIOS])
async def test_the_fake_desk_answers_and_publishes_as_the_real_one(worlds: dict[str, World],
                                                                   scenario: Scenario) -> None:
    transcripts = {}
    for kind, world in worlds.items():
        t = Transcript(world)
        await scenario(world, t)
        transcripts[kind] = t.lines
    fake, real = transcripts["fake"], transcripts["real"]
    differences = [f"{f[0]}:\n  fake {_diff(f, r)}\n  real {_diff(r, f)}" for f, r in zip(fake, real, strict=True)
                   if f != r]
    assert not differences, "\n".join(differences)
    # Not a transcript of nothing: refusals among the steps, with the codes a client sees.
    assert any(isinstance(answer, tuple) and answer[:1] == ("error",) for _, answer, _ in real)


def _diff(line: tuple[Any, ...], other: tuple[Any, ...]) -> str:
    """What of a transcript line differs from the other's: the answer, or an agent's views."""
    parts = [f"answer {line[1]}"] if line[1] != other[1] else []
    for (agent, hub, snap), (_, hub2, snap2) in zip(line[2], other[2], strict=True):
        parts += [f"{agent} sees {hub}"] if hub != hub2 else []
        parts += [f"{agent} reloads {snap}"] if snap != snap2 else []
    return "; ".join(parts)
