"""The agent's callbacks on the real desk (``EngineDesk`` holds one and delegates to it): the list
an agent sees, claiming, releasing and skipping one, and calling one through the desk's dial."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from datetime import UTC, datetime
from typing import Any, Protocol

from acd.delivery import AcdService
from acd.dial_readiness import Then
from acd.errors import unconfirmed_dial
from acd.model import AgentState
from agent_console.errors import Forbidden, IllegalAgentAction, TargetNotFound
from agent_console.protocol import CallbackView
from crm_core import callbacks
from crm_core.db import Database
from crm_core.errors import NotFound
from crm_core.models import Callback, Customer, epoch


class Dial(Protocol):
    """The desk's dial (``EngineDesk.dial``): a callback's call is a dial as any other."""

    def __call__(self, agent_id: str, number: str, customer_id: int | None, *, callback: bool = ...,
                 then: Then | None = ...) -> Awaitable[str]: ...


class DeskCallbacks:
    def __init__(self, acd: AcdService, db: Database, *, policy: callbacks.Policy, clock: Callable[[], float],
                 on_a_call: Callable[[str], bool]) -> None:
        self.acd, self.db, self.policy, self.clock = acd, db, policy, clock
        self._on_a_call = on_a_call

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def _state(self, agent_id: str) -> AgentState:
        return self.acd.agent_state(agent_id)

    def _queues(self, agent_id: str) -> tuple[str, ...]:
        """The queues the agent is logged into now (none when logged off)."""
        if self._state(agent_id) is AgentState.LOGGED_OUT:
            return ()
        return tuple(self.acd.agent(agent_id).queues)

    async def due(self, agent_id: str | None, *, everyone: bool, limit: int = 50,
                  overseen: Collection[str] | None = None) -> list[CallbackView]:
        now = self._now()
        async with self.db.session() as session:
            await callbacks.expire_claims(session=session, now=now, claim_timeout=self.policy.claim_timeout,
                                          call_timeout=self.policy.call_timeout)
            rows = await callbacks.due_callbacks(session=session, now=now, agent_id=agent_id, limit=limit,
                                                 queues=None if everyone else self._queues(agent_id or ""),
                                                 overseen=overseen if everyone else None)
        return [_callback_view(cb, name) for cb, name in rows]

    async def claim(self, agent_id: str, callback_id: int) -> CallbackView:
        now = self._now()
        async with self.db.session() as session:
            await callbacks.expire_claims(session=session, now=now, claim_timeout=self.policy.claim_timeout,
                                          call_timeout=self.policy.call_timeout)
            cb = await self._callback(session, callback_id)
            if not callbacks.visible_to(cb, agent_id, self._queues(agent_id)):
                where = f"queue {cb.queue}, which you are not logged into" if cb.queue else "another agent"
                raise Forbidden(f"callback {callback_id} is for {where}")
            cb = await callbacks.claim(session=session, callback_id=callback_id, agent_id=agent_id, now=now)
            return await _callback_view_of(session, cb)

    async def release(self, agent_id: str, callback_id: int) -> CallbackView:
        async with self.db.session() as session:
            await self._callback(session, callback_id)
            cb = await callbacks.release(session=session, callback_id=callback_id, agent_id=agent_id, now=self._now())
            return await _callback_view_of(session, cb)

    async def skip(self, agent_id: str, callback_id: int, reason: str) -> CallbackView:
        async with self.db.session() as session:
            await self._callback(session, callback_id)
            cb = await callbacks.skip(session=session, callback_id=callback_id, agent_id=agent_id, reason=reason,
                                      now=self._now(), policy=self.policy)
            return await _callback_view_of(session, cb)

    async def call(self, agent_id: str, callback_id: int, *, dial: Dial) -> tuple[str, CallbackView]:
        """The callback's call, placed through ``dial`` (the desk's, as it is when called)."""
        if self._state(agent_id) is AgentState.LOGGED_OUT:
            raise IllegalAgentAction("log in to your queues before calling a callback")
        if self._on_a_call(agent_id):
            raise IllegalAgentAction("finish your current call before calling a callback")
        async with self.db.session() as session:
            await self._callback(session, callback_id)
            cb = await callbacks.start_call(session=session, callback_id=callback_id, agent_id=agent_id,
                                            now=self._now())
            number, customer_id = cb.number, cb.customer_id
        try:
            linkedid = await dial(agent_id, number, customer_id, callback=True,
                                  then=lambda placed: self._callback_dialled(callback_id, placed))
        except BaseException as err:
            if unconfirmed_dial(err) is None:  # (else being called until the watch knows: _callback_dialled)
                await self._callback_dialled(callback_id, None)
            raise
        async with self.db.session() as session:
            cb = await callbacks.call_placed(session=session, callback_id=callback_id, linkedid=linkedid)
            return linkedid, await _callback_view_of(session, cb)

    async def _callback_dialled(self, callback_id: int, linkedid: str | None) -> None:
        """What came of a callback's dial: its call (``linkedid``) placed, as a confirmed dial records
        it, or none (the claim stands; it may expire again). A dial that may have placed its call
        (``unconfirmed_dial``) is recorded once its watch knows which (``acd.dial_readiness``)."""
        async with self.db.session() as session:
            if linkedid is None:
                await callbacks.call_not_placed(session=session, callback_id=callback_id, now=self._now())
            else:
                await callbacks.call_placed(session=session, callback_id=callback_id, linkedid=linkedid)

    async def _callback(self, session: Any, callback_id: int) -> Callback:
        try:
            return await callbacks.get_callback(session=session, callback_id=callback_id)
        except NotFound:
            raise TargetNotFound(f"no callback {callback_id}") from None


def _callback_view(cb: Callback, customer_name: str | None) -> CallbackView:
    return CallbackView(id=cb.id, number=cb.number, queue=cb.queue, agent_id=cb.agent_id, customer_id=cb.customer_id,
                        customer_name=customer_name, case_id=cb.case_id, due_at=cb.due_at.timestamp(),
                        state=cb.state, attempts=cb.attempts, max_attempts=cb.max_attempts,
                        claimed_by=cb.claimed_by, claimed_at=epoch(cb.claimed_at),
                        calling=cb.state == "claimed" and cb.called_at is not None, last_call_id=cb.last_linkedid,
                        note=cb.note)


async def _callback_view_of(session: Any, cb: Callback) -> CallbackView:
    customer = await session.get(Customer, cb.customer_id) if cb.customer_id is not None else None
    return _callback_view(cb, customer.name if customer is not None else None)
