"""Agent actions, shared by the websocket and REST: check who acts, validate, call the desk.

Agents act only for themselves (``Principal.agent_id``); a user without an agent id (a supervisor
or admin who takes no calls) may not act as an agent here. The desk checks call ownership.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from agent_console import protocol as p
from agent_console.errors import Forbidden, InvalidInput
from agent_console.policy import allows
from agent_console.ports import AgentDesk, WrapUpInput
from agent_console.queue_scope import EVERY_QUEUE, QueueScope
from agent_console.security import Principal
from cti.errors import UnsafeValue
from cti.safety import check_value


def agent_of(who: Principal) -> str:
    if who.agent_id is None:
        raise Forbidden(f"user {who.username!r} is not an agent")
    return who.agent_id


def _safe(field: str, value: str) -> str:
    try:
        return check_value(field, value)
    except UnsafeValue as err:
        raise InvalidInput(field, err.message.split(": ", 1)[-1]) from None


class ConsoleService:
    def __init__(self, desk: AgentDesk, *, clock: Callable[[], float] = time.time) -> None:
        self.desk = desk
        self.clock = clock

    async def act(self, who: Principal, msg: Any) -> dict[str, Any] | None:
        """Carry out one client action message; returns the ack result (or None)."""
        agent = agent_of(who)
        d = self.desk
        match msg:
            case p.QueuesLogin(queues=queues):
                await d.login_queues(agent, [_safe("queues", q) for q in queues])
            case p.QueuesLogout(queues=queues):
                await d.logout_queues(agent, [_safe("queues", q) for q in queues])
            case p.Ready():
                await d.set_ready(agent)
            case p.NotReady(reason=reason):
                await d.set_not_ready(agent, reason)
            case p.Hangup(call_id=call_id):
                await d.hangup(agent, _safe("call_id", call_id))
            case p.Hold(call_id=call_id):
                await d.hold(agent, _safe("call_id", call_id))
            case p.Resume(call_id=call_id):
                await d.resume(agent, _safe("call_id", call_id))
            case p.Transfer():
                await d.transfer(agent, _safe("call_id", msg.call_id), kind=msg.kind, target_kind=msg.target_kind,
                                 target=_safe("target", msg.target), note=msg.note)
            case p.CancelConsult(call_id=call_id):
                await d.cancel_consult(agent, _safe("call_id", call_id))
            case p.Conference(call_id=call_id):
                await d.conference(agent, _safe("call_id", call_id))
            case p.CallAttributes(call_id=call_id, tags=tags, values=values):
                await d.set_call_attributes(agent, _safe("call_id", call_id), tags=tags, values=values)
            case p.Dial(number=number, customer_id=customer_id):
                return {"call_id": await d.dial(agent, _safe("number", number), customer_id)}
            case p.Dtmf(call_id=call_id, digits=digits):
                await d.send_dtmf(agent, _safe("call_id", call_id), digits)
            case p.WrapUp():
                return await d.wrap_up(agent, _safe("call_id", msg.call_id), self._wrap(msg))
            case _:
                raise InvalidInput("type", f"{getattr(msg, 'type', '?')} is not an action")
        return None

    def _wrap(self, msg: p.WrapUp) -> WrapUpInput:
        at = None
        if msg.callback_at is not None:
            at = msg.callback_at.timestamp()
            if at <= self.clock():
                raise InvalidInput("callback_at", "must be in the future")
            if at > self.clock() + 366 * 86400:
                raise InvalidInput("callback_at", "must be within a year")
        return WrapUpInput(disposition=msg.disposition, notes=msg.notes, resolved=msg.resolved, case=msg.case,
                           callback_at=at, callback_number=msg.callback_number,
                           not_ready_reason=msg.not_ready_reason, no_answer=msg.no_answer)

    # -- callbacks: agents work those of their queues; staff (supervisors, managers, admins) see those they oversee --
    async def callbacks(self, who: Principal, *, limit: int = 50,
                        scope: QueueScope = EVERY_QUEUE) -> list[p.CallbackView]:
        """``scope``: the queues a supervisor oversees (``queue_scope.scope_of``): theirs and their own."""
        everyone = allows(who.role, "supervisor.callbacks")  # staff: every role that reads the callbacks page
        return await self.desk.callbacks(who.agent_id if everyone else agent_of(who), everyone=everyone, limit=limit,
                                         overseen=None if scope.queues is None else scope.queues)

    async def claim_callback(self, who: Principal, callback_id: int) -> p.CallbackView:
        return await self.desk.claim_callback(agent_of(who), callback_id)

    async def release_callback(self, who: Principal, callback_id: int) -> p.CallbackView:
        return await self.desk.release_callback(agent_of(who), callback_id)

    async def call_callback(self, who: Principal, callback_id: int) -> p.CallbackCall:
        call_id, view = await self.desk.call_callback(agent_of(who), callback_id)
        return p.CallbackCall(call_id=call_id, callback=view)
