"""Secrets of the surfaces added since the last audit are shown once to whoever asked, and nowhere
else: a named integration token, a webhook's signing secret, a password an administrator sets (also
one refused), a password tried at the login form. Not in the engine's log (every logger at DEBUG,
through the real routes), not in the event feed, the audit log, the lists of tokens and webhooks,
error messages, nor /metrics. The real app of an unstarted Engine, seeded SQLite CRM."""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr

from callcenter.engine import Engine
from tests.web.security.conftest import Site

pytestmark = pytest.mark.web


async def test_tokens_webhook_secrets_and_passwords_appear_only_in_the_answer_that_issues_them(
        site: Site, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    admin = await site.login("admin")
    shown: list[str] = []
    r = await admin.post("/api/admin/integration-tokens", json={"name": "warehouse", "audio": True})
    assert r.status_code == 201, r.text
    shown.append(r.json()["token"])
    r = await admin.post("/api/webhooks", json={"name": "crm", "url": "https://crm.example.com/hook"})
    assert r.status_code == 201, r.text
    shown.append(r.json()["secret"])
    users = {u["username"]: u["id"] for u in (await admin.get("/api/admin/users")).json()}
    new_password = "Quartz-Meadow-4417-Lantern"
    r = await admin.post(f"/api/admin/users/{users['agent2']}/password", json={"password": new_password})
    assert r.status_code == 204, r.text
    shown.append(new_password)
    refused = []
    for bad in ("agent3-Quartz-9931x", "qqqqqqqqqqqqqqqqqqqq", "123456789012345"):  # the name, a repeat, a run
        r = await admin.post(f"/api/admin/users/{users['agent3']}/password", json={"password": bad})
        assert r.status_code == 422 and r.json()["detail"]["field"] == "password", r.text
        assert bad not in r.text, r.text
        refused.append(bad)
    wrong = "Wrong-Guess-Ember-7781"
    r = await site.client().post("/api/auth/login", json={"username": "agent4", "password": wrong})
    assert r.status_code == 401 and wrong not in r.text
    # The integration token works (it is the real one), then everything an administrator reads.
    c = site.client()
    r = await c.get("/api/events", headers={"Authorization": f"Bearer {shown[0]}"})
    assert r.status_code == 200, r.text
    reads = [await admin.get(p) for p in ("/api/events?limit=5000", "/api/supervisor/audit?limit=500",
                                          "/api/admin/integration-tokens", "/api/webhooks")]
    assert all(x.status_code == 200 for x in reads), [x.text for x in reads]
    metrics_token = "m" * 8 + "Metrics-Scrape-Token-0042-xyzw"
    settings = site.settings.model_copy(update={"metrics": site.settings.metrics.model_copy(
        update={"token": SecretStr(metrics_token)})})
    app = Engine(settings).app
    assert app is not None
    scraped = await site.client(app).get("/metrics", headers={"Authorization": f"Bearer {metrics_token}"})
    texts = {"log": caplog.text, "metrics": scraped.text, **{str(x.request.url.path): x.text for x in reads}}
    for secret in [*shown, *refused, wrong, metrics_token]:
        assert [where for where, text in texts.items() if secret in text] == [], secret
    # What was read is the real thing: the log has the steps (without their secrets), /metrics its figures.
    assert "reset the password of agent2" in caplog.text and "integration token" in caplog.text, caplog.text[-2000:]
    assert scraped.status_code == 200 and "cti_" in scraped.text
    assert "user.password_reset" in reads[1].text and "warehouse" in reads[2].text and "crm" in reads[3].text
