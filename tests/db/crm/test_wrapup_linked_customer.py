"""A customer the agent links to a call while it is open is the customer of what the call's wrap-up
makes: the case and the callback (and the callback's case) are the linked customer's, not the one the
IVR identified; and the ACD's call, passed on after the link, is offered with the linked customer. The
real desk over the real ACD (and call logger); SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from acd.delivery import AcdService
from acd.events import AgentOffer
from acd.model import QueueConfig
from acd.routing import Router
from agent_console.desk import EngineDesk
from agent_console.ports import WrapUpInput
from agent_console.protocol import CaseInput
from crm_core import catalog
from crm_core.calllog import CallLogger
from crm_core.customers import create_customer
from crm_core.db import Database
from crm_core.events import CustomerLinked
from crm_core.interactions import interaction_by_linkedid, link_customer
from crm_core.models import Callback, Case
from crm_core.schemas import CustomerIn, DispositionIn, PhoneIn
from cti.bus import InProcessBus
from cti.journey import CallEnded, IvrFinished
from tests.db.console.desk_worlds import CALLER, Pbx


async def test_the_wrap_ups_case_and_callback_are_the_linked_customers(db: Database, tmp_path: Path) -> None:
    async with db.session() as s:
        await catalog.create_disposition(session=s, data=DispositionIn(code="resolved", label="Resolved"))
        ivr = await create_customer(session=s, data=CustomerIn(name="Li", phones=[PhoneIn(number="13912345670")]))
        linked = await create_customer(session=s, data=CustomerIn(name="Wu", phones=[PhoneIn(number="13912345671")]))
    bus = InProcessBus()
    acd = AcdService(Router([QueueConfig(name="support")]), Pbx(), bus)
    acd.subscribe()
    logger = CallLogger(db, tmp_path / "calllog")
    logger.subscribe(bus)
    desk = EngineDesk(acd, db, bus, journal=tmp_path / "wrapups.jsonl")
    await logger.start()
    await desk.journal.start()
    await bus.start()
    try:
        await acd.agent_login("1001", {"support": 3}, ["support"], ready=True)
        # The IVR identified the caller as Li (account and PIN): the call is routed with Li.
        await bus.publish(IvrFinished(ts=1_800_000_000.0, linkedid="L1", flow="main", outcome="queue",
                                      channel="PJSIP/trunk-1", caller_number=CALLER, queue="support",
                                      customer_id=ivr.id))
        await bus.drain()
        ring = acd.calls["L1"].ring_task
        assert ring is not None and acd.calls["L1"].customer_id == ivr.id
        await ring  # the agent answers
        await bus.drain()
        await logger.flush()
        # Talking, the agent finds the caller is Wu and links the call to Wu.
        async with db.session() as s:
            row = await interaction_by_linkedid(session=s, linkedid="L1")
            assert row is not None and row.customer_id == ivr.id
            await link_customer(session=s, interaction_id=row.id, customer_id=linked.id)
        await bus.publish(CallEnded(ts=1_800_000_060.0, linkedid="L1"))
        await bus.drain()
        due = datetime(2030, 1, 1, 9, 0, tzinfo=UTC).timestamp()
        result = await desk.wrap_up("1001", "L1", WrapUpInput(
            disposition="resolved", notes="wants a refund", case=CaseInput(subject="Refund"), callback_at=due))
        await bus.drain()
        await logger.flush()
    finally:
        await acd.stop()
        await bus.stop()
        await logger.stop()
        await desk.journal.stop()
    assert "pending" not in result
    async with db.session() as s:
        case = await s.get(Case, result["case_id"])
        callback = await s.get(Callback, result["callback_id"])
        callback_case = await s.get(Case, result["callback_case_id"])
        assert case is not None and callback is not None and callback_case is not None
        assert (case.customer_id, callback.customer_id, callback_case.customer_id) == (linked.id,) * 3
        assert (await s.scalars(select(Case.customer_id))).all() == [linked.id, linked.id]
        row = await interaction_by_linkedid(session=s, linkedid="L1")
        assert row is not None and row.customer_id == linked.id and row.disposition == "resolved"


async def test_a_call_passed_on_after_the_link_offers_the_linked_customer(db: Database, tmp_path: Path) -> None:
    """The ACD's call carries the linked customer from the link's news on (``CustomerLinked``, as the
    link route publishes it): the agent a blind transfer offers the call to pops the linked customer."""
    async with db.session() as s:
        ivr = await create_customer(session=s, data=CustomerIn(name="Li", phones=[PhoneIn(number="13912345670")]))
        linked = await create_customer(session=s, data=CustomerIn(name="Wu", phones=[PhoneIn(number="13912345671")]))
    bus = InProcessBus()
    offers: list[AgentOffer] = []

    async def keep(ev: AgentOffer) -> None:
        offers.append(ev)

    bus.subscribe(AgentOffer, keep, name="test.offers")
    acd = AcdService(Router([QueueConfig(name="support")]), Pbx(), bus)
    acd.subscribe()
    desk = EngineDesk(acd, db, bus, journal=tmp_path / "wrapups.jsonl")
    desk.subscribe(bus)
    await bus.start()
    try:
        await acd.agent_login("1001", {"support": 3}, ["support"], ready=True)
        await bus.publish(IvrFinished(ts=1_800_000_000.0, linkedid="L1", flow="main", outcome="queue",
                                      channel="PJSIP/trunk-1", caller_number=CALLER, queue="support",
                                      customer_id=ivr.id))
        await bus.drain()
        ring = acd.calls["L1"].ring_task
        assert ring is not None
        await ring
        await bus.drain()
        await acd.agent_login("1002", {"support": 3}, ["support"], ready=True)
        await bus.publish(CustomerLinked(ts=1_800_000_030.0, linkedid="L1", interaction_id=1, customer_id=linked.id,
                                         actor="agent1"))
        await bus.drain()
        await desk.transfer("1001", "L1", kind="blind", target_kind="queue", target="support")
        await bus.drain()
    finally:
        await acd.stop()
        await bus.stop()
        await desk.journal.stop()
    assert [(o.agent_id, o.customer_id) for o in offers] == [("1001", ivr.id), ("1002", linked.id)]


async def test_an_ivr_identification_written_after_the_link_does_not_take_the_wrap_up(
        db: Database, tmp_path: Path) -> None:
    """The wrap-up takes the interaction's customer: the call logger writing an IVR identification
    after the link (its writes run behind the call) leaves the link there (its UPDATE replaces only a
    customer it wrote itself), so the case is still the linked customer's."""
    async with db.session() as s:
        await catalog.create_disposition(session=s, data=DispositionIn(code="resolved", label="Resolved"))
        ivr = await create_customer(session=s, data=CustomerIn(name="Li", phones=[PhoneIn(number="13912345670")]))
        linked = await create_customer(session=s, data=CustomerIn(name="Wu", phones=[PhoneIn(number="13912345671")]))
        late = await create_customer(session=s, data=CustomerIn(name="Zhao"))
    bus = InProcessBus()
    acd = AcdService(Router([QueueConfig(name="support")]), Pbx(), bus)
    acd.subscribe()
    logger = CallLogger(db, tmp_path / "calllog")
    logger.subscribe(bus)
    desk = EngineDesk(acd, db, bus, journal=tmp_path / "wrapups.jsonl")
    await logger.start()
    await desk.journal.start()
    await bus.start()
    try:
        await acd.agent_login("1001", {"support": 3}, ["support"], ready=True)
        await bus.publish(IvrFinished(ts=1_800_000_000.0, linkedid="L1", flow="main", outcome="queue",
                                      channel="PJSIP/trunk-1", caller_number=CALLER, queue="support",
                                      customer_id=ivr.id))
        await bus.drain()
        ring = acd.calls["L1"].ring_task
        assert ring is not None
        await ring
        await bus.drain()
        await logger.flush()
        async with db.session() as s:
            row = await interaction_by_linkedid(session=s, linkedid="L1")
            assert row is not None
            await link_customer(session=s, interaction_id=row.id, customer_id=linked.id)
        # The logger writes an identification of the IVR after the link (to the logger only: the ACD
        # would queue the call again).
        await logger.handle(IvrFinished(ts=1_800_000_020.0, linkedid="L1", flow="main", outcome="queue",
                                        channel="PJSIP/trunk-1", caller_number=CALLER, queue="support",
                                        customer_id=late.id))
        await logger.flush()
        await bus.publish(CallEnded(ts=1_800_000_060.0, linkedid="L1"))
        await bus.drain()
        result = await desk.wrap_up("1001", "L1", WrapUpInput(disposition="resolved", notes="",
                                                              case=CaseInput(subject="Refund")))
        await bus.drain()
        await logger.flush()
    finally:
        await acd.stop()
        await bus.stop()
        await logger.stop()
        await desk.journal.stop()
    assert "pending" not in result
    async with db.session() as s:
        case = await s.get(Case, result["case_id"])
        assert case is not None and case.customer_id == linked.id
        row = await interaction_by_linkedid(session=s, linkedid="L1")
        assert row is not None and row.customer_id == linked.id
