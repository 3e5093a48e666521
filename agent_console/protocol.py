"""The agent websocket protocol, version ``PROTOCOL_VERSION``: JSON text frames, one union per
direction keyed on ``"type"`` (documented in docs/websocket-protocol.md).

Every client message may carry ``ref`` (a string the client chooses); the server answers each
action with ``ack`` or ``error`` carrying the same ``ref``. Frames over ``MAX_FRAME_BYTES``,
invalid JSON, unknown types and wrong fields get an ``error`` frame; the connection stays open.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

PROTOCOL_VERSION = 1
MAX_FRAME_BYTES = 64 * 1024

AgentStateName = Literal["logged_out", "available", "reserved", "on_call", "wrap_up", "not_ready"]
_DIGITS = r"^[0-9*#A-Da-d]{1,32}$"
_NUMBER = r"^\+?[0-9*#]{1,32}$"
_WRITTEN = str.maketrans("", "", " -.()")  # how people write numbers, not part of them


def _dialable(value: object) -> object:
    """A number as an agent types or pastes it: spaces, dashes, dots and brackets dropped; anything
    else that is not ``_NUMBER`` said in words (the field's pattern would answer with itself)."""
    if not isinstance(value, str):
        return value
    number = value.strip().translate(_WRITTEN)
    if not re.fullmatch(_NUMBER, number):
        raise ValueError("not a phone number: up to 32 digits, * or #, with an optional leading + "
                         "(spaces, dashes, dots and brackets are fine)")
    return number


PhoneNumber = Annotated[str, BeforeValidator(_dialable), Field(pattern=_NUMBER)]


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    ref: str | None = Field(None, max_length=64, description="Client correlation id, echoed in ack/error.")


# -- client -> server ----------------------------------------------------------------------------

class Ping(_Msg):
    type: Literal["ping"]


class SnapshotRequest(_Msg):
    """Ask for a fresh ``hello`` (the server also sends one right after connecting)."""

    type: Literal["snapshot"]


class Reauth(_Msg):
    """The session's renewed token (``POST /api/auth/renew``): this socket lives on under it instead of
    closing when the token it was opened with expires. It must be a live token of the same user."""

    type: Literal["reauth"]
    token: str = Field(min_length=1, max_length=4096)


class QueuesFields(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    queues: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(default_factory=list, max_length=64)


class QueuesLogin(_Msg, QueuesFields):
    """Log in to queues (empty list: every queue the agent is assigned to)."""

    type: Literal["queues_login"]


class QueuesLogout(_Msg, QueuesFields):
    """Log out of the given queues (empty list: log off the ACD entirely)."""

    type: Literal["queues_logout"]


class Ready(_Msg):
    type: Literal["ready"]


class NotReadyFields(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    reason: str = Field(min_length=1, max_length=32, pattern=r"^[a-z0-9_]+$")


class NotReady(_Msg, NotReadyFields):
    type: Literal["not_ready"]


class _CallMsg(_Msg):
    call_id: str = Field(min_length=1, max_length=64)


class Hangup(_CallMsg):
    type: Literal["hangup"]


class Hold(_CallMsg):
    type: Literal["hold"]


class Resume(_CallMsg):
    type: Literal["resume"]


class TransferFields(BaseModel):
    """``blind``: the call goes to the target at once. ``attended``: the agent first talks to the
    target (the call shows ``consulting``) and completes the transfer by hanging up, cancels it
    (``cancel_consult``) or joins all three (``conference``). An ``agent`` target is that agent,
    never another: the call waits for them; one logged out is refused. ``note`` shows in the next
    agent's pop (a warm transfer)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    kind: Literal["blind", "attended"] = "blind"
    target_kind: Literal["agent", "queue", "number"]
    target: str = Field(min_length=1, max_length=64)
    note: str = Field("", max_length=2000)

    @field_validator("target")
    @classmethod
    def _target_safe(cls, v: str) -> str:
        if any(ord(c) < 32 or c in ",;|&" for c in v):
            raise ValueError("must not contain control characters or , ; | &")
        return v


class Transfer(_CallMsg, TransferFields):
    type: Literal["transfer"]


class CancelConsult(_CallMsg):
    """End the consultation of an attended transfer: the target's leg goes, the caller is back."""

    type: Literal["cancel_consult"]


class Conference(_CallMsg):
    """Turn the answered consultation into a three-way call (caller, agent, target)."""

    type: Literal["conference"]


class CallAttributesFields(BaseModel):
    """Tags and key-value attributes the agent writes on the call; they follow transfers and show
    in the call's ``detail`` (``tags``, ``attributes``)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    tags: list[Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$")]] = Field(
        default_factory=list, max_length=20)
    values: dict[Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z0-9_]+$")],
                 Annotated[str, Field(max_length=200)]] = Field(default_factory=dict, max_length=20)

    @field_validator("values")
    @classmethod
    def _one_line(cls, v: dict[str, str]) -> dict[str, str]:
        if any(ord(c) < 32 for value in v.values() for c in value):
            raise ValueError("values must be one line of text")
        return v


class CallAttributes(_CallMsg, CallAttributesFields):
    type: Literal["call_attributes"]


class DialFields(BaseModel):
    """Click-to-dial: the agent's phone rings first, then the customer's number."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    number: PhoneNumber
    customer_id: int | None = Field(None, ge=1)


class Dial(_Msg, DialFields):
    type: Literal["dial"]


class DtmfFields(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    digits: str = Field(pattern=_DIGITS)


class Dtmf(_CallMsg, DtmfFields):
    type: Literal["dtmf"]


class CaseInput(BaseModel):
    """Create a case (no ``id``) or update one (``id``) from the wrap-up."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    id: int | None = Field(None, ge=1)
    subject: str | None = Field(None, min_length=1, max_length=200)
    status: Literal["open", "pending", "resolved", "closed"] | None = None
    priority: Literal["low", "normal", "high", "urgent"] | None = None
    note: str = Field("", max_length=4000)

    @field_validator("subject")
    @classmethod
    def _subject_line(cls, v: str | None) -> str | None:
        if v is not None and any(ord(c) < 32 for c in v):
            raise ValueError("must be one line of text")
        return v


class WrapUpFields(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    disposition: str = Field(min_length=1, max_length=32, pattern=r"^[a-z0-9_]+$")
    notes: str = Field("", max_length=8000)
    resolved: bool | None = Field(None, description="Resolved on first contact (FCR); omitted: whether the "
                                                    "disposition resolves (the catalog's `resolves`).")
    case: CaseInput | None = None
    callback_at: dt.datetime | None = Field(None, description="ISO 8601 with offset; must be in the future.")
    callback_number: PhoneNumber | None = None
    not_ready_reason: str | None = Field(None, max_length=32, pattern=r"^[a-z0-9_]+$",
                                         description="Go not ready with this reason after wrap-up.")
    no_answer: bool = Field(False, description="The customer did not answer: a callback's call is tried again "
                                               "later (or fails after its last attempt) instead of being done. A call "
                                               "whose customer leg never answered counts so without it.")

    @field_validator("callback_at")
    @classmethod
    def _aware(cls, v: dt.datetime | None) -> dt.datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("needs a time zone offset, e.g. 2026-11-23T15:00:00+08:00")
        return v


class WrapUp(_CallMsg, WrapUpFields):
    type: Literal["wrap_up"]


ClientMessage = Annotated[
    Ping | SnapshotRequest | Reauth | QueuesLogin | QueuesLogout | Ready | NotReady | Hangup | Hold | Resume | Transfer
    | CancelConsult | Conference | CallAttributes | Dial | Dtmf | WrapUp,
    Field(discriminator="type"),
]
CLIENT_ADAPTER: TypeAdapter[Any] = TypeAdapter(ClientMessage)
CLIENT_TYPES = ("ping", "snapshot", "reauth", "queues_login", "queues_logout", "ready", "not_ready", "hangup", "hold",
                "resume", "transfer", "cancel_consult", "conference", "call_attributes", "dial", "dtmf", "wrap_up")


class FrameError(Exception):
    """A client frame that cannot be acted on; becomes an ``error`` frame."""

    def __init__(self, code: str, message: str, *, field: str | None = None, ref: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.field, self.ref = code, message, field, ref


def _lone_surrogate(raw: str | bytes, data: Any) -> bool:
    """Whether JSON's \\u escapes made a string no UTF-8 can hold (an answer echoing it would fail)."""
    if ("\\u" not in raw) if isinstance(raw, str) else (b"\\u" not in raw):
        return False
    try:
        json.dumps(data, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return True
    return False


def parse_client_frame(raw: str | bytes) -> Any:
    """One client frame -> a ClientMessage model, or FrameError naming the problem."""
    size = len(raw.encode() if isinstance(raw, str) else raw)
    if size > MAX_FRAME_BYTES:
        raise FrameError("frame_too_large", f"frame of {size} bytes exceeds {MAX_FRAME_BYTES} bytes")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise FrameError("bad_json", f"frame is not JSON: {err}") from None
    except RecursionError:  # a few KB of "[[[[..." reach the parser's limit
        raise FrameError("bad_json", "frame is nested too deeply") from None
    if _lone_surrogate(raw, data):
        raise FrameError("bad_json", "frame holds a lone surrogate (\\ud800-\\udfff): not Unicode text")
    if not isinstance(data, dict):
        raise FrameError("bad_frame", "frame must be a JSON object with a \"type\"")
    ref = data.get("ref") if isinstance(data.get("ref"), str) else None
    kind = data.get("type")
    if kind not in CLIENT_TYPES:
        raise FrameError("unknown_type", f"unknown message type {kind!r}; known: {', '.join(CLIENT_TYPES)}",
                         field="type", ref=ref)
    try:
        return CLIENT_ADAPTER.validate_python(data)
    except ValidationError as err:
        first = err.errors()[0]
        loc = [str(p) for p in first["loc"]][1:]  # drop the union tag
        field = ".".join(loc) or None
        raise FrameError("invalid_field", f"{field or kind}: {first['msg']}", field=field, ref=ref) from None


# -- views shared by websocket and REST ------------------------------------------------------------

class _View(BaseModel):
    model_config = ConfigDict(extra="ignore")


class AgentStateView(_View):
    agent_id: str
    state: AgentStateName = "logged_out"
    reason: str | None = None
    since: float = 0.0
    queues: list[str] = Field(default_factory=list)
    not_ready_after_call: str | None = None
    wrap_until: float | None = None  # in wrap-up: when it ends on its own (epoch seconds)


class CustomerCard(_View):
    id: int
    name: str
    company: str | None = None
    tier: str | None = None
    lifecycle: str | None = None
    phone: str | None = None
    email: str | None = None
    language: str | None = None
    tags: list[str] = Field(default_factory=list)


class InteractionView(_View):
    id: int | None = None
    call_id: str | None = Field(None, description="The call's id (linkedid): the console's call_id.")
    at: float | str | None = None
    channel: str | None = None
    direction: str | None = None
    agent: str | None = None
    agent_name: str | None = Field(None, description="The agent's display name.")
    disposition: str | None = None
    outcome: str | None = None
    notes: str | None = None
    resolved: bool | None = None
    csat: int | None = Field(None, description="The caller's post-call survey score (1-5), if they answered.")
    recording: bool = Field(False, description="The call has a recording the viewer may hear "
                                               "(GET /api/crm/interactions/{id}/recordings).")


class CaseView(_View):
    id: int
    subject: str
    status: str = "open"
    priority: str | None = None
    opened_at: float | str | None = None


class IvrStep(_View):
    node: str
    label: str | None = None
    input: str | None = Field(None, description="What the caller entered, already masked (e.g. ****1234).")
    choice: str | None = None
    at: float | None = None


class ScriptView(_View):
    title: str
    body: str


class ArticleView(_View):
    id: int | str
    title: str
    summary: str | None = None
    url: str | None = None


class TransferView(_View):
    """How a transferred call reached this agent: from whom, their note, the call's tags and attributes."""

    from_agent: str
    note: str = ""
    tags: list[str] = Field(default_factory=list)
    attributes: dict[str, str] = Field(default_factory=dict)


class Pop(_View):
    """The screen pop. Unknown caller: ``customer`` is null and ``caller_number`` tells who calls."""

    call_id: str
    caller_number: str = ""
    customer: CustomerCard | None = None
    interactions: list[InteractionView] = Field(default_factory=list, max_length=5)
    open_cases: list[CaseView] = Field(default_factory=list)
    ivr_flow: str | None = None
    ivr_path: list[IvrStep] = Field(default_factory=list)
    intent: str | None = None
    waited_s: float = 0.0
    queue: str | None = None
    skills: dict[str, int] = Field(default_factory=dict)
    script: ScriptView | None = None
    articles: list[ArticleView] = Field(default_factory=list)
    transfer: TransferView | None = None
    complete: bool = Field(True, description="False when the CRM did not answer in time; a pop frame follows.")
    source: str = Field("crm", description=(
        "crm: read now; cache: the CRM is unavailable, the customer card is the one read recently; "
        "unavailable: the CRM is unavailable and this caller was not seen recently (no card; the console says the "
        "customer records are unavailable, not \"unknown caller\")"))


class CallView(_View):
    call_id: str
    status: str
    direction: str = "inbound"
    peer_number: str = ""
    customer_id: int | None = None
    queue: str | None = None
    started_at: float = 0.0
    detail: dict[str, Any] | None = Field(None, description=(
        "attributes: what the IVR collected and agents wrote; tags: agents' tags; transfer: from_agent and "
        "note of the transfer that brought the call; consult: during an attended transfer, {role: transferring, "
        "target_kind, target} or {role: consulted, from_agent} (the consulted agent may only hang up); far_end "
        "(outbound): how the customer's phone answered: answered, no_answer, busy, congestion, unavailable, "
        "cancelled"))
    pop: Pop | None = None


class OfferView(_View):
    call_id: str
    queue: str | None = None
    caller_number: str = ""
    offered_at: float
    ring_timeout_s: float = 20.0
    direction: str = "inbound"
    campaign: str | None = Field(None, description=(
        "The outbound campaign whose call this is (a person a progressive or predictive campaign reached): "
        "the console titles the offer with it instead of \"Incoming call\"."))
    callback: bool = Field(False, description=(
        "Virtual hold's callback: the customer asked to be called back and kept their place in the queue; "
        "the engine called them and they answered. The console titles the offer so."))
    pop: Pop


class Choice(_View):
    code: str
    label: str


class DispositionChoice(Choice):
    """``resolves``: a wrap-up with it is resolved on first contact unless the agent says not."""

    resolves: bool = False


class Catalog(_View):
    """What the agent may pick: not-ready reasons, dispositions, queues to transfer to (``queues``:
    every queue) and to log in to (``login_queues``: the queues of the agent's skills and general)."""

    reasons: list[Choice] = Field(default_factory=list)
    dispositions: list[DispositionChoice] = Field(default_factory=list)
    queues: list[str] = Field(default_factory=list)
    login_queues: list[str] = Field(default_factory=list)


CallbackState = Literal["pending", "claimed", "done", "failed", "cancelled"]


class CallbackView(_View):
    """A callback in the agent's list. ``queue`` null: the personal callback of ``agent_id``."""

    id: int
    number: str = Field(description="E.164")
    queue: str | None = None
    agent_id: str | None = None
    customer_id: int | None = None
    customer_name: str | None = None
    case_id: int | None = None
    due_at: float = Field(description="Epoch seconds.")
    state: CallbackState
    attempts: int = 0
    max_attempts: int = 3
    claimed_by: str | None = None
    claimed_at: float | None = None
    calling: bool = Field(False, description="The claimer's call to the customer is placed (until its wrap-up).")
    last_call_id: str | None = None
    note: str = ""


class CallbackCall(_View):
    """``POST /api/callbacks/{id}/call``: the new outbound call and the callback it works."""

    call_id: str
    callback: CallbackView


class AgentView(_View):
    user_id: int
    username: str
    role: str
    agent_id: str | None
    display_name: str = ""
    phone: bool | None = Field(None, description=(
        "Has a softphone (GET /api/phone/credentials answers): an agent, or staff with an extension; "
        "null when this server has no phone service (the console demo on fakes)"))


# -- server -> client ----------------------------------------------------------------------------

class Hello(BaseModel):
    """First frame after connecting, and the answer to ``snapshot``: all a fresh screen needs."""

    type: Literal["hello"] = "hello"
    protocol_version: int = PROTOCOL_VERSION
    server_time: float
    agent: AgentView
    state: AgentStateView
    offer: OfferView | None = None
    calls: list[CallView] = Field(default_factory=list)
    catalog: Catalog = Field(default_factory=Catalog)


class StateFrame(BaseModel):
    type: Literal["state"] = "state"
    state: AgentStateView


class OfferFrame(BaseModel):
    type: Literal["offer"] = "offer"
    offer: OfferView


class OfferWithdrawnFrame(BaseModel):
    type: Literal["offer_withdrawn"] = "offer_withdrawn"
    call_id: str
    reason: str


class CallFrame(BaseModel):
    type: Literal["call"] = "call"
    call: CallView


class PopFrame(BaseModel):
    """A pop that completes or replaces an earlier one (slow CRM, outbound dial)."""

    type: Literal["pop"] = "pop"
    call_id: str
    pop: Pop


class AckFrame(BaseModel):
    type: Literal["ack"] = "ack"
    ref: str | None = None
    action: str
    result: dict[str, Any] | None = None


class ErrorFrame(BaseModel):
    type: Literal["error"] = "error"
    code: str
    message: str
    field: str | None = None
    ref: str | None = None


class Pong(BaseModel):
    type: Literal["pong"] = "pong"
    ref: str | None = None
    server_time: float


class Bye(BaseModel):
    """The server is closing this connection: ``replaced`` (another connection for this agent),
    ``logged_out``, ``session_expired``, ``shutdown`` (a too-slow client is closed at once with 4008)."""

    type: Literal["bye"] = "bye"
    reason: str


ServerMessage = Annotated[
    Hello | StateFrame | OfferFrame | OfferWithdrawnFrame | CallFrame | PopFrame | AckFrame | ErrorFrame | Pong | Bye,
    Field(discriminator="type"),
]
SERVER_ADAPTER: TypeAdapter[Any] = TypeAdapter(ServerMessage)


def encode(msg: BaseModel) -> str:
    return msg.model_dump_json()
