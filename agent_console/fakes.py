"""In-memory fakes of the console's ports, for tests, the browser tier, the benchmark and
``cti console-demo``. ``FakeDesk`` keeps a small agent state machine (the ACD's own, on the world of
agent_console.fake_acd; its actions on a call are agent_console.fake_call_actions') and publishes
the same console events the real ACD adapter will; ``FakeCrm`` (agent_console.fakecrm) is the pop
source and customer search over a seeded demo book, and records wrap-ups as interactions;
``FakeUserStore`` is agent_console.fake_users'.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, replace
from typing import Any

from acd.model import AgentState
from agent_console.errors import (
    IllegalAgentAction,
    InvalidInput,
    TargetNotFound,
)
from agent_console.fake_acd import AgentRecord as _Agent
from agent_console.fake_acd import CallRecord as _Call
from agent_console.fake_call_actions import FakeCallActions
from agent_console.fake_users import FakeUserStore
from agent_console.fakecallbacks import FakeCallbackBook
from agent_console.fakecrm import FakeCrm
from agent_console.policy import check_queue_login, queues_open_to
from agent_console.ports import DeskSnapshot, WrapUpInput
from agent_console.protocol import (
    AgentStateView,
    CallbackView,
    Catalog,
    Choice,
    DispositionChoice,
)

# -- desk ----------------------------------------------------------------------------------------

# While busy, "not ready" is remembered and applied after the wrap-up.
_BUSY = (AgentState.RESERVED, AgentState.ON_CALL, AgentState.WRAP_UP)

REASONS = [Choice(code=c, label=label) for c, label in (
    ("break", "Break"), ("lunch", "Lunch"), ("meeting", "Meeting"), ("training", "Training"),
    ("after_call_work", "After-call work"))]  # those an agent picks, as agent_console.desk.REASONS
CONSOLE_REASONS = ("no_microphone",)  # the console's own, as agent_console.desk.CONSOLE_REASONS
DISPOSITIONS = [DispositionChoice(code=c, label=label, resolves=resolves) for c, label, resolves in (
    ("resolved", "Resolved", True), ("info_given", "Information given", True), ("sale", "Sale", True),
    ("escalated", "Escalated", False), ("callback_scheduled", "Callback scheduled", False),
    ("wrong_number", "Wrong number", False), ("complaint", "Complaint", False))]


@dataclass
class FakeDesk(FakeCallActions):
    """The ACD + telephony side, in memory. ``offer_call`` plays the ACD choosing this agent. What it
    answers (values, errors) and publishes is the real desk's (``agent_console.desk`` over the ACD):
    tests/db/console/test_desk_conformance.py runs the same scenarios on both."""

    _book: FakeCallbackBook = field(init=False)

    def __post_init__(self) -> None:
        self._book = FakeCallbackBook(lambda: self.clock())  # a lambda: a test may swap the desk's clock

    # -- AgentDesk --
    async def snapshot(self, agent_id: str) -> DeskSnapshot:
        a = self._agent(agent_id)
        # A ringing call is the offer, not one of the calls (as the real desk's snapshot).
        calls = tuple(c.view() for c in self._calls_of(agent_id) if c.status != "ringing")
        return DeskSnapshot(AgentStateView(agent_id=agent_id, state=a.state.value, reason=a.reason,  # type: ignore[arg-type]
                                           since=a.since, queues=list(a.queues),
                                           not_ready_after_call=a.after_call), a.offer, calls)

    async def has_call(self, agent_id: str, call_id: str) -> bool:
        return any(c.call_id == call_id for c in self._calls_of(agent_id))

    async def catalog(self, agent_id: str) -> Catalog:
        return Catalog(reasons=REASONS, dispositions=DISPOSITIONS, queues=sorted(self.queues),
                       login_queues=self._open_queues(agent_id))

    def _open_queues(self, agent_id: str) -> list[str]:
        if self.agent_skills is None:
            return list(self.queues)
        return queues_open_to(self.agent_skills.get(agent_id, {}), self.queues)

    async def login_queues(self, agent_id: str, queues: list[str]) -> None:
        unknown = [q for q in queues if q not in self.queues]
        if unknown:
            raise TargetNotFound(f"unknown queue(s): {', '.join(unknown)}")
        a = self._agent(agent_id)
        open_to = self._open_queues(agent_id)
        # As agent_console.queue_login: from logged out, the queues named (none: the agent's own);
        # logged in, the queues named are added, between calls only.
        if a.state is AgentState.LOGGED_OUT:
            if self.agent_skills is not None and agent_id not in self.agent_skills:
                raise TargetNotFound(f"no agent {agent_id} in the CRM")
            check_queue_login(queues, open_to)
            a.queues = sorted(set(queues or open_to))
        elif not set(queues) <= set(a.queues):
            check_queue_login(set(queues) - set(a.queues), open_to)
            self._between_calls(a)
            a.queues = sorted(set(a.queues) | set(queues))
        self.actions.append(("login_queues", agent_id, {"queues": queues}))
        await self._step(agent_id, "login", reason="login")  # the router's reason (acd.routing)

    @staticmethod
    def _between_calls(a: _Agent) -> None:
        if a.state not in (AgentState.AVAILABLE, AgentState.NOT_READY):
            raise IllegalAgentAction("queues can change between calls, not during one")

    async def logout_queues(self, agent_id: str, queues: list[str]) -> None:
        a = self._agent(agent_id)
        self.actions.append(("logout_queues", agent_id, {"queues": queues}))
        if a.state is AgentState.LOGGED_OUT:
            return  # as the real desk: nothing to leave, no error
        if queues and set(a.queues) - set(queues):
            self._between_calls(a)
            a.queues = sorted(set(a.queues) - set(queues))
            await self._publish_state(a)
            return
        if a.state is AgentState.RESERVED and a.offer is not None and a.offer.call_id in self.calls:
            # As the real ACD: the offer ringing them is withdrawn (not missed), its caller waits again.
            await self.withdraw(a.offer.call_id, reason="withdrawn")
        await self._step(agent_id, "logout")  # the router keeps the queues it had (shown logged out)

    async def set_ready(self, agent_id: str) -> None:
        a = self._agent(agent_id)
        self.actions.append(("ready", agent_id, {}))
        if a.state in _BUSY:
            a.after_call = None
            await self._publish_state(a)
            return
        if a.state is AgentState.NOT_READY and self._on_a_call(agent_id):
            a.after_call = None  # a break pending since the dial is off
            await self._step(agent_id, "not_ready", reason="outbound")  # as the real desk: ready after it
            return
        await self._step(agent_id, "ready")

    async def set_not_ready(self, agent_id: str, reason: str) -> None:
        if reason not in {r.code for r in REASONS} | set(CONSOLE_REASONS):
            raise InvalidInput("reason", f"unknown not-ready reason {reason!r}")
        a = self._agent(agent_id)
        self.actions.append(("not_ready", agent_id, {"reason": reason}))
        if a.state in _BUSY:
            a.after_call = reason
            await self._publish_state(a)
            return
        a.after_call = None  # not ready now: nothing pending (a break pending since a dial, as the router)
        await self._step(agent_id, "not_ready", reason=reason)

    async def dial(self, agent_id: str, number: str, customer_id: int | None, *, campaign: str | None = None,
                   callback: bool = False) -> str:
        """As the engine's desk; ``campaign`` and ``callback`` go in the call's ``detail`` as there."""
        if not number.lstrip("+").isdigit():
            raise InvalidInput("number", "digits only (an optional leading +)")
        a = self._agent(agent_id)
        # As the real desk (agent_console.desk): logged in, no call not yet ended, none ringing.
        if a.state is AgentState.LOGGED_OUT:
            raise IllegalAgentAction("log in to your queues before dialling")
        if self._on_a_call(agent_id):
            raise IllegalAgentAction("finish your current call before dialling")
        if a.state is AgentState.RESERVED:
            raise IllegalAgentAction("a call is ringing for you: answer it, or let it ring out, before dialling")
        if a.state is not AgentState.NOT_READY or a.reason != "outbound":
            # As the real desk (acd.dial_readiness): not ready "outbound" for the call (handling time),
            # the dial ending a wrap-up; a break, or the reason chosen for after the call before, pending.
            after = a.reason if a.state is AgentState.NOT_READY else a.after_call
            a.after_call = None
            await self._step(agent_id, "not_ready", reason="outbound")
            if after is not None:
                a.after_call = after
                await self._publish_state(a)
        errand = {"campaign": campaign} if campaign else {"callback": True} if callback else None
        # The real dial answers once the agent's phone has answered: the call is talking at once
        # (the customer's leg's progress is detail.far_end there).
        call = _Call(f"out-{next(self._seq)}", agent_id, "talking", "outbound", number.lstrip("+"), customer_id,
                     None, self.clock(), errand)
        self.calls[call.call_id] = call
        self.actions.append(("dial", agent_id, {"number": number, "customer_id": customer_id}))
        await self._call_update(call)
        return call.call_id

    async def wrap_up(self, agent_id: str, call_id: str, wrap: WrapUpInput) -> dict[str, Any]:
        call = self._own(agent_id, call_id)
        if call.status != "ended":
            raise IllegalAgentAction("hang up before wrapping up")
        resolves = {d.code: d.resolves for d in DISPOSITIONS}
        if wrap.disposition not in resolves:
            raise InvalidInput("disposition", f"unknown disposition {wrap.disposition!r}")
        if wrap.not_ready_reason is not None and wrap.not_ready_reason not in {r.code for r in REASONS}:
            raise InvalidInput("not_ready_reason", f"{wrap.not_ready_reason!r} is not a reason you can choose")
        if wrap.resolved is None:  # as the engine's desk: the disposition's default
            wrap = replace(wrap, resolved=resolves[wrap.disposition])
        result: dict[str, Any] = {"interaction_id": None, "case_id": None, "callback_id": None}
        if self.crm is not None:
            result = self.crm.record_wrap_up(call, agent_id, wrap, now=self.clock())
        settled = self._book.settle(call_id, wrap.no_answer)
        if settled is not None:
            result["settled_callback"] = settled
        self.wrapups.append({"call_id": call_id, "agent_id": agent_id, "disposition": wrap.disposition,
                             "notes": wrap.notes, "resolved": wrap.resolved, **result})
        del (self.consults if self.consults.get(call_id) is call else self.calls)[call_id]
        call.status = "closed"
        await self._call_update(call)
        a = self._agent(agent_id)
        outbound_done = call.direction == "outbound" and a.state is AgentState.NOT_READY and a.reason == "outbound"
        if a.state is AgentState.WRAP_UP or outbound_done:
            # As the real desk: the reason pending applies when this wrap-up ends the agent's work (a
            # call before an own dial wrapped up during it leaves the dial's pending break alone).
            after = wrap.not_ready_reason or a.after_call
            a.after_call = None
            await self._step(agent_id, "wrapped" if a.state is AgentState.WRAP_UP else "ready")
            if after:
                await self._step(agent_id, "not_ready", reason=after)
        return result

    # -- callbacks (agent_console.fakecallbacks: the rules of crm_core.callbacks) --
    @property
    def callback_book(self) -> dict[int, CallbackView]:
        return self._book.rows

    def add_callback(self, number: str, *, queue: str | None = "support", due_at: float | None = None,
                     customer_id: int | None = None, customer_name: str | None = None,
                     agent_id: str | None = None) -> int:
        return self._book.add(number, queue=queue, due_at=due_at, customer_id=customer_id,
                              customer_name=customer_name, agent_id=agent_id)

    def _queues_now(self, agent_id: str) -> list[str]:
        """The queues the agent is logged into now (none when logged out)."""
        a = self._agent(agent_id)
        return a.queues if a.state is not AgentState.LOGGED_OUT else []

    async def callbacks(self, agent_id: str | None, *, everyone: bool, limit: int = 50,
                        overseen: Collection[str] | None = None) -> list[CallbackView]:
        return self._book.due(agent_id, self._queues_now(agent_id or ""), everyone=everyone, limit=limit,
                              overseen=overseen)

    async def claim_callback(self, agent_id: str, callback_id: int) -> CallbackView:
        cb = self._book.claim(agent_id, callback_id, self._queues_now(agent_id))
        self.actions.append(("claim_callback", agent_id, {"callback_id": callback_id}))
        return cb

    async def release_callback(self, agent_id: str, callback_id: int) -> CallbackView:
        return self._book.release(agent_id, callback_id)

    async def skip_callback(self, agent_id: str, callback_id: int, reason: str) -> CallbackView:
        cb = self._book.skip(agent_id, callback_id, reason)
        self.actions.append(("skip_callback", agent_id, {"callback_id": callback_id, "reason": reason}))
        return cb

    async def call_callback(self, agent_id: str, callback_id: int) -> tuple[str, CallbackView]:
        if self._agent(agent_id).state is AgentState.LOGGED_OUT:
            raise IllegalAgentAction("log in to your queues before calling a callback")
        if self._on_a_call(agent_id):
            raise IllegalAgentAction("finish your current call before calling a callback")
        cb = self._book.claimed_by(agent_id, callback_id)
        call_id = await self.dial(agent_id, cb.number.lstrip("+"), cb.customer_id, callback=True)
        cb.calling, cb.last_call_id = True, call_id
        return call_id, cb


__all__ = ["DISPOSITIONS", "REASONS", "FakeCrm", "FakeDesk", "FakeUserStore"]
