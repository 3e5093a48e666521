"""Consultations: an attended transfer to an agent runs through the ACD, and a transferred call's pop.

The agent's side (``acd.consult_actions``) puts the caller on hold and hands the consultation here: it
is queued for the named target only (``required_agent``, not counted in the queue's figures), so
the router reserves the target and ``acd.ringing`` rings them with the screen pop. Its router id
is ``<linkedid>#consult`` (``LiveCall.router_id``), its "caller" the transferring agent's leg.

    answered   the target answered the transferring agent: the call shows "consulting"
    dropped    cancelled, not answered, the target logged out or their phone went offline before
               answering, or the target hung up (console or phone) during the
               consultation: the target is free at once, the caller back with the agent; the
               caller left, or the target hung up in the conference (they talked with the
               caller): the target wraps up, and in the conference caller and agent talk on
    adopted    the transfer completed (or the agent left the conference): the target holds the call

A consultation answered is the target's work on the caller's call: ``ConsultationAnswered`` when
they answer, ``ConsultationEnded`` when it is dropped or adopted (the call log's ``consult``
segment, their talk in the per-agent figures: docs/kpis.md).

A target whose phone becomes unreachable before answering (``target_unreachable``) is given
``PHONE_GRACE_S`` to come back first: a browser phone unregisters while its page reloads and
registers again a moment later, and that reload must not end the consultation. A phone still away
after it ends the consultation as a logout does (``target_offline``: ``consult_ended`` unavailable).
A reload while the consultation *rings* the phone is seen from the phone's SIP contact instead
(``acd.ring_contacts``, for queue calls and consultations alike: the ringing phone's device state
never says UNAVAILABLE): the ring to the contact that went away is nobody's no answer, a phone back
at a new contact within the grace is rung there again, and one still away after it ends the
consultation here (``phone_gone``), the caller on hold until then.

The service builds one (``acd.consultations``) and is seen from here as an ``acd.parts.ConsultationsHost``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from acd.calls import LiveCall
from acd.errors import AcdError
from acd.events import ConsultationAnswered, ConsultationEnded
from acd.parts import ConsultationsHost
from cti.journey import CallConnected

log = logging.getLogger(__name__)

# How long a consulted agent's phone may be unreachable before the consultation waiting for (or
# ringing) them ends: the console's browser phone re-registers within a second or two of a page
# reload (its credentials, the WSS connection, the REGISTER); a phone away longer is gone.
PHONE_GRACE_S = 5.0
_GRACE_POLL_S = 0.25  # how often the grace looks at the clock (the service's; a test's fake one)


async def grace_over(away: dict[str, object], agent_id: str, token: object, clock: Callable[[], float],
                     grace_s: float) -> bool:
    """Wait ``grace_s`` (on ``clock``, the service's; a test's fake one) while ``away[agent_id]`` is
    ``token``: True, and the grace taken out of ``away``, when it is still the same grace at the
    end; False when the phone came back or went away again meanwhile (that grace decides)."""
    deadline = clock() + grace_s
    while away.get(agent_id) is token:
        left = deadline - clock()
        if left <= 0:
            break
        await asyncio.sleep(min(_GRACE_POLL_S, left))
    if away.get(agent_id) is not token:
        return False
    del away[agent_id]
    return True


class Consultations:
    """The consultations the ACD offers or connects, by router id; ``acd`` owns the calls."""

    def __init__(self, acd: ConsultationsHost) -> None:
        self.acd = acd
        # Attended transfers to an agent, ringing or talking with the transferring agent: router id -> call.
        self.calls: dict[str, LiveCall] = {}
        # Consultations answered and not ended yet, router id -> the consulted agent (a requeued
        # consultation has lost its agent_id by its drop): their ConsultationEnded is due.
        self._talking: dict[str, str] = {}
        self.phone_grace_s = PHONE_GRACE_S
        # Consulted agents whose phone went unreachable, in their grace: agent -> its token (a phone
        # back in time, or away again, makes the grace under way void).
        self._away: dict[str, object] = {}

    def of_agent(self, agent_id: str) -> list[LiveCall]:
        """The consultations an agent was called into (ringing ones are not theirs yet)."""
        return [c for c in self.calls.values() if c.agent_id == agent_id and c.status != "queued"]

    def find(self, agent_id: str, linkedid: str) -> LiveCall | None:
        return next((c for c in self.calls.values() if c.linkedid == linkedid and c.agent_id == agent_id
                     and c.status != "queued"), None)

    async def enqueue(self, consult: LiveCall, target: str) -> None:
        """An attended transfer's consultation rings ``target`` through the ACD (reserved, popped)."""
        acd = self.acd
        consult.queued_at, consult.status = acd.clock(), "queued"
        self.calls[consult.rid] = consult
        try:
            await acd.decide(lambda t: acd.router.enqueue(
                consult.rid, consult.queue, t, priority=consult.priority, customer_id=consult.customer_id,
                required_agent=target, counted=False))
        except AcdError:
            self.calls.pop(consult.rid, None)
            raise

    async def drop(self, consult: LiveCall, *, wrap_up: bool, reason: str | None = None) -> None:
        """End a consultation in the ACD: an offer still ringing is withdrawn; a target who talked
        wraps up (``wrap_up``) or is available again at once. ``reason``: its ``ConsultationEnded``'s,
        by default caller_left (``wrap_up``) or cancelled."""
        acd = self.acd
        talked = consult.status in ("consulting", "conference")
        with contextlib.suppress(AcdError):  # without wrap-up: no wrap_up state, not even for an instant
            await acd.decide(lambda now: acd.router.withdraw(consult.rid, now, wrap_up=wrap_up))
        self.calls.pop(consult.rid, None)
        await self._ended(consult, reason or ("caller_left" if wrap_up else "cancelled"))
        if not talked or consult.agent_id is None:
            consult.status = "gone"
            return
        if wrap_up:
            consult.status = "ended"
            acd.wrapups[(consult.agent_id, consult.linkedid)] = consult
            await acd.call_update(consult, "ended")
            return
        consult.status = "gone"
        await acd.call_update(consult, "closed")

    async def left_conference(self, call: LiveCall) -> None:
        """The consulted party (an agent, or a number) left ``call``'s conference: the caller and the
        agent talk on without them; a consulted agent's consultation ends ("left"), they wrap up."""
        consult, call.consult = call.consult, None  # taken before any await: the call's end may race
        call.consult_channel = call.consult_target = None
        if consult is not None:
            await self.drop(consult, wrap_up=True, reason="left")
        await self.acd.call_update(call, call.status)

    async def adopt(self, consult: LiveCall, original: LiveCall) -> None:
        """The transfer completed: the consulted agent now holds the customer's call."""
        acd = self.acd
        now = acd.clock()
        self.calls.pop(consult.rid, None)
        await self._ended(consult, "transferred")
        consult.caller_channel = original.caller_channel
        consult.status, consult.answered_at = "talking", now
        acd.calls[consult.linkedid] = consult
        with contextlib.suppress(AcdError):
            await acd.decide(lambda t: acd.router.take_over(consult.rid, t))
        if consult.customer_id is not None and consult.agent_id is not None:
            acd.remember_agent(consult.customer_id, consult.agent_id, now)
        await acd.bus.publish(CallConnected(ts=now, linkedid=consult.linkedid, agent_id=consult.agent_id or "",
                                            queue=consult.queue))
        await acd.call_update(consult, "talking")

    async def answered(self, consult: LiveCall, now: float) -> None:
        """The router bridged the consultation: the consulted agent answered the transferring agent."""
        consult.status, consult.answered_at = "consulting", now
        original = self.acd.calls.get(consult.linkedid)
        if original is not None and original.consult is consult:
            original.consult_channel = consult.agent_channel
        if consult.agent_id is not None:
            self._talking[consult.rid] = consult.agent_id
            await self.acd.bus.publish(ConsultationAnswered(
                ts=now, linkedid=consult.linkedid, agent_id=consult.agent_id, from_agent=consult.transfer_from or "",
                queue=consult.queue or None))
        await self.acd.call_update(consult, "consulting")

    async def _ended(self, consult: LiveCall, reason: str) -> None:
        """The consulted agent's consultation is over (``ConsultationEnded``), if it was answered."""
        agent = self._talking.pop(consult.rid, None)
        if agent is not None:
            await self.acd.bus.publish(ConsultationEnded(ts=self.acd.clock(), linkedid=consult.linkedid,
                                                         agent_id=agent, reason=reason))

    async def requeued(self, consult: LiveCall, reason: str) -> None:
        """The consulted agent did not answer (``no_answer``) or logged out while the consultation
        waited for them (``target_logged_out``): the caller goes back to the agent. A failed offer
        (the PBX, not the agent) is offered again instead."""
        if reason == "offer_failed":
            return
        original = self.acd.calls.get(consult.linkedid)
        if original is not None and original.consult is consult:
            await self.acd.actions.cancel_consult(original.linkedid, reason=reason)

    async def target_unreachable(self, agent_id: str) -> None:
        """``agent_id``'s phone went offline: once ``phone_grace_s`` passed without it coming back
        (``target_reachable``), a consultation still waiting for them or ringing them (not answered)
        would wait for nobody, so the caller goes back to the agent (``target_offline``). The router
        keeps such a pinned call waiting meanwhile: it only stops offering calls to that phone."""
        if not self._waiting_for(agent_id):
            return
        token = self._away[agent_id] = object()
        self.acd.spawn(self._after_grace(agent_id, token), f"acd.consult_grace:{agent_id}")

    def target_reachable(self, agent_id: str) -> None:
        """``agent_id``'s phone is reachable again: a grace under way ends with nothing done."""
        self._away.pop(agent_id, None)

    def ringing(self, agent_id: str) -> LiveCall | None:
        """The consultation ringing ``agent_id``'s phone now (not answered), if any."""
        return next((c for c in self.calls.values() if c.status == "ringing" and c.agent_id == agent_id), None)

    def _waiting_for(self, agent_id: str) -> list[LiveCall]:
        """The consultations waiting for ``agent_id`` or ringing them (not answered)."""
        out = []
        for consult in [c for c in self.calls.values() if c.status in ("queued", "ringing")]:
            original = self.acd.calls.get(consult.linkedid)
            if (original is not None and original.consult is consult and original.status == "consulting"
                    and original.consult_target == ("agent", agent_id)):
                out.append(original)
        return out

    async def _after_grace(self, agent_id: str, token: object) -> None:
        if not await grace_over(self._away, agent_id, token, self.acd.clock, self.phone_grace_s):
            return  # back in time (a page reload), or away again: that grace decides
        log.info("acd: agent %s's phone is still unreachable after %.0f s: their consultation ends",
                 agent_id, self.phone_grace_s)
        await self.phone_gone(agent_id)

    async def phone_gone(self, agent_id: str) -> None:
        """``agent_id``'s phone stayed away past the grace: the consultations waiting for them or
        ringing them end (``target_offline``: ``consult_ended`` unavailable, the caller back with the
        transferring agent)."""
        for original in self._waiting_for(agent_id):
            with contextlib.suppress(AcdError):  # ended meanwhile another way
                await self.acd.actions.cancel_consult(original.linkedid, reason="target_offline")

    async def transfer_pop(self, call: LiveCall, agent_id: str, now: float) -> dict[str, Any] | None:
        """A transferred call's pop: the customer (``acd.pop_builder``) and the transfer with its note."""
        if call.transfer_from is None:
            return None  # the console builds the pop of a call from the queue
        info: dict[str, Any] = {"caller_number": call.caller_number, "customer_id": call.customer_id,
                                "queue": call.queue, "waited_s": now - call.queued_at,
                                "skills": call.skills or {}, "direction": call.direction}
        pop: dict[str, Any] = {k: v for k, v in info.items() if k in ("caller_number", "queue", "waited_s", "skills")}
        if self.acd.pop_builder is not None:
            try:
                pop = dict(await asyncio.wait_for(self.acd.pop_builder(call.linkedid, agent_id, info), 2.0))
            except Exception:  # the CRM failing must not stop the phone ringing
                log.exception("acd: pop of transferred call %s failed", call.linkedid)
        pop["transfer"] = {"from_agent": call.transfer_from, "note": call.note, "tags": list(call.tags),
                           "attributes": dict(call.attributes or {})}
        return pop
