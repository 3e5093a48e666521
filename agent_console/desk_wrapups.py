"""The agent's wrap-ups on the real desk (``EngineDesk`` checks the call and the agent's state, and
hands the rest here): the disposition checked against the CRM's catalog, the CRM writes (case,
callback) in one transaction, journaled while the database is away and written once it is back, and
the wrap-up on the bus (``WrapUpDone``, which the call logger folds into the call's interaction,
and the console's closed call)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from acd.calls import LiveCall
from acd.delivery import AcdService
from acd.events import AgentCallUpdate
from agent_console.errors import InvalidInput
from agent_console.ports import WrapUpInput
from crm_core import callbacks, catalog, wrapups
from crm_core.db import Database
from crm_core.errors import DatabaseUnavailable, InvalidField
from crm_core.journal import RowJournal
from crm_core.phones import to_e164
from cti.bus import EventBus
from cti.journey import WrapUpDone

# How long a disposition catalog read stands for wrap-up checks (a disposition retired in the
# catalog is still accepted for at most this long).
_CATALOG_FRESH_S = 5.0


class DeskWrapUps:
    """Checks and writes the agents' wrap-ups: nothing an agent wrote is lost while the CRM is away."""

    def __init__(self, acd: AcdService, db: Database, bus: EventBus, *, policy: callbacks.Policy,
                 journal: Path | None = None) -> None:
        self.acd, self.db, self.bus, self.callback_policy = acd, db, bus, policy
        # Wrap-ups made while the database is away: journaled here, written when it is back.
        self.journal = RowJournal(db, journal, {"wrapup": self._write_journaled}, name="desk.wrapups")
        self._dispositions: dict[str, bool] = {}  # the catalog as last read: code -> resolves
        self._dispositions_read = float("-inf")  # time.monotonic() of that read

    async def write(self, agent_id: str, call: LiveCall, wrap: WrapUpInput, now: float) -> dict[str, Any]:
        """The wrap-up of the agent's ended ``call`` (its disposition checked: ``check_disposition``),
        written and published, the call forgotten by the ACD; the answer's ids (``pending`` while
        journaled)."""
        # KPIS.md: FCR counts the wrap-up's resolved flag; a disposition that resolves is its default.
        resolved = wrap.resolved if wrap.resolved is not None else self._dispositions[wrap.disposition]
        w = self._record(agent_id, call, wrap, now)
        result: dict[str, Any] = {"interaction_id": None, "case_id": None, "callback_id": None}
        try:
            result.update(await wrapups.write_wrap_up(self.db, w, policy=self.callback_policy))
        except DatabaseUnavailable:
            await self.journal.submit("wrapup", wrapups.wrapup_key(agent_id, call.linkedid), w)
            result["pending"] = True  # journaled: the case and callback are made when the database is back
        await self.bus.publish(WrapUpDone(ts=now, linkedid=call.linkedid, agent_id=agent_id,
                                          disposition=wrap.disposition, notes=wrap.notes,
                                          resolved_first_contact=resolved, case_id=result["case_id"],
                                          wrapup_s=_after_call_work(call, now), queue=call.queue or None))
        self.acd.wrapped_up(agent_id, call.linkedid)
        await self.bus.publish(AgentCallUpdate(ts=now, agent_id=agent_id, linkedid=call.linkedid, status="closed",
                                               direction=call.direction, peer_number=call.caller_number,
                                               customer_id=call.customer_id, queue=call.queue or None,
                                               started_at=call.answered_at or call.queued_at))
        return result

    async def _write_journaled(self, session: Any, key: str, w: dict[str, Any]) -> None:
        await wrapups.apply_wrap_up(session, w, policy=self.callback_policy)

    async def check_disposition(self, code: str) -> None:
        """Against the CRM's catalog, or the last one read while the database is away. A known code
        read less than ``_CATALOG_FRESH_S`` ago needs no new read (one database round trip less per
        wrap-up at full load); an unknown one is always read again (it may have just been added)."""
        now = time.monotonic()
        if code in self._dispositions and now - self._dispositions_read < _CATALOG_FRESH_S:
            return
        try:
            async with self.db.session() as session:
                self._dispositions = {d.code: d.resolves for d in await catalog.list_dispositions(session=session)}
            self._dispositions_read = now
        except DatabaseUnavailable:
            if not self._dispositions:
                raise
        if code not in self._dispositions:
            raise InvalidInput("disposition", f"unknown disposition {code!r}")

    def _record(self, agent_id: str, call: LiveCall, wrap: WrapUpInput, now: float) -> dict[str, Any]:
        """The wrap-up's CRM writes as plain data (``crm_core.wrapups``), checked before anything is
        written: a callback number that cannot be called is the agent's to fix now."""
        callback = None
        if wrap.callback_at is not None:
            raw = wrap.callback_number or call.caller_number
            try:
                number = to_e164(raw, field="callback_number")
            except InvalidField as err:
                reason = err.message.split(": ", 1)[-1]
                raise InvalidInput("callback_number", reason if wrap.callback_number else
                                   f"the caller's number cannot be called back ({reason}); give a number") from None
            callback = {"number": number, "due_at": wrap.callback_at}
        case = None
        if wrap.case is not None:
            case = {"id": wrap.case.id, "subject": wrap.case.subject, "status": wrap.case.status,
                    "priority": wrap.case.priority, "note": wrap.case.note}
        # A customer leg that never answered (no answer, busy, ...) is not reached, ticked or not.
        reached = not wrap.no_answer and call.far_end in (None, "answered")
        return {"agent_id": agent_id, "linkedid": call.linkedid, "customer_id": call.customer_id,
                "queue": call.queue or None, "notes": wrap.notes, "case": case, "callback": callback,
                "reached": reached, "at": now}


def _after_call_work(call: LiveCall, now: float) -> float:
    """The call's after-call work as the form ends it (docs/kpis.md): from the agent's end of the call
    to the form, or to the end of their wrap-up state when that came first (no talk in it)."""
    start = call.ended_at if call.ended_at is not None else now
    end = min(now, call.wrap_left_at) if call.wrap_left_at is not None else now
    return max(0.0, end - start)
