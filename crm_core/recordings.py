"""Call recordings: one row per recording file, linked to its interaction by linkedid.

The recorder (``crm_core.recorder``) writes the rows when a call ends; the web layer
(``agent_console.recordings_http``) lists and streams them. Repositories never commit.
``path`` is relative to the configured recordings directory (``YYYY/MM/DD/HH/<linkedid>-<n>.wav``).
``pauses`` lists the silent gaps: ``{"start": ts, "end": ts | null, "by": username, "reason": ...}``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.audit import AuditEntry
from crm_core.errors import NotFound
from crm_core.models import Base, Interaction, Segment, utcnow


class Recording(Base):
    __tablename__ = "recordings"

    id: Mapped[int] = mapped_column(primary_key=True)
    linkedid: Mapped[str] = mapped_column(String(64), index=True)
    interaction_id: Mapped[int | None] = mapped_column(ForeignKey("interactions.id", ondelete="SET NULL"),
                                                       index=True)
    path: Mapped[str] = mapped_column(String(255), unique=True)
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(index=True)
    ended_at: Mapped[datetime | None]
    pauses: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


async def add_recording(*, session: AsyncSession, linkedid: str, path: str, duration_s: float, size_bytes: int,
                        started_at: datetime, ended_at: datetime | None, pauses: list[dict[str, Any]]) -> Recording:
    interaction_id = await session.scalar(select(Interaction.id).where(Interaction.linkedid == linkedid))
    row = Recording(linkedid=linkedid, interaction_id=interaction_id, path=path, duration_s=duration_s,
                    size_bytes=size_bytes, started_at=started_at, ended_at=ended_at, pauses=pauses)
    session.add(row)
    await session.flush()
    return row


async def add_recording_once(session: AsyncSession, key: str, f: dict[str, Any]) -> None:
    """A journaled recording row (``crm_core.recorder``): written unless its file is filed already
    (a retry whose first commit got through). ``started`` and ``ended`` are epoch seconds."""
    if await session.scalar(select(Recording.id).where(Recording.path == f["path"])) is not None:
        return
    await add_recording(session=session, linkedid=f["linkedid"], path=f["path"], duration_s=f["duration_s"],
                        size_bytes=f["size_bytes"], started_at=datetime.fromtimestamp(f["started"], UTC),
                        ended_at=datetime.fromtimestamp(f["ended"], UTC), pauses=f["pauses"])


async def recordings_of(*, session: AsyncSession, interaction: Interaction) -> Sequence[Recording]:
    """The interaction's recordings (by linkedid: the row may predate the interaction's)."""
    rows = await session.scalars(select(Recording).where(Recording.linkedid == interaction.linkedid)
                                 .order_by(Recording.started_at))
    return rows.all()


async def get_recording(*, session: AsyncSession, recording_id: int) -> Recording:
    row = await session.get(Recording, recording_id)
    if row is None:
        raise NotFound("recording", recording_id)
    return row


async def interaction_of(*, session: AsyncSession, recording: Recording) -> Interaction | None:
    return await session.scalar(select(Interaction).where(Interaction.linkedid == recording.linkedid))


async def handling_agents(*, session: AsyncSession, interaction: Interaction) -> set[str]:
    """Every agent who had a part in the call: its agent and any agent of its segments."""
    agents = {interaction.agent_id} if interaction.agent_id else set()
    rows = await session.scalars(select(Segment.agent_id).where(Segment.interaction_id == interaction.id,
                                                                Segment.agent_id.is_not(None)))
    agents.update(a for a in rows.all() if a)
    return agents


async def handlers(*, session: AsyncSession, calls: Sequence[Interaction]) -> dict[int, set[str]]:
    """``handling_agents`` of each of ``calls`` (interaction id -> agents), in one query whatever
    their number: who may hear the recorded calls of a customer's history."""
    found = {i.id: ({i.agent_id} if i.agent_id else set()) for i in calls}
    if found:
        rows = await session.execute(select(Segment.interaction_id, Segment.agent_id)
                                     .where(Segment.interaction_id.in_(list(found)), Segment.agent_id.is_not(None)))
        for interaction_id, agent in rows.all():
            if agent:
                found[interaction_id].add(agent)
    return found


async def recent(*, session: AsyncSession, queue: str | None = None, agent_id: str | None = None,
                 since: datetime | None = None, until: datetime | None = None, number: str | None = None,
                 limit: int = 50, offset: int = 0,
                 queues: Collection[str] | None = None) -> list[tuple[Recording, Interaction | None]]:
    """The newest recordings that started in [since, until), of the queue (and among ``queues``: a
    supervisor's; None: any), the agent and a caller number holding the digits ``number``, with their call."""
    query = (select(Recording, Interaction).outerjoin(Interaction, Interaction.linkedid == Recording.linkedid)
             .order_by(Recording.started_at.desc(), Recording.id.desc()).offset(offset).limit(limit))
    if queue:
        query = query.where(Interaction.queue == queue)
    if queues is not None:
        query = query.where(Interaction.queue.in_(sorted(queues)))
    if agent_id:
        query = query.where(Interaction.agent_id == agent_id)
    if since is not None:
        query = query.where(Recording.started_at >= since)
    if until is not None:
        query = query.where(Recording.started_at < until)
    if number:
        query = query.where(Interaction.caller_number.contains(number, autoescape=True))
    return [(r, i) for r, i in (await session.execute(query)).all()]


async def older_than(*, session: AsyncSession, cutoff: datetime, limit: int = 500) -> Sequence[Recording]:
    rows = await session.scalars(select(Recording).where(Recording.started_at < cutoff)
                                 .order_by(Recording.started_at).limit(limit))
    return rows.all()


def audit(session: AsyncSession, *, actor: str, role: str, action: str, recording: Recording,
          **detail: Any) -> None:
    """Append to the audit log (``recording.played``, ``recording.deleted``)."""
    session.add(AuditEntry(at=utcnow(), actor=actor, actor_role=role, action=action,
                           target=f"recording:{recording.id}",
                           detail={"linkedid": recording.linkedid, "path": recording.path, **detail}))
