"""Pydantic shapes of the CRM's REST API and services (input validated, output serialised)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

Tier = Literal["standard", "silver", "gold", "key_account"]
Lifecycle = Literal["potential", "new", "mature", "loyal", "dormant"]
Role = Literal["agent", "supervisor", "manager", "admin"]
CaseStatus = Literal["open", "in_progress", "pending", "resolved", "closed"]
CasePriority = Literal["low", "normal", "high", "urgent"]
Outcome = Literal["answered", "abandoned_ivr", "abandoned_queue", "voicemail", "callback_requested", "failed",
                  "no_answer", "busy", "system_failure", "machine", "dropped"]
MAX_ID = 2**63 - 1  # database ids are signed 64-bit: a larger one is not an id, it is a 422
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
T = TypeVar("T")
# C0 and C1 control characters (CR, LF, TAB, NUL, ESC...), DEL, and the Unicode line and paragraph
# separators: a name shown on a card, a log line or a CSV row holds none of them.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def no_control_characters(value: str) -> str:
    """``value`` when it holds no control character; else ValueError naming the first (a 422 naming
    the field: a CR/LF in a name forges lines in logs and CSV exports, and breaks the cards)."""
    found = _CONTROL.search(value)
    if found is not None:
        raise ValueError(f"must not contain control characters (found {found.group()!r} at {found.start()})")
    return value


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class PhoneIn(_In):
    number: str = Field(min_length=3, max_length=40)
    label: str = Field("mobile", max_length=20)


def _plain(value: str | None) -> str | None:
    return None if value is None else no_control_characters(value)


def _emails(value: list[str] | None) -> list[str] | None:
    for i, e in enumerate(value or []):
        if not _EMAIL.match(e):
            raise ValueError(f"emails[{i}] {e!r} is not an e-mail address")
    return value


class CustomerIn(_In):
    name: str = Field(min_length=1, max_length=200)
    company: str | None = Field(None, max_length=200)
    phones: list[PhoneIn] = Field(default_factory=list, max_length=10)
    emails: list[str] = Field(default_factory=list, max_length=10)
    account_number: str | None = Field(None, pattern=r"^[0-9A-Za-z-]{3,32}$")
    tier: Tier = "standard"
    lifecycle: Lifecycle = "new"
    language: str = Field("zh-CN", max_length=8)
    tags: list[str] = Field(default_factory=list, max_length=50)
    custom_fields: dict[str, str | int | float | bool | None] = Field(default_factory=dict)
    notes: str = Field("", max_length=10_000)
    pin: str | None = Field(None, pattern=r"^[0-9]{4,8}$")  # write-only, stored as an argon2 hash

    _check_emails = field_validator("emails")(_emails)
    _check_plain = field_validator("name", "company")(_plain)


class CustomerPatch(_In):
    name: str | None = Field(None, min_length=1, max_length=200)
    company: str | None = Field(None, max_length=200)
    phones: list[PhoneIn] | None = Field(None, max_length=10)
    emails: list[str] | None = Field(None, max_length=10)
    account_number: str | None = Field(None, pattern=r"^[0-9A-Za-z-]{3,32}$")
    tier: Tier | None = None
    lifecycle: Lifecycle | None = None
    language: str | None = Field(None, max_length=8)
    tags: list[str] | None = Field(None, max_length=50)
    custom_fields: dict[str, str | int | float | bool | None] | None = None
    notes: str | None = Field(None, max_length=10_000)
    pin: str | None = Field(None, pattern=r"^[0-9]{4,8}$")  # null clears the PIN

    _check_emails = field_validator("emails")(_emails)
    _check_plain = field_validator("name", "company")(_plain)

    @field_validator("name", "phones", "emails", "tier", "lifecycle", "language", "tags", "custom_fields", "notes",
                     mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        """Only company, account_number and pin may be cleared with null; leave a field out to keep it."""
        if value is None:
            raise ValueError("may not be null (leave it out to keep it)")
        return value


class PhoneOut(_Out):
    number: str = Field(validation_alias="e164")
    label: str


class CustomerOut(_Out):
    id: int
    name: str
    company: str | None
    phones: list[PhoneOut]
    emails: list[str]
    account_number: str | None
    tier: str
    lifecycle: str
    language: str
    tags: list[str]
    custom_fields: dict[str, Any]
    notes: str
    has_pin: bool = False
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, c: Any) -> CustomerOut:
        out = cls.model_validate(c)
        out.has_pin = c.pin_hash is not None
        return out


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    offset: int
    limit: int


class SegmentOut(_Out):
    seq: int
    kind: str
    started_at: datetime
    ended_at: datetime | None
    duration_s: float
    agent_id: str | None
    queue: str | None
    detail: dict[str, Any]
    disposition: str | None = None  # wrap-up segments: that agent's own wrap-up
    notes: str | None = None


class InteractionOut(_Out):
    id: int
    linkedid: str
    direction: str
    status: str
    caller_number: str
    caller_name: str
    dialled_number: str
    customer_id: int | None
    # An agent linked the call to ``customer_id`` (PUT .../customer, the console's link): the call
    # logger never replaces it. False: the IVR or the number matched it, or none.
    customer_linked: bool = Field(False, description=(
        "true when an agent linked the call to customer_id (PUT /api/crm/interactions/{id}/customer, "
        "the console's link); false when the IVR or the caller's number identified the customer, or "
        "there is none. Interactions from before migration 0025 read false."))
    agent_id: str | None
    queue: str | None
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    outcome: str | None
    abandoned: bool
    ivr_flow: str | None
    ivr_outcome: str | None
    ivr_path: list[dict[str, Any]]
    language: str | None
    priority: int
    ivr_s: float
    wait_s: float
    ring_s: float
    talk_s: float
    hold_s: float
    acw_s: float
    hold_count: int
    transfer_count: int
    disposition: str | None
    notes: str
    recording_file: str | None
    csat: int | None = None  # the caller's survey answer (1-5), docs/recording.md
    csat2: int | None = None
    case_id: int | None
    resolved_first_contact: bool
    callback_number: str | None
    # A virtual-hold callback's call: the callback it serves (a web request's id from
    # POST /api/callback-requests, or the call_id of the call that kept its place); else null.
    callback_id: str | None = None
    segments: list[SegmentOut] | None = None


class LinkCustomer(_In):
    customer_id: int = Field(gt=0, le=MAX_ID)


class CaseIn(_In):
    subject: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=20_000)
    category: str = Field("general", min_length=1, max_length=40)
    priority: CasePriority = "normal"
    customer_id: int | None = Field(None, gt=0, le=MAX_ID)
    owner_id: int | None = Field(None, gt=0, le=MAX_ID)


class CasePatch(_In):
    subject: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=20_000)
    category: str | None = Field(None, min_length=1, max_length=40)
    priority: CasePriority | None = None
    status: CaseStatus | None = None
    note: str | None = Field(None, max_length=5_000)


class CaseAssign(_In):
    owner_id: int = Field(gt=0, le=MAX_ID)


class CaseEscalate(_In):
    reason: str = Field(min_length=1, max_length=500)


class CaseEventOut(_Out):
    at: datetime
    actor: str
    action: str
    detail: dict[str, Any]


class CaseOut(_Out):
    id: int
    subject: str
    description: str
    category: str
    status: str
    priority: str
    customer_id: int | None
    owner_id: int | None
    due_at: datetime | None
    escalation_level: int
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    history: list[CaseEventOut] = Field(default_factory=list)


class DispositionIn(_In):
    code: str = Field(min_length=1, max_length=40, pattern=r"^[a-z0-9_]+$")
    label: str = Field(min_length=1, max_length=120)
    label_zh: str = Field("", max_length=120)
    category: str = Field("general", max_length=40)
    resolves: bool = False
    active: bool = True


class DispositionOut(_Out):
    id: int
    code: str
    label: str
    label_zh: str
    category: str
    resolves: bool
    active: bool


class ScriptIn(_In):
    name: str = Field(min_length=1, max_length=80)
    queue: str | None = Field(None, max_length=64)
    intent: str | None = Field(None, max_length=64)
    language: str = Field("zh-CN", max_length=8)
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=20_000)
    active: bool = True


class ScriptOut(_Out):
    id: int
    name: str
    queue: str | None
    intent: str | None
    language: str
    title: str
    body: str
    active: bool


class ArticleIn(_In):
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=50_000)
    language: str = Field("zh-CN", max_length=8)
    category: str = Field("general", max_length=40)
    tags: list[str] = Field(default_factory=list, max_length=30)


class ArticleOut(_Out):
    id: int
    title: str
    body: str
    language: str
    category: str
    tags: list[str]
    updated_at: datetime


class UserOut(_Out):
    id: int
    username: str
    display_name: str
    role: str
    agent_id: str | None
    extension: str | None
    skills: dict[str, Any]
    language: str
    active: bool
