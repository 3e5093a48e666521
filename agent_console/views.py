"""The views the console's websocket frames and its REST answers share (docs/websocket-protocol.md):
the agent and their state, the screen pop and what it holds, calls, offers, the catalog and
callbacks. Read-only shapes; the frames that carry them are agent_console.protocol's."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

AgentStateName = Literal["logged_out", "available", "reserved", "on_call", "wrap_up", "not_ready"]


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
    customer_linked: bool = Field(False, description=(
        "true when an agent linked the call to this customer (PUT /api/crm/interactions/{id}/customer, "
        "the console's link); false when the IVR or the caller's number identified them. Interactions "
        "from before migration 0025 read false."))
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
        "customer records are unavailable, not \"unknown caller\"; a call linked to a customer the CRM could not "
        "read: a card with the customer's id only, name empty)"))


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
        "target_kind, target} or {role: consulted, from_agent} (the consulted agent may only hang up); consult_ended "
        "{reason: no_answer | unavailable, target_kind, target}: on the update taking the caller back from an "
        "agent consulted who did not answer (no_answer), or logged out or whose phone went offline before "
        "answering (unavailable); transferred "
        "(an ended call its agent passed on by a transfer): {kind, target_kind, target}, where it went; far_end "
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
