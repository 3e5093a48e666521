"""A call linked to another customer whose pop the CRM could not build for the link (the build failed,
or gave no card for the linked customer): the console shows the linked customer anyway -- their card
(and history, open cases) as the CRM's customer read gives it, or, when the CRM cannot be read at all,
a card holding only the customer's id, marked ``source: "unavailable"``. Before, it kept what it
showed: the routed customer's pop, or an offer whose own pop the link had dropped kept its
placeholder ("Loading customer...") for good. The hub alone, with the console's fakes."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from agent_console.security import Principal
from crm_core.events import CustomerChanged
from tests.helpers import until
from tests.web.console.test_link_race import CALLER, LINKED, ROUTED, HeldPops, Rig


class BrokenForLink(HeldPops):
    """The pop build for the linked customer fails (``raise``) or names nobody (``none``); the
    customer read fails too when ``crm_away``."""

    def __init__(self, how: str, *, crm_away: bool = False) -> None:
        super().__init__()
        self.how, self.crm_away = how, crm_away

    async def build_pop(self, linkedid: str, agent_id: str, offer_info: dict[str, Any]) -> dict[str, Any]:
        if offer_info.get("customer_id") != LINKED:
            return await super().build_pop(linkedid, agent_id, offer_info)
        self.started.append(LINKED)
        if self.how == "raise":
            raise ConnectionError("CRM away")
        pop = await super().build_pop(linkedid, agent_id, {**offer_info, "customer_id": None,
                                                            "caller_number": "+10000000000"})
        return {**pop, "source": "unavailable"}

    async def customer(self, customer_id: int) -> dict[str, Any] | None:
        if self.crm_away:
            raise ConnectionError("CRM away")
        return await super().customer(customer_id)


def _pops(rig: Rig, call_id: str) -> list[dict[str, Any]]:
    out = []
    for f in rig.ws.sent:
        pop = (f.get("offer") or f.get("call") or f).get("pop") if f["type"] in ("offer", "call", "pop") else None
        if pop is not None and pop["call_id"] == call_id:
            out.append(pop)
    return out


async def _kept(rig: Rig, call_id: str) -> dict[str, Any]:
    """What a reload's hello shows of the call's pop."""
    hello = await rig.hub.hello(Principal(1, "a", "agent", "a1"))
    pops = [c.pop for c in hello.calls if c.call_id == call_id]
    if hello.offer is not None and hello.offer.call_id == call_id:
        pops.append(hello.offer.pop)
    assert len(pops) == 1 and pops[0] is not None
    return pops[0].model_dump()


@pytest.mark.parametrize("how", ["raise", "none"])
async def test_an_offer_whose_own_pop_the_link_dropped_shows_the_linked_customer_read_from_the_crm(how: str) -> None:
    pops = BrokenForLink(how)
    routed = pops.hold(ROUTED)
    rig = Rig(pops)
    await rig.start()
    call_id = await rig.desk.offer_call("a1", caller_number=CALLER, customer_id=ROUTED,
                                        ivr_path=[{"node": "menu", "choice": "2"}])
    await until(lambda: pops.started == [ROUTED], 5, "the offer's pop build under way")
    await rig.link(call_id, LINKED)
    await until(lambda: LINKED in pops.started, 5, "the link's pop build")
    await rig.bus.drain()
    routed.set()  # the offer's own pop (the routed customer) ends after the link: dropped
    await until(lambda: ROUTED in pops.finished, 5, "the offer's pop build ended")
    await asyncio.sleep(0.05)
    await until(lambda: any((p.get("customer") or {}).get("id") == LINKED for p in _pops(rig, call_id)), 5,
                "a pop with the linked customer")
    last = _pops(rig, call_id)[-1]
    assert last["complete"] and last["source"] == "crm"
    assert (last["customer"]["id"], last["customer"]["name"]) == (LINKED, "Emma Clarke")
    assert [c["id"] for c in last["open_cases"]] == [502]  # the linked customer's, read with the card
    assert last["interactions"] and all(not i["notes"] for i in last["interactions"])  # other agents' notes
    kept = await _kept(rig, call_id)
    assert (kept["customer"]["id"], kept["complete"]) == (LINKED, True)
    await rig.stop()


async def test_the_crm_away_the_linked_customer_is_shown_by_id_not_loaded() -> None:
    pops = BrokenForLink("raise", crm_away=True)
    routed = pops.hold(ROUTED)
    rig = Rig(pops)
    await rig.start()
    call_id = await rig.desk.offer_call("a1", caller_number=CALLER, customer_id=ROUTED,
                                        ivr_path=[{"node": "menu", "choice": "2"}])
    await until(lambda: pops.started == [ROUTED], 5, "the offer's pop build under way")
    await rig.link(call_id, LINKED)
    await until(lambda: any((p.get("customer") or {}).get("id") == LINKED for p in _pops(rig, call_id)), 5,
                "a pop with the linked customer")
    routed.set()
    await until(lambda: ROUTED in pops.finished, 5, "the offer's pop build ended")
    await rig.bus.drain()
    last = _pops(rig, call_id)[-1]
    assert last["customer"] == {"id": LINKED, "name": "", "company": None, "tier": None, "lifecycle": None,
                                "phone": None, "email": None, "language": None, "tags": []}
    assert last["source"] == "unavailable" and last["complete"]
    assert (last["interactions"], last["open_cases"], last["script"]) == ([], [], None)
    assert last["caller_number"] == CALLER  # the IVR path comes with the offer's own pop (test_link_pop_ivr_path.py)
    kept = await _kept(rig, call_id)
    assert (kept["customer"]["id"], kept["source"]) == (LINKED, "unavailable")
    await rig.stop()


@pytest.mark.parametrize("crm_away", [False, True])
async def test_a_call_showing_the_routed_customer_shows_the_linked_one_when_the_links_pop_fails(
        crm_away: bool) -> None:
    """The routed customer's whole pop is shown; the link's build fails: the routed customer's card,
    history and cases go (they are not the call's customer any more), the call's own facts stay."""
    pops = BrokenForLink("raise", crm_away=crm_away)
    rig = Rig(pops)
    await rig.start()
    call_id = await rig.desk.offer_call("a1", caller_number=CALLER, customer_id=ROUTED,
                                        ivr_path=[{"node": "menu", "choice": "2"}])
    await until(lambda: rig.shown(call_id) == [ROUTED], 5, "the offer with the routed customer")
    await rig.desk.answer(call_id)
    await rig.bus.drain()
    await rig.link(call_id, LINKED)
    await until(lambda: rig.shown(call_id)[-1] == LINKED, 5, "the linked customer")
    last = _pops(rig, call_id)[-1]
    assert [c["id"] for c in last["open_cases"]] == ([] if crm_away else [502])
    assert last["script"] is None and last["articles"] == []  # the routed customer's script is not theirs
    assert [s["node"] for s in last["ivr_path"]] == ["menu"]
    assert last["source"] == ("unavailable" if crm_away else "crm")
    call = rig.hub.snaps["a1"].calls[call_id]
    assert call.customer_id == LINKED and call.pop is not None and call.pop.customer is not None
    assert call.pop.customer.id == LINKED
    await rig.stop()


async def test_the_id_only_card_becomes_the_customers_card_when_they_are_next_changed() -> None:
    """The CRM back, a change to the linked customer refreshes the card the console showed by id only:
    their name, and no "details are not loaded" any more."""
    pops = BrokenForLink("raise", crm_away=True)
    rig = Rig(pops)
    await rig.start()
    call_id = await rig.desk.offer_call("a1", caller_number=CALLER, customer_id=ROUTED)
    await until(lambda: rig.shown(call_id) == [ROUTED], 5, "the offer with the routed customer")
    await rig.desk.answer(call_id)
    await rig.link(call_id, LINKED)
    await until(lambda: rig.shown(call_id)[-1] == LINKED, 5, "the linked customer")
    assert _pops(rig, call_id)[-1]["source"] == "unavailable"
    pops.crm_away = False
    await rig.bus.publish(CustomerChanged(ts=time.time(), customer_id=LINKED, actor="agent a2", fields=("name",)))
    await until(lambda: _pops(rig, call_id)[-1]["customer"]["name"] == "Emma Clarke", 5, "the refreshed card")
    assert _pops(rig, call_id)[-1]["source"] == "crm"
    assert (await _kept(rig, call_id))["source"] == "crm"
    await rig.stop()
