"""The administrators' users API refuses a second user on an extension (a 409 naming the field and
who has it): two users on one extension share one browser endpoint, and the second one's softphone
password locks the first one out of Asterisk."""

from __future__ import annotations

import pytest

from tests.web.security.conftest import Site


@pytest.mark.parametrize("body", [{"extension": "1009", "agent_id": "1019"}, {"agent_id": "1009"}])
async def test_a_user_on_sup1s_extension_is_refused(site: Site, body: dict[str, str]) -> None:
    admin = await site.login("admin")
    r = await admin.post("/api/admin/users", json={"username": "agent9", "password": "copper-lantern-57",
                                                    "role": "agent", **body})
    assert r.status_code == 409, r.text
    detail = r.json()["detail"]
    assert detail["field"] == "extension" and "'sup1'" in detail["message"]
    users = (await admin.get("/api/admin/users")).json()
    assert "agent9" not in {u["username"] for u in users}
    agent1 = next(u for u in users if u["username"] == "agent1")
    r = await admin.patch(f"/api/admin/users/{agent1['id']}", json={"extension": "1009"})
    assert r.status_code == 409 and r.json()["detail"]["field"] == "extension"
    r = await admin.post("/api/admin/users", json={"username": "agent9", "password": "copper-lantern-57",
                                                    "agent_id": "1001", "extension": "1011"})
    assert r.status_code == 409 and r.json()["detail"]["field"] == "agent_id" and "'agent1'" in r.text
