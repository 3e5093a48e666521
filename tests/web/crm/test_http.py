"""The CRM REST API in-process: CRUD, search, pagination, roles, field-naming validation errors,
404 on unknown ids, and search input that cannot inject SQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from agent_console.catalog_http import router as catalog_router
from agent_console.crm_http import install_error_handler, router
from agent_console.security import Principal, current_principal
from crm_core.calllog import CallLogger
from crm_core.db import Database
from tests.unit.crm.recorded import NAMES, load_journey

ADMIN = Principal(user_id=1, username="admin", role="admin", agent_id=None)
SUP = Principal(user_id=2, username="sup1", role="supervisor", agent_id=None)
AGENT2 = Principal(user_id=4, username="agent2", role="agent", agent_id="agent2")


class Client:
    def __init__(self, http: httpx.AsyncClient, who: dict[str, Principal], app: FastAPI) -> None:
        self.http, self._who, self.app = http, who, app

    def as_(self, p: Principal) -> httpx.AsyncClient:
        self._who["p"] = p
        return self.http


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Client]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/crm.db")
    await db.upgrade()
    app = FastAPI()
    app.state.crm_db = db
    app.include_router(router)
    app.include_router(catalog_router)
    install_error_handler(app)
    who = {"p": ADMIN}
    app.dependency_overrides[current_principal] = lambda: who["p"]
    logger = CallLogger(db, tmp_path / "state")
    await logger.start()
    for name in NAMES:
        for ev in load_journey(name):
            await logger.handle(ev)
    await logger.flush()
    await logger.stop()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://crm") as http:
        yield Client(http, who, app)
    await db.dispose()


def _field_of(resp: httpx.Response) -> str:
    detail = resp.json()["detail"]
    if isinstance(detail, list):  # FastAPI's request validation: loc names the field
        return ".".join(str(x) for x in detail[0]["loc"][1:])
    return str(detail["field"])


async def test_customer_crud_search_and_pagination(api: Client) -> None:
    c = api.as_(AGENT2)
    new = {"name": "张伟", "phones": [{"number": "138 0013 8000"}], "account_number": "100001", "tier": "key_account",
           "pin": "1234", "emails": ["zw@example.com"]}
    refused = await c.post("/api/crm/customers", json=new)  # a PIN and a tier: supervisors' and admins'
    assert refused.status_code == 403 and "pin, tier" in refused.json()["detail"]["message"], refused.text
    created = await api.as_(SUP).post("/api/crm/customers", json=new)
    assert created.status_code == 201, created.text
    c = api.as_(AGENT2)
    body = created.json()
    assert body["phones"] == [{"number": "+8613800138000", "label": "mobile"}] and body["has_pin"] is True
    assert "pin" not in body and "pin_hash" not in body
    for i in range(12):
        r = await c.post("/api/crm/customers", json={"name": f"李{i:02d}", "phones": [{"number": f"1391234{i:04d}"}]})
        assert r.status_code == 201
    page = (await c.get("/api/crm/customers", params={"name": "李", "limit": 5, "offset": 10})).json()
    assert (page["total"], [x["name"] for x in page["items"]]) == (12, ["李10", "李11"])
    by_phone = (await c.get("/api/crm/customers", params={"phone": "+8613800138000"})).json()
    assert [x["id"] for x in by_phone["items"]] == [body["id"]]
    assert (await c.get("/api/crm/customers", params={"account_number": "100001"})).json()["total"] == 1
    patched = await c.patch(f"/api/crm/customers/{body['id']}", json={"lifecycle": "loyal", "tags": ["vip"]})
    assert patched.status_code == 200 and patched.json()["lifecycle"] == "loyal"
    assert (await c.get(f"/api/crm/customers/{body['id']}")).json()["tags"] == ["vip"]


class _Bus:
    def __init__(self) -> None:
        self.published: list[Any] = []

    async def publish(self, ev: Any) -> None:
        self.published.append(ev)


async def test_a_saved_customer_change_is_announced_to_the_consoles(api: Client) -> None:
    """The consoles keep each live call's pop: a change saved here is announced on the console's bus
    (``CustomerChanged``: who, which fields, never their values), so they refresh the card; so is a
    creation (the caller look-ups forget what they knew of its numbers). A refused change is not."""
    from types import SimpleNamespace

    from crm_core.events import CustomerChanged

    bus = _Bus()
    api.app.state.console = SimpleNamespace(bus=bus)
    created = await api.as_(SUP).post("/api/crm/customers",
                                      json={"name": "王芳", "phones": [{"number": "13900139000"}]})
    cid = created.json()["id"]
    assert [(e.customer_id, e.actor, e.fields) for e in bus.published] == [(cid, "sup1", ("name", "phones"))]
    bus.published.clear()
    agent = api.as_(AGENT2)
    assert (await agent.patch(f"/api/crm/customers/{cid}", json={"emails": ["nope"]})).status_code == 422
    assert (await agent.patch(f"/api/crm/customers/{cid}", json={"pin": "1234"})).status_code == 403
    assert (await agent.patch("/api/crm/customers/999999", json={"name": "x"})).status_code == 404
    assert bus.published == []
    ok = await agent.patch(f"/api/crm/customers/{cid}", json={"name": "王芳芳", "tags": ["vip"]})
    assert ok.status_code == 200, ok.text
    assert [(type(e), e.customer_id, e.actor, e.fields) for e in bus.published] == [
        (CustomerChanged, cid, "agent2", ("name", "tags"))]


@pytest.mark.parametrize(("payload", "field"), [
    ({"phones": [{"number": "13800138000"}]}, "name"),
    ({"name": "x", "tier": "platinum"}, "tier"),
    ({"name": "x", "phones": [{"number": "13800138000"}, {"number": "not-a-phone"}]}, "phones.1.number"),
    ({"name": "x", "emails": ["nope"]}, "emails"),
    ({"name": "x", "pin": "12ab"}, "pin"),
    ({"name": "x", "unexpected": 1}, "unexpected"),
])
async def test_validation_errors_name_the_field(api: Client, payload: dict[str, Any], field: str) -> None:
    r = await api.as_(ADMIN).post("/api/crm/customers", json=payload)
    assert r.status_code == 422
    assert _field_of(r).replace("[", ".").replace("]", "") == field


@pytest.mark.parametrize("name", ["Eve\r\nX-Injected: 1", "Eve\nMallory", "Eve\x00", "Eve\x1b[31m", "Eve\u2028Mallory",
                                  "Eve\x85Mallory"])
async def test_a_customer_name_with_control_characters_is_a_422_naming_it(api: Client, name: str) -> None:
    """A name went to cards, logs and CSV exports with its CR/LF (a forged line) and escapes."""
    admin = api.as_(ADMIN)
    r = await admin.post("/api/crm/customers", json={"name": name})
    assert r.status_code == 422, r.text
    assert _field_of(r) == "name" and "control characters" in r.text
    made = await admin.post("/api/crm/customers", json={"name": "Eve Plain"})
    assert made.status_code == 201
    r = await admin.patch(f"/api/crm/customers/{made.json()['id']}", json={"name": name})
    assert r.status_code == 422 and _field_of(r) == "name", r.text
    r = await admin.patch(f"/api/crm/customers/{made.json()['id']}", json={"company": name})
    assert r.status_code == 422 and _field_of(r) == "company", r.text
    assert (await admin.get(f"/api/crm/customers/{made.json()['id']}")).json()["name"] == "Eve Plain"


async def test_query_validation_and_unknown_ids(api: Client) -> None:
    c = api.as_(ADMIN)
    assert _field_of(await c.get("/api/crm/customers", params={"limit": 1000})) == "limit"
    assert _field_of(await c.get("/api/crm/interactions", params={"outcome": "lost"})) == "outcome"
    for outcome in ("no_answer", "busy", "system_failure"):  # not picked up (outbound); cut by a PBX crash
        assert (await c.get("/api/crm/interactions", params={"outcome": outcome})).status_code == 200
    for path in ("customers/424242", "interactions/424242", "cases/424242", "scripts/424242", "articles/424242"):
        r = await c.get(f"/api/crm/{path}")
        assert r.status_code == 404 and r.json()["detail"]["code"] == "not_found", path
    r = await c.put("/api/crm/interactions/1/customer", json={"customer_id": 424242})
    assert r.status_code == 404 and "customer 424242" in r.json()["detail"]["message"]
    assert (await c.delete("/api/crm/dispositions/424242")).status_code == 404


@pytest.mark.parametrize("evil", ["' OR '1'='1", "'; DROP TABLE customers; --", "%", "_", "\\", "\" OR 1=1 --",
                                  "张%' UNION SELECT pin_hash FROM customers --"])
async def test_search_input_cannot_inject(api: Client, evil: str) -> None:
    c = api.as_(ADMIN)
    r = await c.post("/api/crm/customers", json={"name": "王芳", "phones": [{"number": "13800138001"}], "pin": "4321"})
    assert r.status_code == 201
    for params in ({"q": evil}, {"name": evil}, {"phone": evil}, {"account_number": evil[:32]}):
        r = await c.get("/api/crm/customers", params=params)
        assert r.status_code in (200, 422), r.text
        if r.status_code == 200:
            assert r.json()["items"] == [] and r.json()["total"] == 0, params
        assert "argon2" not in r.text
    r = await c.get("/api/crm/articles", params={"q": evil})
    assert r.status_code == 200 and r.json() == []
    assert (await c.get("/api/crm/customers")).json()["total"] == 1  # the table is still there


async def test_interactions_by_role_and_filters(api: Client) -> None:
    sup = api.as_(SUP)
    everything = (await sup.get("/api/crm/interactions")).json()
    assert everything["total"] == len(NAMES)
    billing = (await sup.get("/api/crm/interactions", params={"queue": "billing", "outcome": "answered"})).json()
    assert sorted(i["agent_id"] for i in billing["items"]) == ["agent2", "agent5"]
    ranged = await sup.get("/api/crm/interactions", params={"since": "2026-09-21T14:14:00Z",
                                                             "until": "2026-09-21T14:18:00Z"})
    assert [i["linkedid"] for i in ranged.json()["items"]] == ["1790000200.303", "1790000100.202"]
    agent = api.as_(AGENT2)
    mine = (await agent.get("/api/crm/interactions", params={"agent_id": "agent5"})).json()
    assert [i["agent_id"] for i in mine["items"]] == ["agent2"]  # agents see their own calls, whatever they ask
    detail = await agent.get(f"/api/crm/interactions/{mine['items'][0]['id']}")
    assert [s["kind"] for s in detail.json()["segments"]][:2] == ["ivr", "queue"]
    other = next(i for i in everything["items"] if i["agent_id"] == "agent5")
    assert (await agent.get(f"/api/crm/interactions/{other['id']}")).status_code == 404


async def test_unknown_caller_linked_by_agent(api: Client) -> None:
    sup = api.as_(SUP)
    unknown = (await sup.get("/api/crm/interactions", params={"unknown": True})).json()
    assert unknown["total"] == len(NAMES)
    cust = (await sup.post("/api/crm/customers", json={"name": "Ann", "phones": [{"number": "+14155552671"}]})).json()
    target = next(i for i in unknown["items"] if i["caller_number"] == "+14155552671")
    r = await sup.put(f"/api/crm/interactions/{target['id']}/customer", json={"customer_id": cust["id"]})
    assert r.status_code == 200 and r.json()["customer_id"] == cust["id"]
    assert (await sup.get("/api/crm/interactions", params={"customer_id": cust["id"]})).json()["total"] == 1


async def test_an_interaction_says_whether_an_agent_linked_its_customer(api: Client) -> None:
    """``customer_linked`` (migration 0025) in the REST read: an integrator tells the customer an
    agent chose from one the IVR or the number matched. It was not in ``InteractionOut`` at all."""
    sup = api.as_(SUP)
    before = (await sup.get("/api/crm/interactions")).json()["items"]
    assert before and all(i["customer_linked"] is False for i in before)  # the call logger's own rows
    cust = (await sup.post("/api/crm/customers", json={"name": "Bo", "phones": [{"number": "+14155552671"}]})).json()
    target = next(i for i in before if i["caller_number"] == "+14155552671")
    assert (await sup.get(f"/api/crm/interactions/{target['id']}")).json()["customer_linked"] is False
    r = await sup.put(f"/api/crm/interactions/{target['id']}/customer", json={"customer_id": cust["id"]})
    assert r.status_code == 200 and r.json()["customer_linked"] is True
    assert (await sup.get(f"/api/crm/interactions/{target['id']}")).json()["customer_linked"] is True
    listed = (await sup.get("/api/crm/interactions")).json()["items"]
    assert [i["id"] for i in listed if i["customer_linked"]] == [target["id"]]
    field = api.app.openapi()["components"]["schemas"]["InteractionOut"]["properties"]["customer_linked"]
    assert field["type"] == "boolean" and "0025" in field["description"]


async def test_cases_create_update_assign_escalate(api: Client) -> None:
    agent = api.as_(AGENT2)
    r = await agent.post("/api/crm/cases", json={"subject": "账单金额有误", "priority": "urgent"})
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["status"] == "open" and case["due_at"] is not None
    r = await agent.patch(f"/api/crm/cases/{case['id']}", json={"status": "in_progress", "note": "回电中"})
    assert r.json()["status"] == "in_progress"
    assert (await agent.post(f"/api/crm/cases/{case['id']}/assign", json={"owner_id": 1})).status_code == 403
    r = await agent.post(f"/api/crm/cases/{case['id']}/escalate", json={"reason": "overdue"})
    assert r.json()["escalation_level"] == 1
    r = await agent.patch(f"/api/crm/cases/{case['id']}", json={"status": "closed"})
    assert r.status_code == 409 and r.json()["detail"]["code"] == "illegal_case_step"
    r = await agent.post("/api/crm/cases", json={"subject": "x", "customer_id": 999})
    assert r.status_code == 404
    assert _field_of(await agent.post("/api/crm/cases", json={"subject": ""})) == "subject"
    assert _field_of(await agent.patch(f"/api/crm/cases/{case['id']}", json={"status": "gone"})) == "status"
    history = (await agent.get(f"/api/crm/cases/{case['id']}")).json()["history"]
    assert [h["action"] for h in history] == ["created", "status", "note", "escalated"]


async def test_only_admins_manage_the_catalogue(api: Client) -> None:
    disposition = {"code": "resolved", "label": "Resolved", "label_zh": "已解决", "resolves": True}
    script = {"name": "billing-zh", "queue": "billing", "title": "账单", "body": "您好 {customer_name}"}
    article = {"title": "退款流程", "body": "3-5个工作日", "tags": ["refund"]}
    for p in (AGENT2, SUP):
        c = api.as_(p)
        assert (await c.post("/api/crm/dispositions", json=disposition)).status_code == 403
        assert (await c.post("/api/crm/scripts", json=script)).status_code == 403
        assert (await c.post("/api/crm/articles", json=article)).status_code == 403
    admin = api.as_(ADMIN)
    assert (await admin.post("/api/crm/dispositions", json=disposition)).status_code == 201
    assert (await admin.post("/api/crm/dispositions", json=disposition)).status_code == 409
    s = (await admin.post("/api/crm/scripts", json=script)).json()
    a = (await admin.post("/api/crm/articles", json=article)).json()
    agent = api.as_(AGENT2)
    assert [d["code"] for d in (await agent.get("/api/crm/dispositions")).json()] == ["resolved"]
    assert (await agent.get("/api/crm/scripts/suggest", params={"queue": "billing"})).json()["id"] == s["id"]
    assert [x["id"] for x in (await agent.get("/api/crm/articles", params={"q": "退款"})).json()] == [a["id"]]
    admin = api.as_(ADMIN)
    assert (await admin.delete(f"/api/crm/articles/{a['id']}")).status_code == 204
    assert (await admin.get(f"/api/crm/articles/{a['id']}")).status_code == 404


async def test_screen_pop_for_a_logged_call(api: Client) -> None:
    admin = api.as_(ADMIN)
    cust = (await admin.post("/api/crm/customers", json={
        "name": "张伟", "phones": [{"number": "13800138000"}], "tier": "key_account"})).json()
    await admin.post("/api/crm/scripts", json={"name": "b", "queue": "billing", "title": "账单",
                                               "body": "您好{customer_name}"})
    await admin.post("/api/crm/cases", json={"subject": "发票", "customer_id": cust["id"]})
    pop = (await api.as_(AGENT2).get("/api/crm/screenpop/1790000000.101")).json()
    assert pop["customer"]["name"] == "张伟" and pop["customer"]["tier"] == "key_account"
    assert pop["queue"] == "billing" and pop["intent"] == "billing"
    assert pop["script"]["body"] == "您好张伟"
    assert [c["subject"] for c in pop["open_cases"]] == ["发票"]
    assert [s["input"] for s in pop["ivr_path"] if s["node"] == "pin"] == ["****"]
    # An agent gets pops of their own calls only: an unknown (or another agent's) call is absent.
    assert (await api.as_(AGENT2).get("/api/crm/screenpop/nope.1")).status_code == 404
    # Nor for staff who see every call: no call of that id, stored or live, is a 404 for everyone
    # (it was a 200 with an empty pop, or with ?customer_id= the pop of any customer for no call).
    for who in (SUP, ADMIN):
        for params in ({}, {"customer_id": cust["id"]}):
            r = await api.as_(who).get("/api/crm/screenpop/nope.1", params=params)
            assert r.status_code == 404 and r.json()["detail"]["code"] == "not_found", (who.role, params, r.text)


async def test_interactions_by_the_feeds_call_id(api: Client) -> None:
    """An integrator joins a feed event to the CRM by its ``call_id`` (the linkedid every
    interaction carries); the call log had no filter for it, so a warehouse scanned pages for it.
    ``?linkedid=`` finds the call's interaction (none: an empty page); agents still see only theirs."""
    sup = api.as_(SUP)
    everything = (await sup.get("/api/crm/interactions")).json()["items"]
    wanted = everything[1]
    r = await sup.get("/api/crm/interactions", params={"linkedid": wanted["linkedid"]})
    assert r.status_code == 200, r.text
    assert [i["id"] for i in r.json()["items"]] == [wanted["id"]] and r.json()["total"] == 1
    assert (await sup.get("/api/crm/interactions", params={"linkedid": "1.2"})).json()["total"] == 0
    assert _field_of(await sup.get("/api/crm/interactions", params={"linkedid": "x" * 200})) == "linkedid"
    other = next(i for i in everything if i["agent_id"] not in (None, "agent2"))
    mine = await api.as_(AGENT2).get("/api/crm/interactions", params={"linkedid": other["linkedid"]})
    assert mine.json()["total"] == 0  # another agent's call: as good as absent


async def test_interactions_of_one_callback(api: Client) -> None:
    """A virtual-hold callback's calls carry the callback they serve (``callback_id``: a web
    request's id or the caller's first call's linkedid); ``?callback_id=`` finds them, as
    ``?linkedid=`` finds one call. Bad input is a 422 naming the parameter; agents see theirs only."""
    from sqlalchemy import update

    from crm_core.models import Interaction

    sup = api.as_(SUP)
    everything = (await sup.get("/api/crm/interactions")).json()["items"]
    theirs = next(i for i in everything if i["agent_id"] not in (None, "agent2"))
    db: Database = api.app.state.crm_db
    async with db.session() as s:
        await s.execute(update(Interaction).where(Interaction.id.in_([everything[0]["id"], theirs["id"]]))
                        .values(callback_id="web-7d1c"))
    r = await sup.get("/api/crm/interactions", params={"callback_id": "web-7d1c"})
    assert r.status_code == 200, r.text
    assert sorted(i["id"] for i in r.json()["items"]) == sorted({everything[0]["id"], theirs["id"]})
    assert all(i["callback_id"] == "web-7d1c" for i in r.json()["items"])
    assert r.json()["total"] == len({everything[0]["id"], theirs["id"]})
    assert (await sup.get("/api/crm/interactions", params={"callback_id": "web-0000"})).json()["total"] == 0
    for bad in ("x" * 65, "", "web-1\r\nX-Injected: 1"):
        refused = await sup.get("/api/crm/interactions", params={"callback_id": bad})
        assert refused.status_code == 422 and _field_of(refused) == "callback_id", (bad, refused.text)
    mine = await api.as_(AGENT2).get("/api/crm/interactions", params={"callback_id": "web-7d1c"})
    assert theirs["id"] not in [i["id"] for i in mine.json()["items"]]  # another agent's call: as good as absent


@pytest.mark.parametrize(("since", "until"), [
    ("2026-09-21T14:14:00Z", "2026-09-21T14:18:00Z"),
    ("2026-09-21T14:14:00", "2026-09-21T14:18:00"),  # no offset: UTC, never the server's or settings' zone
    ("2026-09-21T22:14:00+08:00", "2026-09-21T14:18:00"),
    ("1790000040", "1790000280"),  # epoch seconds
])
async def test_interactions_since_and_until_without_an_offset_are_utc(api: Client, since: str, until: str) -> None:
    """docs/api.md: a `since` / `until` without a UTC offset is read as UTC. The route says so in its
    OpenAPI description and makes the time UTC itself (it held only through the database column type)."""
    sup = api.as_(SUP)
    ranged = await sup.get("/api/crm/interactions", params={"since": since, "until": until})
    assert ranged.status_code == 200, ranged.text
    assert [i["linkedid"] for i in ranged.json()["items"]] == ["1790000200.303", "1790000100.202"]
    day = await sup.get("/api/crm/interactions", params={"since": "2026-09-21", "until": "2026-09-22"})
    assert day.json()["total"] == len(NAMES)  # a date: its midnight, UTC
    params = {p["name"]: p for p in api.app.openapi()["paths"]["/api/crm/interactions"]["get"]["parameters"]}
    for name in ("since", "until"):
        assert "without a UTC offset it is read as UTC" in params[name]["description"], params[name]


async def test_interactions_since_that_is_no_time_is_a_422_naming_it(api: Client) -> None:
    r = await api.as_(SUP).get("/api/crm/interactions", params={"since": "2026-09-21T22:14:00 08:00"})
    assert r.status_code == 422 and _field_of(r) == "since", r.text  # a "+" sent unencoded arrives as a space


async def test_the_route_hands_the_call_log_utc_times(api: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rule is the route's, not a side effect of how the database column reads a naive value."""
    from crm_core import interactions

    seen: dict[str, Any] = {}
    listing = interactions.list_interactions

    async def spy(**kwargs: Any) -> Any:
        seen.update(kwargs)
        return await listing(**kwargs)

    monkeypatch.setattr(interactions, "list_interactions", spy)
    r = await api.as_(SUP).get("/api/crm/interactions", params={"since": "2026-09-21T14:14:00", "until": "2026-09-22"})
    assert r.status_code == 200, r.text
    assert seen["since"].isoformat() == "2026-09-21T14:14:00+00:00"
    assert seen["until"].isoformat() == "2026-09-22T00:00:00+00:00"
