"""An agent's wrap-up in the CRM: the case it opens or updates, the callback it schedules, the
callback it settles. One function for the live path and for the journal that replays a wrap-up
made while the database was away (``apply_wrap_up``), idempotent by the wrap-up's key.

The interaction itself (disposition, notes, resolved flag) is not written here: it travels as
``WrapUpDone`` on the bus to the call logger, whose journal keeps it through any outage.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core import callbacks, cases
from crm_core.audit import AuditEntry
from crm_core.bulk_rows import execute_rows
from crm_core.db import Database
from crm_core.models import Callback, Interaction, utcnow
from crm_core.schemas import CaseIn, CasePatch

APPLIED = "wrapup.applied"  # the audit row that marks a wrap-up's CRM writes done (its key as target)


def wrapup_key(agent_id: str, linkedid: str) -> str:
    return f"wrapup:{agent_id}:{linkedid}"


# Built once (the statement and its cache key), run with parameters: whether the wrap-up is done,
# the call's interaction id and customer, and whether a claimed callback was placed as this call --
# one read for the four (most calls are no callback's).
_LOOK_UP = select(
    select(AuditEntry.id).where(AuditEntry.action == APPLIED, AuditEntry.target == bindparam("key"))
    .limit(1).scalar_subquery(),
    select(Interaction.id).where(Interaction.linkedid == bindparam("linkedid")).limit(1).scalar_subquery(),
    select(Interaction.customer_id).where(Interaction.linkedid == bindparam("linkedid")).limit(1).scalar_subquery(),
    select(Callback.id).where(Callback.last_linkedid == bindparam("linkedid"), Callback.state == "claimed")
    .limit(1).scalar_subquery())
_MARK_APPLIED = insert(AuditEntry)  # a Core insert: no ORM object, no unit-of-work flush
_MARK_APPLIED_CORE = insert(cast(Table, AuditEntry.__table__))  # the same on a Core connection (``write_wrap_up``)


async def write_wrap_up(db: Database, w: dict[str, Any], *, policy: callbacks.Policy) -> dict[str, Any]:
    """``apply_wrap_up`` in its own transaction. Most wrap-ups make no case and no callback and
    settle none: those are one synchronous unit of work (``db.run``, one read and the audit row);
    the others take the ORM session."""
    case = w.get("case")
    if w.get("callback") is None and (case is None or (case.get("id") is None and not case.get("subject"))):
        plain = await db.run(lambda conn: _plain_wrap_up(conn, w))
        if plain is not None:
            return plain
    async with db.session() as session:
        return await apply_wrap_up(session, w, policy=policy)


def _plain_wrap_up(conn: Connection, w: dict[str, Any]) -> dict[str, Any] | None:
    """A wrap-up without a case or a callback to make: done, or None when the call was a claimed
    callback's (to settle on the ORM path; nothing written here then)."""
    key = wrapup_key(w["agent_id"], w["linkedid"])
    applied, interaction, _, callback_call = conn.execute(_LOOK_UP, {"key": key, "linkedid": w["linkedid"]}).one()
    result: dict[str, Any] = {"case_id": None, "callback_id": None, "interaction_id": interaction}
    if applied is not None:
        return result
    if callback_call is not None:
        return None
    execute_rows(conn, _MARK_APPLIED_CORE, [_applied_row(w, key, result)])
    return result


def _applied_row(w: dict[str, Any], key: str, result: dict[str, Any]) -> dict[str, Any]:
    return {"at": utcnow(), "actor": w["agent_id"], "actor_role": "agent", "action": APPLIED, "target": key,
            "detail": {k: v for k, v in result.items() if k not in ("settled_callback", "interaction_id")}}


async def apply_wrap_up(session: AsyncSession, w: dict[str, Any], *, policy: callbacks.Policy) -> dict[str, Any]:
    """The wrap-up's CRM writes, from plain data (it may come back from a journal). ``w``: agent_id,
    linkedid, customer_id (the live call's; the interaction's own customer wins), queue, notes, case
    (id, subject, status, priority, note or None), callback (number, due_at epoch or None), reached,
    at (epoch). The answer carries the call's interaction id."""
    key = wrapup_key(w["agent_id"], w["linkedid"])
    found = await session.execute(_LOOK_UP, {"key": key, "linkedid": w["linkedid"]})
    applied, interaction, logged_customer, callback_call = found.one()
    result: dict[str, Any] = {"case_id": None, "callback_id": None, "interaction_id": interaction}
    if applied is not None:
        return result
    # The call's customer is its interaction's: one an agent linked during the call
    # (crm_core.interactions.link_customer; the call log keeps it), else the one the call log wrote.
    # The live call's (w's: the IVR's or the number's, as routed) only while the log has none yet.
    customer_id = logged_customer if logged_customer is not None else w.get("customer_id")
    actor = f"agent:{w['agent_id']}"
    case = w.get("case")
    if case is not None and case.get("id") is not None:
        patch = CasePatch(subject=case.get("subject"), status=case.get("status"), priority=case.get("priority"))
        result["case_id"] = (await cases.update_case(session=session, case_id=case["id"], patch=patch,
                                                     actor=actor)).id
    elif case is not None and case.get("subject"):
        created = await cases.create_case(session=session, data=CaseIn(
            subject=case["subject"], description=case.get("note") or w["notes"],
            priority=case.get("priority") or "normal", customer_id=customer_id), actor=actor)
        result["case_id"] = created.id
    cb = w.get("callback")
    if cb is not None:
        due = datetime.fromtimestamp(cb["due_at"], UTC)
        number = cb["number"]
        cb_case = await cases.create_case(session=session, data=CaseIn(
            subject=f"Call back {number} at {due.strftime('%Y-%m-%d %H:%M UTC')}", category="callback",
            description=w["notes"], customer_id=customer_id), actor=actor)
        cb_case.due_at = due
        queue = w.get("queue") or None
        made = await callbacks.create_callback(
            session=session, number=number, due_at=due, queue=queue, agent_id=None if queue else w["agent_id"],
            customer_id=customer_id, case_id=cb_case.id, max_attempts=policy.max_attempts,
            note=w["notes"][:4000])
        result.update(callback_id=made.id, callback_case_id=cb_case.id)
    settled = None
    if callback_call is not None:
        settled = await callbacks.finish_call(session=session, linkedid=w["linkedid"], reached=w["reached"],
                                              now=datetime.fromtimestamp(w["at"], UTC), policy=policy)
    if settled is not None:
        result["settled_callback"] = {"id": settled.id, "state": settled.state, "attempts": settled.attempts}
    await session.execute(_MARK_APPLIED, _applied_row(w, key, result))
    return result
