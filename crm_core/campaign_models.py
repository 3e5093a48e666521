"""Tables of outbound campaigns: the campaign, its contacts, every dial attempt, the do-not-call list.

Interactions name their campaign and contact in plain indexed columns (``interactions.campaign_id``,
``campaign_contact_id``); ``campaign_attempts.linkedid`` is the interaction of each attempt.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.models import Base, utcnow

CAMPAIGN_STATES = ("draft", "running", "paused", "stopped", "completed")
CONTACT_STATES = ("pending", "dialing", "done", "failed", "dnc")
# What an attempt came to: a human reached an agent; a machine answered (AMD); a human answered and
# no agent was free (dropped: heard the message); the far end did not answer, was busy, or the call
# failed; blocked: on the do-not-call list at dial time (never dialled, no interaction).
ATTEMPT_OUTCOMES = ("human", "machine", "dropped", "no_answer", "busy", "failed")


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    queue: Mapped[str] = mapped_column(String(64))
    skills: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    mode: Mapped[str] = mapped_column(String(12))
    state: Mapped[str] = mapped_column(String(12), default="draft", index=True)
    caller_id: Mapped[str | None] = mapped_column(String(20))
    script: Mapped[str] = mapped_column(Text, default="")
    timezone: Mapped[str] = mapped_column(String(64))  # contacts whose own zone is not known
    region: Mapped[str] = mapped_column(String(2))  # national numbers are read as numbers of this region
    windows: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    retry: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # outcome -> delay in seconds (null: never)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    machine_action: Mapped[str] = mapped_column(String(10), default="retry")  # message | retry
    machine_message: Mapped[str] = mapped_column(String(120), default="")
    drop_message: Mapped[str] = mapped_column(String(120), default="")
    drop_cap: Mapped[float] = mapped_column(Float, default=0.03)
    max_lines_per_agent: Mapped[float] = mapped_column(Float, default=3.0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CampaignContact(Base):
    __tablename__ = "campaign_contacts"
    __table_args__ = (UniqueConstraint("campaign_id", "number"),
                      Index("ix_campaign_contacts_due", "campaign_id", "state", "next_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    number: Mapped[str] = mapped_column(String(20))  # E.164
    name: Mapped[str] = mapped_column(String(120), default="")
    timezone: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the upload's other columns
    state: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime | None]
    last_outcome: Mapped[str | None] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CampaignAttempt(Base):
    __tablename__ = "campaign_attempts"
    __table_args__ = (UniqueConstraint("contact_id", "attempt"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("campaign_contacts.id", ondelete="CASCADE"))
    attempt: Mapped[int] = mapped_column(Integer)
    linkedid: Mapped[str] = mapped_column(String(64), unique=True)  # the attempt's interaction
    number: Mapped[str] = mapped_column(String(20))
    dialled_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(12))
    agent_id: Mapped[str | None] = mapped_column(String(64))


class DoNotCall(Base):
    """A number never to dial: for every campaign (``campaign_id`` null) or one campaign; once in
    each (the unique indexes: a plain unique constraint would let any number of nulls through)."""

    __tablename__ = "do_not_call"
    __table_args__ = (Index("ix_do_not_call_number", "number"),
                      Index("ux_do_not_call_global", "number", unique=True,
                            sqlite_where=text("campaign_id IS NULL"), postgresql_where=text("campaign_id IS NULL")),
                      Index("ux_do_not_call_campaign", "campaign_id", "number", unique=True))

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20))  # E.164
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
