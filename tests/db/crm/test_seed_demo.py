"""The demo company's staff have the roles README and the startup banner give them (mgr1 is the
manager: sees the floor, does not intervene), and ``cti db seed-demo`` prints what it did."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from callcenter.cli import app
from crm_core import users
from crm_core.db import Database
from crm_core.models import User
from crm_core.seed import seed_demo


async def _roles(db: Database) -> dict[str, str]:
    async with db.session() as s:
        return {u.username: u.role for u in (await s.scalars(select(User))).all() if u.role != "agent"}


async def test_the_demo_manager_is_a_manager(db: Database) -> None:
    await seed_demo(db, progress=lambda *_: None)
    assert await _roles(db) == {"admin": "admin", "sup1": "supervisor", "mgr1": "manager"}


async def test_a_database_the_old_seed_made_gets_its_manager_back(db: Database) -> None:
    async with db.session() as s:  # what the seed wrote before: mgr1 a supervisor
        await users.create_user(session=s, username="mgr1", password="mgr1-demo-1", role="supervisor",
                                extension="1010", published=True)
    lines: list[str] = []
    await seed_demo(db, progress=lines.append)
    assert (await _roles(db))["mgr1"] == "manager"
    assert any("mgr1" in line and "manager" in line for line in lines)


def test_seed_demo_prints_every_demo_login_and_only_what_it_added(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTI_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}")
    monkeypatch.setenv("CTI_STATE_DIR", str(tmp_path / "var"))
    runner = CliRunner()
    first = runner.invoke(app, ["db", "seed-demo"])
    assert first.exit_code == 0, first.output
    for login in ("admin / admin-demo-1", "sup1 / sup1-demo-1", "mgr1 / mgr1-demo-1", "agent1", "agent8"):
        assert login in first.output, login
    assert "seed: customers: 200 added" in first.output
    again = runner.invoke(app, ["db", "seed-demo"])
    assert again.exit_code == 0, again.output
    customers = [line for line in again.output.splitlines() if "customers" in line and "done" not in line]
    assert customers == ["seed: customers: 0 added (200 there already)"], again.output
    assert "users: 0 added" in again.output and "interactions: 0 added" in again.output


async def test_a_few_of_the_demos_open_cases_are_overdue_not_most(db: Database) -> None:
    """Each overdue open case is a supervisor alert: the first start showed some forty at once."""
    from crm_core.cases import overdue_cases
    from crm_core.models import Case

    await seed_demo(db, progress=lambda *_: None)
    async with db.session() as s:
        open_cases = [c for c in (await s.scalars(select(Case))).all() if c.status != "resolved"]
        overdue = await overdue_cases(session=s)
    assert len(open_cases) >= 30 and 2 <= len(overdue) <= 6, (len(open_cases), len(overdue))


async def test_the_demos_resolved_flags_agree_with_their_dispositions(db: Database) -> None:
    """A seeded call is resolved on first contact only under a disposition that resolves (what the
    wrap-up form ticks by default); the seed drew the flag at random, so the demo's history showed
    "Escalated" calls resolved and "Resolved" ones not."""
    from crm_core.models import Disposition, Interaction

    await seed_demo(db, progress=lambda *_: None)
    async with db.session() as s:
        resolving = {d.code for d in (await s.scalars(select(Disposition))).all() if d.resolves}
        rows = (await s.execute(select(Interaction.disposition, Interaction.resolved_first_contact)
                                .where(Interaction.disposition.is_not(None)))).all()
    assert rows and any(resolved for _, resolved in rows)
    assert not [code for code, resolved in rows if resolved and code not in resolving]


async def test_a_demo_customer_whose_number_is_taken_is_left_out(db: Database) -> None:
    """Someone gave a customer a number the demo would give its 5th customer (their office line):
    the seed leaves that one out instead of sharing the number (which would hide the owner's
    calls) or stopping half-way."""
    import random

    from crm_core import customers
    from crm_core.phones import to_e164
    from crm_core.schemas import CustomerIn, PhoneIn
    from crm_core.seed import _customers

    office = _customers(random.Random(20240601))[4].phones[1].number
    async with db.session() as s:
        mine = await customers.create_customer(session=s, data=CustomerIn(name="Mine", phones=[PhoneIn(number=office)]))
    added = await seed_demo(db, progress=lambda *_: None)
    assert added["customers"] == 199
    async with db.session() as s:
        owners = await customers.customers_by_number(session=s, number=to_e164(office))
    assert [c.id for c in owners] == [mine.id]
