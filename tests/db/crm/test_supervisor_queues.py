"""Migration 0019 and the supervisors' queue assignments (crm_core.users), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect

from crm_core import users
from crm_core.db import Database
from crm_core.errors import InvalidField
from crm_core.revisions import alembic_config

KNOWN = ["billing", "general", "sales", "support"]


async def _tables(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


async def test_the_migration_adds_the_table_and_its_downgrade_drops_it(db: Database) -> None:
    from alembic import command

    async with db.session() as s:
        sup = await users.create_user(session=s, username="sup9", password="copper-lantern-57", role="supervisor")
        await users.set_supervised_queues(session=s, user=sup, queues=["billing"], known=KNOWN)
        sup_id = sup.id
    assert "supervisor_queues" in await _tables(db)
    async with db.engine.begin() as conn:
        await conn.run_sync(lambda c: command.downgrade(alembic_config(c), "0018_acw_state_time"))
    assert "supervisor_queues" not in await _tables(db) and "users" in await _tables(db)
    await db.upgrade()
    async with db.session() as s:  # the downgrade dropped the assignment: every queue again
        assert await users.supervised_queues(session=s, user_id=sup_id) == []


async def test_assignments_are_checked_replaced_and_go_with_the_supervisor_role(db: Database) -> None:
    async with db.session() as s:
        sup = await users.create_user(session=s, username="sup9", password="copper-lantern-57", role="supervisor")
        mgr = await users.create_user(session=s, username="mgr9", password="copper-lantern-57", role="manager")
        assert await users.set_supervised_queues(session=s, user=sup, queues=["support", "billing", "support"],
                                                 known=KNOWN) == ([], ["billing", "support"])
        assert await users.set_supervised_queues(session=s, user=sup, queues=["sales"], known=KNOWN) == (
            ["billing", "support"], ["sales"])
        with pytest.raises(InvalidField, match=r"not a queue of config/queues\.yaml: nope"):
            await users.set_supervised_queues(session=s, user=sup, queues=["nope", "sales"], known=KNOWN)
        with pytest.raises(InvalidField, match="only supervisors are assigned queues"):
            await users.set_supervised_queues(session=s, user=mgr, queues=["sales"], known=KNOWN)
        assert await users.all_supervised_queues(session=s) == {sup.id: ["sales"]}
        await users.update_user(session=s, user_id=sup.id, changes={"role": "manager"})
        assert await users.supervised_queues(session=s, user_id=sup.id) == []
