"""case.changed: the follower of the cases' history on SQLite and PostgreSQL. Every step of a case
reaches the feed once and in order, whichever way it was made; a restart neither repeats nor loses;
an id committed after a higher one was read still comes; the first start does not replay the past."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from crm_core import cases, customers
from crm_core.callbacks import Policy
from crm_core.case_feed import CaseHistoryFollower
from crm_core.db import Database
from crm_core.events import CaseChanged
from crm_core.feed_events import to_public
from crm_core.models import CaseEvent
from crm_core.schemas import CaseIn, CasePatch, CustomerIn, PhoneIn
from crm_core.wrapups import write_wrap_up
from cti.events import Event
from tests.leaks import shows


class Published(list[CaseChanged]):
    async def __call__(self, ev: Event) -> None:
        assert isinstance(ev, CaseChanged)
        self.append(ev)


async def _case(db: Database, subject: str = "card blocked", **kw: object) -> int:
    async with db.session() as s:
        return (await cases.create_case(session=s, data=CaseIn(subject=subject, **kw), actor="sue")).id  # type: ignore[arg-type]


async def test_every_step_once_in_order_and_a_restart_goes_on_where_it_stopped(db: Database) -> None:
    await _case(db, "from before the feed")  # history written before the follower's first start
    seen = Published()
    first = CaseHistoryFollower(db, seen)
    assert await first.poll() == 0  # the first start begins at the newest row: the past is not replayed
    async with db.session() as s:
        cust = (await customers.create_customer(session=s, data=CustomerIn(
            name="王芳", phones=[PhoneIn(number="13800138001")]))).id
    cid = await _case(db, customer_id=cust, priority="high")
    async with db.session() as s:
        await cases.update_case(session=s, case_id=cid, actor="sue",
                                patch=CasePatch(status="in_progress", category="billing", note="card 4970 1234"))
        await cases.escalate_case(session=s, case_id=cid, reason="customer very angry", actor="bob")
    assert await first.poll() == 5
    assert [(e.action, e.case_id, e.actor) for e in seen] == [
        ("created", cid, "sue"), ("status", cid, "sue"), ("updated", cid, "sue"), ("note", cid, "sue"),
        ("escalated", cid, "bob")]
    created, status, updated, _note, escalated = seen
    assert created.priority == "high" and created.customer_id == cust
    assert (status.status, status.previous_status) == ("in_progress", "open")
    assert updated.fields == ("category",) and escalated.escalation_level == 1
    text = str([to_public(e) for e in seen])
    assert not shows("4970", text) and "angry" not in text  # free text stays in the CRM
    assert [e.event_id for e in seen] == sorted(e.event_id for e in seen)

    # A wrap-up's case is a case step like any other.
    await write_wrap_up(db, {"agent_id": "a7", "linkedid": "L9", "customer_id": cust, "queue": "support",
                             "notes": "", "case": {"id": None, "subject": "refund", "status": "open",
                                                     "priority": "normal", "note": None},
                             "callback": None, "reached": True, "at": datetime.now(UTC).timestamp()},
                        policy=Policy())
    again = CaseHistoryFollower(db, seen)  # a restart: the cursor was kept in the database
    assert await again.poll() == 1 and seen[-1].action == "created" and seen[-1].actor == "agent:a7"
    assert await again.poll() == 0 and len({e.event_id for e in seen}) == len(seen) == 6


async def _two_steps_the_first_in_flight(db: Database, cid: int) -> Callable[[], Awaitable[int]]:
    """Two steps of case ``cid``; the first one's row is taken back, as if its transaction were still
    open when the second is read. Returns what commits it (below the cursor by then), giving its id."""
    async with db.session() as s:
        await cases.update_case(session=s, case_id=cid, actor="sue", patch=CasePatch(note="one"))
        await cases.update_case(session=s, case_id=cid, actor="sue", patch=CasePatch(note="two"))
    async with db.session() as s:
        late = int(await s.scalar(select(func.max(CaseEvent.id))) or 0) - 1
        row = await s.get(CaseEvent, late)
        assert row is not None
        kept = {"case_id": row.case_id, "at": row.at, "actor": row.actor, "action": row.action,
                "detail": dict(row.detail)}
        await s.delete(row)

    async def commit() -> int:
        async with db.session() as s:
            s.add(CaseEvent(id=late, **kept))
        return late

    return commit


@pytest.mark.parametrize("restart", [False, True], ids=["same-follower", "after-a-restart"])
async def test_an_id_committed_after_a_higher_one_was_read_still_comes(db: Database, restart: bool) -> None:
    """Also after a restart: the holes are kept with the cursor, so the follower of a node that
    stopped (or died) while a lower id was still in flight, or of the node that took over, still
    publishes that step when it commits. Before, the holes lived in memory only and the next
    follower started past them: the step was lost."""
    seen = Published()
    follower = CaseHistoryFollower(db, seen)
    cid = await _case(db)
    await follower.poll()
    commit_late = await _two_steps_the_first_in_flight(db, cid)
    assert await follower.poll() == 1 and len(follower.holes) == 1
    if restart:
        follower = CaseHistoryFollower(db, seen)
        await follower.start()
        await follower.stop()
    published = len(seen)
    late = await commit_late()  # below the cursor
    assert await follower.poll() == 1 and seen[-1].event_id == late and len(seen) == published + 1
    assert await follower.poll() == 0 and not follower.holes
    third = CaseHistoryFollower(db, seen)  # the filled hole is not looked for (nor published) again
    assert await third.poll() == 0 and not third.holes and len({e.event_id for e in seen}) == len(seen)


def test_holes_are_forgotten_after_their_time() -> None:
    now = [0.0]
    follower = CaseHistoryFollower(None, Published(), hole_ttl_s=60, clock=lambda: now[0])  # type: ignore[arg-type]
    follower.cursor = 10
    follower._advance([11, 14])
    assert follower.cursor == 14 and set(follower.holes) == {12, 13}
    follower._advance([12])
    assert set(follower.holes) == {13}
    now[0] = 61.0
    follower._advance([])
    assert not follower.holes
    follower._advance([10_000])  # a jump no transaction explains: no hole for every id in between
    assert follower.cursor == 10_000 and not follower.holes


async def test_a_follower_behind_does_not_move_the_saved_cursor_back(db: Database) -> None:
    """Two followers may run at once for a moment: a node fenced by another (it stalled past the
    routing lease) still finishing a poll beside the new routing node's follower. The one behind must
    not save its cursor over the one ahead: the next follower would publish those steps again."""
    ahead, behind = CaseHistoryFollower(db, Published()), CaseHistoryFollower(db, Published(), batch=1)
    assert await ahead.poll() == 0 and await behind.poll() == 0  # both begin at the newest row
    cid = await _case(db)
    async with db.session() as s:
        await cases.update_case(session=s, case_id=cid, actor="sue", patch=CasePatch(note="one"))
    assert await ahead.poll() == 2  # created, note: its cursor saved past both
    assert await behind.poll() == 1  # one step at a time: its cursor is behind the saved one
    seen = Published()
    assert await CaseHistoryFollower(db, seen).poll() == 0 and not seen  # nothing published twice
