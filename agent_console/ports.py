"""What the console needs from the rest of the engine, as Protocols. In-memory fakes live in
``agent_console.fakes``; the real adapters (crm_core users and screen pop, the ACD router and
CallControl) are wired by the composition root.

Every ``AgentDesk`` call names the acting agent; methods on a call check that the agent owns it and
raise ``NotYourCall`` (or ``CallNotFound``) otherwise, ``IllegalAgentAction`` when the agent's state
forbids it. Outcomes reach the screen as bus events (``acd.events``), not return values.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from agent_console.protocol import AgentStateView, CallbackView, CallView, CaseInput, Catalog, OfferView
from agent_console.security import Principal

TransferKind = Literal["blind", "attended"]
TargetKind = Literal["agent", "queue", "number"]


@dataclass(frozen=True, slots=True)
class WrapUpInput:
    disposition: str
    notes: str = ""
    resolved: bool | None = None  # None: whether the disposition resolves (the catalog's ``resolves``)
    case: CaseInput | None = None
    callback_at: float | None = None  # epoch seconds
    callback_number: str | None = None
    not_ready_reason: str | None = None
    no_answer: bool = False  # the customer did not answer (a callback's call is retried)


@dataclass(frozen=True, slots=True)
class DeskSnapshot:
    """The desk's truth for one agent: used for ``hello`` when the hub has not seen the agent yet."""

    state: AgentStateView
    offer: OfferView | None = None
    calls: tuple[CallView, ...] = ()


class UserStore(Protocol):
    async def authenticate(self, username: str, password: str) -> Principal | None:
        """The principal when the password matches (argon2), else None. Must take about the same
        time for unknown usernames (``crm_core.users.verify_secret``)."""


class AgentDesk(Protocol):
    async def snapshot(self, agent_id: str) -> DeskSnapshot: ...

    async def has_call(self, agent_id: str, call_id: str) -> bool:
        """Is ``call_id`` the agent's: ringing them, live, consulted into, or still to wrap up?"""

    async def catalog(self, agent_id: str) -> Catalog: ...

    async def login_queues(self, agent_id: str, queues: list[str]) -> None: ...

    async def logout_queues(self, agent_id: str, queues: list[str]) -> None:
        """Empty ``queues``: log off the ACD entirely (state logged_out)."""

    async def set_ready(self, agent_id: str) -> None: ...

    async def set_not_ready(self, agent_id: str, reason: str) -> None: ...

    async def hangup(self, agent_id: str, call_id: str) -> None: ...

    async def hold(self, agent_id: str, call_id: str) -> None: ...

    async def resume(self, agent_id: str, call_id: str) -> None: ...

    async def cancel_consult(self, agent_id: str, call_id: str) -> None: ...

    async def conference(self, agent_id: str, call_id: str) -> None: ...

    async def set_call_attributes(self, agent_id: str, call_id: str, *, tags: list[str],
                                  values: dict[str, str]) -> None: ...

    async def transfer(self, agent_id: str, call_id: str, *, kind: TransferKind, target_kind: TargetKind,
                       target: str, note: str = "") -> None: ...

    async def dial(self, agent_id: str, number: str, customer_id: int | None) -> str:
        """Originate: the agent's phone first, then ``number``. Returns the new call id."""

    async def send_dtmf(self, agent_id: str, call_id: str, digits: str) -> None: ...

    async def wrap_up(self, agent_id: str, call_id: str, wrap: WrapUpInput) -> dict[str, Any]:
        """Write the wrap-up to the call's CRM interaction (case, callback too); returns ids
        written, e.g. ``{"interaction_id": 7, "case_id": 3, "callback_id": None}``. The wrap-up of
        a callback's call also settles that callback (done, or retried when ``no_answer``)."""

    async def callbacks(self, agent_id: str | None, *, everyone: bool, limit: int = 50,
                        overseen: Collection[str] | None = None) -> list[CallbackView]:
        """Due callbacks: those of the queues ``agent_id`` is logged into, their personal ones and
        their claims; ``everyone`` (supervisors): all due and claimed callbacks, or with ``overseen``
        (a supervisor's queues) those of these queues and ``agent_id``'s own."""

    async def claim_callback(self, agent_id: str, callback_id: int) -> CallbackView:
        """Take a due callback (``Forbidden`` if it is not for the agent's queues; a conflict
        error if another agent claimed it first)."""

    async def release_callback(self, agent_id: str, callback_id: int) -> CallbackView: ...

    async def skip_callback(self, agent_id: str, callback_id: int, reason: str) -> CallbackView:
        """The claimer passes on the callback (``crm_core.callbacks.skip``): ``not_now`` puts it
        back due later; ``wrong_number`` and ``do_not_call`` cancel it."""

    async def call_callback(self, agent_id: str, callback_id: int) -> tuple[str, CallbackView]:
        """Dial the agent's claimed callback like ``dial`` (agent first, then the customer, with
        the customer's pop); returns the new call id and the callback."""


class PopSource(Protocol):
    async def build_pop(self, linkedid: str, agent_id: str, offer_info: dict[str, Any]) -> dict[str, Any]:
        """The screen pop (shape: ``agent_console.views.Pop``) as plain data: dicts, lists,
        strings, numbers, booleans, None (not model instances). ``offer_info`` holds the
        offer event's fields (caller_number, customer_id, queue, waited_s, skills, direction)."""


class CustomerSearch(Protocol):
    async def search(self, query: str, limit: int = 20) -> list[dict[str, Any]]:
        """Customers matching a name, phone, email or account (shape: ``views.CustomerCard``)."""

    async def customer(self, customer_id: int) -> dict[str, Any] | None:
        """``{"customer": card, "interactions": [...], "open_cases": [...]}`` or None."""

    async def history(self, customer_id: int, limit: int = 20) -> list[dict[str, Any]]: ...
