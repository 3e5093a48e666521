"""A customer an agent links to a call while it is open stays: the call logger's later writes of the
call (its own customer, from the IVR or matched on the number) never put theirs back. SQLite and
PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text

from crm_core.calllog import CallLogger
from crm_core.customers import create_customer
from crm_core.db import Database
from crm_core.interactions import link_customer
from crm_core.models import Interaction
from crm_core.revisions import alembic_config
from crm_core.schemas import CustomerIn, PhoneIn
from crm_core.screenpop import customer_history, screen_pop
from cti.journey import (
    CallArrived,
    CallConnected,
    CallEnded,
    HoldEnded,
    HoldStarted,
    IvrFinished,
    QueueEntered,
    WrapUpDone,
)

T = 1790000000.0


async def _customer_of(db: Database, linkedid: str) -> tuple[int, int | None]:
    async with db.session() as s:
        row = (await s.execute(select(Interaction.id, Interaction.customer_id)
                               .where(Interaction.linkedid == linkedid))).one()
        return row.id, row.customer_id


@pytest.mark.parametrize("known_by", ["ivr", "number", "ivr_then_restart"])
async def test_a_customer_the_agent_links_during_the_call_stays(db: Database, tmp_path: Path, known_by: str) -> None:
    async with db.session() as s:
        logged = await create_customer(session=s, data=CustomerIn(name="Li", phones=[PhoneIn(number="13912345670")]))
        linked = await create_customer(session=s, data=CustomerIn(name="Wu", phones=[PhoneIn(number="13912345671")]))
    lid = "L-link"
    ivr_customer = None if known_by == "number" else logged.id
    logger = CallLogger(db, tmp_path / "one")
    await logger.start()
    await logger.handle_batch([
        CallArrived(ts=T, linkedid=lid, channel="PJSIP/trunk-1", caller_number="+8613912345670", dnis="100"),
        IvrFinished(ts=T + 3, linkedid=lid, flow="main", outcome="queue", queue="support", customer_id=ivr_customer),
        QueueEntered(ts=T + 3, linkedid=lid, queue="support", customer_id=ivr_customer),
        CallConnected(ts=T + 4, linkedid=lid, agent_id="1001", queue="support")])
    await logger.flush()
    interaction_id, before = await _customer_of(db, lid)
    assert before == logged.id  # the logger's customer (the IVR's, or the number's one owner)
    # The agent, talking to the caller, links the call to another customer.
    async with db.session() as s:
        await link_customer(session=s, interaction_id=interaction_id, customer_id=linked.id)
    if known_by == "ivr_then_restart":
        await logger.stop()
        logger = CallLogger(db, tmp_path / "two")  # knows the call from its events only
        await logger.start()
        await logger.handle_batch([CallArrived(ts=T, linkedid=lid, channel="PJSIP/trunk-1",
                                               caller_number="+8613912345670", dnis="100"),
                                   IvrFinished(ts=T + 3, linkedid=lid, flow="main", outcome="queue",
                                               queue="support", customer_id=ivr_customer)])
    # The call goes on: each of its later events is written on its own.
    for ev in (HoldStarted(ts=T + 10, linkedid=lid, agent_id="1001"),
               HoldEnded(ts=T + 15, linkedid=lid, agent_id="1001"),
               CallEnded(ts=T + 20, linkedid=lid, cause=16),
               WrapUpDone(ts=T + 25, linkedid=lid, agent_id="1001", disposition="resolved")):
        await logger.handle(ev)
        await logger.flush()
        assert await _customer_of(db, lid) == (interaction_id, linked.id), ev
    await logger.stop()
    async with db.session() as s:
        assert (await s.get(Interaction, interaction_id)).status == "complete"  # type: ignore[union-attr]
        # What the CRM shows of the call reads the agent's customer.
        pop = await screen_pop(session=s, linkedid=lid)
        assert pop["customer"]["id"] == linked.id
        assert lid in [h["call_id"] for h in await customer_history(session=s, customer_id=linked.id)]
        assert lid not in [h["call_id"] for h in await customer_history(session=s, customer_id=logged.id)]


async def test_the_logger_still_fills_and_changes_its_own_customer(db: Database, tmp_path: Path) -> None:
    """What the agent did not touch is the logger's: a call stored without a customer gets the one
    the IVR names later, and a customer the logger wrote follows the IVR's later identification."""
    async with db.session() as s:
        first = await create_customer(session=s, data=CustomerIn(name="Li"))
        second = await create_customer(session=s, data=CustomerIn(name="Wu"))
    lid = "L-own"
    logger = CallLogger(db, tmp_path)
    await logger.start()
    await logger.handle(CallArrived(ts=T, linkedid=lid, channel="PJSIP/trunk-1", caller_number="+14155552671",
                                    dnis="100"))
    await logger.flush()
    assert (await _customer_of(db, lid))[1] is None
    await logger.handle(IvrFinished(ts=T + 3, linkedid=lid, flow="main", outcome="queue", queue="support",
                                    customer_id=first.id))
    await logger.flush()
    assert (await _customer_of(db, lid))[1] == first.id
    await logger.handle(IvrFinished(ts=T + 9, linkedid=lid, flow="main", outcome="queue", queue="support",
                                    customer_id=second.id))  # a second pass through the IVR names another
    await logger.flush()
    assert (await _customer_of(db, lid))[1] == second.id
    await logger.handle(CallEnded(ts=T + 20, linkedid=lid, cause=16))
    await logger.flush()
    await logger.stop()
    assert (await _customer_of(db, lid))[1] == second.id


@pytest.mark.parametrize("logged_first", [False, True])
async def test_an_ivr_identification_written_after_the_link_does_not_replace_it(
        db: Database, tmp_path: Path, logged_first: bool) -> None:
    """The IVR's identification reaches the row after the agent's link (the logger writes behind the
    call, or the caller went through the IVR again): the row keeps the linked customer, whether the
    logger had written no customer before the link or one of its own. What the wrap-up then reads
    (its case and callback are the row's customer) is the link."""
    async with db.session() as s:
        own = await create_customer(session=s, data=CustomerIn(name="Li"))
        ivr = await create_customer(session=s, data=CustomerIn(name="Zhao"))
        linked = await create_customer(session=s, data=CustomerIn(name="Wu"))
    lid = "L-late-ivr"
    logger = CallLogger(db, tmp_path)
    await logger.start()
    await logger.handle_batch([
        CallArrived(ts=T, linkedid=lid, channel="PJSIP/trunk-1", caller_number="+14155552671", dnis="100"),
        *([IvrFinished(ts=T + 2, linkedid=lid, flow="main", outcome="queue", queue="support", customer_id=own.id)]
          if logged_first else []),
        QueueEntered(ts=T + 3, linkedid=lid, queue="support"),
        CallConnected(ts=T + 4, linkedid=lid, agent_id="1001", queue="support")])
    await logger.flush()
    interaction_id, before = await _customer_of(db, lid)
    assert before == (own.id if logged_first else None)
    async with db.session() as s:
        await link_customer(session=s, interaction_id=interaction_id, customer_id=linked.id)
    await logger.handle(IvrFinished(ts=T + 8, linkedid=lid, flow="main", outcome="queue", queue="support",
                                    customer_id=ivr.id))
    await logger.flush()
    assert await _customer_of(db, lid) == (interaction_id, linked.id)
    for ev in (CallEnded(ts=T + 20, linkedid=lid, cause=16),
               WrapUpDone(ts=T + 25, linkedid=lid, agent_id="1001", disposition="resolved")):
        await logger.handle(ev)
        await logger.flush()
        assert await _customer_of(db, lid) == (interaction_id, linked.id), ev
    await logger.stop()


@pytest.mark.parametrize("restart", [False, True])
async def test_a_link_to_the_customer_the_logger_wrote_stays_against_a_later_ivr_identification(
        db: Database, tmp_path: Path, restart: bool) -> None:
    """The agent confirms the very customer the logger last wrote (the IVR's) by linking the call to
    them; the caller then goes through the IVR again, which names another customer. The link is the
    agent's deliberate choice and stays (it looked like the logger's own value and was replaced),
    also when an engine restarted in between writes the identification."""
    async with db.session() as s:
        own = await create_customer(session=s, data=CustomerIn(name="Li"))
        other = await create_customer(session=s, data=CustomerIn(name="Zhao"))
    lid = "L-same"
    logger = CallLogger(db, tmp_path / "one")
    await logger.start()
    await logger.handle_batch([
        CallArrived(ts=T, linkedid=lid, channel="PJSIP/trunk-1", caller_number="+14155552671", dnis="100"),
        IvrFinished(ts=T + 2, linkedid=lid, flow="main", outcome="queue", queue="support", customer_id=own.id),
        QueueEntered(ts=T + 3, linkedid=lid, queue="support", customer_id=own.id),
        CallConnected(ts=T + 4, linkedid=lid, agent_id="1001", queue="support")])
    await logger.flush()
    interaction_id, before = await _customer_of(db, lid)
    assert before == own.id
    async with db.session() as s:
        await link_customer(session=s, interaction_id=interaction_id, customer_id=own.id)
    async with db.session() as s:
        assert (await s.get(Interaction, interaction_id)).customer_linked  # type: ignore[union-attr]
    if restart:
        await logger.stop()
        logger = CallLogger(db, tmp_path / "two")
        await logger.start()
    await logger.handle(IvrFinished(ts=T + 8, linkedid=lid, flow="main", outcome="queue", queue="support",
                                    customer_id=other.id))
    await logger.flush()
    assert await _customer_of(db, lid) == (interaction_id, own.id)
    for ev in (CallEnded(ts=T + 20, linkedid=lid, cause=16),
               WrapUpDone(ts=T + 25, linkedid=lid, agent_id="1001", disposition="resolved")):
        await logger.handle(ev)
        await logger.flush()
        assert await _customer_of(db, lid) == (interaction_id, own.id), ev
    await logger.stop()


async def _columns(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        return {c["name"] for c in await conn.run_sync(lambda c: inspect(c).get_columns("interactions"))}


async def test_the_migration_adds_the_link_mark_and_its_downgrade_drops_it_keeping_the_calls(
        db: Database, tmp_path: Path) -> None:
    from alembic import command

    async with db.session() as s:
        linked = await create_customer(session=s, data=CustomerIn(name="Wu"))
    logger = CallLogger(db, tmp_path)
    await logger.start()
    await logger.handle_batch([
        CallArrived(ts=T, linkedid="L-mig", channel="PJSIP/trunk-1", caller_number="+14155552671", dnis="100"),
        CallConnected(ts=T + 4, linkedid="L-mig", agent_id="1001", queue="support")])
    await logger.flush()
    await logger.stop()
    interaction_id, _ = await _customer_of(db, "L-mig")
    async with db.session() as s:
        await link_customer(session=s, interaction_id=interaction_id, customer_id=linked.id)
    assert "customer_linked" in await _columns(db)
    async with db.engine.begin() as conn:
        await conn.run_sync(lambda c: command.downgrade(alembic_config(c), "0024_vhold_stay"))
    assert "customer_linked" not in await _columns(db)
    async with db.engine.connect() as conn:  # the call, its customer and its segments are kept
        row = (await conn.execute(text("SELECT id, customer_id FROM interactions WHERE linkedid = 'L-mig'"))).one()
        segments = (await conn.execute(text("SELECT COUNT(*) FROM interaction_segments WHERE interaction_id = :i"),
                                       {"i": interaction_id})).scalar_one()
    assert tuple(row) == (interaction_id, linked.id) and segments > 0
    await db.upgrade()
    async with db.session() as s:  # the mark is unknown for rows from before: not set
        call = await s.get(Interaction, interaction_id)
        assert call is not None and call.customer_id == linked.id and call.customer_linked is False


async def test_a_linked_customer_deleted_meanwhile_leaves_the_call_to_the_loggers_customer(
        db: Database, tmp_path: Path) -> None:
    """The mark keeps a customer, not an empty place: the linked customer deleted (the foreign key
    empties the call's customer), the IVR's later identification fills it, as for any call without one."""
    async with db.session() as s:
        linked = await create_customer(session=s, data=CustomerIn(name="Wu"))
        ivr = await create_customer(session=s, data=CustomerIn(name="Zhao"))
    lid = "L-gone"
    logger = CallLogger(db, tmp_path)
    await logger.start()
    await logger.handle_batch([
        CallArrived(ts=T, linkedid=lid, channel="PJSIP/trunk-1", caller_number="+14155552671", dnis="100"),
        CallConnected(ts=T + 4, linkedid=lid, agent_id="1001", queue="support")])
    await logger.flush()
    interaction_id, _ = await _customer_of(db, lid)
    async with db.session() as s:
        await link_customer(session=s, interaction_id=interaction_id, customer_id=linked.id)
    async with db.session() as s:
        await s.execute(text("DELETE FROM customers WHERE id = :i"), {"i": linked.id})
    assert await _customer_of(db, lid) == (interaction_id, None)
    await logger.handle(IvrFinished(ts=T + 8, linkedid=lid, flow="main", outcome="queue", queue="support",
                                    customer_id=ivr.id))
    await logger.flush()
    await logger.stop()
    assert await _customer_of(db, lid) == (interaction_id, ivr.id)
