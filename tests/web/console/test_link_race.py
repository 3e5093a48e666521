"""A call linked to another customer while the offer's pop is still being built: the link wins, by what
happened (the link came after the offer), whichever of the two pop builds finishes last. The hub alone,
with the console's fakes (FakeDesk, FakeCrm) and a stub socket; the CRM's pop builds are held open on
purpose so that the order of their ends is the test's, not the scheduler's."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from acd.events import AgentCallUpdate, AgentOffer
from agent_console.fakes import FakeCrm, FakeDesk
from agent_console.hub import AgentHub
from agent_console.security import Principal
from agent_console.service import ConsoleService
from crm_core.events import CustomerLinked
from cti.bus import InProcessBus
from tests.helpers import until
from tests.web.console.test_websocket import StubSocket

ROUTED, LINKED = 1, 2  # FakeCrm's Li Wei (the caller's number) and Emma Clarke
CALLER = "+8613800138000"


class HeldPops(FakeCrm):
    """FakeCrm whose pop builds for the customers in ``held`` wait until released."""

    def __init__(self) -> None:
        super().__init__()
        self.gates: dict[int, asyncio.Event] = {}
        self.started: list[int | None] = []
        self.finished: list[int | None] = []  # the hub goes on with the pop in the same step: done then

    def hold(self, customer_id: int) -> asyncio.Event:
        gate = self.gates[customer_id] = asyncio.Event()
        return gate

    async def build_pop(self, linkedid: str, agent_id: str, offer_info: dict[str, Any]) -> dict[str, Any]:
        customer_id = offer_info.get("customer_id")
        self.started.append(customer_id)
        gate = self.gates.get(customer_id) if customer_id is not None else None
        if gate is not None:
            await gate.wait()
        pop = await super().build_pop(linkedid, agent_id, offer_info)
        self.finished.append(customer_id)
        return pop


class Rig:
    def __init__(self, pops: HeldPops) -> None:
        self.pops, self.bus = pops, InProcessBus()
        self.desk = FakeDesk(self.bus, pops, answer_after_s=None)
        self.hub = AgentHub(desk=self.desk, pops=pops, service=ConsoleService(self.desk), customers=pops,
                            pop_timeout_s=30.0)
        self.hub.subscribe(self.bus)
        self.ws = StubSocket()
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.bus.start()
        self.task = asyncio.create_task(self.hub.serve(self.ws, Principal(1, "a", "agent", "a1")))
        await until(lambda: self.ws.sent, 5, "hello")
        await self.desk.login_queues("a1", [])
        await self.desk.set_ready("a1")
        await self.bus.drain()

    async def link(self, call_id: str, customer_id: int) -> None:
        await self.bus.publish(CustomerLinked(ts=time.time(), linkedid=call_id, interaction_id=7,
                                              customer_id=customer_id, actor="agent a1"))

    def shown(self, call_id: str) -> list[int | None]:
        """The customer of each pop the agent was sent for the call (offer, call and pop frames), in order."""
        out: list[int | None] = []
        for f in self.ws.sent:
            pop = (f.get("offer") or f.get("call") or f).get("pop") if f["type"] in ("offer", "call", "pop") else None
            if pop is not None and pop["call_id"] == call_id and pop["complete"]:
                out.append((pop.get("customer") or {}).get("id"))
        return out

    async def stop(self) -> None:
        self.ws.inbox.put_nowait({"type": "websocket.disconnect"})
        assert self.task is not None
        await asyncio.wait_for(self.task, 5)
        await self.hub.shutdown()
        await self.bus.stop()


async def _hello_customer(rig: Rig, call_id: str) -> int | None:
    hello = await rig.hub.hello(Principal(1, "a", "agent", "a1"))
    pops = [c.pop for c in hello.calls if c.call_id == call_id]
    if hello.offer is not None and hello.offer.call_id == call_id:
        pops.append(hello.offer.pop)
    assert len(pops) == 1 and pops[0] is not None and pops[0].complete
    return pops[0].customer.id if pops[0].customer is not None else None


async def test_a_link_while_the_phone_rings_wins_over_the_offers_pop_finished_after_it() -> None:
    pops = HeldPops()
    routed = pops.hold(ROUTED)
    rig = Rig(pops)
    await rig.start()
    call_id = await rig.desk.offer_call("a1", caller_number=CALLER, customer_id=ROUTED,
                                        ivr_path=[{"node": "menu", "choice": "2"}])
    await until(lambda: pops.started == [ROUTED], 5, "the offer's pop build under way")
    await rig.link(call_id, LINKED)
    await until(lambda: LINKED in rig.shown(call_id), 5, "the link's pop")
    routed.set()  # the offer's pop build, with the routed customer, ends after the link's refresh
    await until(lambda: ROUTED in pops.finished, 5, "the offer's pop build ended")
    assert any(f["type"] == "offer" for f in rig.ws.sent)
    assert rig.shown(call_id)[-1] == LINKED
    assert await _hello_customer(rig, call_id) == LINKED  # what a reload shows
    offer = rig.hub.snaps["a1"].offer
    assert offer is not None and [s.node for s in offer.pop.ivr_path] == ["menu"]  # the call's own, kept
    await rig.stop()


async def test_a_link_while_the_phone_rings_wins_when_answered_before_the_offers_pop_is_built() -> None:
    pops = HeldPops()
    routed = pops.hold(ROUTED)
    rig = Rig(pops)
    await rig.start()
    call_id = await rig.desk.offer_call("a1", caller_number=CALLER, customer_id=ROUTED)
    await until(lambda: pops.started == [ROUTED], 5, "the offer's pop build under way")
    await rig.link(call_id, LINKED)
    await until(lambda: LINKED in rig.shown(call_id), 5, "the link's pop")
    await rig.desk.answer(call_id)
    await rig.bus.drain()
    assert [c.status for c in rig.hub.snaps["a1"].calls.values()] == ["talking"]
    routed.set()  # the offer's pop build ends after the answer and the link's refresh
    await until(lambda: ROUTED in pops.finished, 5, "the offer's pop build ended")
    assert rig.shown(call_id)[-1] == LINKED
    assert await _hello_customer(rig, call_id) == LINKED
    await rig.stop()


async def test_the_offers_pop_finished_before_the_links_refresh_is_replaced_by_it() -> None:
    pops = HeldPops()
    linked = pops.hold(LINKED)
    rig = Rig(pops)
    await rig.start()
    call_id = await rig.desk.offer_call("a1", caller_number=CALLER, customer_id=ROUTED)
    await until(lambda: rig.shown(call_id) == [ROUTED], 5, "the offer with the routed customer")
    await rig.link(call_id, LINKED)
    await until(lambda: pops.started == [ROUTED, LINKED], 5, "the link's pop build under way")
    linked.set()
    await until(lambda: LINKED in rig.shown(call_id), 5, "the link's pop")
    assert rig.shown(call_id) == [ROUTED, LINKED]
    assert await _hello_customer(rig, call_id) == LINKED
    await rig.stop()


async def test_a_link_handled_before_an_offer_published_earlier_still_names_the_call() -> None:
    """The hub's workers for console events and for links are two: an offer (and the answer) published
    before the link may be handled after it. The link still wins, and is forgotten once the call closed."""
    rig = Rig(HeldPops())
    await rig.start()
    await rig.link("L-1", LINKED)
    await rig.bus.drain()
    now = time.time()
    await rig.bus.publish(AgentOffer(ts=now, agent_id="a1", linkedid="L-1", queue="support", caller_number=CALLER,
                                     customer_id=ROUTED, waited_s=3.0))
    await until(lambda: rig.shown("L-1"), 5, "the offer's pop")
    assert rig.shown("L-1") == [LINKED]
    await rig.bus.publish(AgentCallUpdate(ts=now, agent_id="a1", linkedid="L-1", status="talking", peer_number=CALLER,
                                          customer_id=ROUTED, queue="support", started_at=now))
    await rig.bus.drain()
    call = [f["call"] for f in rig.ws.sent if f["type"] == "call"][-1]
    assert (call["customer_id"], call["pop"]["customer"]["id"]) == (LINKED, LINKED)
    assert rig.hub.refresh.linked_customer("L-1") == LINKED
    await rig.bus.publish(AgentCallUpdate(ts=now, agent_id="a1", linkedid="L-1", status="closed", peer_number=CALLER,
                                          customer_id=LINKED, queue="support", started_at=now))
    await rig.bus.drain()
    assert rig.hub.refresh.linked_customer("L-1") is None
    await rig.stop()
