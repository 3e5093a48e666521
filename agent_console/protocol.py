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

# The views moved to agent_console.views; they stay importable from here, as they always were.
from agent_console.views import AgentStateName as AgentStateName
from agent_console.views import AgentStateView as AgentStateView
from agent_console.views import AgentView as AgentView
from agent_console.views import ArticleView as ArticleView
from agent_console.views import CallbackCall as CallbackCall
from agent_console.views import CallbackState as CallbackState
from agent_console.views import CallbackView as CallbackView
from agent_console.views import CallView as CallView
from agent_console.views import CaseView as CaseView
from agent_console.views import Catalog as Catalog
from agent_console.views import Choice as Choice
from agent_console.views import CustomerCard as CustomerCard
from agent_console.views import DispositionChoice as DispositionChoice
from agent_console.views import InteractionView as InteractionView
from agent_console.views import IvrStep as IvrStep
from agent_console.views import OfferView as OfferView
from agent_console.views import Pop as Pop
from agent_console.views import ScriptView as ScriptView
from agent_console.views import TransferView as TransferView
from crm_core.schemas import MAX_ID

PROTOCOL_VERSION = 1
MAX_FRAME_BYTES = 64 * 1024

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
    customer_id: int | None = Field(None, ge=1, le=MAX_ID)


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
    id: int | None = Field(None, ge=1, le=MAX_ID)
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
