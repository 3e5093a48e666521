"""One proficiency scale for skills: the administrators' users API accepts exactly what the
supervisor's Skills dialog and the ACD's router do (acd.model.MIN_LEVEL..MAX_LEVEL)."""

from __future__ import annotations

from acd.model import MAX_LEVEL, MIN_LEVEL
from tests.web.security.conftest import Site


async def test_admin_and_supervisor_accept_the_same_skill_levels(site: Site) -> None:
    admin = await site.login("admin")
    sup = await site.login("sup1")
    users = (await admin.get("/api/admin/users")).json()
    agent2 = next(u for u in users if u["username"] == "agent2")
    for level in range(MIN_LEVEL - 1, MAX_LEVEL + 4):
        ok = MIN_LEVEL <= level <= MAX_LEVEL
        created = await admin.post("/api/admin/users", json={
            "username": f"agent-l{level}", "password": "copper-lantern-57", "agent_id": f"{1011 + level}",
            "skills": {"zh": level}})
        changed = await admin.patch(f"/api/admin/users/{agent2['id']}", json={"skills": {"zh": level}})
        supervised = await sup.put("/api/supervisor/agents/1002/skills", json={"skills": {"zh": level}})
        assert (created.status_code == 201) is ok, (level, created.text)
        assert (changed.status_code == 200) is ok, (level, changed.text)
        assert (supervised.status_code != 422) is ok, (level, supervised.text)  # else 200, or 404: not on the floor
