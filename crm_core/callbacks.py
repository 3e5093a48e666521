"""Preview callbacks: calls to place back to customers, worked by agents from a list.

    pending -[claim]-> claimed -[call]-> claimed -[reached]-> done
                       claimed -[release | expire]-> pending
                       claimed -[no_answer]-> pending (attempts + 1, due later) | failed (no attempts left)
                       claimed -[call_lost]-> pending (attempts + 1) | failed (no attempts left)
                       claimed -[skip: not now]-> pending (due later, no attempt counted)
                       claimed -[skip: wrong number | do not call]-> cancelled
    pending | claimed -[cancel]-> cancelled

A claim that was not called within the claim timeout, or whose call was placed but never wrapped
up within the call timeout (the agent's console died, the engine restarted mid-call), goes back to
pending the next time the list is read (``expire_claims``): no timer task, and nothing to lose on a
restart. Claiming is one
conditional UPDATE (``... WHERE state = 'pending'``), so of two agents claiming at once exactly one
wins, on SQLite (the write lock) and PostgreSQL (the row lock) alike. Every other change first
locks the row as it was read (``_current``): a supervisor's cancel and the agent's call at once
never both succeed, the second is judged from the state the first left.

Errors: ``CallbackTaken`` and ``IllegalCallbackStep`` in the CRM's tree (``crm_core.errors``).

Services take the session as a keyword argument and never commit.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.errors import CallbackTaken, IllegalCallbackStep, InvalidField, NotFound
from crm_core.models import Callback, Case, Customer, utcnow
from crm_core.phones import to_e164

log = logging.getLogger(__name__)

DEFAULT_MAX_ATTEMPTS = 3
# A due callback still pending this long after its due time is overdue (the wallboard shows it apart).
OVERDUE_AFTER = timedelta(minutes=15)
# Generous: a long call plus its wrap-up. A placed call not wrapped up by then is taken as lost.
DEFAULT_CALL_TIMEOUT = timedelta(hours=2)
OPEN_STATES = ("pending", "claimed")
TRANSITIONS: dict[tuple[str, str], str] = {
    ("pending", "claim"): "claimed",
    ("claimed", "call"): "claimed",
    ("claimed", "release"): "pending",
    ("claimed", "expire"): "pending",
    ("claimed", "reached"): "done",
    ("claimed", "retry"): "pending",
    ("claimed", "give_up"): "failed",
    ("claimed", "call_lost"): "pending",
    ("claimed", "skip"): "pending",
    ("claimed", "skip_for_good"): "cancelled",
    ("pending", "cancel"): "cancelled",
    ("claimed", "cancel"): "cancelled",
}


@dataclass(frozen=True, slots=True)
class Policy:
    """How callbacks are retried, how long a claim holds and how long a placed call may go without
    its wrap-up (from ``settings.callbacks``)."""

    retry_delay: timedelta = timedelta(minutes=15)
    claim_timeout: timedelta = timedelta(minutes=5)
    call_timeout: timedelta = DEFAULT_CALL_TIMEOUT
    max_attempts: int = DEFAULT_MAX_ATTEMPTS


def _next(cb: Callback, event: str) -> str:
    new = TRANSITIONS.get((cb.state, event))
    if new is None:
        raise IllegalCallbackStep(f"callback {cb.id}: cannot {event.replace('_', ' ')} a {cb.state} callback")
    return new


def _step(cb: Callback, event: str, actor: str) -> None:
    new = _next(cb, event)
    log.info("callback %s: %s -[%s by %s]-> %s", cb.id, cb.state, event, actor, new)
    cb.state = new


async def create_callback(*, session: AsyncSession, number: str, due_at: datetime, queue: str | None = None,
                          agent_id: str | None = None, customer_id: int | None = None, case_id: int | None = None,
                          origin_linkedid: str | None = None, max_attempts: int = DEFAULT_MAX_ATTEMPTS,
                          note: str = "", number_field: str = "number") -> Callback:
    """A pending callback; ``number`` is normalised to E.164 (errors name ``number_field``)."""
    e164 = to_e164(number, field=number_field)
    if not 1 <= max_attempts <= 20:
        raise InvalidField("max_attempts", "must be between 1 and 20")
    if due_at.tzinfo is None:
        raise InvalidField("due_at", "needs a time zone")
    if len(note) > 4000:
        raise InvalidField("note", "at most 4000 characters")
    if customer_id is not None and await session.get(Customer, customer_id) is None:
        raise NotFound("customer", customer_id)
    if case_id is not None and await session.get(Case, case_id) is None:
        raise NotFound("case", case_id)
    now = utcnow()
    cb = Callback(number=e164, due_at=due_at, queue=queue or None, agent_id=agent_id, customer_id=customer_id,
                  case_id=case_id, origin_linkedid=origin_linkedid, max_attempts=max_attempts, note=note,
                  state="pending", attempts=0, created_at=now, updated_at=now)
    session.add(cb)
    await session.flush()
    log.info("callback %s: created for %s, queue %s, due %s", cb.id, e164, cb.queue or f"agent {agent_id}",
             due_at.isoformat())
    return cb


async def callback_for_origin(*, session: AsyncSession, linkedid: str) -> Callback | None:
    return await session.scalar(select(Callback).where(Callback.origin_linkedid == linkedid))


async def get_callback(*, session: AsyncSession, callback_id: int) -> Callback:
    cb = await session.get(Callback, callback_id)
    if cb is None:
        raise NotFound("callback", callback_id)
    return cb


async def _unchanged(session: AsyncSession, cb: Callback) -> bool:
    """Lock the row if it is still as ``cb`` was read (state, claimer, whether its call is placed):
    a change decided on that read is then the only one. False when another change got there first."""
    claimer = Callback.claimed_by.is_(None) if cb.claimed_by is None else Callback.claimed_by == cb.claimed_by
    called = Callback.called_at.is_(None) if cb.called_at is None else Callback.called_at.is_not(None)
    done = await session.execute(update(Callback).where(Callback.id == cb.id, Callback.state == cb.state, claimer,
                                                        called)
                                 .values(state=Callback.state).execution_options(synchronize_session=False))
    return done.rowcount == 1  # type: ignore[attr-defined, no-any-return]


async def _current(*, session: AsyncSession, callback_id: int) -> Callback:
    """The callback, locked as read: of two changes at once (a supervisor's cancel, the agent's call)
    one wins and the other is judged from where the first left it."""
    cb = await get_callback(session=session, callback_id=callback_id)
    while not await _unchanged(session, cb):
        await session.refresh(cb)
    return cb


def visible_to(cb: Callback, agent_id: str, queues: Collection[str]) -> bool:
    """An agent works the callbacks of the queues they are logged into, and their own."""
    return (cb.queue is not None and cb.queue in queues) or cb.agent_id == agent_id or cb.claimed_by == agent_id


async def expire_claims(*, session: AsyncSession, now: datetime, claim_timeout: timedelta,
                        call_timeout: timedelta = DEFAULT_CALL_TIMEOUT) -> int:
    """Claims not called within ``claim_timeout`` go back to pending, and so do those whose call was
    placed more than ``call_timeout`` ago and never wrapped up (that counts as an attempt: failed
    when none is left); returns how many claims ended."""
    stale = list((await session.scalars(select(Callback).where(
        Callback.state == "claimed", Callback.called_at.is_(None),
        Callback.claimed_at < now - claim_timeout))).all())
    stale = [cb for cb in stale if await _unchanged(session, cb)]  # not called or released meanwhile
    for cb in stale:
        _step(cb, "expire", "timer")
        cb.claimed_by, cb.claimed_at, cb.updated_at = None, None, now
    lost = list((await session.scalars(select(Callback).where(
        Callback.state == "claimed", Callback.called_at < now - call_timeout))).all())
    lost = [cb for cb in lost if await _unchanged(session, cb)]  # not wrapped up meanwhile
    for cb in lost:
        log.warning("callback %s: the call %s placed by agent %s at %s was never wrapped up", cb.id,
                    cb.last_linkedid, cb.claimed_by, cb.called_at.isoformat() if cb.called_at else "?")
        cb.attempts += 1
        _step(cb, "give_up" if cb.attempts >= cb.max_attempts else "call_lost", "timer")
        # last_linkedid goes too: a wrap-up of the lost call arriving later must not settle a new claim.
        cb.claimed_by, cb.claimed_at, cb.called_at, cb.last_linkedid, cb.updated_at = None, None, None, None, now
    if stale or lost:
        await session.flush()
    return len(stale) + len(lost)


async def due_callbacks(*, session: AsyncSession, now: datetime, agent_id: str | None,
                        queues: Collection[str] | None, limit: int = 50,
                        overseen: Collection[str] | None = None) -> list[tuple[Callback, str | None]]:
    """Due pending callbacks and open claims with the customer's name, oldest due first.
    ``queues`` None: all of them (supervisors), or with ``overseen`` (a supervisor's queues) those of
    these queues, claimed by anyone, and ``agent_id``'s own; else those ``visible_to`` the agent,
    whose own claims are listed too."""
    stmt = (select(Callback, Customer.name).outerjoin(Customer, Customer.id == Callback.customer_id)
            .where(or_(Callback.state == "claimed", (Callback.state == "pending") & (Callback.due_at <= now))))
    if queues is None and overseen is not None:
        own = [Callback.agent_id == agent_id, Callback.claimed_by == agent_id] if agent_id else []
        stmt = stmt.where(or_(Callback.queue.in_(sorted(overseen)), *own))
    if queues is not None:
        mine = [Callback.agent_id == agent_id, Callback.claimed_by == agent_id] if agent_id else []
        stmt = stmt.where(or_(Callback.queue.in_(list(queues)), *mine),
                          or_(Callback.state == "pending", Callback.claimed_by == agent_id))
    rows = await session.execute(stmt.order_by(Callback.due_at, Callback.id).limit(limit))
    return [(cb, name) for cb, name in rows.all()]


async def find_callbacks(*, session: AsyncSession, states: Collection[str] | None = None, queue: str | None = None,
                         limit: int = 200, queues: Collection[str] | None = None) -> list[tuple[Callback, str | None]]:
    """Callbacks in ``states`` (None: any), of ``queue`` (None: any) and among ``queues`` (None: any;
    a supervisor's queues), with the customer's name: open ones oldest due first (the order they are
    worked in), else the most recently changed first."""
    stmt = select(Callback, Customer.name).outerjoin(Customer, Customer.id == Callback.customer_id)
    if states is not None:
        stmt = stmt.where(Callback.state.in_(list(states)))
    if queue is not None:
        stmt = stmt.where(Callback.queue == queue)
    if queues is not None:
        stmt = stmt.where(Callback.queue.in_(sorted(queues)))
    if states is not None and set(states) <= set(OPEN_STATES):
        stmt = stmt.order_by(Callback.due_at, Callback.id)
    else:
        stmt = stmt.order_by(Callback.updated_at.desc(), Callback.id.desc())
    rows = await session.execute(stmt.limit(limit))
    return [(cb, name) for cb, name in rows.all()]


async def claim(*, session: AsyncSession, callback_id: int, agent_id: str, now: datetime) -> Callback:
    """``agent_id`` takes the callback; exactly one of several agents claiming at once wins."""
    cb = await get_callback(session=session, callback_id=callback_id)
    if cb.state == "claimed" and cb.claimed_by != agent_id:
        raise CallbackTaken(f"callback {cb.id} is already claimed by agent {cb.claimed_by}")
    if cb.state == "claimed":
        return cb  # claiming one's own claim again changes nothing
    if cb.state == "pending" and cb.due_at > now:
        raise IllegalCallbackStep(f"callback {cb.id} is not due until {cb.due_at.isoformat()}")
    _next(cb, "claim")  # raises for done, failed, cancelled
    result = await session.execute(
        update(Callback).where(Callback.id == cb.id, Callback.state == "pending")
        .values(state="claimed", claimed_by=agent_id, claimed_at=now, called_at=None, updated_at=now)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        await session.refresh(cb)
        raise CallbackTaken(f"callback {cb.id} was just claimed by agent {cb.claimed_by or 'another agent'}")
    await session.refresh(cb)
    log.info("callback %s: pending -[claim by %s]-> claimed", cb.id, agent_id)
    return cb


def _own_claim(cb: Callback, agent_id: str) -> None:
    if cb.state == "claimed" and cb.claimed_by != agent_id:
        raise IllegalCallbackStep(f"callback {cb.id} is claimed by agent {cb.claimed_by}, not you")
    if cb.state != "claimed":
        raise IllegalCallbackStep(f"callback {cb.id} is {cb.state}: claim it first")


async def release(*, session: AsyncSession, callback_id: int, agent_id: str, now: datetime) -> Callback:
    """The agent gives the claim back without calling."""
    cb = await _current(session=session, callback_id=callback_id)
    _own_claim(cb, agent_id)
    if cb.called_at is not None:
        raise IllegalCallbackStep(f"callback {cb.id} is being called: wrap the call up instead")
    _step(cb, "release", agent_id)
    cb.claimed_by, cb.claimed_at, cb.updated_at = None, None, now
    await session.flush()
    return cb


async def start_call(*, session: AsyncSession, callback_id: int, agent_id: str, now: datetime) -> Callback:
    """The claimer is about to dial: the claim no longer expires."""
    cb = await _current(session=session, callback_id=callback_id)
    _own_claim(cb, agent_id)
    if cb.called_at is not None:
        raise IllegalCallbackStep(f"callback {cb.id} is already being called")
    _step(cb, "call", agent_id)
    cb.called_at, cb.updated_at = now, now
    await session.flush()
    return cb


async def call_placed(*, session: AsyncSession, callback_id: int, linkedid: str) -> Callback:
    cb = await get_callback(session=session, callback_id=callback_id)
    cb.last_linkedid = linkedid
    await session.flush()
    return cb


async def call_not_placed(*, session: AsyncSession, callback_id: int, now: datetime) -> Callback:
    """The dial failed (the agent's phone did not answer): the claim stands, and may expire again."""
    cb = await _current(session=session, callback_id=callback_id)
    if cb.state == "claimed":
        cb.called_at, cb.claimed_at, cb.updated_at = None, now, now
        await session.flush()
    return cb


async def finish_call(*, session: AsyncSession, linkedid: str, reached: bool, now: datetime,
                      policy: Policy) -> Callback | None:
    """The wrap-up of the call placed for a callback (None when the call was not one): done when
    the customer was reached, else retried after ``policy.retry_delay`` until no attempts are left."""
    cb = await session.scalar(select(Callback).where(Callback.last_linkedid == linkedid,
                                                     Callback.state == "claimed"))
    if cb is None or not await _unchanged(session, cb):  # taken as lost meanwhile: settles nothing
        return None
    actor = cb.claimed_by or "?"
    cb.attempts += 1
    if reached:
        _step(cb, "reached", actor)
    elif cb.attempts >= cb.max_attempts:
        _step(cb, "give_up", actor)
    else:
        _step(cb, "retry", actor)
        cb.due_at = now + policy.retry_delay
        cb.claimed_by, cb.claimed_at, cb.called_at = None, None, None
    cb.updated_at = now
    await session.flush()
    return cb


SKIP_REASONS = ("not_now", "wrong_number", "do_not_call")


async def skip(*, session: AsyncSession, callback_id: int, agent_id: str, reason: str, now: datetime,
               policy: Policy) -> Callback:
    """The claimer passes on the callback without calling: ``not_now`` puts it back due after
    ``policy.retry_delay`` (not an attempt); ``wrong_number`` and ``do_not_call`` cancel it."""
    if reason not in SKIP_REASONS:
        raise InvalidField("reason", f"must be one of {', '.join(SKIP_REASONS)}")
    cb = await _current(session=session, callback_id=callback_id)
    _own_claim(cb, agent_id)
    if cb.called_at is not None:
        raise IllegalCallbackStep(f"callback {cb.id} is being called: wrap the call up instead")
    new = _next(cb, "skip" if reason == "not_now" else "skip_for_good")
    log.info("callback %s: %s -[skip (%s) by %s]-> %s", cb.id, cb.state, reason, agent_id, new)
    cb.state = new
    if new == "pending":
        cb.due_at = now + policy.retry_delay
    cb.claimed_by, cb.claimed_at, cb.updated_at = None, None, now
    note = f"skipped by {agent_id}: {reason}"
    cb.note = f"{cb.note}\n{note}"[-4000:] if cb.note else note
    await session.flush()
    return cb


async def cancel(*, session: AsyncSession, callback_id: int, actor: str, now: datetime) -> Callback:
    """Nobody is to call it any more; not while its call is on (wrap that up instead)."""
    cb = await _current(session=session, callback_id=callback_id)
    if cb.state == "claimed" and cb.called_at is not None:
        raise IllegalCallbackStep(f"callback {cb.id} is being called: wrap the call up instead")
    _step(cb, "cancel", actor)
    cb.updated_at = now
    await session.flush()
    return cb


async def open_counts(*, session: AsyncSession, now: datetime,
                      overdue_after: timedelta | None = None) -> dict[str, dict[str, int]]:
    """Per queue ("" for personal callbacks): pending (all), due (pending and due now), claimed;
    with ``overdue_after`` also overdue (pending and due more than ``overdue_after`` ago, a part of due)."""
    rows = await session.execute(select(Callback.queue, Callback.state, Callback.due_at)
                                 .where(Callback.state.in_(OPEN_STATES)))
    late = None if overdue_after is None else now - overdue_after
    counts: dict[str, dict[str, int]] = {}
    for queue, state, due_at in rows.all():
        c = counts.setdefault(queue or "", {"pending": 0, "due": 0, "claimed": 0}
                              | ({} if late is None else {"overdue": 0}))
        if state == "claimed":
            c["claimed"] += 1
        else:
            c["pending"] += 1
            c["due"] += due_at <= now
            if late is not None:
                c["overdue"] += due_at <= late
    return counts
