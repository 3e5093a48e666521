"""No two active users share a phone extension (their ``extension``, else their agent id: what the
ACD rings and the browser endpoint web<extension> registers), and no two users an agent id: every
way users are made (REST, seed, CLI) goes through ``crm_core.users``, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from crm_core import users
from crm_core.db import Database
from crm_core.errors import Conflict

PW = "a-long-password"


async def _seed(db: Database) -> dict[str, int]:
    async with db.session() as s:
        sup = await users.create_user(session=s, username="sup1", password=PW, role="supervisor", extension="1009")
        agent = await users.create_user(session=s, username="agent1", password=PW, agent_id="1001")
        gone = await users.create_user(session=s, username="old", password=PW, extension="1020")
        await users.set_active(session=s, user_id=gone.id, active=False)
        return {"sup1": sup.id, "agent1": agent.id, "old": gone.id}


@pytest.mark.parametrize(("extension", "agent_id", "holder"), [
    ("1009", None, "sup1"),       # the supervisor's extension
    (None, "1009", "sup1"),       # an agent without an extension rings their agent id: web1009 again
    ("1001", None, "agent1"),     # agent1 has no extension: their agent id is their phone
])
async def test_a_new_user_cannot_take_another_active_users_extension(db: Database, extension: str | None,
                                                                     agent_id: str | None, holder: str) -> None:
    await _seed(db)
    with pytest.raises(Conflict) as taken:
        async with db.session() as s:
            await users.create_user(session=s, username="agent9", password=PW, extension=extension,
                                    agent_id=agent_id)
    assert taken.value.field == "extension" and repr(holder) in taken.value.message
    async with db.session() as s:
        assert await users.user_by_username(session=s, username="agent9") is None


async def test_a_free_or_deactivated_users_extension_can_be_taken(db: Database) -> None:
    await _seed(db)
    async with db.session() as s:
        await users.create_user(session=s, username="agent9", password=PW, agent_id="1009", extension="1011")
        await users.create_user(session=s, username="new", password=PW, extension="1020")  # "old" is deactivated


async def test_a_change_cannot_take_or_reactivate_onto_a_taken_extension(db: Database) -> None:
    ids = await _seed(db)
    async with db.session() as s:
        mine = await users.create_user(session=s, username="agent9", password=PW, agent_id="1019", extension="1011")
        nine = mine.id
    for change in ({"extension": "1009"}, {"extension": None, "agent_id": "1009"}, {"extension": "1001"}):
        with pytest.raises(Conflict) as taken:
            async with db.session() as s:
                await users.update_user(session=s, user_id=nine, changes=change)
        assert taken.value.field == "extension", change
    async with db.session() as s:  # "old" comes back while "new" holds its extension: refused
        await users.create_user(session=s, username="new", password=PW, extension="1020")
    with pytest.raises(Conflict) as back:
        async with db.session() as s:
            await users.update_user(session=s, user_id=ids["old"], changes={"active": True})
    assert back.value.field == "extension" and "'new'" in back.value.message
    async with db.session() as s:  # changes that take no phone, and a user's own extension, pass
        await users.update_user(session=s, user_id=ids["sup1"], changes={"display_name": "Sue", "extension": "1009"})
        await users.update_user(session=s, user_id=nine, changes={"extension": "1012"})


async def test_an_agent_id_has_one_user_and_the_conflict_names_it(db: Database) -> None:
    await _seed(db)
    with pytest.raises(Conflict) as taken:
        async with db.session() as s:
            await users.create_user(session=s, username="agent9", password=PW, agent_id="1001", extension="1011")
    assert taken.value.field == "agent_id" and "'agent1'" in taken.value.message


@pytest.mark.parametrize("level", [0, 6, 8, 10, True, "5", 2.5])
async def test_skill_levels_are_the_acds_scale_whatever_the_way_in(db: Database, level: object) -> None:
    """The router ranks proficiency MIN_LEVEL..MAX_LEVEL (acd.model, config/queues.yaml): a user given
    zh=8 was accepted here and then broke the supervisor's Skills dialog (which allows 1..5)."""
    from acd.model import MAX_LEVEL, MIN_LEVEL
    from crm_core.errors import InvalidField

    assert (MIN_LEVEL, MAX_LEVEL) == (1, 5)
    with pytest.raises(InvalidField) as bad:
        async with db.session() as s:
            await users.create_user(session=s, username="agent9", password=PW, agent_id="1009",
                                    skills={"billing": 3, "zh": level})
    assert bad.value.field == "skills" and "1..5" in bad.value.message
    async with db.session() as s:
        user = await users.create_user(session=s, username="agent9", password=PW, agent_id="1009",
                                       skills={"billing": MIN_LEVEL, "zh": MAX_LEVEL})
        uid = user.id
    with pytest.raises(InvalidField):
        async with db.session() as s:
            await users.update_user(session=s, user_id=uid, changes={"skills": {"zh": level}})
    async with db.session() as s:
        assert (await users.get_user(session=s, user_id=uid)).skills == {"billing": 1, "zh": 5}


async def test_phones_lists_each_users_phone_and_whether_they_are_active(db: Database) -> None:
    """What decides the desk phones' locks (agent_console.desk_phones): a user without an extension
    or agent id has no phone; an extension wins over the agent id."""
    await _seed(db)
    async with db.session() as s:
        await users.create_user(session=s, username="admin2", password=PW, role="admin")
        await users.create_user(session=s, username="agent9", password=PW, agent_id="1009x", extension="1011")
        assert sorted(await users.phones(session=s)) == [("1001", True), ("1009", True), ("1011", True),
                                                         ("1020", False)]
