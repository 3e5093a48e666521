"""The agent's preview panel: the next customer to call, from every preview source, by one code path.

    panel = PreviewDesk(desk, [CallbackSource(desk), CampaignSource(campaign_preview)])
    item = await panel.next("1001")                       # held for 1001, or None when nothing is due
    call_id = await panel.dial("1001", item.source, item.id)
    await panel.skip("1001", item.source, item.id, "not_now")

A source is a kind of work where the agent sees the customer first and dials: the due callbacks of
the agent's queues (and their personal ones), claimed when shown, come first (a customer asked for
them); then the contacts of the running preview campaigns of the agent's queues, reserved when
shown (``crm_core.campaign_preview``). Whatever the source, the panel shows the same item and offers
the same two answers: Dial (the console's click-to-dial: the agent's phone rings, then the
customer's) or Skip with a reason:

    not_now       back to the list, due again later (a callback: after the retry delay; a contact:
                  after the campaign's no-answer retry); no attempt is counted
    wrong_number  never called again for this (callback cancelled, contact failed)
    do_not_call   the same, and the number goes on the campaign's do-not-call list

Errors are the sources' own (``TargetNotFound``, ``IllegalAgentAction``, the CRM's ``InvalidField``
naming ``contact_id`` or ``reason``).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

from acd.errors import AcdError, PhoneDidNotAnswer
from agent_console.errors import Forbidden, IllegalAgentAction, PhoneNoAnswer, TargetNotFound, asterisk_refusal
from agent_console.ports import AgentDesk
from crm_core.campaign_rules import contact_zone
from crm_core.errors import CallbackTaken, IllegalCallbackStep
from cti.errors import AmiActionFailed

SourceName = Literal["callback", "campaign"]
SkipReason = Literal["not_now", "wrong_number", "do_not_call"]


class PreviewItem(BaseModel):
    """What the panel shows: one customer to call, whatever the source."""

    source: SourceName
    id: int = Field(description="The callback's id, or the campaign contact's id.")
    name: str = ""
    number: str = Field(description="E.164")
    timezone: str | None = Field(None, description="The customer's IANA zone (their local time is shown).")
    attempts: int = Field(0, description="Calls placed so far.")
    max_attempts: int = 3
    script: str = ""
    campaign: str | None = None
    campaign_id: int | None = None
    customer_id: int | None = None
    queue: str | None = None
    note: str = ""
    data: dict[str, str] = Field(default_factory=dict, description="A campaign contact's other columns.")


class PreviewSource(Protocol):
    name: SourceName

    async def next(self, agent_id: str, queues: list[str]) -> PreviewItem | None:
        """The next item for the agent, held for them (claimed, reserved); None when none is due."""

    async def dial(self, agent_id: str, item_id: int) -> str:
        """Call the item held for the agent; returns the new call id."""

    async def skip(self, agent_id: str, item_id: int, reason: SkipReason) -> None: ...


class CampaignContacts(Protocol):
    """``crm_core.campaign_preview.CampaignPreview`` (a fake in ``agent_console.fake_preview``)."""

    async def next_for(self, agent_id: str, queues: list[str]) -> dict[str, Any] | None: ...

    async def dial_reserved(self, contact_id: int, agent_id: str) -> str: ...

    async def skip(self, contact_id: int, agent_id: str, reason: str) -> None: ...


class CallbackSource:
    """Due callbacks: the agent's own open claim first, else the oldest due one it can claim."""

    name: SourceName = "callback"

    def __init__(self, desk: AgentDesk) -> None:
        self.desk = desk

    async def next(self, agent_id: str, queues: list[str]) -> PreviewItem | None:
        rows = await self.desk.callbacks(agent_id, everyone=False, limit=20)
        mine = [cb for cb in rows if cb.state == "claimed" and cb.claimed_by == agent_id and not cb.calling]
        for cb in mine + [cb for cb in rows if cb.state == "pending"]:
            if cb.state == "pending":
                try:
                    cb = await self.desk.claim_callback(agent_id, cb.id)
                except (CallbackTaken, IllegalCallbackStep, IllegalAgentAction, Forbidden):
                    continue  # another agent was quicker: the next one
            zone = contact_zone(cb.number, None, "")
            return PreviewItem(source="callback", id=cb.id, name=cb.customer_name or "", number=cb.number,
                               timezone=zone or None, attempts=cb.attempts, max_attempts=cb.max_attempts,
                               customer_id=cb.customer_id, queue=cb.queue, note=cb.note)
        return None

    async def dial(self, agent_id: str, item_id: int) -> str:
        call_id, _ = await self.desk.call_callback(agent_id, item_id)
        return call_id

    async def skip(self, agent_id: str, item_id: int, reason: SkipReason) -> None:
        await self.desk.skip_callback(agent_id, item_id, reason)


async def acd_refusal(dial: Awaitable[str]) -> str:
    """A campaign contact's Dial goes to the ACD without the desk: its refusals become the desk's own
    409 ``illegal_agent_action`` instead of a 500 (the agent's phone not answering its 409
    ``phone_no_answer``, as the desk's), and
    Asterisk's (an AMI Response: Error) one in our words (``asterisk_refusal``)."""
    try:
        return await dial
    except PhoneDidNotAnswer as err:  # as the desk's own Dial (acd_step): no fault, the agent is told calmly
        raise PhoneNoAnswer(err.message) from err
    except AcdError as err:
        raise IllegalAgentAction(err.message) from err
    except AmiActionFailed as err:  # (AMI not connected stays 503 ami_unavailable: that message is ours)
        raise asterisk_refusal(err, "dial the contact") from err


class CampaignSource:
    """Contacts of the running preview campaigns of the agent's queues."""

    name: SourceName = "campaign"

    def __init__(self, contacts: CampaignContacts) -> None:
        self.contacts = contacts

    async def next(self, agent_id: str, queues: list[str]) -> PreviewItem | None:
        shown = await self.contacts.next_for(agent_id, queues)
        if shown is None:
            return None
        return PreviewItem(source="campaign", id=shown["contact_id"], name=shown["name"], number=shown["number"],
                           timezone=shown["timezone"], attempts=shown["attempts"], max_attempts=shown["max_attempts"],
                           script=shown["script"], campaign=shown["campaign"], campaign_id=shown["campaign_id"],
                           customer_id=shown["customer_id"],
                           data={str(k): str(v) for k, v in (shown.get("data") or {}).items()})

    async def dial(self, agent_id: str, item_id: int) -> str:
        return await acd_refusal(self.contacts.dial_reserved(item_id, agent_id))

    async def skip(self, agent_id: str, item_id: int, reason: SkipReason) -> None:
        await self.contacts.skip(item_id, agent_id, reason)


class PreviewDesk:
    """Asks the sources in order for the agent's next item; dials and skips through the item's source."""

    def __init__(self, desk: AgentDesk, sources: list[PreviewSource]) -> None:
        self.desk = desk
        self.sources = {s.name: s for s in sources}

    def _source(self, name: str) -> PreviewSource:
        if name not in self.sources:
            raise TargetNotFound(f"no preview source {name!r} here")
        return self.sources[name]

    async def next(self, agent_id: str) -> PreviewItem | None:
        snap = await self.desk.snapshot(agent_id)
        if snap.state.state == "logged_out":
            raise IllegalAgentAction("log in to your queues to preview contacts")
        for source in self.sources.values():
            item = await source.next(agent_id, list(snap.state.queues))
            if item is not None:
                return item
        return None

    async def dial(self, agent_id: str, source: str, item_id: int) -> str:
        return await self._source(source).dial(agent_id, item_id)

    async def skip(self, agent_id: str, source: str, item_id: int, reason: SkipReason) -> None:
        await self._source(source).skip(agent_id, item_id, reason)
