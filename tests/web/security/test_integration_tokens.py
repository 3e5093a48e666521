"""Named integration tokens on the real app: an administrator issues one (shown once, audited), it
reads exactly the feed, the call log's list, recordings' metadata and the KPI report, and every
other route of the app answers it 403 through the one access policy; audio only when granted;
revoked, it is refused at once; the settings' feed tokens still read the feed alone."""

from __future__ import annotations

import logging
import secrets
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from agent_console import policy
from agent_console.integrations import FEED_READER
from agent_console.principal import Principal
from tests.web.security.conftest import Site
from tests.web.security.test_policy import _routes

# What an integration token may use: the whole list. A route the policy opens to it that is not
# here (or one here it refuses) fails test_the_token_reaches_exactly_these_routes.
READS = {
    ("GET", "/api/events"): 200, ("GET", "/api/events/stream"): None, ("GET", "/api/events/types"): 200,
    ("GET", "/api/crm/interactions"): 200, ("GET", "/api/recordings"): 200, ("GET", "/api/supervisor/reports"): 200,
}
GRANTED = {("GET", "/api/recordings/{recording_id}/audio")}  # with "audio": true only


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _issue(admin: httpx.AsyncClient, name: str, **more: Any) -> dict[str, Any]:
    r = await admin.post("/api/admin/integration-tokens", json={"name": name, **more})
    assert r.status_code == 201, r.text
    return dict(r.json())


def _concrete(path: str) -> str:
    return "/".join("1" if p.startswith("{") else p for p in path.split("/"))


def test_the_token_reaches_exactly_these_routes(site: Site) -> None:
    """The policy's answer for every route of the real app (websockets included): a new route the
    policy opens to integrations must be added to READS, on purpose."""
    plain = Principal(user_id=-1, username="integration:w", role="integration", agent_id=None)
    audio = Principal(user_id=-2, username="integration:a", role="integration", agent_id=None,
                      grants=frozenset({"recordings.audio"}))
    opened, heard, fed = set(), set(), set()
    for method, path, _ in _routes(site.app):
        action = policy.action_of(method, path)
        assert action is not None
        if policy.ACTIONS[action] is policy.PUBLIC:
            continue
        if policy.permits(plain, action):
            opened.add((method, path))
        if policy.permits(audio, action):
            heard.add((method, path))
        if policy.permits(FEED_READER, action):
            fed.add((method, path))
    assert opened == set(READS)
    assert heard == set(READS) | GRANTED
    assert fed == {k for k in READS if k[1].startswith("/api/events")}


async def test_every_route_answers_the_token_as_the_table_says(site: Site) -> None:
    admin = await site.login("admin")
    issued = await _issue(admin, "warehouse")
    token = issued["token"]
    assert token.startswith("cti_it_") and len(token) > 40
    refused = 0
    async with site.client(headers=_bearer(token)) as dw:
        for method, path, _ in _routes(site.app):
            action = policy.action_of(method, path)
            if method == "WS" or action is None or policy.ACTIONS[action] is policy.PUBLIC:
                continue
            if (method, path) in READS:
                if READS[(method, path)] is None:
                    continue  # the stream never ends: read in test_the_token_reads_the_stream
                r = await dw.request(method, path)
                assert r.status_code == READS[(method, path)], (method, path, r.text)
                continue
            r = await dw.request(method, _concrete(path), json={})
            assert r.status_code == 403, (method, path, r.status_code, r.text)
            assert r.json()["detail"]["code"] == "forbidden", (method, path, r.text)
            refused += 1
        assert refused > 70  # every other route of the app was tried
        csv = await dw.get("/api/supervisor/reports", params={"format": "csv", "interval": "day"})
        assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
        calls = (await dw.get("/api/crm/interactions", params={"limit": 200})).json()
        assert calls["total"] > 0  # every call, not "its own" (it has no agent id)
        assert all(i["ivr_path"] == [] and i["notes"] == "" for i in calls["items"])
        staff = (await admin.get("/api/crm/interactions", params={"limit": 200})).json()
        assert any(i["ivr_path"] or i["notes"] for i in staff["items"])  # the seed has some: hidden above
        recs = await dw.get("/api/recordings")
        assert recs.status_code == 200
        audio = await dw.get("/api/recordings/1/audio")
        assert audio.status_code == 403 and "recordings.audio" in audio.json()["detail"]["message"]


async def test_public_routes_answer_the_token_as_anyone(site: Site) -> None:
    """/api/auth/session is 200 either way: a token is no console session (it said 401 "malformed
    token"); the pages and the health probe are as for anyone."""
    admin = await site.login("admin")
    token = (await _issue(admin, "public"))["token"]
    async with site.client(headers=_bearer(token)) as c:
        r = await c.get("/api/auth/session")
        assert r.status_code == 200 and r.json()["authenticated"] is False and r.json()["principal"] is None
        for path in ("/healthz", "/", "/openapi.json"):
            assert (await c.get(path)).status_code == 200, path


async def test_issue_list_revoke_audited_never_shown_again(site: Site, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    admin = await site.login("admin")
    issued = await _issue(admin, "warehouse", audio=True)
    token = issued["token"]
    assert issued["audio"] is True and issued["active"] and issued["last_used_at"] is None
    listed = (await admin.get("/api/admin/integration-tokens")).json()
    assert [(t["id"], t["name"], t["audio"]) for t in listed] == [(issued["id"], "warehouse", True)]
    assert token not in str(listed) and "token_hash" not in str(listed)
    async with site.client(headers=_bearer(token)) as dw:
        assert (await dw.get("/api/events/types")).status_code == 200
        used = (await admin.get("/api/admin/integration-tokens")).json()[0]
        assert used["last_used_at"] is not None
        gone = await admin.delete(f"/api/admin/integration-tokens/{issued['id']}")
        assert gone.status_code == 200 and gone.json()["active"] is False and gone.json()["revoked_by"] == "admin"
        after = await dw.get("/api/events/types")
        assert after.status_code == 401 and after.json()["detail"]["code"] == "not_authenticated"
    again = await admin.delete(f"/api/admin/integration-tokens/{issued['id']}")
    assert again.status_code == 200  # revoking twice changes nothing, audited once
    assert (await admin.delete("/api/admin/integration-tokens/999")).status_code == 404
    audit = (await admin.get("/api/supervisor/audit", params={"action": "integration_token."})).json()
    assert sorted(a["action"] for a in audit) == ["integration_token.created", "integration_token.revoked"]
    assert token not in str(audit)
    assert token not in caplog.text  # never logged
    # Only the hash is stored.
    from crm_core.integration_tokens import IntegrationToken, digest
    async with site.engine.db.session() as s:
        row = await s.get(IntegrationToken, issued["id"])
        assert row is not None and row.token_hash == digest(token) and token not in str(vars(row))


async def test_only_administrators_manage_tokens_and_bad_input_is_a_422(site: Site) -> None:
    for user in ("sup1", "mgr1", "agent1"):
        c = await site.login(user)
        assert (await c.post("/api/admin/integration-tokens", json={"name": "x"})).status_code == 403
        assert (await c.get("/api/admin/integration-tokens")).status_code == 403
    admin = await site.login("admin")
    for body, field in (({"name": "dw\r\nX-Evil: 1"}, "name"), ({"name": " "}, "name"), ({}, "name"),
                        ({"name": "x", "scope": "all"}, "scope")):
        r = await admin.post("/api/admin/integration-tokens", json=body)
        assert r.status_code == 422, r.text
        assert field in r.json()["detail"]["field"], r.text
    # A token cannot issue tokens (nor anything else but reading).
    token = (await _issue(admin, "dw"))["token"]
    async with site.client(headers=_bearer(token)) as dw:
        assert (await dw.post("/api/admin/integration-tokens", json={"name": "more"})).status_code == 403
    # Something shaped like a named token that is none: 401, as a wrong session token.
    async with site.client(headers=_bearer("cti_it_" + secrets.token_urlsafe(32))) as stranger:
        assert (await stranger.get("/api/events")).status_code == 401


async def test_the_settings_feed_tokens_still_read_the_feed_alone(tmp_path: Any) -> None:
    from tests.web.engines import seeded_engine

    legacy = secrets.token_urlsafe(32)
    async with seeded_engine(tmp_path, feed={"integration_tokens": [SecretStr(legacy)]}) as engine:
        assert engine.app is not None
        transport = httpx.ASGITransport(app=engine.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1", headers=_bearer(legacy)) as c:
            assert (await c.get("/api/events")).status_code == 200
            for path in ("/api/crm/interactions", "/api/recordings", "/api/supervisor/reports", "/api/me"):
                r = await c.get(path)
                assert r.status_code == 403, (path, r.text)
                assert "integration-tokens" in r.json()["detail"]["message"]
