"""What each agent's console shows, kept from the bus: state, current offer, calls and their pops.

* The hub (``agent_console.hub``, which extends ``Snapshots`` with the sockets) keeps each agent's
  state, current offer, calls and their pops from the bus events, so a (re)connecting client's first
  frame ``hello`` holds everything its screen needs; each change goes to the agent's console as a
  frame (``state``, ``offer``, ``offer_withdrawn``, ``call``, ``pop``).
* Offers: when the event carries no pop the hub asks its PopSource, waiting at most
  ``pop_timeout_s``; after that the offer goes out with a placeholder pop and a ``pop`` frame
  follows when the CRM answers. An outbound call's pop is looked up when its first update arrives.
* A customer changed in the CRM or a call linked to another customer: the kept pops are refreshed
  and their agents get a ``pop`` frame (``agent_console.pop_refresh``).
* The offer frame's hot path: the pop as plain, validated data (``plain_pop``), the frame written by
  orjson (``plain_offer_frame``); an ``AgentSnapshot`` builds the offer's view only when read.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pydantic import ValidationError

from acd.events import (
    AgentCallUpdate,
    AgentNotReadyPending,
    AgentOffer,
    AgentOfferWithdrawn,
    AgentStateChanged,
    ConsoleEvent,
)
from agent_console import policy
from agent_console import protocol as p
from agent_console.deadlines import Deadlines
from agent_console.plain import dumps, plain_validator
from agent_console.pop_refresh import PopRefresh, add_call_facts
from agent_console.ports import CustomerSearch, PopSource
from crm_core.events import CustomerChanged, CustomerLinked
from cti.bus import EventBus
from cti.tasks import TaskSet

log = logging.getLogger(__name__)


# The offer frame's hot path (agent_console/plain.py): the pop validated into plain data, the frame
# written by orjson; the models are built from that data only when something reads the snapshot.
_POP = plain_validator(p.Pop)
_OFFER = plain_validator(p.OfferView, passthrough=("pop",))


def plain_pop(linkedid: str, raw: dict[str, Any], agent_id: str) -> dict[str, Any]:
    """``Pop.model_validate(...).model_dump()`` of a complete pop, without the models; the customer's
    last contacts without other agents' notes (agent_console.policy)."""
    interactions = policy.others_notes_blanked(agent_id, raw.get("interactions") or ())
    return _POP.validate_python(  # type: ignore[no-any-return]
        {**raw, "call_id": linkedid, "complete": True, "interactions": interactions})


def plain_offer_frame(ev: AgentOffer, pop: dict[str, Any]) -> bytes:
    """``offer_frame(offer_view(ev, Pop(**pop)))`` in UTF-8, the same bytes, from plain data."""
    offer = _OFFER.validate_python({"call_id": ev.linkedid, "queue": ev.queue, "caller_number": ev.caller_number,
                                    "offered_at": ev.ts, "ring_timeout_s": ev.ring_timeout_s,
                                    "direction": ev.direction, "campaign": ev.campaign, "callback": ev.callback,
                                    "pop": pop})
    return dumps({"type": "offer", "offer": offer})


def placeholder(ev: AgentOffer) -> p.Pop:
    # The plain constructor, not model_construct: with pydantic 2.14 model_construct (a Python
    # loop over the fields) costs 5x the validating constructor for these few typed fields.
    return p.Pop(call_id=ev.linkedid, caller_number=ev.caller_number, waited_s=ev.waited_s, queue=ev.queue,
                 skills=dict(ev.skills or {}), complete=False)


def offer_view(ev: AgentOffer, pop: p.Pop | None = None) -> p.OfferView:
    return p.OfferView(call_id=ev.linkedid, queue=ev.queue, caller_number=ev.caller_number, offered_at=ev.ts,
                       ring_timeout_s=ev.ring_timeout_s, direction=ev.direction, campaign=ev.campaign,
                       callback=ev.callback, pop=pop or placeholder(ev))


def offer_frame(offer: p.OfferView) -> str:
    """``OfferFrame(offer=offer).model_dump_json()`` without building and re-checking the wrapper."""
    return '{"type":"offer","offer":' + offer.model_dump_json() + "}"


class AgentSnapshot:
    """An agent's state, current offer and calls.

    The current offer may be held as its bus event only (``pending``): while the CRM looks the caller
    up, the view with a placeholder pop is built only if something reads it (a hello, the pop timeout);
    in the usual case the CRM answers in time and the view is built once, with the real pop.
    """

    __slots__ = ("_offer", "_pending", "_pending_pop", "calls", "offer_ev", "state")

    def __init__(self, state: p.AgentStateView, offer: p.OfferView | None = None,
                 calls: dict[str, p.CallView] | None = None) -> None:
        self.state = state
        self.calls: dict[str, p.CallView] = calls if calls is not None else {}
        self.offer_ev: AgentOffer | None = None  # the bus event of the current offer (None: seeded or none)
        self._offer, self._pending = offer, None  # type: tuple[p.OfferView | None, AgentOffer | None]
        self._pending_pop: dict[str, Any] | None = None  # the pending offer's pop as plain data, once known

    @property
    def offer(self) -> p.OfferView | None:
        if self._pending is not None:
            pop = p.Pop.model_validate(self._pending_pop) if self._pending_pop is not None else None
            self._offer, self._pending, self._pending_pop = offer_view(self._pending, pop), None, None
        return self._offer

    @offer.setter
    def offer(self, view: p.OfferView | None) -> None:
        self._offer, self._pending, self._pending_pop, self.offer_ev = view, None, None, None

    def offer_pending(self, ev: AgentOffer, pop: dict[str, Any] | None = None) -> None:
        """``ev`` is the current offer; its view is built when read (with ``pop``: plain, validated)."""
        self._offer, self._pending, self._pending_pop, self.offer_ev = None, ev, pop, ev

    def offer_built(self, ev: AgentOffer, view: p.OfferView) -> None:
        self._offer, self._pending, self._pending_pop, self.offer_ev = view, None, None, ev

    def pending_is(self, ev: AgentOffer) -> bool:
        """``ev`` is the current offer and its view has not been built (nobody has read it)."""
        return self._pending is ev

    def offer_call_id(self) -> str | None:
        """The current offer's call id, without building a pending view."""
        if self._pending is not None:
            return self._pending.linkedid
        return self._offer.call_id if self._offer is not None else None


class Snapshots:
    """The agents' snapshots kept from the bus events, and the frames that tell their consoles."""

    def __init__(self, *, pops: PopSource, pop_timeout_s: float, customers: CustomerSearch | None) -> None:
        self.pops, self.pop_timeout_s = pops, pop_timeout_s
        self.snaps: dict[str, AgentSnapshot] = {}
        self._tasks = TaskSet(log, "console hub: %s failed")  # CRM look-ups for pops, hard closes
        self._deadlines = Deadlines()
        self._spawned = 0
        self.refresh = PopRefresh(self.snaps, self._build, self._send, customers)

    def subscribe(self, bus: EventBus) -> None:
        bus.subscribe(ConsoleEvent, self.on_event, name="agent_console.hub")
        bus.subscribe(CustomerChanged, self.refresh.customer_changed, name="agent_console.hub.customers")
        bus.subscribe(CustomerLinked, self.refresh.customer_linked, name="agent_console.hub.links")

    def _send(self, agent_id: str, frame: str | bytes) -> None:
        """Hand ``frame`` to the agent's console, if one is connected (the hub's sockets)."""
        raise NotImplementedError

    # -- bus side --------------------------------------------------------------------------------

    def _snap(self, agent_id: str) -> AgentSnapshot:
        snap = self.snaps.get(agent_id)
        if snap is None:
            snap = self.snaps[agent_id] = AgentSnapshot(p.AgentStateView(agent_id=agent_id))
        return snap

    async def on_event(self, ev: ConsoleEvent) -> None:
        match ev:
            case AgentStateChanged():
                view = p.AgentStateView(agent_id=ev.agent_id, state=ev.state, reason=ev.reason,
                                        since=ev.since or ev.ts, queues=list(ev.queues),
                                        not_ready_after_call=ev.not_ready_after_call, wrap_until=ev.wrap_until)
                self._snap(ev.agent_id).state = view
                self._send(ev.agent_id, p.StateFrame(state=view).model_dump_json())
            case AgentNotReadyPending():
                snap = self._snap(ev.agent_id)
                snap.state = snap.state.model_copy(update={"not_ready_after_call": ev.reason})
                self._send(ev.agent_id, p.StateFrame(state=snap.state).model_dump_json())
            case AgentOffer():
                await self._offer(ev)
            case AgentOfferWithdrawn():
                snap = self._snap(ev.agent_id)
                if snap.offer_call_id() == ev.linkedid:
                    snap.offer = None
                snap.calls.pop(ev.linkedid, None)
                self.refresh.forget(ev.linkedid)
                self._send(ev.agent_id, p.OfferWithdrawnFrame(call_id=ev.linkedid, reason=ev.reason).model_dump_json())
            case AgentCallUpdate():
                self._call_update(ev)

    def _call_update(self, ev: AgentCallUpdate) -> None:
        snap = self._snap(ev.agent_id)
        old = snap.calls.get(ev.linkedid)
        pop = old.pop if old is not None else None
        if snap.offer_call_id() == ev.linkedid:
            pop = pop or snap.offer.pop  # type: ignore[union-attr]  # the call id says there is one
            if ev.status != "ringing":
                snap.offer = None
        linked = self.refresh.linked_customer(ev.linkedid)  # a link wins over an update published before it
        customer_id = linked if linked is not None else ev.customer_id
        view = p.CallView(call_id=ev.linkedid, status=ev.status, direction=ev.direction, peer_number=ev.peer_number,
                          customer_id=customer_id, queue=ev.queue, started_at=ev.started_at or ev.ts,
                          detail=ev.detail, pop=pop)
        if ev.status == "closed":
            snap.calls.pop(ev.linkedid, None)
            self.refresh.forget(ev.linkedid)
        else:
            snap.calls[ev.linkedid] = view
        self._send(ev.agent_id, p.CallFrame(call=view).model_dump_json())
        if old is None and ev.direction == "outbound" and pop is None:
            info = {"caller_number": ev.peer_number, "customer_id": customer_id, "queue": ev.queue,
                    "direction": "outbound"}
            self._tasks.spawn(self._late_pop(ev.agent_id, ev.linkedid, self._build(ev.linkedid, ev.agent_id, info)),
                              f"hub.late_pop:{ev.linkedid}")

    async def _build(self, linkedid: str, agent_id: str, info: dict[str, Any]) -> dict[str, Any]:
        """The pop as plain, validated data (a ``Pop``'s ``model_dump()``)."""
        return plain_pop(linkedid, await self.pops.build_pop(linkedid, agent_id, info), agent_id)

    async def _offer(self, ev: AgentOffer) -> None:
        snap = self._snap(ev.agent_id)
        if ev.pop is not None:
            try:
                pop = plain_pop(ev.linkedid, ev.pop, ev.agent_id)
            except ValidationError:
                log.exception("offer %s: malformed pop from publisher", ev.linkedid)
                offer = offer_view(ev)
                snap.offer_built(ev, offer)
                self._send(ev.agent_id, offer_frame(offer))
                return
            snap.offer_pending(ev, pop)
            self._send(ev.agent_id, plain_offer_frame(ev, pop))
            return
        snap.offer_pending(ev)  # a reconnect during the CRM look-up still sees the offer (built then)
        # The CRM look-up runs beside the bus worker, so a slow CRM never delays other agents' events.
        self._tasks.spawn(self._deliver_offer(ev), f"hub.offer:{ev.linkedid}")
        # Let them (and the socket writers) run every few offers: in a burst the first pops go out at
        # once instead of after the whole burst has been taken off the bus. Not after every offer:
        # each yield is a turn of the loop (an epoll call) per offer.
        self._spawned += 1
        if self._spawned % 8 == 0:
            await asyncio.sleep(0)

    async def _deliver_offer(self, ev: AgentOffer) -> None:
        linked = self.refresh.linked_customer(ev.linkedid)
        info = {"caller_number": ev.caller_number, "customer_id": linked if linked is not None else ev.customer_id,
                "queue": ev.queue, "waited_s": ev.waited_s, "skills": ev.skills or {}, "direction": ev.direction}
        snap = self._snap(ev.agent_id)
        placeholder_sent = False

        def _slow() -> None:
            nonlocal placeholder_sent
            if snap.offer_ev is ev:
                placeholder_sent = True
                log.warning("offer %s: pop not ready in %.0f ms, sent placeholder", ev.linkedid,
                            self.pop_timeout_s * 1e3)
                self._send(ev.agent_id, offer_frame(snap.offer))  # type: ignore[arg-type]  # current: built here

        # A deadline rather than a second task + asyncio.wait (or a loop timer each): see deadlines.py.
        timer = self._deadlines.add(self.pop_timeout_s, _slow)
        try:
            pop: dict[str, Any] | None = await self._build(ev.linkedid, ev.agent_id, info)
        except Exception:
            log.exception("offer %s: pop failed", ev.linkedid)
            pop = None
        finally:
            timer.cancel()
        facts: p.Pop | None = None  # the offer's own pop when a link dropped it: the call's facts in it
        if pop is not None and not self.refresh.current(ev.linkedid, pop):
            # Linked to another customer during the look-up: that link's refresh shows them, whichever ends
            # last; what the call told (its IVR path...) is the call's, and goes to the pop shown.
            log.info("offer %s: linked during the pop's look-up, the link's pop stands", ev.linkedid)
            facts, pop = p.Pop.model_validate(pop), None
        if snap.offer_ev is ev:
            if pop is not None and snap.pending_is(ev):
                # Nobody read the pending offer: the frame from plain data, the view only if read later.
                snap.offer_pending(ev, pop)
                self._send(ev.agent_id, plain_offer_frame(ev, pop))
                return
            offer: p.OfferView = snap.offer  # type: ignore[assignment]  # current, so present
            model = p.Pop.model_validate(pop) if pop is not None else None
            if model is not None:
                offer.pop = model
            added = facts is not None and add_call_facts(offer.pop, facts)
            if not placeholder_sent:
                self._send(ev.agent_id, offer_frame(offer))
            elif model is not None or added:
                self._send(ev.agent_id, p.PopFrame(call_id=ev.linkedid, pop=offer.pop).model_dump_json())
            return
        # Answered (or withdrawn) while the CRM looked up the caller: give the call its pop.
        call = snap.calls.get(ev.linkedid)
        if call is not None and pop is not None:
            call.pop = p.Pop.model_validate(pop)
            self._send(ev.agent_id, p.PopFrame(call_id=ev.linkedid, pop=call.pop).model_dump_json())
        elif call is not None and call.pop is not None and facts is not None and add_call_facts(call.pop, facts):
            self._send(ev.agent_id, p.PopFrame(call_id=ev.linkedid, pop=call.pop).model_dump_json())

    async def _late_pop(self, agent_id: str, call_id: str, pending: Any) -> None:
        try:
            raw = await pending
            pop = p.Pop.model_validate(raw)
        except Exception:
            log.exception("pop for %s failed", call_id)
            return
        if not self.refresh.current(call_id, raw):
            return  # linked to another customer during the look-up: that link's refresh shows them
        snap = self._snap(agent_id)
        if snap.offer_call_id() == call_id:
            snap.offer.pop = pop  # type: ignore[union-attr]  # the call id says there is one
        elif call_id in snap.calls:
            snap.calls[call_id].pop = pop
        else:
            return
        self._send(agent_id, p.PopFrame(call_id=call_id, pop=pop).model_dump_json())
