"""Input that used to end in HTTP 500: now a 4xx (or an error frame) naming the field."""

from __future__ import annotations

import pytest

from acd.calls import LiveCall
from tests.web.security.conftest import Site


def _field(r: object) -> str | None:
    return r.json()["detail"].get("field")  # type: ignore[attr-defined,no-any-return]


async def test_non_ascii_token_is_401(site: Site) -> None:
    c = site.client()
    for token in ("v1.abc.\u00e9t\u00e9", "v1.\u00e9.x", "v1.e30.\u00ff"):
        r = await c.get("/api/me", headers={"Authorization": f"Bearer {token}".encode("latin-1")})
        assert r.status_code == 401, (token, r.text)
        r = await c.get("/api/me", headers={"Cookie": f"cti_session={token}".encode("latin-1")})
        assert r.status_code == 401, (token, r.text)


@pytest.mark.parametrize("field", ["name", "phones", "tags", "emails", "tier", "notes", "custom_fields"])
async def test_null_in_customer_patch_is_422_naming_the_field(site: Site, field: str) -> None:
    sup = await site.login("sup1")
    r = await sup.patch("/api/crm/customers/1", json={field: None})
    assert r.status_code == 422, r.text
    assert _field(r) == field


async def test_null_clears_company_and_pin(site: Site) -> None:
    sup = await site.login("sup1")
    r = await sup.patch("/api/crm/customers/1", json={"company": None, "pin": None})
    assert r.status_code == 200 and r.json()["company"] is None and r.json()["has_pin"] is False


@pytest.mark.parametrize(("name", "value"), [("start", "nan"), ("start", "NaN"), ("end", "inf"), ("start", "-inf"),
                                             ("start", "1e300"), ("end", "9999-12-31T23:59:59-12:00"),
                                             ("start", "253402300800")])
async def test_report_times_out_of_range_are_422(site: Site, name: str, value: str) -> None:
    sup = await site.login("sup1")
    for path in ("/api/supervisor/reports", "/api/supervisor/reports/chart.svg"):
        r = await sup.get(path, params={name: value})
        assert r.status_code == 422, (path, r.text)
        assert _field(r) == name


async def test_not_ready_without_a_reason_is_422(site: Site) -> None:
    agent = await site.login("agent1")
    r = await agent.post("/api/agent/state", json={"state": "not_ready"})
    assert r.status_code == 422 and _field(r) == "reason"


async def test_call_id_over_64_characters_is_422(site: Site) -> None:
    agent = await site.login("agent1")
    long = "x" * 65
    for action, body in (("hangup", None), ("hold", None), ("dtmf", {"digits": "1"}),
                         ("wrap-up", {"disposition": "info_given"}), ("transfer", {"target_kind": "queue",
                                                                                   "target": "support"})):
        r = await agent.post(f"/api/calls/{long}/{action}", json=body)
        assert r.status_code == 422, (action, r.text)
        assert _field(r) == "call_id"
    r = await agent.get(f"/api/crm/screenpop/{long}")
    assert r.status_code == 422 and _field(r) == "linkedid"


@pytest.mark.parametrize("path", ["/api/customers/{n}", "/api/customers/{n}/history", "/api/crm/customers/{n}",
                                  "/api/crm/cases/{n}", "/api/crm/interactions/{n}", "/api/crm/scripts/{n}",
                                  "/api/crm/articles/{n}", "/api/crm/interactions?customer_id={n}",
                                  "/api/crm/cases?owner_id={n}"])
async def test_ids_above_2_63_are_422(site: Site, path: str) -> None:
    sup = await site.login("sup1")
    for n in (2**63, 2**64 + 1):
        r = await sup.get(path.format(n=n))
        assert r.status_code == 422, (path, r.text)
        assert _field(r) in ("customer_id", "case_id", "interaction_id", "script_id", "article_id", "owner_id")
    agent = await site.login("agent1")
    for verb in ("claim", "release", "call"):
        r = await agent.post(f"/api/callbacks/{2**63}/{verb}")
        assert r.status_code == 422 and _field(r) == "callback_id"
    r = await sup.post(f"/api/supervisor/callbacks/{2**63}/cancel", json={"reason": "x"})
    assert r.status_code == 422 and _field(r) == "callback_id"
    r = await sup.post("/api/crm/cases", json={"subject": "s", "customer_id": 2**63})
    assert r.status_code == 422 and _field(r) == "customer_id"


async def test_actions_on_ones_own_call_in_wrap_up_are_409_not_500(site: Site) -> None:
    acd = site.engine.acd
    call = LiveCall(linkedid="wrap.1", caller_channel="PJSIP/x-1", caller_number="13800138000", queue="support",
                    status="ended", agent_id="1001", agent_channel="PJSIP/1001-1")
    acd.wrapups[("1001", "wrap.1")] = call
    agent = await site.login("agent1")
    for action, body in (("hangup", None), ("hold", None), ("resume", None), ("dtmf", {"digits": "1"}),
                         ("transfer", {"target_kind": "queue", "target": "support"})):
        r = await agent.post(f"/api/calls/wrap.1/{action}", json=body)
        assert r.status_code == 409, (action, r.text)
        assert "wrap-up" in r.json()["detail"]["message"]


async def test_an_unknown_case_status_filter_is_422_naming_status(site: Site) -> None:
    # The case statuses are a closed set (crm_core.schemas.CaseStatus): a typo ("opened") answered
    # 200 with an empty list, which an integrator reads as "no such cases".
    sup = await site.login("sup1")
    r = await sup.get("/api/crm/cases", params={"status": "opened"})
    assert r.status_code == 422, r.text
    assert _field(r) == "status"
    ok = await sup.get("/api/crm/cases", params={"status": "in_progress"})
    assert ok.status_code == 200, ok.text


async def test_a_customer_name_with_cr_lf_is_a_422_naming_it_on_the_real_app(site: Site) -> None:
    admin = await site.login("admin")
    r = await admin.post("/api/crm/customers", json={"name": "Eve\r\nX-Injected: 1"})
    detail = r.json()["detail"]
    assert (r.status_code, detail["code"], detail["field"]) == (422, "invalid_input", "name"), r.text
    assert "control characters" in detail["message"]
