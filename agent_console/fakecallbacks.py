"""The fake desk's callback book (``agent_console.fakes.FakeDesk``): the rules of
``crm_core.callbacks`` on ``CallbackView`` rows in memory, with the same errors; no claim expiry,
and a retry is due 15 minutes later."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from agent_console.errors import Forbidden, TargetNotFound
from agent_console.protocol import CallbackView
from crm_core.callbacks import SKIP_REASONS
from crm_core.errors import CallbackTaken, IllegalCallbackStep, InvalidField

RETRY_S = 900.0  # a callback skipped "not now", or not answered, is due again after this


@dataclass
class FakeCallbackBook:
    clock: Callable[[], float]
    rows: dict[int, CallbackView] = field(default_factory=dict)

    def add(self, number: str, *, queue: str | None, due_at: float | None, customer_id: int | None,
            customer_name: str | None, agent_id: str | None) -> int:
        cb_id = max(self.rows, default=0) + 1
        self.rows[cb_id] = CallbackView(
            id=cb_id, number=number, queue=queue, agent_id=agent_id, customer_id=customer_id,
            customer_name=customer_name, due_at=self.clock() if due_at is None else due_at, state="pending")
        return cb_id

    def get(self, callback_id: int) -> CallbackView:
        if callback_id not in self.rows:
            raise TargetNotFound(f"no callback {callback_id}")
        return self.rows[callback_id]

    @staticmethod
    def visible_to(cb: CallbackView, agent_id: str, queues: Collection[str]) -> bool:
        """As crm_core.callbacks.visible_to: the callbacks of the queues the agent is in now, and their own."""
        return cb.queue in queues or agent_id in (cb.agent_id, cb.claimed_by)

    def due(self, agent_id: str | None, queues: Collection[str], *, everyone: bool, limit: int,
            overseen: Collection[str] | None = None) -> list[CallbackView]:
        now = self.clock()
        found = [cb for cb in self.rows.values()
                 if (cb.state == "pending" and cb.due_at <= now) or cb.state == "claimed"]
        if everyone and overseen is not None:  # as crm_core.callbacks.due_callbacks
            found = [cb for cb in found
                     if cb.queue in overseen or (agent_id and agent_id in (cb.agent_id, cb.claimed_by))]
        elif not everyone:
            found = [cb for cb in found if self.visible_to(cb, agent_id or "", queues)
                     and (cb.state == "pending" or cb.claimed_by == agent_id)]
        return sorted(found, key=lambda cb: (cb.due_at, cb.id))[:limit]

    def claim(self, agent_id: str, callback_id: int, queues: Collection[str]) -> CallbackView:
        cb = self.get(callback_id)
        if not self.visible_to(cb, agent_id, queues):
            where = f"queue {cb.queue}, which you are not logged into" if cb.queue else "another agent"
            raise Forbidden(f"callback {callback_id} is for {where}")
        if cb.state == "claimed" and cb.claimed_by != agent_id:
            raise CallbackTaken(f"callback {callback_id} is already claimed by agent {cb.claimed_by}")
        if cb.state == "claimed":
            return cb  # claiming one's own claim again changes nothing
        if cb.state != "pending":
            raise IllegalCallbackStep(f"callback {callback_id}: cannot claim a {cb.state} callback")
        if cb.due_at > self.clock():
            raise IllegalCallbackStep(f"callback {callback_id} is not due yet")
        cb.state, cb.claimed_by, cb.claimed_at = "claimed", agent_id, self.clock()
        return cb

    def release(self, agent_id: str, callback_id: int) -> CallbackView:
        cb = self.claimed_by(agent_id, callback_id)
        cb.state, cb.claimed_by, cb.claimed_at = "pending", None, None
        return cb

    def skip(self, agent_id: str, callback_id: int, reason: str) -> CallbackView:
        cb = self.get(callback_id)
        if reason not in SKIP_REASONS:
            raise InvalidField("reason", f"must be one of {', '.join(SKIP_REASONS)}")
        cb = self.claimed_by(agent_id, callback_id)
        cb.claimed_by, cb.claimed_at = None, None
        cb.state, cb.due_at = ("pending", self.clock() + RETRY_S) if reason == "not_now" else ("cancelled", cb.due_at)
        return cb

    def claimed_by(self, agent_id: str, callback_id: int) -> CallbackView:
        """The agent's own claim, not yet called: what may be released, skipped or called."""
        cb = self.get(callback_id)
        if cb.state == "claimed" and cb.claimed_by != agent_id:
            raise IllegalCallbackStep(f"callback {cb.id} is claimed by agent {cb.claimed_by}, not you")
        if cb.state != "claimed":
            raise IllegalCallbackStep(f"callback {cb.id} is {cb.state}: claim it first")
        if cb.calling:
            raise IllegalCallbackStep(f"callback {cb.id} is being called: wrap the call up instead")
        return cb

    def settle(self, call_id: str, no_answer: bool) -> dict[str, Any] | None:
        """The wrap-up of a callback's call: done, or tried again later, or failed after its last attempt."""
        cb = next((c for c in self.rows.values() if c.calling and c.last_call_id == call_id), None)
        if cb is None:
            return None
        cb.attempts += 1
        cb.calling = False
        if not no_answer:
            cb.state = "done"
        elif cb.attempts >= cb.max_attempts:
            cb.state = "failed"
        else:
            cb.state, cb.claimed_by, cb.claimed_at, cb.due_at = "pending", None, None, self.clock() + RETRY_S
        return {"id": cb.id, "state": cb.state, "attempts": cb.attempts}
