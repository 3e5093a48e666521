"""A queue call or a consultation ringing an agent's phone when that phone moves to a new SIP
contact: a browser phone's page reloaded while the call rings it.

Asterisk does not fail the ring when the page's WebSocket closes: it rings the removed contact
until the ring's timeout, and that ring was then the agent's no answer (not ready "missed", the
caller back at the queue's head), although the reloaded page registered again within a second.
The pure watch (``acd.phone_contacts``) says what each ContactStatus means for the ring under way;
here it is carried out:

- the phone's last contact removed (AWAY): the ring's outcome is nobody's (its task is cancelled)
  and the agent has ``PHONE_GRACE_S`` to come back;
- a contact there again for that ring (RING_AGAIN): the router's ``offer_failed(reason="ring_again")``
  hangs the old ring up and rings the same agent with the same call at once (the caller keeps
  waiting on the queue's music at its place, the agent stays reserved);
- not back within the grace: the phone counts as offline, as a device state UNAVAILABLE makes it
  (the agent stays available, offered nothing until it registers again), then a queue call's
  offer is withdrawn unblamed (``phone_lost``: the caller waits at its place again, or goes to the
  next agent) and a consultation ends (``acd.consultations``' ``phone_gone``: the caller back with
  the transferring agent). Offline first: the agent freed must not be offered the next caller on
  a phone with no contact (that ring would fail at once, a miss).

The follower (``acd.follower``) builds one and hands it the agents' phones' ContactStatus.

    moves = RingContacts(acd, offline=follower.phone_lost)
    await moves.contact_status("1001", "sip:x@10.0.0.1:5060;transport=WS", "Removed")
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

from acd.calls import LiveCall
from acd.consultations import PHONE_GRACE_S, grace_over
from acd.decisions import Decision
from acd.errors import AcdError
from acd.parts import RingContactsHost
from acd.phone_contacts import ContactWatch, Step

log = logging.getLogger(__name__)


class RingContacts:
    """The queue calls' rings whose phone lost its contact, waiting for it to come back."""

    def __init__(self, acd: RingContactsHost, *, offline: Callable[[str, float], list[Decision]]) -> None:
        self.acd = acd
        # The router step that makes the agent's phone offline (and notes it as told): the follower's.
        self._offline = offline
        self.contacts = ContactWatch()
        self.phone_grace_s = PHONE_GRACE_S
        self._away: dict[str, object] = {}  # agent -> the token of their grace under way

    def _ringing(self, agent_id: str) -> LiveCall | None:
        """The queue call or the consultation ringing ``agent_id`` whose ring has not been answered."""
        return next((c for c in self.acd.calls.values() if c.status == "ringing" and c.agent_id == agent_id
                     and c.router_id is None and c.agent_channel is None), None) \
            or self.acd.consultations.ringing(agent_id)

    async def contact_status(self, agent_id: str, uri: str, status: str) -> None:
        """``agent_id``'s phone's SIP contact ``uri`` changed (``status``: Asterisk's ContactStatus)."""
        call = self._ringing(agent_id)
        step = self.contacts.seen(agent_id, uri, status, ringing=call.rid if call is not None else None)
        if call is None or step is Step.NONE:
            return
        if call.ring_task is not None:
            # That ring reaches nobody: its end (no answer, or a failure) is not the agent's doing.
            call.ring_task.cancel()
        if step is Step.AWAY:
            log.info("acd: agent %s's phone lost its contact while call %s rang it: waiting %.0f s for it to "
                     "register again", agent_id, call.linkedid, self.phone_grace_s)
            token = self._away[agent_id] = object()
            self.acd.spawn(self._after_grace(agent_id, call, token), f"acd.ring_grace:{agent_id}")
            return
        self._away.pop(agent_id, None)
        log.info("acd: agent %s's phone registered at a new contact while call %s rang it: rung again",
                 agent_id, call.linkedid)
        with contextlib.suppress(AcdError):  # ended meanwhile another way
            await self.acd.decide(lambda now: self.acd.router.offer_failed(call.rid, agent_id, now,
                                                                          reason="ring_again"))

    async def _after_grace(self, agent_id: str, call: LiveCall, token: object) -> None:
        acd = self.acd
        if not await grace_over(self._away, agent_id, token, acd.clock, self.phone_grace_s):
            return  # back in time (rung again), or away again: that grace decides
        self.contacts.settled(agent_id)

        consultation = call.router_id is not None
        gone: list[bool] = []

        def withdraw(now: float) -> list[Decision]:
            if call.rid not in acd.router.agent(agent_id).offers:
                return []  # the caller hung up, or the offer ended another way, meanwhile
            log.info("acd: agent %s's phone is still away after %.0f s: the offer of %s %s is withdrawn and "
                     "the phone counts as offline", agent_id, self.phone_grace_s,
                     "consultation" if consultation else "call", call.linkedid)
            gone.append(True)
            out = self._offline(agent_id, now)
            if not consultation:
                out += acd.router.offer_failed(call.rid, agent_id, now, reason="phone_lost")
            return out

        with contextlib.suppress(AcdError):  # logged out meanwhile
            await acd.decide(withdraw)
        if gone and consultation:  # it ends: the caller back with the transferring agent
            await acd.consultations.phone_gone(agent_id)
