"""Interactions (one per call, written by the call logger): list, filter, read, link a customer."""

from __future__ import annotations

import functools
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.customers import get_customer
from crm_core.errors import NotFound
from crm_core.models import Interaction, Segment


def _filtered(stmt: Select[Any], *, customer_id: int | None, agent_id: str | None, queue: str | None,
              outcome: str | None, since: datetime | None, until: datetime | None,
              unknown_only: bool, queues: Collection[str] | None = None,
              linkedid: str | None = None, callback_id: str | None = None) -> Select[Any]:
    if linkedid is not None:  # the feed's call_id
        stmt = stmt.where(Interaction.linkedid == linkedid)
    if callback_id is not None:  # a virtual-hold callback's calls
        stmt = stmt.where(Interaction.callback_id == callback_id)
    if customer_id is not None:
        stmt = stmt.where(Interaction.customer_id == customer_id)
    if unknown_only:
        stmt = stmt.where(Interaction.customer_id.is_(None))
    if agent_id is not None:
        stmt = stmt.where(Interaction.agent_id == agent_id)
    if queue is not None:
        stmt = stmt.where(Interaction.queue == queue)
    if queues is not None:  # a supervisor's queues
        stmt = stmt.where(Interaction.queue.in_(sorted(queues)))
    if outcome is not None:
        stmt = stmt.where(Interaction.outcome == outcome)
    if since is not None:
        stmt = stmt.where(Interaction.started_at >= since)
    if until is not None:
        stmt = stmt.where(Interaction.started_at < until)
    return stmt


async def list_interactions(*, session: AsyncSession, customer_id: int | None = None, agent_id: str | None = None,
                            queue: str | None = None, outcome: str | None = None, since: datetime | None = None,
                            until: datetime | None = None, unknown_only: bool = False, offset: int = 0,
                            limit: int = 50, queues: Collection[str] | None = None,
                            linkedid: str | None = None, callback_id: str | None = None,
                            ) -> tuple[list[Interaction], int]:
    f = functools.partial(_filtered, customer_id=customer_id, agent_id=agent_id, queue=queue, outcome=outcome,
                          since=since, until=until, unknown_only=unknown_only, queues=queues, linkedid=linkedid,
                          callback_id=callback_id)
    total = await session.scalar(f(select(func.count(Interaction.id)))) or 0
    stmt = f(select(Interaction)).order_by(Interaction.started_at.desc(), Interaction.id.desc())
    return list((await session.scalars(stmt.offset(offset).limit(limit))).all()), total


async def get_interaction(*, session: AsyncSession, interaction_id: int) -> Interaction:
    found = await session.get(Interaction, interaction_id)
    if found is None:
        raise NotFound("interaction", interaction_id)
    return found


async def interaction_by_linkedid(*, session: AsyncSession, linkedid: str) -> Interaction | None:
    return await session.scalar(select(Interaction).where(Interaction.linkedid == linkedid))


async def segments_of(*, session: AsyncSession, interaction_id: int) -> list[Segment]:
    stmt = select(Segment).where(Segment.interaction_id == interaction_id).order_by(Segment.seq)
    return list((await session.scalars(stmt)).all())


async def link_customer(*, session: AsyncSession, interaction_id: int, customer_id: int) -> Interaction:
    """An agent attaches a caller the system did not recognise to a customer; the call logger's later
    writes of the call keep it (``customer_linked``, crm_core.calllog_rows)."""
    interaction = await get_interaction(session=session, interaction_id=interaction_id)
    await get_customer(session=session, customer_id=customer_id)
    interaction.customer_id = customer_id
    interaction.customer_linked = True
    await session.flush()
    return interaction
