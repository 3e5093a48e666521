"""Preview campaign contacts in memory, for the demo console and the web and browser tiers: the
shape of ``crm_core.campaign_preview.CampaignPreview`` (next_for, dial_reserved, skip) without a
database or a dialer (no calling windows, no do-not-call list, no retry rule)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent_console.fakes import FakeDesk
from crm_core.errors import InvalidField


@dataclass
class FakeCampaignContacts:
    desk: FakeDesk
    contacts: dict[int, dict[str, Any]] = field(default_factory=dict)  # id -> contact and its campaign
    reserved: dict[int, str] = field(default_factory=dict)  # contact -> agent

    def add(self, number: str, *, name: str = "", campaign: str = "spring-offer", campaign_id: int = 1,
            queue: str = "sales", script: str = "", timezone: str = "Asia/Shanghai", customer_id: int | None = None,
            attempts: int = 0, max_attempts: int = 3, data: dict[str, str] | None = None) -> int:
        cid = max(self.contacts, default=100) + 1
        self.contacts[cid] = {"contact_id": cid, "number": number, "name": name, "campaign": campaign,
                              "campaign_id": campaign_id, "queue": queue, "script": script, "timezone": timezone,
                              "customer_id": customer_id, "attempts": attempts, "max_attempts": max_attempts,
                              "data": data or {}, "state": "pending"}
        return cid

    async def next_for(self, agent_id: str, queues: list[str]) -> dict[str, Any] | None:
        self.reserved = {c: a for c, a in self.reserved.items() if a != agent_id}
        for c in self.contacts.values():
            if c["state"] == "pending" and c["queue"] in queues and c["contact_id"] not in self.reserved:
                self.reserved[c["contact_id"]] = agent_id
                return dict(c)
        return None

    def _held(self, contact_id: int, agent_id: str) -> dict[str, Any]:
        if self.reserved.get(contact_id) != agent_id:
            raise InvalidField("contact_id", f"contact {contact_id} is not reserved for agent {agent_id}")
        del self.reserved[contact_id]
        return self.contacts[contact_id]

    async def dial_reserved(self, contact_id: int, agent_id: str) -> str:
        c = self._held(contact_id, agent_id)
        c["state"], c["attempts"] = "dialing", c["attempts"] + 1
        return await self.desk.dial(agent_id, c["number"].lstrip("+"), c["customer_id"], campaign=c["campaign"])

    async def skip(self, contact_id: int, agent_id: str, reason: str) -> None:
        c = self._held(contact_id, agent_id)
        c["state"] = {"not_now": "later", "wrong_number": "failed", "do_not_call": "dnc"}[reason]
        self.desk.actions.append(("skip_contact", agent_id, {"contact_id": contact_id, "reason": reason}))
