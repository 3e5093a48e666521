"""Cases (service requests): create, update, assign, escalate, with a status state machine, a due
time from the priority's standard and a history of every step."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.customers import get_customer
from crm_core.errors import IllegalCaseStep, NotFound
from crm_core.models import Case, CaseEvent, utcnow
from crm_core.schemas import CaseIn, CasePatch
from crm_core.users import get_user

log = logging.getLogger(__name__)

# Handling standards: the time each priority may take before the case is overdue (and the
# escalation alerts start).
STANDARDS = {"urgent": timedelta(hours=4), "high": timedelta(hours=8), "normal": timedelta(hours=24),
             "low": timedelta(hours=72)}
TRANSITIONS: dict[str, frozenset[str]] = {
    "open": frozenset({"in_progress", "pending", "resolved", "closed"}),
    "in_progress": frozenset({"pending", "resolved", "open"}),
    "pending": frozenset({"in_progress", "resolved", "open"}),
    "resolved": frozenset({"closed", "open"}),  # a resolved case reopens when the customer comes back
    "closed": frozenset(),
}
OPEN_STATUSES = ("open", "in_progress", "pending")


def next_status(current: str, wanted: str) -> str:
    if wanted == current:
        return current
    if wanted not in TRANSITIONS.get(current, frozenset()):
        raise IllegalCaseStep(f"status: a case cannot go from {current} to {wanted}")
    return wanted


def _record(case: Case, actor: str, action: str, **detail: object) -> None:
    case.history.append(CaseEvent(actor=actor, action=action, detail=detail, at=utcnow()))


async def create_case(*, session: AsyncSession, data: CaseIn, actor: str, now: datetime | None = None) -> Case:
    if data.customer_id is not None:
        await get_customer(session=session, customer_id=data.customer_id)
    if data.owner_id is not None:
        await get_user(session=session, user_id=data.owner_id)
    now = now or utcnow()
    case = Case(**data.model_dump(), due_at=now + STANDARDS[data.priority], created_at=now, history=[])
    _record(case, actor, "created", priority=data.priority, owner_id=data.owner_id)
    session.add(case)
    await session.flush()
    return case


async def get_case(*, session: AsyncSession, case_id: int) -> Case:
    case = await session.get(Case, case_id)
    if case is None:
        raise NotFound("case", case_id)
    return case


async def _locked(session: AsyncSession, case: Case) -> None:
    """Lock the case's row, then read it again: of two changes at once (a close and a reopen, two
    escalations) the second is judged from where the first left the case, not from an older read."""
    while (await session.execute(update(Case).where(Case.id == case.id, Case.status == case.status)
                                 .values(status=Case.status).execution_options(synchronize_session=False))
           ).rowcount != 1:  # type: ignore[attr-defined]
        await session.refresh(case)
    await session.refresh(case)


async def update_case(*, session: AsyncSession, case_id: int, patch: CasePatch, actor: str) -> Case:
    case = await get_case(session=session, case_id=case_id)
    changes = patch.model_dump(exclude_unset=True, exclude={"note"})
    if "status" in changes and changes["status"] is not None:
        await _locked(session, case)
        new = next_status(case.status, changes.pop("status"))
        if new != case.status:
            log.info("case %s: %s -[%s]-> %s", case.id, case.status, actor, new)
            _record(case, actor, "status", old=case.status, new=new)
            case.status = new
            case.resolved_at = utcnow() if new in ("resolved", "closed") else None
    if changes.get("priority") and changes["priority"] != case.priority:
        case.due_at = case.created_at + STANDARDS[changes["priority"]]
    edited = {k: v for k, v in changes.items() if v is not None and getattr(case, k) != v}
    for name, value in edited.items():
        setattr(case, name, value)
    if edited:
        _record(case, actor, "updated", fields=sorted(edited))
    if patch.note:
        _record(case, actor, "note", text=patch.note)
    await session.flush()
    return case


async def assign_case(*, session: AsyncSession, case_id: int, owner_id: int, actor: str) -> Case:
    case = await get_case(session=session, case_id=case_id)
    owner = await get_user(session=session, user_id=owner_id)
    _record(case, actor, "assigned", old=case.owner_id, new=owner.id, username=owner.username)
    case.owner_id = owner.id
    await session.flush()
    return case


async def escalate_case(*, session: AsyncSession, case_id: int, reason: str, actor: str) -> Case:
    case = await get_case(session=session, case_id=case_id)
    await _locked(session, case)  # two escalations at once: two levels
    if case.status not in OPEN_STATUSES:
        raise IllegalCaseStep(f"status: a {case.status} case cannot be escalated")
    case.escalation_level += 1
    _record(case, actor, "escalated", level=case.escalation_level, reason=reason)
    await session.flush()
    return case


async def list_cases(*, session: AsyncSession, customer_id: int | None = None, owner_id: int | None = None,
                     status: str | None = None, open_only: bool = False, offset: int = 0,
                     limit: int = 50) -> tuple[list[Case], int]:
    stmt = select(Case)
    if customer_id is not None:
        stmt = stmt.where(Case.customer_id == customer_id)
    if owner_id is not None:
        stmt = stmt.where(Case.owner_id == owner_id)
    if status is not None:
        stmt = stmt.where(Case.status == status)
    if open_only:
        stmt = stmt.where(Case.status.in_(OPEN_STATUSES))
    total = await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = await session.scalars(stmt.order_by(Case.due_at, Case.id).offset(offset).limit(limit))
    return list(rows.all()), total


async def overdue_cases(*, session: AsyncSession, now: datetime | None = None) -> list[Case]:
    """Open cases past their due time (what the escalation alerts watch)."""
    stmt = select(Case).where(Case.status.in_(OPEN_STATUSES), Case.due_at < (now or utcnow())).order_by(Case.due_at)
    return list((await session.scalars(stmt)).all())
