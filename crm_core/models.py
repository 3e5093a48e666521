"""SQLAlchemy models of the CRM: customers, interactions with segments, cases, catalogue, users.

Times are stored in UTC (``UtcDateTime``) and always come back timezone-aware. KPI fields of
interactions (queue, wait_s, talk_s, hold_s, acw_s, answered_at, outcome, abandoned,
resolved_first_contact) are plain indexed columns so reports can aggregate them in SQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

TIERS = ("standard", "silver", "gold", "key_account")
LIFECYCLES = ("potential", "new", "mature", "loyal", "dormant")
DIRECTIONS = ("inbound", "outbound", "internal")
# no_answer / busy: outbound calls whose customer did not pick up (the far end's Dial result).
# machine / dropped: an outbound campaign's call answered by a machine (AMD) / by a human no agent
# was free for (crm_core.dialer).
# system_failure: cut by an Asterisk crash or restart (never a caller's abandon; see docs/resilience.md).
OUTCOMES = ("answered", "abandoned_ivr", "abandoned_queue", "voicemail", "callback_requested", "failed",
            "no_answer", "busy", "system_failure", "machine", "dropped")
# consult: a consulted agent's consultation of an attended transfer (their talk per agent, not the call's).
SEGMENT_KINDS = ("ivr", "queue", "ringing", "talk", "consult", "hold", "transfer", "wrapup")
ROLES = ("agent", "supervisor", "manager", "admin")
CASE_STATUSES = ("open", "in_progress", "pending", "resolved", "closed")
CASE_PRIORITIES = ("low", "normal", "high", "urgent")
CALLBACK_STATES = ("pending", "claimed", "done", "failed", "cancelled")


def utcnow() -> datetime:
    return datetime.now(UTC)


def epoch(value: datetime | None) -> float | None:
    """A column's datetime as Unix seconds, as the JSON views carry times (None stays None)."""
    return None if value is None else value.timestamp()


# SQLAlchemy's SQLite DATETIME text (its default storage format), which ``UtcDateTime`` writes itself.
_SQLITE_FORMAT = "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d"


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both databases (SQLite keeps no zone, so it stores naive UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def bind_processor(self, dialect: Any) -> Any:
        """On SQLite, ``process_bind_param`` and SQLite's own DATETIME processor in one C call: the
        same text (``YYYY-MM-DD HH:MM:SS.ffffff``, naive UTC) for a quarter of the CPU (the call
        log binds ~25 datetimes a call). Other databases: the two steps as TypeDecorator chains them."""
        if dialect.name != "sqlite" or getattr(self.impl_instance, "_storage_format", None) != _SQLITE_FORMAT:
            return super().bind_processor(dialect)

        def process(value: datetime | None) -> str | None:
            if value is None:
                return None
            if value.tzinfo is None:
                return value.isoformat(" ", "microseconds")
            if value.tzinfo is not UTC:
                value = value.astimezone(UTC)
            return value.isoformat(" ", "microseconds")[:26]  # without its "+00:00"

        return process


class Base(DeclarativeBase):
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        datetime: UtcDateTime(),
        dict[str, Any]: JSON,
        list[str]: JSON,
        list[dict[str, Any]]: JSON,
    }


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128), default="")
    role: Mapped[str] = mapped_column(String(16), default="agent")
    password_hash: Mapped[str] = mapped_column(String(256))
    agent_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    extension: Mapped[str | None] = mapped_column(String(32))
    # How the ACD rings this agent: webrtc (the console), sip (a desk phone), sim; NULL: the default.
    phone_kind: Mapped[str | None] = mapped_column(String(8), nullable=True)
    skills: Mapped[dict[str, Any]] = mapped_column(default=dict)  # skill -> proficiency 1..5 (acd.model)
    language: Mapped[str] = mapped_column(String(8), default="zh-CN")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    company: Mapped[str | None] = mapped_column(String(200))
    emails: Mapped[list[str]] = mapped_column(default=list)
    account_number: Mapped[str | None] = mapped_column(String(32), unique=True)
    tier: Mapped[str] = mapped_column(String(16), default="standard", index=True)
    lifecycle: Mapped[str] = mapped_column(String(16), default="new")
    language: Mapped[str] = mapped_column(String(8), default="zh-CN")
    tags: Mapped[list[str]] = mapped_column(default=list)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    notes: Mapped[str] = mapped_column(Text, default="")
    pin_hash: Mapped[str | None] = mapped_column(String(256))
    # Wrong IVR PINs in a row, across calls; at the limit the account's PIN identification locks.
    pin_failures: Mapped[int] = mapped_column(default=0, server_default="0")
    pin_locked_until: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    phones: Mapped[list[CustomerPhone]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", lazy="selectin", order_by="CustomerPhone.id")


# One account whatever its case (migration 0022; look-ups: crm_core.customers._account_is).
Index("ux_customers_account_ci", func.lower(Customer.account_number), unique=True)


class CustomerPhone(Base):
    """One of a customer's numbers; no two customers' (``ux_customer_phones_e164``), except the
    numbers already shared when that was first refused (``shared_before``, migration 0020)."""

    __tablename__ = "customer_phones"
    __table_args__ = (UniqueConstraint("customer_id", "e164"),
                      Index("ux_customer_phones_e164", "e164", unique=True,
                            sqlite_where=text("NOT shared_before"), postgresql_where=text("NOT shared_before")))

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    e164: Mapped[str] = mapped_column(String(20), index=True)
    label: Mapped[str] = mapped_column(String(20), default="mobile")
    shared_before: Mapped[bool] = mapped_column(default=False, server_default=false())

    customer: Mapped[Customer] = relationship(back_populates="phones")


class Interaction(Base):
    __tablename__ = "interactions"
    __table_args__ = (
        Index("ix_interactions_queue_started", "queue", "started_at"),
        Index("ix_interactions_agent_started", "agent_id", "started_at"),
        Index("ix_interactions_customer_started", "customer_id", "started_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    linkedid: Mapped[str] = mapped_column(String(64), unique=True)
    direction: Mapped[str] = mapped_column(String(10), default="inbound")
    status: Mapped[str] = mapped_column(String(10), default="open")  # open | ended | complete
    caller_number: Mapped[str] = mapped_column(String(40), default="")
    caller_name: Mapped[str] = mapped_column(String(120), default="")
    dialled_number: Mapped[str] = mapped_column(String(40), default="")
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    # An agent linked the call to ``customer_id`` (crm_core.interactions.link_customer): the call
    # logger never replaces it (crm_core.calllog_rows). Migration 0025.
    customer_linked: Mapped[bool] = mapped_column(default=False, server_default=false())
    agent_id: Mapped[str | None] = mapped_column(String(64))
    queue: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(index=True)
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(20), index=True)
    abandoned: Mapped[bool] = mapped_column(Boolean, default=False)
    ivr_flow: Mapped[str | None] = mapped_column(String(64))
    ivr_outcome: Mapped[str | None] = mapped_column(String(16))
    ivr_path: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    language: Mapped[str | None] = mapped_column(String(8))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    ivr_s: Mapped[float] = mapped_column(Float, default=0.0)
    wait_s: Mapped[float] = mapped_column(Float, default=0.0)
    ring_s: Mapped[float] = mapped_column(Float, default=0.0)
    talk_s: Mapped[float] = mapped_column(Float, default=0.0)
    hold_s: Mapped[float] = mapped_column(Float, default=0.0)
    acw_s: Mapped[float] = mapped_column(Float, default=0.0)
    hold_count: Mapped[int] = mapped_column(Integer, default=0)
    transfer_count: Mapped[int] = mapped_column(Integer, default=0)
    disposition: Mapped[str | None] = mapped_column(String(40))
    notes: Mapped[str] = mapped_column(Text, default="")
    recording_file: Mapped[str | None] = mapped_column(String(255))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"))
    resolved_first_contact: Mapped[bool] = mapped_column(Boolean, default=False)
    hangup_cause: Mapped[int | None] = mapped_column(Integer)
    callback_number: Mapped[str | None] = mapped_column(String(40))
    voicemail_mailbox: Mapped[str | None] = mapped_column(String(40))
    # The caller's survey after the call (docs/recording.md): 1-5, None when not asked or not answered.
    csat: Mapped[int | None] = mapped_column(Integer)
    csat2: Mapped[int | None] = mapped_column(Integer)
    # An outbound campaign's attempt (crm_core.campaign_models; its attempt row has this linkedid).
    campaign_id: Mapped[int | None] = mapped_column(Integer, index=True)
    campaign_contact_id: Mapped[int | None] = mapped_column(Integer)
    # A virtual-hold callback's call: the callback it serves (a web request's id, or the first call's).
    callback_id: Mapped[str | None] = mapped_column(String(64), index=True)  # migration 0023
    # The call's journey events as a JSON array of their wire forms (text: written as-is by the
    # logger, which already holds each event's canonical JSON, and read back only to re-fold).
    events: Mapped[str] = mapped_column(Text, default="[]")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Segment(Base):
    __tablename__ = "interaction_segments"

    id: Mapped[int] = mapped_column(primary_key=True)
    interaction_id: Mapped[int] = mapped_column(ForeignKey("interactions.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(12))
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)
    agent_id: Mapped[str | None] = mapped_column(String(64))
    queue: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Wrap-up segments: that agent's own wrap-up (after a transfer, each agent who handled the
    # call has one; the interaction's disposition and notes are the last handler's).
    disposition: Mapped[str | None] = mapped_column(String(40))
    notes: Mapped[str | None] = mapped_column(Text)


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(40), default="general")
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    priority: Mapped[str] = mapped_column(String(10), default="normal")
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"), index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    due_at: Mapped[datetime | None]
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    resolved_at: Mapped[datetime | None]

    history: Mapped[list[CaseEvent]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="CaseEvent.id")


class Callback(Base):
    """A call to place back to a customer (preview dialing: an agent claims it, then calls it).
    A callback with a ``queue`` is for the agents of that queue; one without is the personal
    callback of ``agent_id`` (scheduled at the wrap-up of a call that had no queue)."""

    __tablename__ = "callbacks"
    __table_args__ = (Index("ix_callbacks_state_due", "state", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    number: Mapped[str] = mapped_column(String(20))  # E.164
    queue: Mapped[str | None] = mapped_column(String(64))
    agent_id: Mapped[str | None] = mapped_column(String(64))
    due_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None]
    called_at: Mapped[datetime | None]  # the current claim's call was placed (a called claim never expires)
    # The call that asked for it: a request delivered twice (or seen by several nodes) makes one row.
    origin_linkedid: Mapped[str | None] = mapped_column(String(64), unique=True)
    last_linkedid: Mapped[str | None] = mapped_column(String(64), index=True)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class VirtualHold(Base):
    """A caller who keeps its place without staying on the line (virtual hold, docs/callbacks.md):
    the queued call that asked (``origin_linkedid``; none for a web request), its place
    (``entered_at``, ``priority``), its stay in its queue (``queue_entered_at``, ``put_back_at``,
    ``moved_wait_s``), each callback attempt (``attempts``: when, result, the attempt's
    call), the callback call that reached an agent (``connected_linkedid``, an interaction) and the
    language its callback speaks (``language``)."""

    __tablename__ = "virtual_holds"
    __table_args__ = (Index("ix_virtual_holds_state", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[str] = mapped_column(String(64), unique=True)  # the ACD's id of the entry
    origin_linkedid: Mapped[str | None] = mapped_column(String(64), index=True)
    source: Mapped[str] = mapped_column(String(8), default="queue")  # queue | web
    number: Mapped[str] = mapped_column(String(20))  # E.164
    queue: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    skills: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    entered_at: Mapped[float] = mapped_column(Float)  # epoch seconds: the place in the queue
    # Its stay in ``queue`` when it was moved there after ``entered_at`` (an overflow, a limit's queue
    # action, a supervisor's move; None: since its first entry), when it was put back after an answer
    # (its agent's softphone lost; None: never), and the waits before a supervisor's move that its
    # queue counts with its stay's (migration 0024_vhold_stay; docs/callbacks.md).
    queue_entered_at: Mapped[float | None] = mapped_column(Float)
    put_back_at: Mapped[float | None] = mapped_column(Float)
    moved_wait_s: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    state: Mapped[str] = mapped_column(String(12), default="virtual")
    attempts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    connected_linkedid: Mapped[str | None] = mapped_column(String(64), index=True)
    # The language its callback speaks (a sound directory's name: zh, en_GB; NULL: the PBX's default):
    # the caller's channel's when it pressed the key, the CRM customer's for a web request (migration
    # 0026_vhold_language).
    language: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CaseEvent(Base):
    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(64), default="system")
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Disposition(Base):
    __tablename__ = "dispositions"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    label: Mapped[str] = mapped_column(String(120))
    label_zh: Mapped[str] = mapped_column(String(120), default="")
    category: Mapped[str] = mapped_column(String(40), default="general")
    resolves: Mapped[bool] = mapped_column(Boolean, default=False)  # the default of the wrap-up's resolved flag (FCR)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Script(Base):
    __tablename__ = "scripts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    queue: Mapped[str | None] = mapped_column(String(64), index=True)
    intent: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8), default="zh-CN")
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Article(Base):
    __tablename__ = "articles"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8), default="zh-CN")
    category: Mapped[str] = mapped_column(String(40), default="general")
    tags: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
