"""One list of agents: the demo users ``cti db seed-demo`` creates are the ``agents:`` of
config/queues.yaml (id, login, name, skills), and a changed roster reaches the next seed."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml
from sqlalchemy import select

from acd.config import load_queues
from crm_core.db import Database
from crm_core.models import User
from crm_core.seed import seed_demo
from crm_core.users import authenticate
from cti.settings import DEFAULT_CONFIG_DIR, load_settings


async def _agents(db: Database) -> dict[str, tuple[str, str, dict[str, int], str | None]]:
    async with db.session() as s:
        users = (await s.scalars(select(User).where(User.role == "agent"))).all()
        return {u.agent_id or "": (u.username, u.display_name, dict(u.skills), u.extension) for u in users}


async def test_seeded_agents_are_the_agents_of_queues_yaml(db: Database) -> None:
    await seed_demo(db, progress=lambda *_: None)
    roster = load_queues(load_settings()).agents
    assert len(roster) == 8
    assert await _agents(db) == {a.agent_id: (a.username, a.name, a.skills, a.agent_id) for a in roster}
    by_id = {a.agent_id: a for a in roster}
    assert by_id["1007"].name == "孙悦 Sun Yue" and by_id["1001"].username == "agent1"


async def test_a_changed_roster_reaches_the_next_seed(db: Database, tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, config)
    await seed_demo(db, progress=lambda *_: None, config_dir=config)
    data = yaml.safe_load((config / "queues.yaml").read_text(encoding="utf-8"))
    data["agents"]["1007"].update(name="王芳 Wang Fang", skills={"general": 4, "zh": 5})
    # 1009 and 1010 are sup1's and mgr1's extensions: a ninth agent there would share their phone.
    data["agents"]["1011"] = {"username": "agent9", "name": "Nina Gao", "skills": {"sales": 3}, "queues": ["sales"]}
    (config / "queues.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    added = await seed_demo(db, progress=lambda *_: None, config_dir=config)
    assert added["users"] == 1
    agents = await _agents(db)
    assert agents["1007"] == ("agent7", "王芳 Wang Fang", {"general": 4, "zh": 5}, "1007")
    assert agents["1011"] == ("agent9", "Nina Gao", {"sales": 3}, "1011")
    async with db.session() as s:
        who = await authenticate(session=s, username="agent9", password="agent9-demo")
    assert who is not None and who.agent_id == "1011"
