"""Pops kept by the console hub, refreshed when the CRM changes what they show.

* A customer changed in the CRM (``CustomerChanged``): the kept pops showing that customer get the
  new card (read through ``CustomerSearch``), and each agent showing one a ``pop`` frame; a reload
  mid-call shows the edited customer.
* A call linked to another customer (``CustomerLinked``): every kept offer or call of that call (its
  agent, a consulted agent) gets the linked customer's pop (card, history, open cases, script, read
  through ``PopSource``), and its agent a ``pop`` frame; a reload mid-call shows it.
* When the CRM cannot build the linked customer's pop (the build fails, or gives no card for them),
  the console shows the linked customer anyway (``_unbuilt``): their card, history and open cases as
  the CRM's customer read gives them, or, when that fails too, a card holding only their id (name
  empty) with ``source: "unavailable"`` -- never the former customer's pop, nor an offer's placeholder
  left for good when the link dropped the offer's own pop. The offer's own pop, built for the customer
  before the link, is not shown, but the call's own facts in it (IVR path, IVR flow, intent, transfer:
  ``CALL_FACTS``) go to the pop shown where it lacks them (``add_call_facts``).
* The link is the call's customer from then on, whichever pop build ends last: the link is kept per
  call (``linked_customer``), and a pop built for the call with another customer -- the offer's,
  begun before the link and ended after its refresh -- is not shown (``current``). The hub forgets a
  call's link once no console shows the call; at most ``LINKS_KEPT`` are kept (a link for a call
  this node's consoles never show).

The hub owns the kept offers and calls (``agent_console.snapshots``) and the sockets
(``agent_console.hub``); this reads and updates the former and sends through the latter.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from agent_console import policy
from agent_console import protocol as p
from agent_console.ports import CustomerSearch
from crm_core.events import CustomerChanged, CustomerLinked

log = logging.getLogger(__name__)

LINKS_KEPT = 4096  # calls linked during the call, kept at once; far more than a node's live calls
# What the call itself told, whoever its customer is: a pop for another customer still holds them.
CALL_FACTS = ("ivr_flow", "ivr_path", "intent", "transfer")


def add_call_facts(pop: p.Pop, other: p.Pop) -> bool:
    """Give ``pop`` the call's own facts (``CALL_FACTS``) it lacks from ``other``, a pop of the same
    call; True when it got any."""
    changed = False
    for name in CALL_FACTS:
        if not getattr(pop, name) and getattr(other, name):
            setattr(pop, name, getattr(other, name))
            changed = True
    return changed


class Kept(Protocol):
    """What the hub keeps for one agent: their calls and their current offer."""

    calls: dict[str, p.CallView]

    @property
    def offer(self) -> p.OfferView | None: ...

    def offer_call_id(self) -> str | None: ...


class PopRefresh:
    def __init__(self, snaps: Mapping[str, Kept],
                 build: Callable[[str, str, dict[str, Any]], Awaitable[dict[str, Any]]],
                 send: Callable[[str, str], None], customers: CustomerSearch | None) -> None:
        """``build(linkedid, agent_id, info)``: a pop as plain data; ``send(agent_id, frame)``;
        ``customers``: where a changed customer's card is read (None: pops are not refreshed)."""
        self.snaps, self._build, self._send, self.customers = snaps, build, send, customers
        self._links: dict[str, int] = {}  # call -> the customer its latest link named, oldest link first

    def linked_customer(self, call_id: str) -> int | None:
        """The customer call ``call_id`` was last linked to, if it was."""
        return self._links.get(call_id)

    def current(self, call_id: str, pop: Mapping[str, Any]) -> bool:
        """``pop`` (plain) may be shown for the call: it has no link, or the pop shows the linked customer."""
        linked = self._links.get(call_id)
        return linked is None or (pop.get("customer") or {}).get("id") == linked

    def forget(self, call_id: str) -> None:
        """Forget the call's link if no console shows the call any more (it closed or was withdrawn)."""
        if call_id in self._links and not any(call_id in snap.calls or snap.offer_call_id() == call_id
                                              for snap in self.snaps.values()):
            del self._links[call_id]

    def _showing(self, customer_id: int) -> list[tuple[str, p.Pop]]:
        """(agent, pop) of the kept offers and calls whose pop shows ``customer_id``."""
        found = []
        for agent_id, snap in self.snaps.items():
            pops = [c.pop for c in snap.calls.values()]
            if snap.offer_call_id() is not None and snap.offer_call_id() not in snap.calls:
                pops.append(snap.offer.pop)  # type: ignore[union-attr]  # the call id says there is one
            found += [(agent_id, pop) for pop in pops
                      if pop is not None and pop.customer is not None and pop.customer.id == customer_id]
        return found

    async def customer_changed(self, ev: CustomerChanged) -> None:
        """The CRM saved a change to a customer: the pops kept for live calls with that customer (what a
        reload's hello shows) get the new card, and the agents showing them a ``pop`` frame. The rest of
        the pop (history, cases, IVR path, transfer note) is the call's and stays as it was."""
        if self.customers is None or not self._showing(ev.customer_id):
            return
        found = await self.customers.customer(ev.customer_id)
        if found is None or found.get("customer") is None:
            return  # deleted meanwhile: the pops keep what they showed
        card = p.CustomerCard.model_validate(found["customer"])
        for agent_id, pop in self._showing(ev.customer_id):  # again: calls may have ended during the read
            pop.customer = card
            if pop.source == "unavailable":
                pop.source = "crm"  # a card by id only (_unbuilt): the CRM's card now, read just now
            self._send(agent_id, p.PopFrame(call_id=pop.call_id, pop=pop).model_dump_json())
        log.info("customer %d changed by %s (%s): live pops refreshed", ev.customer_id, ev.actor,
                 ", ".join(ev.fields))

    def _holding(self, call_id: str) -> list[tuple[str, p.OfferView | p.CallView]]:
        """(agent, kept offer or call) of every agent whose console shows call ``call_id``."""
        found: list[tuple[str, p.OfferView | p.CallView]] = []
        for agent_id, snap in self.snaps.items():
            call = snap.calls.get(call_id)
            if call is not None:
                found.append((agent_id, call))
            elif snap.offer_call_id() == call_id:
                found.append((agent_id, snap.offer))  # type: ignore[arg-type]  # the call id says there is one
        return found

    async def customer_linked(self, ev: CustomerLinked) -> None:
        """A call's interaction was linked to another customer (committed): each console showing the
        call gets that customer's pop -- card, history, open cases, script, articles read again -- in a
        ``pop`` frame, and the kept offer or call has it (what a reload's hello shows). What the call
        itself told (IVR path, wait, skills, transfer note) stays as it was."""
        # Kept before any await, so a pop build for the call ending from now on sees the link.
        self._links.pop(ev.linkedid, None)
        self._links[ev.linkedid] = ev.customer_id
        if len(self._links) > LINKS_KEPT:
            del self._links[next(iter(self._links))]
        for agent_id, _ in self._holding(ev.linkedid):
            await self._relink(agent_id, ev)

    async def _relink(self, agent_id: str, ev: CustomerLinked) -> None:
        shown = dict(self._holding(ev.linkedid)).get(agent_id)
        if shown is None:
            return  # gone meanwhile
        old = shown.pop
        info: dict[str, Any] = {"customer_id": ev.customer_id, "queue": shown.queue, "direction": shown.direction}
        if isinstance(shown, p.CallView):
            info["caller_number"] = shown.peer_number
        else:
            info["caller_number"] = shown.caller_number
        if old is not None:
            info.update(caller_number=old.caller_number or info["caller_number"], queue=old.queue or info["queue"],
                        waited_s=old.waited_s, skills=dict(old.skills))
        try:
            built = p.Pop.model_validate(await self._build(ev.linkedid, agent_id, info))
        except Exception:
            log.exception("call %s linked to customer %d: the pop could not be built, the console shows what the "
                          "CRM's customer read gives", ev.linkedid, ev.customer_id)
            built = await self._unbuilt(ev, agent_id, info, None)
        if built.customer is None or built.customer.id != ev.customer_id:
            log.warning("call %s linked to customer %d: the CRM gave no card for them (%s), the console shows what "
                        "the CRM's customer read gives", ev.linkedid, ev.customer_id, built.source)
            built = await self._unbuilt(ev, agent_id, info, built)
        if self._links.get(ev.linkedid) != ev.customer_id:
            return  # linked again during the read: that link's refresh shows its customer
        shown = dict(self._holding(ev.linkedid)).get(agent_id)  # again: the call may have closed during the read
        if shown is None:
            return
        old = shown.pop  # again: the offer's own pop may have come during the read
        # A placeholder (the offer's pop still being built): the built pop is whole, the call's IVR path
        # too, or, built without them (``_unbuilt``), with those the offer's own pop gave the placeholder
        # (``snapshots``: it came during this read for the customer before the link).
        if old is not None and not old.complete:
            add_call_facts(built, old)
        pop = built if old is None or not old.complete else old.model_copy(update={
            "customer": built.customer, "interactions": built.interactions, "open_cases": built.open_cases,
            "script": built.script, "articles": built.articles, "source": built.source, "complete": True})
        shown.pop = pop
        if isinstance(shown, p.CallView):
            shown.customer_id = ev.customer_id  # as the ACD's call updates say from now on (EngineDesk)
        self._send(agent_id, p.PopFrame(call_id=ev.linkedid, pop=pop).model_dump_json())
        log.info("call %s linked to customer %d by %s: agent %s's pop shows them", ev.linkedid, ev.customer_id,
                 ev.actor, agent_id)

    async def _unbuilt(self, ev: CustomerLinked, agent_id: str, info: dict[str, Any], built: p.Pop | None) -> p.Pop:
        """The linked customer's pop when the CRM could not build it (``built``: what it built instead,
        whose call facts -- IVR path, intent -- stay): the customer read's card, history (without other
        agents' notes, as every pop) and open cases; failing that, a card with their id only (``source``
        unavailable: the console says the customer records are not loaded)."""
        found: dict[str, Any] | None = None
        if self.customers is not None:
            try:
                found = await self.customers.customer(ev.customer_id)
            except Exception:
                log.exception("call %s linked to customer %d: the customer could not be read either, the "
                              "console shows their id", ev.linkedid, ev.customer_id)
        base: dict[str, Any] = {"call_id": ev.linkedid, "caller_number": info.get("caller_number") or "",
                                "queue": info.get("queue"), "waited_s": info.get("waited_s") or 0.0,
                                "skills": info.get("skills") or {}}
        if built is not None:
            base = built.model_dump()
        base.update(complete=True, interactions=[], open_cases=[])
        if found is not None and (found.get("customer") or {}).get("id") == ev.customer_id:
            history = policy.others_notes_blanked(agent_id, found.get("interactions") or ())
            return p.Pop.model_validate({**base, "customer": found["customer"], "interactions": history[:5],
                                         "open_cases": found.get("open_cases") or [], "source": "crm"})
        return p.Pop.model_validate({**base, "customer": {"id": ev.customer_id, "name": ""}, "source": "unavailable"})
