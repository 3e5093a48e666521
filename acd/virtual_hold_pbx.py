"""Virtual hold on the PBX: a waiting caller presses a key, hangs up and keeps its place; at its turn
the engine calls it back and hands it to the agent the router reserved (docs/callbacks.md).

- Offering the key: every second the callers waiting on music in a queue with ``virtual_hold:`` are
  checked (``acd.virtual_hold.offer_due``); one that is due is redirected to ``cti-vhold-offer``,
  whose ``vhold-offer`` FastAGI route plays the prompt and listens for the key, then returns the
  caller to the music; one waits while a position announcement plays (``acd.announce.PromptFloor``).
  A caller the callback would refuse (``callback_number``: no number, no route, toll fraud) is
  never offered it.
  The key pressed: ``accept`` makes its router entry virtual
  (``Router.hold_virtually``), publishes ``QueueLeft(reason="virtual_hold")`` (the call is no
  abandon) and the route plays the goodbye and hangs up.
- Web requests (``request``) enter the queue as virtual entries from the start; ``cancel`` takes an
  entry out of its queue (its requester, a supervisor) unless its callback is under way.
- The turn: the router reserves an agent with ``Offer(callback=True)``; ``turn`` has the customer
  called back (``acd.virtual_hold_calls``: the callback, its ``vhold-answer`` route, the hand-over
  to the agent, the retries).
- Every change of an entry is saved through the ``VirtualHoldStore`` port (the CRM's table in the
  engine): a restarted engine puts open entries back at their place (``recover``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

from acd.calls import LiveCall
from acd.decisions import Decision, Offer
from acd.errors import AcdError, IllegalTransition, InvalidRequest, UnknownCall, UnknownQueue
from acd.model import CallState
from acd.survey import play_prompt
from acd.virtual_hold import (
    EntryEvent,
    EntryState,
    VirtualEntry,
    VirtualHoldPolicy,
    VirtualHoldStore,
    callback_language,
    next_state,
    offer_due,
)
from acd.virtual_hold_calls import ID_VAR, CallbackCalls
from cti.agi.session import AgiSession
from cti.errors import AgiHangup, CtiError
from cti.journey import QueueLeft
from cti.tasks import cancel_all_and_wait
from cti.trunks import toll_fraud_refusal

if TYPE_CHECKING:
    from acd.delivery import AcdService

log = logging.getLogger(__name__)

OFFER_CONTEXT = "cti-vhold-offer"


class VirtualHold:
    """Offers the key, keeps the entries, and calls customers back at their turn."""

    def __init__(self, acd: AcdService, policies: Mapping[str, VirtualHoldPolicy], store: VirtualHoldStore, *,
                 check_s: float = 1.0, far_end_wait_s: float = 1.0) -> None:
        self.acd, self.store, self.check_s = acd, store, check_s
        self.policies: dict[str, VirtualHoldPolicy] = dict(policies)
        self.entries: dict[str, VirtualEntry] = {}  # open entries by router id
        self._offers: dict[str, tuple[int, float]] = {}  # linkedid -> (times offered, last offer)
        self._not_offered: set[tuple[str, str]] = set()  # (linkedid, queue): the callback would refuse it
        # The entries' turns: the customers called back (acd.virtual_hold_calls).
        self.calling = CallbackCalls(acd, self.policies, store, self.entries, far_end_wait_s=far_end_wait_s)
        self._loop: asyncio.Task[None] | None = None
        acd.callbacks = self

    # -- life cycle -----------------------------------------------------------------------------
    async def recover(self) -> int:
        """Put the saved open entries back at their place in the router (after a restart)."""
        entries = await self.store.open_entries()
        for entry in sorted(entries, key=lambda e: e.entered_at):
            entry.state = EntryState.VIRTUAL  # a callback that was ringing at the crash is not counted
            self.entries[entry.entry_id] = entry
            try:
                await self.acd.decide(functools.partial(self._restore, entry))
            except AcdError as err:
                log.warning("virtual hold %s could not be restored: %s", entry.entry_id, err.message)
                self.entries.pop(entry.entry_id, None)
        if entries:
            log.info("virtual hold: %d entries back in their queues", len(self.entries))
        return len(self.entries)

    def _restore(self, e: VirtualEntry, now: float) -> list[Decision]:
        return self.acd.router.restore_waiting(
            e.entry_id, e.queue, now, entered_at=e.entered_at, skills=e.skills, priority=e.priority,
            customer_id=e.customer_id, virtual=True, queue_entered_at=e.queue_entered_at, put_back_at=e.put_back_at,
            moved_wait_s=e.moved_wait_s)

    async def start(self) -> None:
        self._loop = asyncio.create_task(self._offer_loop(), name="vhold.offers")

    async def stop(self) -> None:
        await cancel_all_and_wait([self._loop], failures="log")
        await self.calling.stop()

    # -- offering the key -----------------------------------------------------------------------
    async def _offer_loop(self) -> None:
        while True:
            await asyncio.sleep(self.check_s)
            try:
                await self.offer_due_callers()
            except Exception:
                log.exception("virtual hold: offering the key failed")

    async def offer_due_callers(self) -> None:
        now = self.acd.clock()
        for gone in [lid for lid in self._offers if lid not in self.acd.calls]:
            del self._offers[gone]
        self._not_offered = {(lid, q) for lid, q in self._not_offered if lid in self.acd.calls}
        estimates: dict[str, dict[str, float]] = {}
        for queue in self.policies:  # one pass per queue, not one scan of the queue per caller
            with contextlib.suppress(UnknownQueue):
                estimates[queue] = self.acd.router.estimates(queue)
        for call in list(self.acd.calls.values()):
            policy = self.policies.get(call.queue)
            if (policy is None or call.status != "queued" or call.direction != "inbound" or call.router_id
                    or (call.linkedid, call.queue) in self._not_offered):
                continue
            ewt = estimates.get(call.queue, {}).get(call.linkedid)
            if ewt is None:
                continue
            count, last = self._offers.get(call.linkedid, (0, None))
            if not offer_due(policy, waited_s=now - call.queued_at, ewt_s=ewt, offers=count, last_offer_at=last,
                             now=now):
                continue
            try:  # a caller the key would refuse is not offered it (pressed, it would do nothing)
                self.callback_number(call)
            except AcdError as err:
                self._not_offered.add((call.linkedid, call.queue))  # a route is a queue's: asked again after a move
                log.info("virtual hold: %s is not offered the key: %s", call.linkedid, err.message)
                continue
            # Not over an announcement in progress: due still, it is offered once that has ended.
            if not self.acd.floor.claim(call.caller_channel, "offer", now):
                continue
            self._offers[call.linkedid] = (count + 1, now)
            try:
                control = self.acd.control
                await control.set_var(call.caller_channel, ID_VAR, call.linkedid)
                await control.set_var(call.caller_channel, "CTI_VH_KEY", policy.key)
                await control.set_var(call.caller_channel, "CTI_VH_PROMPT", policy.prompt)
                await control.redirect(call.caller_channel, OFFER_CONTEXT, "s")
            except CtiError as err:
                self.acd.floor.release(call.caller_channel, "offer")
                log.info("virtual hold: could not offer the key to %s: %s", call.linkedid, err.message)

    async def accept(self, linkedid: str, *, language: str | None = None) -> bool:
        """The caller pressed the key: its entry goes virtual. False when it is no longer waiting.
        ``language``: its channel's (the callback speaks it)."""
        call = self.acd.calls.get(linkedid)
        if call is None or call.status != "queued" or call.queue not in self.policies:
            return False
        try:
            number = self.callback_number(call)
        except AcdError as err:  # the caller keeps waiting on the line
            log.warning("virtual hold: %s is not called back: %s", linkedid, err.message)
            return False
        try:
            await self.acd.decide(lambda now: self.acd.router.hold_virtually(linkedid, now))
            stay_from = self.acd.router.call(linkedid).entered_queue_at  # QueueLeft.waited_s: this stay
        except AcdError as err:
            log.info("virtual hold: %s could not go virtual: %s", linkedid, err.message)
            return False
        # From here on the ACD does not see this caller's hang-up: it is no abandon.
        self.acd.calls.pop(linkedid, None)
        self._offers.pop(linkedid, None)
        # Its stay, kept so that a restarted engine's figures count this stay, not one since the first
        # entry (docs/callbacks.md): its start as the router has it (an overflow is due at its own
        # time, the step that ran it may be later), the put-back and the carried waits as the caller's
        # entry on its channel has them (acd.recovery).
        entry = VirtualEntry(linkedid, number, call.queue, call.queued_at, call.priority,
                             dict(call.skills) if call.skills else None, call.customer_id,
                             queue_entered_at=stay_from, put_back_at=call.put_back_at,
                             moved_wait_s=call.moved_wait_s, language=callback_language(language))
        self.entries[linkedid] = entry
        await self.store.save(entry)
        now = self.acd.clock()
        await self.acd.bus.publish(QueueLeft(ts=now, linkedid=linkedid, queue=call.queue, reason="virtual_hold",
                                             waited_s=max(0.0, now - stay_from)))
        return True

    def callback_number(self, call: LiveCall) -> str:
        """The E.164 number ``call``'s caller would be called back on: the one rule of the offer and
        the key. InvalidRequest naming ``number`` when there is none: withheld, no outbound route
        takes it, or one toll fraud aims at (a caller ID is the caller's to choose on many trunks:
        ``cti.trunks.toll_fraud_refusal``, as for a web request)."""
        if not call.caller_number:
            raise InvalidRequest("number", "the caller's number is withheld")
        number = self.normalise(call.caller_number, call.queue)
        refused = toll_fraud_refusal(number)
        if refused is not None:
            raise InvalidRequest("number", f"{number} {refused}")
        return number

    # -- web requests ---------------------------------------------------------------------------
    def normalise(self, number: str, queue: str) -> str:
        """``number`` in E.164 when it can be called back (InvalidRequest naming ``number`` if not)."""
        return self.acd.actions.route(number, queue=queue if queue in self.policies else None).e164

    async def request(self, number: str, queue: str, *, customer_id: int | None = None,
                      language: str | None = None) -> VirtualEntry:
        """A callback asked for on the web: a virtual entry at the end of ``queue``. ``number`` is
        normalised (E.164) and must be routable; InvalidRequest / UnknownQueue otherwise.
        ``language``: the customer's (a sound directory's name), which the callback speaks."""
        if queue not in self.policies:
            try:
                self.acd.router.waiting(queue)
            except UnknownQueue:
                raise UnknownQueue(f"no queue {queue!r}") from None
            raise InvalidRequest("queue", f"queue {queue!r} takes no callback requests (no virtual_hold)")
        target = self.acd.actions.route(number, queue=queue)
        e164 = target.e164
        if any(e.number == e164 and e.queue == queue for e in self.entries.values()):
            raise InvalidRequest("number", "a callback for this number is already waiting in this queue")
        entry = VirtualEntry(f"web-{uuid.uuid4().hex}", e164, queue, self.acd.clock(), customer_id=customer_id,
                             source="web", language=callback_language(language))
        self.entries[entry.entry_id] = entry  # before any await: the same number asked twice at once
        try:
            await self.store.save(entry)
        except BaseException:  # not saved, not accepted: nothing may stay to refuse the site's next try
            self.entries.pop(entry.entry_id, None)
            raise
        try:
            await self.acd.decide(lambda now: self.acd.router.enqueue(
                entry.entry_id, queue, now, customer_id=customer_id, virtual=True))
            self.acd.router.call(entry.entry_id)
        except UnknownCall:  # a queue limit (no agents, full) sent it away at once
            entry.state = next_state(entry.entry_id, entry.state, EntryEvent.CANCEL)
            self.entries.pop(entry.entry_id, None)
            await self.store.save(entry)
            raise InvalidRequest("queue", f"queue {queue!r} takes no callbacks now (no agents or full)") from None
        return entry

    async def cancel(self, entry_id: str, *, actor: str) -> VirtualEntry:
        """Nobody is to call this entry back: it leaves its queue (not an abandon). UnknownCall when
        no such entry waits; IllegalTransition once its turn came (an agent reserved, or calling)."""
        entry = self.entries.get(entry_id)
        if entry is None:
            raise UnknownCall(f"no callback request {entry_id!r} is waiting")

        def leave(now: float) -> list[Decision]:  # checked under the router's lock: no turn meanwhile
            state = self.acd.router.call(entry_id).state
            if entry.state is not EntryState.VIRTUAL or state is not CallState.WAITING:
                raise IllegalTransition(f"callback request {entry_id}", "called back now", "cancel")
            return self.acd.router.withdraw(entry_id, now)

        await self.acd.decide(leave)
        entry.state = next_state(entry_id, entry.state, EntryEvent.CANCEL)
        self.entries.pop(entry_id, None)
        await self.store.save(entry)
        log.info("virtual hold %s: cancelled by %s", entry_id, actor)
        return entry

    # -- the entries' turns (acd.virtual_hold_calls) ----------------------------------------------
    def queue_of(self, entry_id: str) -> str | None:
        """The queue a waiting entry keeps its place in; None when no such entry waits."""
        entry = self.entries.get(entry_id)
        return entry.queue if entry is not None else None

    def number_of(self, entry_id: str) -> str | None:
        entry = self.entries.get(entry_id)
        return entry.number if entry is not None else None

    def turn(self, offer: Offer) -> None:
        """The router reserved ``offer.agent_id`` for this entry: call the customer (a task)."""
        self.calling.turn(offer)

    # -- FastAGI routes -------------------------------------------------------------------------
    def routes(self) -> dict[str, Callable[[AgiSession], Awaitable[None]]]:
        return {"vhold-offer": self._offer_route, "vhold-answer": self.calling.answer_route}

    async def _offer_route(self, session: AgiSession) -> None:
        try:
            linkedid = await session.get_variable(ID_VAR) or ""
            key = await session.get_variable("CTI_VH_KEY") or "*"
            prompt = await session.get_variable("CTI_VH_PROMPT") or "cti/vhold_offer"
            digit = await play_prompt(session, prompt, key) or await session.wait_for_digit(5000)
            if digit != key or not await self.accept(linkedid, language=session.env.get("language")):
                return  # back to the music
            policy = self.policies.get(self.entries[linkedid].queue) if linkedid in self.entries else None
            await play_prompt(session, policy.accepted_prompt if policy else "cti/thanks")
            await session.hangup()
        except AgiHangup:
            pass
        finally:  # back to the music (or gone): an announcement may come
            self.acd.floor.release(session.env.get("channel", ""), "offer")
