"""The whole engine on a real Asterisk: a known customer calls, the IVR identifies them by caller
ID, the menu choice queues them for support, the logged-in agent's phone rings with the screen
pop, they talk, the agent hangs up and wraps up, and the CRM holds exactly one interaction with
its segments, disposition and notes."""

from __future__ import annotations

import asyncio

from acd.events import AgentOffer, AgentWrapUpEnded
from agent_console.ports import WrapUpInput
from agent_console.principal import Principal
from callcenter.engine import Engine
from crm_core.interactions import interaction_by_linkedid, segments_of
from cti.events import Event
from cti.journey import CallConnected, IvrFinished, QueueEntered
from tests.helpers import customer_number, place_call, until


async def test_known_caller_reaches_agent_with_pop_and_is_logged_once(engine: tuple[Engine, list[Event]]) -> None:
    eng, seen = engine
    customer_id, _, number = await customer_number(eng)
    await eng.desk.login_queues("1001", ["support", "general"])
    await eng.desk.set_ready("1001")
    await place_call(eng, lambda: [e for e in seen if isinstance(e, QueueEntered)], number)
    ivr = next(e for e in seen if isinstance(e, IvrFinished))
    assert ivr.outcome == "queue" and ivr.queue == "support"
    assert ivr.customer_id == customer_id
    assert ivr.priority == 10  # key account

    offer = await until(lambda: next((e for e in seen if isinstance(e, AgentOffer)), None))
    assert offer.agent_id == "1001" and offer.customer_id == customer_id
    connected = await until(lambda: next((e for e in seen if isinstance(e, CallConnected)), None))
    assert connected.linkedid == offer.linkedid
    snap = await eng.desk.snapshot("1001")
    assert snap.calls and snap.calls[0].status == "talking" and snap.state.state == "on_call"

    await asyncio.sleep(1.0)
    await eng.desk.hangup("1001", offer.linkedid)
    await until(lambda: eng.router.agent("1001").state.value == "wrap_up")
    written = await eng.desk.wrap_up("1001", offer.linkedid, WrapUpInput(
        disposition="resolved", notes="Explained the invoice", resolved=True))
    assert written["case_id"] is None
    await eng.bus.drain()  # type: ignore[attr-defined]
    await eng.logger.flush()

    async with eng.db.session() as s:
        interaction = await interaction_by_linkedid(session=s, linkedid=offer.linkedid)
        assert interaction is not None
        assert interaction.outcome == "answered"
        assert interaction.disposition == "resolved" and interaction.notes == "Explained the invoice"
        assert interaction.customer_id == customer_id and interaction.agent_id == "1001"
        assert interaction.queue == "support" and interaction.talk_s and interaction.talk_s >= 0.9
        segments = await segments_of(session=s, interaction_id=interaction.id)
    kinds = [seg.kind for seg in segments]
    assert kinds[0] == "ivr" and "queue" in kinds and "talk" in kinds and kinds[-1] == "wrapup"
    assert eng.router.agent("1001").state.value == "available"
    # The wrap-up made the agent ready: the ACD says the call's wrap-up state ended (just after the
    # form, which ended the after-call work: docs/kpis.md).
    ended = [e for e in seen if isinstance(e, AgentWrapUpEnded)]
    assert [(e.linkedid, e.agent_id, e.reason) for e in ended] == [(offer.linkedid, "1001", "ready")]
    wrapup = segments[-1]
    assert interaction.acw_s == wrapup.duration_s and "ended_by" not in wrapup.detail


async def test_click_to_dial_rings_agent_then_customer_and_is_logged(engine: tuple[Engine, list[Event]]) -> None:
    eng, _ = engine
    await eng.desk.login_queues("1002", ["support"])
    await eng.desk.set_ready("1002")
    linkedid = await eng.desk.dial("1002", "+8613912345678", customer_id=None)
    # Busy on the outbound call: the ACD would not offer it a queued call.
    assert eng.router.agent("1002").state.value == "not_ready" and eng.router.agent("1002").reason == "outbound"
    customer_leg = await until(lambda: next((ch for c in eng.ami.model.calls() for ch in c.live
                                             if ch.name.startswith("Local/8613912345678@cti-sim-customer-")
                                             and ch.answered_at), None))
    assert customer_leg is not None
    await asyncio.sleep(1.0)
    await eng.desk.hangup("1002", linkedid)
    await until(lambda: eng.acd.agent_call("1002", linkedid) and eng.acd.agent_call("1002", linkedid).status == "ended")
    # In wrap-up, as after an inbound call: the console's state (its hello, as after a reload) says so, with
    # no countdown (an outbound call's wrap-up has no timer). It read "not ready: outbound" (an agent's trial).
    who = Principal(user_id=1, username="agent1002", role="agent", agent_id="1002")
    hello = await eng.app.state.console.hub.hello(who)  # type: ignore[union-attr]
    assert (hello.state.state, hello.state.reason, hello.state.wrap_until) == ("wrap_up", None, None)
    await eng.desk.wrap_up("1002", linkedid, WrapUpInput(disposition="info_given", notes="Called back about the order"))
    assert eng.router.agent("1002").state.value == "available"
    await eng.bus.drain()  # type: ignore[attr-defined]
    await eng.logger.flush()
    async with eng.db.session() as s:
        row = await interaction_by_linkedid(session=s, linkedid=linkedid)
    assert row is not None and row.direction == "outbound" and row.agent_id == "1002"
    assert row.disposition == "info_given" and row.outcome == "answered"
