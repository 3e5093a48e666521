"""Outbound campaigns on the real Asterisk with customers of the dialplan's own far end
(cti-sim-customer): a person who answers when no agent is free hears the drop message and is
recorded dropped; through the preview panel's code, an agent skips a due callback, then previews
a campaign contact and dials it (the call named by the attempt's linkedid, the Originate's
ChannelId); a contact's Dial that Asterisk refuses outright is one failed attempt; one whose
Originate answer was lost though Asterisk placed the call is the attempt's, adopted as the agent's
call and wrapped up, its agent kept not ready until then; an automatic dial whose Originate answer
was lost reaches an agent. Whole campaigns against customers on a second Asterisk (the carrier) run
in tests/asterisk/trunks/test_campaigns.py."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from acd.events import AgentCallUpdate, AgentOffer
from acd.model import AgentState
from agent_console.errors import IllegalAgentAction
from agent_console.ports import WrapUpInput
from callcenter.engine import Engine
from crm_core import callbacks, campaigns
from crm_core.campaign_models import CampaignAttempt, CampaignContact
from crm_core.errors import InvalidField
from crm_core.models import Interaction
from cti.events import Event
from cti.pbx import ManagedPbx
from tests.asterisk.campaigns import create_campaign as _create
from tests.helpers import until

HUMAN_1, HUMAN_2, DNC = "+869612340001", "+869612340002", "+869612340006"


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
    eng, seen = engine
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
    assert call_id.startswith(f"pv{cid}-")  # the attempt's linkedid: Asterisk took the Originate's ChannelId
    await until(lambda: (c := eng.acd.agent_call("1001", call_id)) is not None and c.far_end == "answered",
                what="the customer answered")
    # The agent's screen says whose call it is (the console: "Campaign look", not "Outbound").
    updates = [e for e in seen if isinstance(e, AgentCallUpdate) and e.linkedid == call_id]
    assert updates and all((e.detail or {}).get("campaign") == "look" for e in updates), updates
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


async def test_a_preview_dial_asterisk_refuses_outright_is_one_failed_attempt(
        engine: tuple[Engine, list[Event]], pbx: ManagedPbx, monkeypatch: pytest.MonkeyPatch) -> None:
    """Asterisk refuses an Originate into an extension its dialplan lacks with Response: Error
    ("Extension does not exist.") and makes no channel. The contact's Dial is one ``failed`` attempt
    under the retry rule, as the automatic dialer counts a refusal (docs/outbound.md): the preview
    counted it no attempt, so a contact Asterisk refuses every time came back to the agents forever."""
    eng, _ = engine
    await eng.desk.login_queues("1001", ["support"])
    await eng.desk.set_ready("1001")
    cid = await _create(eng, "refused", [(HUMAN_2, "UTC")], mode="preview", retry={"failed": 600})
    await eng.dialer.command(cid, "start", "sup1")
    monkeypatch.setattr("acd.call_actions.EXTERNAL_CONTEXT", "cti-no-such-context")  # the dial's first step
    shown = await eng.preview.next("1001")
    assert shown is not None and shown.number == HUMAN_2
    with pytest.raises(IllegalAgentAction, match="the phone system refused to call the phone of agent 1001"):
        await eng.preview.dial("1001", "campaign", shown.id)
    async with eng.db.session() as s:
        contact = (await s.scalars(select(CampaignContact))).one()
        attempts = [a.outcome for a in await s.scalars(select(CampaignAttempt))]
    assert (contact.state, contact.attempts, contact.last_outcome, attempts) == ("pending", 1, "failed", ["failed"])
    assert contact.next_at is not None  # due again after the failed rule's 600 s, not at once
    assert await eng.preview.next("1001") is None
    assert "0 active channels" in pbx.cli("core show channels count")  # no channel was made
    # No call to wrap up: the agent, ready before the Dial, is ready again; the attempt is one outbound
    # interaction, ended, ``failed`` (the dialer ends the call Asterisk never made).
    assert eng.acd.agent_state("1001") is AgentState.AVAILABLE
    await eng.bus.drain()  # type: ignore[attr-defined]  # (without: the logger may not have the close yet)
    await until(lambda: eng.logger.pending == 0, what="the call logger caught up")
    await eng.logger.flush()
    async with eng.db.session() as s:
        rows = list(await s.scalars(select(Interaction).where(Interaction.campaign_contact_id == shown.id)))
    assert [(i.direction, i.agent_id, i.outcome, i.status) for i in rows] == [
        ("outbound", "1001", "failed", "complete")]
    assert rows[0].ended_at is not None


async def test_a_preview_call_whose_originate_answer_was_lost_is_the_attempts(
        engine: tuple[Engine, list[Event]], monkeypatch: pytest.MonkeyPatch) -> None:
    """Asterisk placed the Dial's call but its answer to the Originate never reached the engine
    (simulated: the real Originate runs, its answer is replaced by the engine's own timeout). The
    call carries the attempt's linkedid (the ChannelId Asterisk took), so it is the attempt's: the
    customer answered, so when it ends the attempt is ``human`` (the contact done, not called again)
    and its one interaction answered, ended once in the feed with Asterisk's cause. Once the agent's
    leg answered, the call is adopted as the agent's (the campaign's call card, CallConnected once):
    their phone hangs up, they wrap up, which completes the interaction with its disposition. The
    agent, ready before, is kept not ready while their phone is on that call (offered nothing on top
    of it), then, after the wrap-up, ready again. Before, it was never adopted: no call card, no
    wrap-up."""
    from cti.ami.control import OriginateResult
    from cti.journey import CallClosed, CallConnected, CallEnded, FarEndResult

    eng, seen = engine
    await eng.desk.login_queues("1001", ["support"])
    await eng.desk.set_ready("1001")
    cid = await _create(eng, "lost", [(HUMAN_2, "UTC")], mode="preview", retry={"failed": 600})
    await eng.dialer.command(cid, "start", "sup1")
    real = eng.acd.control.originate

    async def answer_lost(*args: object, **kwargs: object) -> OriginateResult:
        placed = await real(*args, **kwargs)  # type: ignore[arg-type]
        assert placed.success, placed
        return OriginateResult(False, "Originate: no answer from Asterisk within 45.0 s", timed_out=True)

    monkeypatch.setattr(eng.acd.control, "originate", answer_lost)
    shown = await eng.preview.next("1001")
    assert shown is not None and shown.number == HUMAN_2
    with pytest.raises(IllegalAgentAction, match="did not answer in time"):
        await eng.preview.dial("1001", "campaign", shown.id)
    async with eng.db.session() as s:
        attempt = (await s.scalars(select(CampaignAttempt))).one()
    linkedid = attempt.linkedid
    assert linkedid.startswith(f"pv{cid}-")
    call = await until(lambda: eng.ami.model.call(linkedid), what="the late call under the attempt's linkedid")
    assert any(ch.name.startswith("Local/1001@cti-sim-phone-") for ch in call.live)  # Asterisk took the ChannelId
    # Watched until its agent's leg answered, then adopted (the watch over).
    assert eng.acd.dial_readiness.watching.get("1001") == linkedid or linkedid in eng.acd.calls
    await until(lambda: any(isinstance(e, FarEndResult) and e.linkedid == linkedid and e.result == "answered"
                            for e in seen), what="the customer answered")
    assert (eng.acd.agent_state("1001"), eng.acd.agent("1001").reason) == (AgentState.NOT_READY, "outbound")
    adopted = await until(lambda: eng.acd.agent_call("1001", linkedid), what="the late call adopted")
    assert (adopted.direction, adopted.status, adopted.campaign, adopted.caller_number) == (
        "outbound", "talking", "lost", HUMAN_2.lstrip("+"))
    await until(lambda: any(isinstance(e, AgentCallUpdate) and e.linkedid == linkedid
                            and (e.detail or {}).get("campaign") == "lost" for e in seen), what="the call card")
    agent_leg = next(ch.name for ch in call.live if ch.name.startswith("Local/1001@cti-sim-phone-"))
    await eng.ami.control.hangup(agent_leg)  # the agent's phone hangs up: the call ends
    await until(lambda: any(isinstance(e, CallEnded) and e.linkedid == linkedid for e in seen), what="its end")
    await until(lambda: adopted.status == "ended", what="the agent's part over")
    assert (eng.acd.agent_state("1001"), eng.acd.agent("1001").reason) == (AgentState.WRAP_UP, None)  # its wrap-up
    await eng.desk.wrap_up("1001", linkedid, WrapUpInput(disposition="resolved", notes="late"))
    assert eng.acd.agent_state("1001") is AgentState.AVAILABLE  # ready again, as after any outbound call
    assert len([e for e in seen if isinstance(e, CallConnected) and e.linkedid == linkedid]) == 1
    await until(lambda: not eng.dialer._attempts and not eng.dialer._tasks, what="the attempt's result")
    await eng.bus.drain()  # type: ignore[attr-defined]
    await until(lambda: eng.logger.pending == 0, what="the call logger caught up")
    await eng.logger.flush()
    async with eng.db.session() as s:
        contact = (await s.scalars(select(CampaignContact))).one()
        attempts = [a.outcome for a in await s.scalars(select(CampaignAttempt))]
        rows = list(await s.scalars(select(Interaction).where(Interaction.campaign_contact_id == shown.id)))
    assert (contact.state, contact.attempts, contact.last_outcome, attempts) == ("done", 1, "human", ["human"])
    assert [(i.linkedid, i.direction, i.agent_id, i.outcome, i.status, i.disposition) for i in rows] == [
        (linkedid, "outbound", "1001", "answered", "complete", "resolved")]
    assert rows[0].hangup_cause is not None and rows[0].ended_at is not None
    assert not any(isinstance(e, CallClosed) and e.linkedid == linkedid for e in seen)  # Asterisk's end only
    await eng.feed.flush()  # type: ignore[attr-defined]
    bodies = [json.loads(body) for _, _, body in await eng.feed.page(0, 10_000)]
    assert [b["data"]["cause"] for b in bodies if b["type"] == "call.ended" and b["call_id"] == linkedid] == [
        rows[0].hangup_cause]


async def test_an_automatic_dial_whose_originate_answer_was_lost_reaches_an_agent(
        engine: tuple[Engine, list[Event]], monkeypatch: pytest.MonkeyPatch) -> None:
    """The automatic dialer's Originate placed the call, but Asterisk's answer to it never reached
    the engine (simulated: the real Originate runs, its answer is replaced by the engine's own
    timeout). The call is the attempt's (its ChannelId), so the customer who answers is the
    campaign's: the ACD offers them to the agent and the attempt is ``human``. Before, the attempt
    was settled ``failed`` without waiting for the call, and the customer who answered was hung up
    on by the campaign's AGI (no such attempt). The dialer's own wait for a call's end is shortened
    here so that the answer comes after it, as after a real 45 s timeout."""
    from cti.ami.control import OriginateResult
    from cti.journey import CallEnded

    monkeypatch.setattr("crm_core.dialer_calls.ENDED_WAIT_S", 0.0)
    eng, seen = engine
    real = eng.ami.control.originate

    async def answer_lost(*args: object, **kwargs: object) -> OriginateResult:
        placed = await real(*args, **kwargs)  # type: ignore[arg-type]
        assert placed.success, placed
        return OriginateResult(False, "Originate: no answer from Asterisk within 45.0 s", timed_out=True)

    monkeypatch.setattr(eng.ami.control, "originate", answer_lost)
    await eng.desk.login_queues("1001", ["support"])
    await eng.desk.set_ready("1001")
    cid = await _create(eng, "lost-auto", [(HUMAN_1, "UTC")], retry={"failed": 600})
    await eng.dialer.command(cid, "start", "sup1")
    offer = await until(lambda: next((e for e in seen if isinstance(e, AgentOffer) and e.campaign), None),
                        timeout_s=40, what="the customer offered to the agent")
    async with eng.db.session() as s:
        attempt = (await s.scalars(select(CampaignAttempt))).one()
    assert offer.linkedid == attempt.linkedid
    customer = eng.acd.calls[offer.linkedid].caller_channel
    await eng.ami.control.hangup(customer)  # the customer leaves while the agent's phone rings: done here
    await until(lambda: any(isinstance(e, CallEnded) and e.linkedid == offer.linkedid for e in seen), what="its end")
    await until(lambda: not eng.dialer._attempts, what="the attempt's result")
    async with eng.db.session() as s:
        contact = (await s.scalars(select(CampaignContact))).one()
        outcomes = [a.outcome for a in await s.scalars(select(CampaignAttempt))]
    assert (contact.state, contact.last_outcome, outcomes) == ("done", "human", ["human"])
