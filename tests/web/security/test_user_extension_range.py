"""An extension an administrator gives a user must be one of the PBX's phones (1001..1000 +
``pbx.agent_endpoints``): an agent created on 9999 was answered 201 with ``desk_phone`` null, logged
in, went ready and was offered calls their phone could never take, and their console's
``/api/phone/credentials`` answered 503 ``phone_unavailable`` (the go-live trial, with 40 phones).
Now a 422 names ``extension`` and the range, on a create and on a change, and nothing is written."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.web.engines import seeded_engine
from tests.web.security.conftest import PASSWORDS

NEW = {"username": "agent40", "password": "copper-lantern-57", "role": "agent", "agent_id": "a40"}


@pytest.mark.parametrize("extension", ["9999", "1000", "1041", "01001"])
async def test_an_extension_that_is_no_phone_of_the_pbx_is_refused(tmp_path: Path, extension: str) -> None:
    async with seeded_engine(tmp_path, pbx={"agent_endpoints": 40}) as engine:
        transport = httpx.ASGITransport(app=engine.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as admin:
            r = await admin.post("/api/auth/login", json={"username": "admin", "password": PASSWORDS["admin"]})
            admin.headers["Authorization"] = f"Bearer {r.json()['token']}"

            r = await admin.post("/api/admin/users", json={**NEW, "extension": extension})
            assert r.status_code == 422, r.text
            detail = r.json()["detail"]
            assert detail["field"] == "extension" and "1001..1040" in detail["message"], detail
            assert extension in detail["message"] and "pbx.agent_endpoints" in detail["message"], detail
            listed = {u["username"]: u for u in (await admin.get("/api/admin/users")).json()}
            assert "agent40" not in listed  # nothing written

            agent1 = listed["agent1"]
            r = await admin.patch(f"/api/admin/users/{agent1['id']}", json={"extension": extension})
            assert r.status_code == 422 and r.json()["detail"]["field"] == "extension", r.text
            after = {u["username"]: u for u in (await admin.get("/api/admin/users")).json()}["agent1"]
            assert after["extension"] == agent1["extension"]

            # The last phone of the range is one; an extension taken away (null) stays allowed.
            r = await admin.post("/api/admin/users", json={**NEW, "extension": "1040"})
            assert r.status_code == 201 and r.json()["desk_phone"] == "1040", r.text
            r = await admin.patch(f"/api/admin/users/{r.json()['id']}", json={"extension": None})
            assert r.status_code == 200 and r.json()["extension"] is None, r.text


@pytest.mark.parametrize("agent_id", ["a40", "9999", "1041"])
async def test_an_agent_whose_agent_id_is_no_phone_needs_an_extension(tmp_path: Path, agent_id: str) -> None:
    """A user's phone is their extension, else their agent id; every phone kind dials digits (the
    browser endpoint web<ext> and the desk endpoint <ext> exist for 1001..1000 + pbx.agent_endpoints
    only, the simulated phone's dialplan matches digits). An agent created with agent id 'a40' and no
    extension was answered 201 and could never take a call: now a 422 names ``extension``, as for an
    extension given outside the range, on a create and on a change that gives the agent id."""
    async with seeded_engine(tmp_path, pbx={"agent_endpoints": 40}) as engine:
        transport = httpx.ASGITransport(app=engine.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as admin:
            r = await admin.post("/api/auth/login", json={"username": "admin", "password": PASSWORDS["admin"]})
            admin.headers["Authorization"] = f"Bearer {r.json()['token']}"

            r = await admin.post("/api/admin/users", json={**NEW, "agent_id": agent_id})
            assert r.status_code == 422, r.text
            detail = r.json()["detail"]
            assert detail["field"] == "extension", detail
            assert f"agent id {agent_id!r}" in detail["message"] and "1001..1040" in detail["message"], detail
            listed = {u["username"]: u for u in (await admin.get("/api/admin/users")).json()}
            assert "agent40" not in listed  # nothing written

            # Given an extension of the PBX, that agent id is fine: the extension is their phone.
            r = await admin.post("/api/admin/users", json={**NEW, "agent_id": agent_id, "extension": "1039"})
            assert r.status_code == 201 and r.json()["desk_phone"] == "1039", r.text

            # A change that gives an agent without an extension such an agent id: refused, nothing changed.
            agent2 = listed["agent2"]
            assert agent2["extension"] is None or (await admin.patch(
                f"/api/admin/users/{agent2['id']}", json={"extension": None})).status_code == 200
            r = await admin.patch(f"/api/admin/users/{agent2['id']}", json={"agent_id": agent_id + "x"})
            assert r.status_code == 422 and r.json()["detail"]["field"] == "extension", r.text
            after = {u["username"]: u for u in (await admin.get("/api/admin/users")).json()}["agent2"]
            assert after["agent_id"] == agent2["agent_id"]
            # An agent id that is a phone of the PBX is one.
            r = await admin.post("/api/admin/users", json={**NEW, "username": "agent41", "agent_id": "1040"})
            assert r.status_code == 201 and r.json()["desk_phone"] == "1040", r.text
