"""An agent's phone that moves to a new SIP contact while a call rings it.

A browser phone's page reload closes its WebSocket: Asterisk removes the phone's contact and the
new page registers a new one within a second. A ring sent to the old contact (a queue call's
offer, ``acd.ring_contacts``; a consultation's, ``acd.consultations``) is not failed by Asterisk:
it rings nobody until its timeout, and was then counted as the agent's no answer (not ready
"missed"), although they were back long before. While a channel rings the phone, its device state
says RINGING, never UNAVAILABLE: only Asterisk's ContactStatus events tell the move.

The pure part: what a contact change means for the ring under way (the callers above carry it
out; each keeps its own watch, for its own rings). Per agent, the contacts seen present
(ContactStatus tells changes only: a contact registered before the engine started is unknown
until it changes), and the ring that lost its contact, if any:

    there  -[last contact removed while ringing]->             away   (AWAY: the ring's outcome is
                                                                       nobody's; the grace starts)
    there  -[contact removed, another one present, ringing]->   there  (RING_AGAIN: the phone
                                                                       registered anew first)
    away   -[a contact present, the same ring]->                there  (RING_AGAIN)
    away   -[the ring ended, or another rings]->                there  (nothing: that ring is over)

    watch = ContactWatch()
    step = watch.seen("1002", uri, "Removed", ringing="cti-1#consult")   # Step.AWAY
    step = watch.seen("1002", uri2, "Reachable", ringing="cti-1#consult")  # Step.RING_AGAIN
"""

from __future__ import annotations

import enum
import logging

log = logging.getLogger(__name__)

# ContactStatus values (Asterisk 22's res_pjsip): Removed, the contact is gone (unregistered, its
# transport closed, expired); Unreachable, qualify got no answer: the contact is still there and
# Dial still sends to it (a quiet network comes back), so it changes nothing here. Any other status
# (Created, Updated, NonQualified, Reachable, Unknown) says the contact is there.
REMOVED = "Removed"
UNCHANGED = frozenset({"Unreachable"})


class Step(enum.Enum):
    """What a contact change means for the ring under way."""

    NONE = "none"
    AWAY = "away"  # the ring's phone has no contact left: nobody can answer it
    RING_AGAIN = "ring_again"  # the phone is at a new contact: ring it there


class ContactState(enum.Enum):
    THERE = "there"
    AWAY = "away"


class ContactWatch:
    """Agents' phones' contacts as ContactStatus tells them, and the rings that lost theirs."""

    def __init__(self) -> None:
        self._contacts: dict[str, set[str]] = {}  # agent -> the contact URIs seen present
        self._away: dict[str, str] = {}  # agent -> the ring (router id) whose contact went away

    def state(self, agent_id: str, ringing: str | None) -> ContactState:
        """``agent_id``'s state for the ring ``ringing`` (the router id of the call ringing them)."""
        away = self._away.get(agent_id)
        return ContactState.AWAY if away is not None and away == ringing else ContactState.THERE

    def seen(self, agent_id: str, uri: str, status: str, *, ringing: str | None) -> Step:
        """A ContactStatus of ``agent_id``'s phone; ``ringing``: the call ringing them now."""
        contacts = self._contacts.setdefault(agent_id, set())
        if status == REMOVED:
            contacts.discard(uri)
        elif status not in UNCHANGED:
            contacts.add(uri)
        old = self.state(agent_id, ringing)
        if ringing is None:
            self._away.pop(agent_id, None)
            return Step.NONE
        step, new = Step.NONE, old
        if old is ContactState.THERE and status == REMOVED:
            step, new = (Step.RING_AGAIN, old) if contacts else (Step.AWAY, ContactState.AWAY)
        elif old is ContactState.AWAY and status not in UNCHANGED and status != REMOVED:
            step, new = Step.RING_AGAIN, ContactState.THERE
        if new is ContactState.AWAY:
            self._away[agent_id] = ringing
        else:
            self._away.pop(agent_id, None)
        if new is not old:
            log.info("acd: agent %s's phone contact %s -[%s]-> %s", agent_id, old.value, status, new.value)
        return step

    def settled(self, agent_id: str) -> None:
        """The ring that lost its contact is over (ended, or rung again): nothing more to wait for."""
        self._away.pop(agent_id, None)
