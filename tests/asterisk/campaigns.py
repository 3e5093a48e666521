"""Helpers of the real-PBX campaign tests: a campaign with its contacts, agents who take its calls,
and what the CRM holds once it ran."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import select

from acd.events import AgentCallUpdate, AgentOffer
from agent_console.ports import WrapUpInput
from callcenter.engine import Engine
from crm_core import campaigns
from crm_core.campaign_models import CampaignAttempt, CampaignContact
from crm_core.campaign_rules import CampaignIn
from crm_core.models import Interaction
from cti.events import Event
from tests.helpers import until

# CampaignAttempt.outcome -> the outcome of its interaction.
INTERACTION_OUTCOME = {"human": "answered", "busy": "busy", "no_answer": "no_answer", "machine": "machine",
                       "dropped": "dropped", "failed": "failed"}


def window_now() -> dict[str, object]:
    """An hour either side of now in UTC (a window does not cross midnight)."""
    now = datetime.now(UTC)
    start = max(time(0, 0), (now - timedelta(hours=1)).time()) if now.hour >= 1 else time(0, 0)
    end = (now + timedelta(hours=1)).time().isoformat(timespec="seconds") if now.hour < 23 else "24:00"
    return {"days": list(range(7)), "start": start.isoformat(timespec="seconds"), "end": end}


async def create_campaign(eng: Engine, name: str, contacts: list[tuple[str, str]], **kw: object) -> int:
    """A campaign of queue support, calling now (UTC window), with ``contacts`` (number, time zone)."""
    spec = CampaignIn.model_validate({"name": name, "queue": "support", "mode": "progressive", "timezone": "UTC",
                                      "windows": [window_now()], **kw})
    async with eng.db.session() as s:
        c = await campaigns.create_campaign(session=s, spec=spec, trunks=eng.dialer.routing)
        await campaigns.add_contacts(session=s, campaign=c, rows=[
            (i, {"number": n, "timezone": tz}) for i, (n, tz) in enumerate(contacts, start=1)])
        return c.id


async def take_calls(eng: Engine, seen: list[Event], served: list[str], *, campaign: str | None = None,
                     script: str | None = None, talk_s: float = 0.0) -> None:
    """Each agent offered a campaign call talks ``talk_s``, hangs up and wraps up; with ``campaign``
    it first checks the campaign (and ``script``) reached the agent's screen: the offer names the
    campaign (the console titles it so, not "Incoming call"), the call's detail too."""
    while True:
        offer = next((e for e in seen if isinstance(e, AgentOffer) and e.linkedid.startswith("cmp")
                      and e.linkedid not in served), None)
        if offer is None:
            await asyncio.sleep(0.1)
            continue
        served.append(offer.linkedid)
        agent = offer.agent_id
        assert campaign is None or offer.campaign == campaign, offer
        await until(lambda a=agent, o=offer: (c := eng.acd.agent_call(a, o.linkedid)) is not None
                    and c.status == "talking", what="the agent talking with the customer")
        if campaign is not None:
            await until(lambda o=offer: any(
                isinstance(e, AgentCallUpdate) and e.linkedid == o.linkedid and e.detail
                and e.detail.get("campaign") == campaign
                and e.detail.get("attributes", {}).get("campaign") == campaign
                and e.detail["attributes"].get("script") == script for e in seen),
                what="the campaign and its script on the agent's screen")
        await asyncio.sleep(talk_s)
        await eng.desk.hangup(agent, offer.linkedid)
        await until(lambda a=agent, o=offer: (c := eng.acd.agent_call(a, o.linkedid)) is not None
                    and c.status == "ended", what="the call ended")
        await eng.desk.wrap_up(agent, offer.linkedid, WrapUpInput(disposition="resolved", notes="campaign"))


async def run_to_completion(eng: Engine, campaign_id: int, worker: asyncio.Task[None], timeout_s: float) -> None:
    """Wait for the campaign's ``completed`` state (failing at once if the agents' worker failed)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        async with eng.db.session() as s:
            c = await campaigns.get_campaign(session=s, campaign_id=campaign_id)
            if c.state == "completed":
                return
            contacts = [(x.number, x.state, x.attempts, x.last_outcome) for x in await s.scalars(
                select(CampaignContact).where(CampaignContact.campaign_id == campaign_id))]
        if worker.done():
            await worker  # an agent's step failed: show why
        assert loop.time() < deadline, (contacts, eng.dialer.view(campaign_id))
        await asyncio.sleep(0.25)


async def contacts_and_attempts(eng: Engine, campaign_id: int) -> tuple[
        dict[str, tuple[str, int, str | None]], list[CampaignAttempt]]:
    async with eng.db.session() as s:
        contacts = {c.number: (c.state, c.attempts, c.last_outcome) for c in await s.scalars(
            select(CampaignContact).where(CampaignContact.campaign_id == campaign_id))}
        attempts = list(await s.scalars(select(CampaignAttempt).where(CampaignAttempt.campaign_id == campaign_id)
                                        .order_by(CampaignAttempt.id)))
    return contacts, attempts


async def assert_one_interaction_per_attempt(eng: Engine, campaign_id: int, attempts: list[CampaignAttempt],
                                             agents: Callable[[str | None], bool]) -> None:
    """Every attempt is one interaction of its own, linked to its campaign and contact, with the
    attempt's outcome; a person reached an agent (``agents`` accepts the id) who wrapped up."""
    await eng.bus.drain()  # type: ignore[attr-defined]
    await until(lambda: eng.logger.pending == 0, what="the call logger caught up")
    await eng.logger.flush()
    async with eng.db.session() as s:
        rows = list(await s.scalars(select(Interaction).where(Interaction.campaign_id == campaign_id)))
    by_linkedid = {i.linkedid: i for i in rows}
    assert len(rows) == len(attempts) == len(by_linkedid)
    for a in attempts:
        i = by_linkedid[a.linkedid]
        assert (i.direction, i.campaign_id, i.campaign_contact_id, i.outcome) == (
            "outbound", campaign_id, a.contact_id, INTERACTION_OUTCOME[a.outcome or ""]), (a.number, i.outcome)
        if a.outcome == "human":
            assert agents(i.agent_id) and i.disposition == "resolved", (a.number, i.agent_id, i.disposition)
