"""A customer's PIN, account number (what the IVR asks with the PIN), phone numbers (the caller-ID
identity) and tier: supervisors and admins only,
and every change leaves an audit row (never the PIN itself). A new customer's PIN and tier too; a
phone number already another customer's is refused to everyone (it would make its owner anonymous)."""

from __future__ import annotations

from sqlalchemy import select

from crm_core.audit import AuditEntry
from tests.web.security.conftest import Site


async def _audit(site: Site) -> list[AuditEntry]:
    async with site.engine.db.session() as s:
        return list((await s.scalars(select(AuditEntry).where(AuditEntry.action == "customer.identity")
                                     .order_by(AuditEntry.id))).all())


async def test_agent_may_not_change_pin_account_phones_or_tier(site: Site) -> None:
    agent = await site.login("agent1")
    before = (await agent.get("/api/crm/customers/1")).json()
    for patch in ({"pin": "4321"}, {"phones": [{"number": "13900000001"}]}, {"tier": "key_account"},
                  {"notes": "ok", "tier": "gold"}, {"account_number": "ACC-EVE-1"}):
        r = await agent.patch("/api/crm/customers/1", json=patch)
        assert r.status_code == 403, r.text
        assert r.json()["detail"]["code"] == "forbidden"
    after = (await agent.get("/api/crm/customers/1")).json()
    assert (after["phones"], after["tier"], after["has_pin"], after["notes"], after["account_number"]) == (
        before["phones"], before["tier"], before["has_pin"], before["notes"], before["account_number"])
    assert await _audit(site) == []
    ok = await agent.patch("/api/crm/customers/1", json={"notes": "prefers e-mail"})
    assert ok.status_code == 200 and ok.json()["notes"] == "prefers e-mail"


async def test_supervisor_changes_are_audited_without_the_pin(site: Site) -> None:
    sup = await site.login("sup1")
    before = (await sup.get("/api/crm/customers/1")).json()
    tier = "key_account" if before["tier"] != "key_account" else "gold"
    r = await sup.patch("/api/crm/customers/1", json={"pin": "4321", "tier": tier, "account_number": "ACC-NEW-1",
                                                      "phones": [{"number": "13900000001"}]})
    assert r.status_code == 200, r.text
    rows = await _audit(site)
    assert sorted(x.detail["field"] for x in rows) == ["account_number", "phones", "pin", "tier"]
    account = next(x for x in rows if x.detail["field"] == "account_number")
    assert (account.detail["before"], account.detail["after"]) == (before["account_number"], "ACC-NEW-1")
    assert {(x.actor, x.actor_role, x.target) for x in rows} == {("sup1", "supervisor", "customer:1")}
    phones = next(x for x in rows if x.detail["field"] == "phones")
    assert phones.detail["after"] == ["+8613900000001"]
    assert phones.detail["before"] == sorted(p["number"] for p in before["phones"])
    assert "4321" not in str([x.detail for x in rows])


async def test_agent_creates_a_customer_with_numbers_but_no_pin_or_tier(site: Site) -> None:
    agent = await site.login("agent1")
    for extra, named in (({"pin": "4321"}, "pin"), ({"tier": "key_account"}, "tier"),
                         ({"pin": "4321", "tier": "gold"}, "pin, tier")):
        r = await agent.post("/api/crm/customers", json={"name": "Mallory", **extra})
        assert r.status_code == 403, r.text
        assert r.json()["detail"]["code"] == "forbidden" and f"new customer {named} (" in r.json()["detail"]["message"]
    found = (await agent.get("/api/crm/customers", params={"name": "Mallory"})).json()
    assert found["total"] == 0  # nothing half-created
    ok = await agent.post("/api/crm/customers", json={"name": "Mallory", "phones": [{"number": "13900000777"}],
                                                      "emails": ["m@example.com"], "tier": "standard", "pin": None})
    assert ok.status_code == 201, ok.text
    assert (ok.json()["tier"], ok.json()["has_pin"]) == ("standard", False)
    sup = await site.login("sup1")
    r = await sup.post("/api/crm/customers", json={"name": "Trent", "pin": "4321", "tier": "gold"})
    assert r.status_code == 201 and r.json()["has_pin"] is True and r.json()["tier"] == "gold"


async def test_a_number_of_another_customer_is_refused_to_every_role(site: Site) -> None:
    admin = await site.login("admin")
    owner = (await admin.get("/api/crm/customers/1")).json()
    number = owner["phones"][0]["number"]
    other = (await admin.post("/api/crm/customers", json={"name": "Other", "phones": [
        {"number": "13900000778"}]})).json()
    for who in ("agent1", "sup1", "admin"):
        c = await site.login(who)
        r = await c.post("/api/crm/customers", json={"name": "Copycat", "phones": [
            {"number": "13900000779"}, {"number": number}]})
        assert r.status_code == 409, r.text
        detail = r.json()["detail"]
        assert (detail["code"], detail["field"]) == ("conflict", "phones[1].number") and number in detail["message"]
        if who != "agent1":  # an agent may not change numbers at all (403, above)
            r = await c.patch(f"/api/crm/customers/{other['id']}", json={"phones": [{"number": number}]})
            assert r.status_code == 409 and number in r.json()["detail"]["message"], r.text
    by_number = (await admin.get("/api/crm/customers", params={"phone": number})).json()
    assert [x["id"] for x in by_number["items"]] == [1]  # the caller-ID match still names its owner
    assert (await admin.get(f"/api/crm/customers/{other['id']}")).json()["phones"] == other["phones"]
