"""A call linked to another customer while its offer's own pop was being built, and the CRM could not
build the linked customer's pop: the console shows the linked customer (test_link_pop_fallback.py),
and once the offer's own pop comes, the call's own facts from it (the IVR path the caller took, the
IVR flow, intent, transfer) -- not its customer. Before, the hub dropped that pop whole
(agent_console/snapshots.py), so the fallback pop never showed the IVR path: ringing or answered,
and in what a reload's hello shows. The hub alone, with the console's fakes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.helpers import until
from tests.web.console.test_link_pop_fallback import BrokenForLink, _kept, _pops
from tests.web.console.test_link_race import CALLER, LINKED, ROUTED, Rig

PATH = [{"node": "menu", "choice": "2"}]


class HeldRead(BrokenForLink):
    """The link's pop build fails; its fallback's customer read waits until ``read`` is set."""

    def __init__(self) -> None:
        super().__init__("raise")
        self.read = asyncio.Event()
        self.reading = False

    async def customer(self, customer_id: int) -> dict[str, Any] | None:
        self.reading = True
        await self.read.wait()
        return await super().customer(customer_id)


def _linked_with_path(pop: dict[str, Any]) -> bool:
    return (pop.get("customer") or {}).get("id") == LINKED and [s["node"] for s in pop["ivr_path"]] == ["menu"]


@pytest.mark.parametrize("crm_away", [False, True])
@pytest.mark.parametrize("answered", [False, True])
async def test_the_fallback_pop_of_a_link_gets_the_ivr_path_from_the_offers_own_pop(crm_away: bool,
                                                                                    answered: bool) -> None:
    pops = BrokenForLink("raise", crm_away=crm_away)
    routed = pops.hold(ROUTED)
    rig = Rig(pops)
    await rig.start()
    call_id = await rig.desk.offer_call("a1", caller_number=CALLER, customer_id=ROUTED, ivr_path=PATH)
    await until(lambda: pops.started == [ROUTED], 5, "the offer's pop build under way")
    await rig.link(call_id, LINKED)
    await until(lambda: any((p.get("customer") or {}).get("id") == LINKED for p in _pops(rig, call_id)), 5,
                "the fallback pop of the linked customer")
    assert _pops(rig, call_id)[-1]["ivr_path"] == []  # the placeholder it replaced knew no IVR path
    if answered:
        await rig.desk.answer(call_id)
        await rig.bus.drain()
    sent = len(rig.ws.sent)
    routed.set()  # the offer's own pop (the routed customer, the IVR path) ends after the link
    await until(lambda: ROUTED in pops.finished, 5, "the offer's pop build ended")
    await until(lambda: any(_linked_with_path(p) for p in _pops(rig, call_id)[-1:]), 5,
                "the linked customer's pop with the IVR path")
    last = _pops(rig, call_id)[-1]
    assert last["complete"] and last["source"] == ("unavailable" if crm_away else "crm")
    assert ROUTED not in rig.shown(call_id)  # never the former customer, before or after
    assert [f["type"] for f in rig.ws.sent[sent:]] == ["pop"] if answered else ["offer"], rig.ws.sent[sent:]
    assert _linked_with_path(await _kept(rig, call_id))  # what a reload shows
    await rig.stop()


async def test_the_offers_own_pop_ending_while_the_link_reads_its_fallback_keeps_the_ivr_path() -> None:
    """The offer's own pop ends while the link's refresh still reads the linked customer (the shown pop
    is the offer's placeholder): the refresh's pop has the IVR path too."""
    pops = HeldRead()
    routed = pops.hold(ROUTED)
    rig = Rig(pops)
    await rig.start()
    call_id = await rig.desk.offer_call("a1", caller_number=CALLER, customer_id=ROUTED, ivr_path=PATH)
    await until(lambda: pops.started == [ROUTED], 5, "the offer's pop build under way")
    await rig.link(call_id, LINKED)
    await until(lambda: pops.reading, 5, "the link's fallback reading the customer")
    routed.set()
    await until(lambda: ROUTED in pops.finished, 5, "the offer's pop build ended")
    await asyncio.sleep(0.05)
    pops.read.set()
    await until(lambda: any(_linked_with_path(p) for p in _pops(rig, call_id)[-1:]), 5,
                "the linked customer's pop with the IVR path")
    assert ROUTED not in rig.shown(call_id)
    assert _linked_with_path(await _kept(rig, call_id))
    await rig.stop()
