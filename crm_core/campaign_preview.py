"""Preview campaigns: the agent sees the next contact (with the campaign's script), then dials it.

    preview = CampaignPreview(dialer)
    shown = await preview.next_contact(campaign_id, "1001")     # reserved for 1001 two minutes
    call_id = await preview.dial(campaign_id, shown["contact_id"], "1001")

    shown = await preview.next_for("1001", ["sales"])  # any running preview campaign of these queues
    await preview.skip(shown["contact_id"], "1001", "not_now")   # or dial_reserved(contact_id, agent)

Dialling is the console's click-to-dial (the agent's phone rings, then the customer's, with the
campaign's caller ID); the do-not-call list and the calling window are checked again right before.
The attempt row is written before the call exists, and its linkedid names the call (the Originate's
ChannelId); the dialer (``crm_core.dialer``) follows the call and settles the result like any other
attempt. A Dial that never reached the customer's phone is withdrawn (no attempt, the contact due
again with its count as before): the agent's phone did not answer, or AMI was not connected (the
Originate never left the engine). One Asterisk refused outright counts, ``failed``, under the retry
rule, as in the automatic dialer (a contact it always refuses is used up by ``max_attempts`` rather
than shown again and again). One Asterisk did not answer in time, or written before AMI dropped, may
have placed its call: the dialer follows it by its linkedid (``follow_unconfirmed``), as it follows
an automatic dial's; ``failed`` if none is seen within the grace. Once the agent's leg of such a call
answered, it is the agent's call (``acd.dial_readiness`` adopts it), wrapped up as a confirmed Dial's.

The console's preview panel (``agent_console.preview``) uses ``next_for``, ``dial_reserved`` and
``skip``: contact ids are unique across campaigns, so the reservation names the campaign.

Errors: ``IllegalCampaignStep`` (not a running preview campaign), ``InvalidField`` naming
``contact_id`` (not reserved for this agent, or not to be dialled now: window, do-not-call list) or
``reason``, ``ContactTaken`` (409: a Skip and a Dial of the contact at once, the other one won).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from acd.errors import AcdError, DialLost, DialUnconfirmed, PhoneDidNotAnswer, unconfirmed_dial
from acd.pacing import DialMode
from crm_core import campaigns
from crm_core.campaign_models import CampaignContact
from crm_core.campaign_runs import LiveCampaign
from crm_core.dialer import CampaignDialer
from crm_core.errors import ContactTaken, IllegalCampaignStep, InvalidField
from cti.errors import AmiNotSent, CtiError

log = logging.getLogger(__name__)

PREVIEW_HOLD_S = 120.0  # a contact shown to an agent is theirs this long


class CampaignPreview:
    """Hands the contacts of running preview campaigns to agents, one at a time."""

    def __init__(self, dialer: CampaignDialer) -> None:
        self.dialer = dialer
        self._reserved: dict[int, tuple[str, float]] = {}  # contact -> (agent, when shown)
        self._campaign_of: dict[int, int] = {}  # reserved contact -> its campaign

    def _run(self, campaign_id: int) -> LiveCampaign:
        run = self.dialer.live.get(campaign_id)
        if run is None or run.state != "running" or run.mode is not DialMode.PREVIEW:
            raise IllegalCampaignStep(f"campaign {campaign_id} is not a running preview campaign")
        return run

    def works(self, campaign_id: int, agent_id: str) -> bool:
        """Whether ``agent_id`` works this running preview campaign (IllegalCampaignStep when it is
        none): logged in to its queue, with its skills, as the preview panel's ``next_for`` asks."""
        run = self._run(campaign_id)
        try:
            agent = self.dialer.acd.agent(agent_id)
        except AcdError:  # not known to the ACD: no campaign's agent
            return False
        return run.queue in agent.queues and all(agent.skills.get(k, 0) >= v for k, v in run.skills.items())

    async def next_contact(self, campaign_id: int, agent_id: str) -> dict[str, Any] | None:
        """The next due contact, reserved for ``agent_id`` for ``PREVIEW_HOLD_S`` (None: none due)."""
        run = self._run(campaign_id)
        now = self.dialer.clock()
        # Reservations run out; asking again gives the agent's previous contact back to the list.
        self._reserved = {c: (a, t) for c, (a, t) in self._reserved.items()
                          if now - t < PREVIEW_HOLD_S and a != agent_id}
        async with self.dialer.db.session() as s:
            campaign = await campaigns.get_campaign(session=s, campaign_id=campaign_id)
            due = await campaigns.due_contacts(session=s, campaign=campaign, now=datetime.fromtimestamp(now, UTC),
                                               limit=len(self._reserved) + 1)
            contact = next((c for c in due if c.id not in self._reserved), None)
            if contact is None:
                return None
            max_attempts = campaign.max_attempts
        self._reserved[contact.id] = (agent_id, now)
        self._campaign_of = {c: self._campaign_of.get(c, campaign_id) for c in self._reserved}
        return {"contact_id": contact.id, "number": contact.number, "name": contact.name, "data": contact.data,
                "customer_id": contact.customer_id, "attempts": contact.attempts, "max_attempts": max_attempts,
                "timezone": contact.timezone, "script": run.settings["script"], "campaign_id": run.id,
                "campaign": run.name}

    async def next_for(self, agent_id: str, queues: Iterable[str]) -> dict[str, Any] | None:
        """The next due contact of the running preview campaigns of ``queues`` whose skills the agent
        has (lowest campaign id first)."""
        mine = set(queues)
        try:
            skills = dict(self.dialer.acd.agent(agent_id).skills)
        except AcdError:  # not known to the ACD: no campaign's agent
            return None
        runs = sorted((r for r in self.dialer.live.values()
                       if r.state == "running" and r.mode is DialMode.PREVIEW and r.queue in mine
                       and all(skills.get(k, 0) >= v for k, v in r.skills.items())), key=lambda r: r.id)
        for run in runs:
            shown = await self.next_contact(run.id, agent_id)
            if shown is not None:
                return shown
        return None

    def _held_campaign(self, contact_id: int, agent_id: str) -> int:
        held = self._reserved.get(contact_id)
        if held is None or held[0] != agent_id or contact_id not in self._campaign_of:
            raise InvalidField("contact_id", f"contact {contact_id} is not reserved for agent {agent_id}")
        return self._campaign_of[contact_id]

    async def dial_reserved(self, contact_id: int, agent_id: str) -> str:
        """``dial`` for the contact's own campaign."""
        return await self.dial(self._held_campaign(contact_id, agent_id), contact_id, agent_id)

    async def skip(self, contact_id: int, agent_id: str, reason: str) -> None:
        """The agent passes on the contact reserved for them (``campaigns.skip_contact``)."""
        campaign_id = self._held_campaign(contact_id, agent_id)
        try:
            async with self.dialer.db.session() as s:
                campaign = await campaigns.get_campaign(session=s, campaign_id=campaign_id)
                await campaigns.skip_contact(session=s, campaign=campaign, contact_id=contact_id, reason=reason,
                                             agent_id=agent_id, now=datetime.fromtimestamp(self.dialer.clock(), UTC))
        except ContactTaken:
            self._release(contact_id)  # dialled or skipped already: no longer the agent's to work
            raise
        self._release(contact_id)

    def _release(self, contact_id: int) -> None:
        self._reserved.pop(contact_id, None)
        self._campaign_of.pop(contact_id, None)

    async def dial(self, campaign_id: int, contact_id: int, agent_id: str) -> str:
        """Dial the contact reserved for ``agent_id``: their phone rings, then the customer's."""
        run = self._run(campaign_id)
        if self._held_campaign(contact_id, agent_id) != campaign_id:  # its window, do-not-call list, caller ID
            raise InvalidField("contact_id", f"contact {contact_id} is not a contact of campaign {campaign_id}")
        if any(c.status != "ended" for c in self.dialer.acd.agent_calls(agent_id)):
            # One call at a time, as the console's Dial; the contact stays held, no attempt is spent.
            raise AcdError("finish your current call before dialling")
        self.dialer.acd.dial_readiness.check_dial(agent_id)  # its last dial may ring yet (the contact stays held)
        now = self.dialer.clock()
        temp = f"pv{run.id}-{uuid.uuid4().hex[:20]}"
        try:
            async with self.dialer.db.session() as s:
                campaign = await campaigns.get_campaign(session=s, campaign_id=campaign_id)
                attempt = await campaigns.begin_attempt(session=s, campaign=campaign, contact_id=contact_id,
                                                        linkedid=temp, now=datetime.fromtimestamp(now, UTC))
                contact = await s.get(CampaignContact, contact_id) if attempt is not None else None
        finally:
            self._release(contact_id)  # dialled, refused, or taken first by a Skip or Dial at the same time
        if attempt is None or contact is None:
            raise InvalidField("contact_id", f"contact {contact_id} may not be dialled now (do-not-call list, "
                               "or outside its calling window)")
        a = self.dialer.new_attempt(run, contact, temp, now)
        a.preview, a.agent_id = True, agent_id
        readiness = self.dialer.acd.dial_readiness
        try:
            before = await readiness.hold(agent_id)  # no queued call offered meanwhile; from wrap-up, it ends
        except Exception:
            await self.dialer.withdraw(a)  # nothing was dialled
            raise
        try:
            try:
                # ChannelId = the attempt's linkedid: a call Asterisk places after an Originate it never
                # answered is the attempt's own (its interaction, its end), not a stranger's.
                linkedid = await self.dialer.acd.actions.dial(agent_id, contact.number,
                                                              customer_id=contact.customer_id, campaign=run.name,
                                                              caller_id=run.caller_id, channel_id=temp)
            except Exception as err:
                # No call to wrap up: the agent is where they were, or where the wrap-up would have left
                # them; after a Dial that may have placed its call, once their phone is free, unless it is
                # answered: then it is the agent's call (adopted), wrapped up as a confirmed Dial's.
                if (unconfirmed := unconfirmed_dial(err)) is None:
                    await readiness.give_back(agent_id, before)
                else:
                    # Written, and Asterisk never answered it (or AMI was lost with it on its way): the call
                    # may have been placed, under the attempt's linkedid (its ChannelId). Followed as an
                    # automatic dial's: its end settles the attempt (human if the customer answered); no
                    # channel of it seen within the grace: one ``failed`` attempt, its interaction ended
                    # here. Followed first: the dialer publishes the attempt's call (CallArrived), before
                    # the watch may adopt it (CallConnected).
                    try:
                        await self.dialer.follow_unconfirmed(a, lambda: readiness.dial_live(agent_id, temp),
                                                             readiness.grace_s, readiness.poll_s)
                    finally:
                        await readiness.give_back(agent_id, before, unconfirmed=temp, adopt=unconfirmed.adopt)
                raise
        except (PhoneDidNotAnswer, AmiNotSent):
            # Nobody was called, so no attempt is spent: the agent's phone did not take the call, or the
            # Originate never left the engine (AMI not connected).
            await self.dialer.withdraw(a)
            raise
        except (DialUnconfirmed, DialLost):
            raise  # followed above
        except CtiError:
            # One attempt, ``failed``, as in the automatic dialer: Asterisk refused the Originate outright
            # (DialRefused, AmiActionFailed): no one was called, but a contact it refuses every time is
            # used up by max_attempts, not shown forever. No call reached the ACD (it publishes one once
            # the agent's phone answered): the attempt's one interaction is begun and ended by the dialer.
            self.dialer.track(a)
            await self.dialer.settle(a, "failed", closes=True)
            raise
        if linkedid != temp:  # Asterisk did not take the ChannelId (a fake control): the call's own
            async with self.dialer.db.session() as s:
                await campaigns.relink_attempt(session=s, linkedid=temp, new_linkedid=linkedid)
        a.linkedid = linkedid
        a.arrived = True  # the ACD published the call
        call = self.dialer.acd.calls.get(linkedid)
        a.far_end = call.far_end if call is not None else None  # the far end may have answered already
        self.dialer.track(a)
        run.dials += 1
        return linkedid

