"""Outbound campaigns on the real Asterisk: simulated customers who answer (and say hello), are
busy, never answer, or are answering machines with a long greeting (AMD says MACHINE). A
progressive campaign runs to completion: people reach agents through the ACD (with the pop),
busy numbers are retried by the rule, the machine gets the message; the do-not-call number and
a contact outside its calling window are never dialled; every attempt is in the CRM exactly once.
Then a person who answers when no agent is free hears the drop message and is recorded dropped."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import select

from acd.events import AgentCallUpdate, AgentOffer
from agent_console.ports import WrapUpInput
from callcenter.engine import Engine
from crm_core import callbacks, campaigns
from crm_core.campaign_models import CampaignAttempt, CampaignContact
from crm_core.campaign_rules import CampaignIn
from crm_core.errors import InvalidField
from crm_core.models import Interaction
from cti.events import Event
from cti.pbx import ManagedPbx
from tests.helpers import until

HUMAN_1, HUMAN_2, BUSY, NO_ANSWER, MACHINE, DNC, NIGHT = (
    "+869612340001", "+869612340002", "+869812340003", "+869912340004", "+869712340005", "+869612340006",
    "+869612340007")


def _window_now() -> dict[str, object]:
    """An hour either side of now in UTC (a window does not cross midnight)."""
    now = datetime.now(UTC)
    start = max(time(0, 0), (now - timedelta(hours=1)).time()) if now.hour >= 1 else time(0, 0)
    end = (now + timedelta(hours=1)).time() if now.hour < 23 else time(23, 59, 59)
    return {"days": list(range(7)), "start": start.isoformat(timespec="seconds"),
            "end": end.isoformat(timespec="seconds")}


async def _create(eng: Engine, name: str, contacts: list[tuple[str, str]], **kw: object) -> int:
    spec = CampaignIn.model_validate({"name": name, "queue": "support", "mode": "progressive", "timezone": "UTC",
                                      "windows": [_window_now()], **kw})
    async with eng.db.session() as s:
        c = await campaigns.create_campaign(session=s, spec=spec)
        await campaigns.add_contacts(session=s, campaign=c, rows=[
            (i, {"number": n, "timezone": tz}) for i, (n, tz) in enumerate(contacts, start=1)])
        return c.id


async def _talk_and_wrap(eng: Engine, seen: list[Event], served: list[str]) -> None:
    """Each agent offered a campaign call talks a moment, hangs up and wraps up."""
    while True:
        offer = next((e for e in seen if isinstance(e, AgentOffer) and e.linkedid.startswith("cmp")
                      and e.linkedid not in served), None)
        if offer is None:
            await asyncio.sleep(0.1)
            continue
        served.append(offer.linkedid)
        agent = offer.agent_id
        await until(lambda a=agent, o=offer: (c := eng.acd.agent_call(a, o.linkedid)) is not None
                    and c.status == "talking", what="the agent talking with the customer")
        # The agent's screen shows the campaign and its script with the call.
        await until(lambda o=offer: any(
            isinstance(e, AgentCallUpdate) and e.linkedid == o.linkedid and e.detail
            and e.detail.get("attributes", {}).get("campaign") == "spring"
            and e.detail["attributes"].get("script") == "Offer the spring plan" for e in seen),
            what="the campaign and its script on the agent's screen")
        await eng.desk.hangup(agent, offer.linkedid)
        await until(lambda a=agent, o=offer: (c := eng.acd.agent_call(a, o.linkedid)) is not None
                    and c.status == "ended", what="the call ended")
        await eng.desk.wrap_up(agent, offer.linkedid, WrapUpInput(disposition="resolved", notes="campaign"))


async def test_progressive_campaign_runs_to_completion_on_the_pbx(engine: tuple[Engine, list[Event]]) -> None:
    eng, seen = engine
    eng.dialer.dial_timeout_s = 6  # a ring-out gives up sooner than the trunk's 30 s
    for agent in ("1001", "1002"):
        await eng.desk.login_queues(agent, ["support"])
        await eng.desk.set_ready(agent)
    spring = await _create(eng, "spring", [(HUMAN_1, "UTC"), (HUMAN_2, "UTC"), (BUSY, "UTC"), (NO_ANSWER, "UTC"),
                                           (MACHINE, "UTC"), (DNC, "UTC")],
                           retry={"busy": 0, "no_answer": None}, max_attempts=2, machine_action="message",
                           machine_message="hello-world", caller_id="+861058880002", script="Offer the spring plan")
    # Same queue, one contact whose local time (UTC+14) is outside the window: never dialled.
    night = await _create(eng, "night", [(NIGHT, "Pacific/Kiritimati")])
    async with eng.db.session() as s:
        await campaigns.add_dnc(session=s, number=DNC, reason="asked not to be called")
    served: list[str] = []
    worker = asyncio.create_task(_talk_and_wrap(eng, seen, served))
    try:
        await eng.dialer.command(night, "start", "sup1")
        await eng.dialer.command(spring, "start", "sup1")

        async def state() -> tuple[str, object]:
            async with eng.db.session() as s:
                c = await campaigns.get_campaign(session=s, campaign_id=spring)
                return c.state, [(x.number, x.state, x.attempts, x.last_outcome)
                                 for x in await s.scalars(select(CampaignContact))]

        deadline = asyncio.get_running_loop().time() + 60
        while (now := await state())[0] != "completed":
            if worker.done():
                await worker  # an agent's step failed: show why
            assert asyncio.get_running_loop().time() < deadline, (now, eng.dialer.view(spring))
            await asyncio.sleep(0.25)
    finally:
        worker.cancel()
    await eng.dialer.command(night, "stop", "sup1")
    assert len(served) == 2

    async with eng.db.session() as s:
        contacts = {c.number: (c.state, c.attempts, c.last_outcome)
                    for c in await s.scalars(select(CampaignContact))}
        attempts = list(await s.scalars(select(CampaignAttempt).order_by(CampaignAttempt.id)))
    assert contacts == {HUMAN_1: ("done", 1, "human"), HUMAN_2: ("done", 1, "human"), BUSY: ("failed", 2, "busy"),
                        NO_ANSWER: ("failed", 1, "no_answer"), MACHINE: ("done", 1, "machine"),
                        DNC: ("dnc", 0, None), NIGHT: ("pending", 0, None)}
    assert sorted(a.number for a in attempts) == sorted([HUMAN_1, HUMAN_2, BUSY, BUSY, NO_ANSWER, MACHINE])

    # Every attempt is one interaction of its own, linked to its campaign and contact.
    await eng.bus.drain()  # type: ignore[attr-defined]
    await until(lambda: eng.logger.pending == 0, what="the call logger caught up")
    await eng.logger.flush()
    async with eng.db.session() as s:
        rows = list(await s.scalars(select(Interaction).where(Interaction.campaign_id.is_not(None))))
    by_linkedid = {i.linkedid: i for i in rows}
    assert len(rows) == len(attempts) == len(by_linkedid)
    expected = {"human": "answered", "busy": "busy", "no_answer": "no_answer", "machine": "machine"}
    for a in attempts:
        i = by_linkedid[a.linkedid]
        assert (i.direction, i.campaign_id, i.campaign_contact_id, i.outcome) == (
            "outbound", spring, a.contact_id, expected[a.outcome or ""]), (a.number, a.outcome, i.outcome)
        if a.outcome == "human":
            assert i.agent_id in ("1001", "1002") and i.disposition == "resolved"


async def test_a_person_no_agent_is_free_for_hears_the_drop_message(engine: tuple[Engine, list[Event]],
                                                                   pbx: ManagedPbx) -> None:
    eng, seen = engine
    await eng.desk.login_queues("1001", ["support"])
    await eng.desk.set_ready("1001")
    drop = await _create(eng, "drop", [(HUMAN_1, "UTC")], retry={"dropped": None}, drop_message="vm-goodbye")
    await eng.dialer.command(drop, "start", "sup1")
    await until(lambda: any(a.digits == HUMAN_1[1:] for a in eng.dialer._attempts.values()), what="the dial")
    await eng.desk.set_not_ready("1001", "break")  # the only agent leaves while the customer's phone rings
    await until(lambda: "!Playback!vm-goodbye" in pbx.cli("core show channels concise"),
                what="the drop message playing to the customer")
    deadline = asyncio.get_running_loop().time() + 20
    while True:
        async with eng.db.session() as s:
            contact = (await s.scalars(select(CampaignContact))).one()
        if contact.state != "dialing":
            break
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.2)
    assert (contact.state, contact.last_outcome) == ("failed", "dropped")
    view = eng.dialer.view(drop)
    assert view is not None and view["drop_rate"] == 1.0 and view["answered_in_window"] == 1
    assert not any(isinstance(e, AgentOffer) and e.linkedid.startswith("cmp") for e in seen)


async def test_an_agent_previews_a_contact_then_dials_it(engine: tuple[Engine, list[Event]]) -> None:
    eng, _ = engine
    await eng.desk.login_queues("1001", ["support"])
    await eng.desk.set_ready("1001")
    cid = await _create(eng, "look", [(DNC, "UTC"), (HUMAN_2, "UTC")], mode="preview", script="Say hello")
    async with eng.db.session() as s:
        await campaigns.add_dnc(session=s, number=DNC, campaign_id=cid)
    await eng.dialer.command(cid, "start", "sup1")
    async with eng.db.session() as s:  # a due callback of the queue comes first in the agent's panel
        cb = (await callbacks.create_callback(session=s, number=HUMAN_1, queue="support",
                                              due_at=datetime.now(UTC) - timedelta(minutes=1))).id
    item = await eng.preview.next("1001")  # the console's preview panel (agent_console.preview)
    assert item is not None and (item.source, item.id) == ("callback", cb)
    await eng.preview.skip("1001", "callback", cb, "not_now")
    first = await eng.preview.next("1001")
    assert first is not None and (first.source, first.number, first.script) == ("campaign", DNC, "Say hello")
    with pytest.raises(InvalidField):  # added to the list after the agent saw it: still never dialled
        await eng.preview.dial("1001", "campaign", first.id)
    shown = await eng.preview.next("1001")
    assert shown is not None and shown.number == HUMAN_2 and shown.campaign_id == cid
    assert await eng.campaign_preview.next_contact(cid, "1002") is None  # reserved for 1001
    call_id = await eng.preview.dial("1001", "campaign", shown.id)
    await until(lambda: (c := eng.acd.agent_call("1001", call_id)) is not None and c.far_end == "answered",
                what="the customer answered")
    await eng.desk.hangup("1001", call_id)
    await until(lambda: (c := eng.acd.agent_call("1001", call_id)) is not None and c.status == "ended",
                what="the call ended")
    await eng.desk.wrap_up("1001", call_id, WrapUpInput(disposition="resolved", notes="previewed"))
    await until(lambda: not eng.dialer._attempts, what="the attempt's result")
    await eng.bus.drain()  # type: ignore[attr-defined]
    await until(lambda: eng.logger.pending == 0, what="the call logger caught up")
    await eng.logger.flush()
    async with eng.db.session() as s:
        contacts = {c.number: (c.state, c.attempts, c.last_outcome) for c in await s.scalars(select(CampaignContact))}
        attempt = (await s.scalars(select(CampaignAttempt))).one()
        rows = list(await s.scalars(select(Interaction).where(Interaction.campaign_id == cid)))
    assert contacts == {DNC: ("dnc", 0, None), HUMAN_2: ("done", 1, "human")}
    assert [(i.linkedid, i.agent_id, i.outcome, i.campaign_contact_id, i.disposition) for i in rows] == [
        (call_id, "1001", "answered", attempt.contact_id, "resolved")]
    assert attempt.linkedid == call_id
