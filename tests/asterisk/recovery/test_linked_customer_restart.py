"""A call linked to another customer during the call (``PUT /api/crm/interactions/{id}/customer``) is
that customer's call for the engine that takes it back after a restart, on the real Asterisk: the
restarted engine's ACD call names the linked customer (the interaction's, which the link wrote), not
the one the call was routed with (the queue entry on the caller's channel, ``CTI_ACD``), so a blind
transfer after the restart offers the next agent the linked customer. Before, the restarted engine
knew the call with the routed customer and the transfer's offer named them."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from sqlalchemy import select

from acd.events import AgentOffer
from callcenter.engine import Engine
from crm_core.events import CustomerLinked
from crm_core.interactions import interaction_by_linkedid, link_customer
from crm_core.models import Customer
from cti.events import Event
from cti.journey import CallConnected, QueueEntered
from cti.pbx import ManagedPbx
from cti.settings import Settings
from tests.helpers import engine_settings, english_customer_number, place_call, seed, until


async def test_a_call_linked_before_a_restart_is_the_linked_customers_call_after_it(
        pbx: ManagedPbx, pbx_settings: Settings, tmp_path: Path) -> None:
    settings = engine_settings(pbx_settings, tmp_path)
    await seed(settings)
    seen: list[Event] = []

    async def record(ev: Event) -> None:
        seen.append(ev)

    first = Engine(settings, answer_after_s=0.5)  # web: the agents' states are recorded (the restart logs 1001 in)
    first.bus.subscribe(Event, record, name="test.recorder")
    await first.start()
    second: Engine | None = None
    try:
        number = await english_customer_number(first)
        await first.desk.login_queues("1001", ["support", "general"])
        await first.desk.set_ready("1001")
        entered = await place_call(first, lambda: [e for e in seen if isinstance(e, QueueEntered)], number)
        lid = entered.linkedid
        await until(lambda: any(isinstance(e, CallConnected) and e.linkedid == lid for e in seen),
                    what="the call connected to 1001")
        routed = first.acd.calls[lid].customer_id
        await first.bus.drain()  # type: ignore[attr-defined]
        await first.logger.flush()
        # Talking, the agent links the call to another customer (as the link route does: commit, then news).
        async with first.db.session() as s:
            linked = (await s.scalars(select(Customer.id).where(Customer.id != (routed or 0))
                                      .order_by(Customer.id.desc()))).first()
            assert linked is not None
            row = await interaction_by_linkedid(session=s, linkedid=lid)
            assert row is not None
            await link_customer(session=s, interaction_id=row.id, customer_id=linked)
            interaction_id = row.id
        await first.bus.publish(CustomerLinked(ts=time.time(), linkedid=lid, interaction_id=interaction_id,
                                               customer_id=linked, actor="agent1"))
        await first.bus.drain()  # type: ignore[attr-defined]
        assert first.acd.calls[lid].customer_id == linked  # the live engine follows the link
        await first.stop()  # the call goes on in Asterisk

        second = Engine(settings, answer_after_s=0.5, web=False)
        second.bus.subscribe(Event, record, name="test.recorder2")
        await second.start()
        report = second.recovery_report
        assert report is not None and report.attached == {lid: "1001"}, report
        assert second.acd.calls[lid].customer_id == linked  # the interaction's, not the routed one
        before = len(seen)
        await second.desk.login_queues("1002", ["support"])
        await second.desk.set_ready("1002")
        await second.desk.transfer("1001", lid, kind="blind", target_kind="queue", target="support")
        offer = await until(lambda: next((e for e in seen[before:] if isinstance(e, AgentOffer)
                                          and e.linkedid == lid), None), what="the transferred call's offer")
        assert (offer.agent_id, offer.customer_id) == ("1002", linked)
    finally:
        pbx.cli("channel request hangup all")
        await asyncio.sleep(0.5)
        if second is not None:
            await second.stop()
        else:
            await first.stop()
