"""The real ``AgentDesk``: agent actions carried out by the ACD delivery service on the PBX, and
wrap-ups written to the CRM (``agent_console.desk_wrapups``: through ``WrapUpDone`` on the bus,
which the call logger folds into the call's interaction, and cases through the CRM services). Queue
login (which queues, which phone) is ``agent_console.queue_login``'s; the agent's callbacks (the
list, claim, release, skip, call) are ``agent_console.desk_callbacks``'s."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from acd.calls import PHONE_KINDS, AgentPhone, LiveCall, call_detail
from acd.delivery import AcdService
from acd.dial_readiness import Then
from acd.errors import UnknownAgent, unconfirmed_dial
from acd.model import AgentState
from agent_console.desk_callbacks import DeskCallbacks
from agent_console.desk_wrapups import DeskWrapUps
from agent_console.errors import (
    CallNotFound,
    IllegalAgentAction,
    InvalidInput,
    NotYourCall,
    TargetNotFound,
    acd_step,
)
from agent_console.ports import DeskSnapshot, TargetKind, TransferKind, WrapUpInput
from agent_console.protocol import (
    AgentStateView,
    CallbackView,
    CallView,
    Catalog,
    Choice,
    DispositionChoice,
    OfferView,
    Pop,
)
from agent_console.queue_login import QueueLogin
from crm_core import callbacks, catalog
from crm_core.db import Database
from crm_core.errors import DatabaseUnavailable
from crm_core.events import CustomerLinked
from crm_core.models import Customer, User
from cti.bus import EventBus, observe

log = logging.getLogger(__name__)

# The not-ready reasons an agent picks (the catalog's). The engine sets its own, which no agent may
# choose: "missed" (a call rang unanswered), "login" (just logged in), "outbound" (on an outbound
# call; its wrap-up makes the agent ready), "supervisor", "offboarded".
REASONS = [("break", "Break"), ("lunch", "Lunch"), ("meeting", "Meeting"), ("training", "Training"),
           ("after_call_work", "After-call work")]
# The console's own, which no agent picks from the catalog: the browser phone's microphone was lost
# (agent_console/static/phone.js), and a call offered now could not be answered.
CONSOLE_REASONS = ("no_microphone",)


class EngineDesk:
    def __init__(self, acd: AcdService, db: Database, bus: EventBus, *, phone_kind: str = "sim",
                 answer_after_s: float = 2.0, clock: Callable[[], float] = time.time,
                 callback_policy: callbacks.Policy | None = None, journal: Path | None = None) -> None:
        self.acd, self.db, self.bus, self.clock = acd, db, bus, clock
        self.callback_policy = callback_policy or callbacks.Policy()
        # Wrap-ups written to the CRM, or journaled while the database is away (agent_console.desk_wrapups).
        self.wrapups = DeskWrapUps(acd, db, bus, policy=self.callback_policy, journal=journal)
        self.journal = self.wrapups.journal  # started and stopped by the engine
        self.phone_kind, self.answer_after_s = phone_kind, answer_after_s
        self.phone_overrides: dict[str, str] = {}  # agent -> phone kind, over the CRM's (demo bots: sim)
        self.queue_login = QueueLogin(acd, db, phone_of=self._phone_of)
        self._dialling: set[str] = set()  # agents whose dial rings their own phone now
        self._callbacks = DeskCallbacks(acd, db, policy=self.callback_policy, clock=clock, on_a_call=self._on_a_call)

    def subscribe(self, bus: EventBus) -> None:
        # In the publisher's step on the in-process bus: the ACD's call names the linked customer
        # before the link's answer goes out (a transfer right after it offers that customer).
        observe(bus, CustomerLinked, self.customer_linked, name="desk.linked_customers")

    def customer_linked(self, ev: CustomerLinked) -> None:
        """A call linked to another customer in the CRM: the ACD's call, its consultation and the
        calls awaiting its wrap-up carry that customer from now on (a transfer's or a consultation's
        offer and pop, the console's call updates). The wrap-up reads the interaction itself."""
        call = self.acd.calls.get(ev.linkedid)
        held = [call, call.consult] if call is not None else []
        held += [c for (_, linkedid), c in self.acd.wrapups.items() if linkedid == ev.linkedid]
        for c in held:
            if c is not None:
                c.customer_id = ev.customer_id

    def _phone_of(self, agent_id: str, user: User) -> AgentPhone:
        """The phone the ACD rings for ``agent_id``: a run-time override, else the CRM user's
        (admin-set), else the default."""
        kind = self.phone_overrides.get(agent_id) or user.phone_kind or self.phone_kind
        return AgentPhone(user.extension or agent_id, kind=kind if kind in PHONE_KINDS else "sim",
                          answer_after_s=self.answer_after_s)

    # -- reading ----------------------------------------------------------------------------------
    async def snapshot(self, agent_id: str) -> DeskSnapshot:
        try:
            view = self.acd.agent(agent_id)
        except UnknownAgent:
            return DeskSnapshot(AgentStateView(agent_id=agent_id, state="logged_out"))
        state = AgentStateView(agent_id=agent_id, state=view.state.value, reason=view.reason,
                               since=view.state_since, queues=list(view.queues),
                               not_ready_after_call=view.not_ready_after_call, wrap_until=view.wrap_until)
        offer = None
        calls = []
        for call in self.acd.agent_calls(agent_id):
            if call.status == "ringing":
                offer = OfferView(call_id=call.linkedid, queue=call.queue, caller_number=call.caller_number,
                                  offered_at=call.queued_at, campaign=call.campaign, callback=call.callback,
                                  pop=Pop(call_id=call.linkedid, caller_number=call.caller_number, complete=False))
            else:
                calls.append(_call_view(call))
        return DeskSnapshot(state, offer, tuple(calls))

    async def has_call(self, agent_id: str, call_id: str) -> bool:
        return self.acd.agent_call(agent_id, call_id) is not None

    async def catalog(self, agent_id: str) -> Catalog:
        async with self.db.session() as session:
            found = await catalog.list_dispositions(session=session)
        return Catalog(reasons=[Choice(code=c, label=label) for c, label in REASONS],
                       dispositions=[DispositionChoice(code=d.code, label=d.label, resolves=d.resolves)
                                     for d in found],
                       queues=self.acd.queue_names(),
                       login_queues=await self.queue_login.open_queues(agent_id))

    # -- agent state --------------------------------------------------------------------------------
    async def login_queues(self, agent_id: str, queues: list[str]) -> None:
        await self.queue_login.login(agent_id, queues)

    async def logout_queues(self, agent_id: str, queues: list[str]) -> None:
        await self.queue_login.logout(agent_id, queues)

    async def set_ready(self, agent_id: str) -> None:
        state = self._state(agent_id)
        if state is AgentState.LOGGED_OUT:
            raise IllegalAgentAction("log in to your queues before going ready")
        if state is AgentState.AVAILABLE:
            return  # already ready (a retried request, a second tab): nothing pending to cancel either
        if state is AgentState.NOT_READY and (self._on_a_call(agent_id)
                                              or self.acd.dial_readiness.ready_after_dial(agent_id)):
            # An outbound call (the router's not ready): ready now would have the ACD offer queued calls
            # on top of it. Ready after it: the reason "outbound" is what its wrap-up makes ready (or,
            # for a dial Asterisk never confirmed whose call is up, acd.dial_readiness once it is gone).
            await acd_step(self.acd.set_not_ready(agent_id, "outbound"), "go ready")
            return
        await acd_step(self.acd.set_ready(agent_id), "go ready")

    async def set_not_ready(self, agent_id: str, reason: str) -> None:
        if reason not in CONSOLE_REASONS:
            _check_reason("reason", reason)
        await acd_step(self.acd.set_not_ready(agent_id, reason), "go not ready")

    # -- calls --------------------------------------------------------------------------------------
    async def hangup(self, agent_id: str, call_id: str) -> None:
        call = self._own(agent_id, call_id, consult_ok=True)
        if self._consulting(call):  # the consulted agent hangs up: the first agent is back with the caller
            await acd_step(self.acd.actions.consulted_hangup(call.linkedid), "hang up")  # or talks on in a conference
            return
        await acd_step(self.acd.actions.hangup(call.linkedid), "hang up")

    async def hold(self, agent_id: str, call_id: str) -> None:
        self._own(agent_id, call_id)
        await acd_step(self.acd.actions.hold(call_id), "put the call on hold")

    async def resume(self, agent_id: str, call_id: str) -> None:
        self._own(agent_id, call_id)
        await acd_step(self.acd.actions.resume(call_id), "take the call off hold")

    async def transfer(self, agent_id: str, call_id: str, *, kind: TransferKind, target_kind: TargetKind,
                       target: str, note: str = "") -> None:
        self._own(agent_id, call_id)
        if target_kind in ("number", "agent") and not target.lstrip("+").isdigit():
            # It becomes a dialplan extension and part of a Dial string: '&' or '/' would dial more.
            raise InvalidInput("target", f"a {target_kind} to transfer to is digits only")
        target = target.lstrip("+")
        if target_kind == "queue" and target not in set(self.acd.queue_names()):
            raise TargetNotFound(f"unknown queue {target!r}")
        await acd_step(self.acd.actions.transfer(call_id, target_kind=target_kind, target=target, kind=kind,
                                                  note=note), "transfer the call")

    async def cancel_consult(self, agent_id: str, call_id: str) -> None:
        self._own(agent_id, call_id)
        await acd_step(self.acd.actions.cancel_consult(call_id), "cancel the consultation")

    async def conference(self, agent_id: str, call_id: str) -> None:
        self._own(agent_id, call_id)
        await acd_step(self.acd.actions.conference(call_id), "join the conference")

    async def set_call_attributes(self, agent_id: str, call_id: str, *, tags: list[str],
                                  values: dict[str, str]) -> None:
        self._own(agent_id, call_id)
        await acd_step(self.acd.actions.set_attributes(call_id, tags=tags, values=values), "set the call's tags")

    async def dial(self, agent_id: str, number: str, customer_id: int | None, *, callback: bool = False,
                   then: Then | None = None) -> str:
        """``then``: for a dial that may have placed its call (``unconfirmed_dial``), what to record once
        that is known (``DialReadiness.give_back``: a callback's, ``call_callback``)."""
        if not number.lstrip("+").isdigit():
            raise InvalidInput("number", "digits only (an optional leading +)")
        if customer_id is not None and not callback:  # a callback's customer is the CRM's own row
            await self._check_customer(customer_id)
        # Logged out, the agent would be on a call the ACD does not count: logging in and going
        # ready during it would have it offer queued calls on top of this one.
        if self._state(agent_id) is AgentState.LOGGED_OUT:
            raise IllegalAgentAction("log in to your queues before dialling")
        # One call at a time: a second Dial would ring the agent's phone during the call (an outbound
        # call leaves the agent not ready "outbound", which stops no one); a third party is a transfer.
        if self._on_a_call(agent_id):
            raise IllegalAgentAction("finish your current call before dialling")
        # The dial rings the agent's own phone first (up to 30 s); the ACD knows the call once it answered.
        if agent_id in self._dialling:
            raise IllegalAgentAction("a dial is already ringing your phone: answer it, or let it ring out, first")
        self._dialling.add(agent_id)
        try:
            return await self._dial(agent_id, number, customer_id, callback=callback, then=then)
        finally:
            self._dialling.discard(agent_id)

    async def _dial(self, agent_id: str, number: str, customer_id: int | None, *, callback: bool,
                    then: Then | None) -> str:
        if self._state(agent_id) is AgentState.RESERVED:
            raise IllegalAgentAction("a call is ringing for you: answer it, or let it ring out, before dialling")
        # The ACD must not offer a queued call to an agent busy on an outbound call, nor while their
        # phone rings for it (acd.dial_readiness): not ready "outbound" (handling time), the dial ending
        # a wrap-up; a break they dialled from, or the reason chosen for after the call before, pending:
        # the call's wrap-up puts them back in it.
        readiness = self.acd.dial_readiness
        before = await acd_step(readiness.hold(agent_id), "dial")
        try:
            return await acd_step(self.acd.actions.dial(agent_id, number.lstrip("+"), customer_id=customer_id,
                                                        callback=callback), "dial")
        except Exception as err:
            # No call to wrap up: where they were, or where the wrap-up would have left them; after a dial
            # Asterisk never confirmed (or lost with AMI), once their phone is free (its call may be placed).
            unconfirmed = unconfirmed_dial(err)  # written, its answer never came: it may ring yet
            if unconfirmed is None:
                await readiness.give_back(agent_id, before)
            else:  # watched: a call seen is published, and once answered adopted, as a confirmed dial's
                await readiness.give_back(agent_id, before, unconfirmed=unconfirmed.linkedid,
                                          placed=unconfirmed.placed, adopt=unconfirmed.adopt, then=then)
            raise

    async def _check_customer(self, customer_id: int) -> None:
        """A dial for a customer the CRM lacks is refused before anything rings (the call would be
        logged without them). The CRM away: the dial goes on, as a dial without the check would."""
        try:
            async with self.db.session() as session:
                known = await session.get(Customer, customer_id) is not None
        except DatabaseUnavailable:
            return
        if not known:
            raise InvalidInput("customer_id", f"no customer {customer_id} in the CRM")

    def _state(self, agent_id: str) -> AgentState:
        return self.acd.agent_state(agent_id)

    def _on_a_call(self, agent_id: str) -> bool:
        """The agent has a call not yet ended (one to wrap up does not count)."""
        return any(c.status != "ended" for c in self.acd.agent_calls(agent_id))

    async def send_dtmf(self, agent_id: str, call_id: str, digits: str) -> None:
        self._own(agent_id, call_id)
        await acd_step(self.acd.actions.play_dtmf(call_id, digits), "send the digits")

    async def wrap_up(self, agent_id: str, call_id: str, wrap: WrapUpInput) -> dict[str, Any]:
        """The agent's wrap-up: the CRM writes (case, callback) in one transaction, the interaction's
        disposition and notes through the bus (the call logger's journal), the agent freed. While the
        database is away nothing the agent wrote is lost: the CRM writes are journaled and made
        exactly once when it is back (``pending`` in the answer), the disposition is checked against
        the last catalog read, and the agent goes on working."""
        call = self._own(agent_id, call_id)
        if call.status != "ended":
            raise IllegalAgentAction("hang up before wrapping up")
        now = self.clock()
        await self.wrapups.check_disposition(wrap.disposition)
        if wrap.not_ready_reason is not None:
            _check_reason("not_ready_reason", wrap.not_ready_reason)
        result = await self.wrapups.write(agent_id, call, wrap, now)
        state = self._state(agent_id)
        view = self.acd.agent(agent_id) if state is not AgentState.LOGGED_OUT else None
        outbound_done = (call.direction == "outbound" and state is AgentState.NOT_READY
                         and view is not None and view.reason == "outbound")
        if state is AgentState.WRAP_UP or outbound_done:
            # Not ready with the wrap-up form's reason, else with the one the agent chose during the
            # call (N: pending until the work ends, which is now), else ready.
            reason = wrap.not_ready_reason or (view.not_ready_after_call if view is not None else None)
            if reason:
                await acd_step(self.acd.set_not_ready(agent_id, reason), "go not ready")
            elif view is not None:
                await acd_step(self.acd.set_ready(agent_id), "go ready")
        return result

    # -- callbacks (agent_console.desk_callbacks) ----------------------------------------------------
    async def callbacks(self, agent_id: str | None, *, everyone: bool, limit: int = 50,
                        overseen: Collection[str] | None = None) -> list[CallbackView]:
        return await self._callbacks.due(agent_id, everyone=everyone, limit=limit, overseen=overseen)

    async def claim_callback(self, agent_id: str, callback_id: int) -> CallbackView:
        return await self._callbacks.claim(agent_id, callback_id)

    async def release_callback(self, agent_id: str, callback_id: int) -> CallbackView:
        return await self._callbacks.release(agent_id, callback_id)

    async def skip_callback(self, agent_id: str, callback_id: int, reason: str) -> CallbackView:
        return await self._callbacks.skip(agent_id, callback_id, reason)

    async def call_callback(self, agent_id: str, callback_id: int) -> tuple[str, CallbackView]:
        return await self._callbacks.call(agent_id, callback_id, dial=self.dial)

    # -- helpers ------------------------------------------------------------------------------------
    def _own(self, agent_id: str, call_id: str, *, consult_ok: bool = False) -> LiveCall:
        call = self.acd.agent_call(agent_id, call_id)
        if call is not None and self._consulting(call) and call.status != "ended" and not consult_ok:
            # The call is still the transferring agent's: the consulted one may only hang up.
            raise IllegalAgentAction("during a consultation you can only hang up; the call is not yours yet")
        if call is not None:
            return call
        if self.acd.call_known(call_id):
            raise NotYourCall(f"call {call_id} belongs to another agent")
        raise CallNotFound(f"no call {call_id}")

    def _consulting(self, call: LiveCall) -> bool:
        """A consultation this agent was called into, the call still the transferring agent's. Once
        the transfer completes, the adopted call keeps its router id but is the ACD's live call."""
        return call.router_id is not None and self.acd.calls.get(call.linkedid) is not call


def _check_reason(field: str, reason: str) -> None:
    """A not-ready reason the agent may pick (the catalog's), else ``invalid_input`` on ``field``."""
    if reason not in {c for c, _ in REASONS}:
        raise InvalidInput(field, f"{reason!r} is not a not-ready reason you can choose "
                                  f"({', '.join(c for c, _ in REASONS)})")


def _call_view(call: LiveCall) -> CallView:
    return CallView(call_id=call.linkedid, status=call.status, direction=call.direction,
                    peer_number=call.caller_number, customer_id=call.customer_id, queue=call.queue or None,
                    started_at=call.answered_at or call.queued_at, detail=call_detail(call))

