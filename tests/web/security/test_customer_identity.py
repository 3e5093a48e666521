"""A customer's PIN, phone numbers (the caller-ID identity) and tier: supervisors and admins only,
and every change leaves an audit row (never the PIN itself)."""

from __future__ import annotations

from sqlalchemy import select

from crm_core.audit import AuditEntry
from tests.web.security.conftest import Site


async def _audit(site: Site) -> list[AuditEntry]:
    async with site.engine.db.session() as s:
        return list((await s.scalars(select(AuditEntry).where(AuditEntry.action == "customer.identity")
                                     .order_by(AuditEntry.id))).all())


async def test_agent_may_not_change_pin_phones_or_tier(site: Site) -> None:
    agent = await site.login("agent1")
    before = (await agent.get("/api/crm/customers/1")).json()
    for patch in ({"pin": "4321"}, {"phones": [{"number": "13900000001"}]}, {"tier": "key_account"},
                  {"notes": "ok", "tier": "gold"}):
        r = await agent.patch("/api/crm/customers/1", json=patch)
        assert r.status_code == 403, r.text
        assert r.json()["detail"]["code"] == "forbidden"
    after = (await agent.get("/api/crm/customers/1")).json()
    assert (after["phones"], after["tier"], after["has_pin"], after["notes"]) == (
        before["phones"], before["tier"], before["has_pin"], before["notes"])
    assert await _audit(site) == []
    ok = await agent.patch("/api/crm/customers/1", json={"notes": "prefers e-mail"})
    assert ok.status_code == 200 and ok.json()["notes"] == "prefers e-mail"


async def test_supervisor_changes_are_audited_without_the_pin(site: Site) -> None:
    sup = await site.login("sup1")
    before = (await sup.get("/api/crm/customers/1")).json()
    tier = "key_account" if before["tier"] != "key_account" else "gold"
    r = await sup.patch("/api/crm/customers/1", json={"pin": "4321", "tier": tier,
                                                      "phones": [{"number": "13900000001"}]})
    assert r.status_code == 200, r.text
    rows = await _audit(site)
    assert sorted(x.detail["field"] for x in rows) == ["phones", "pin", "tier"]
    assert {(x.actor, x.actor_role, x.target) for x in rows} == {("sup1", "supervisor", "customer:1")}
    phones = next(x for x in rows if x.detail["field"] == "phones")
    assert phones.detail["after"] == ["+8613900000001"]
    assert phones.detail["before"] == sorted(p["number"] for p in before["phones"])
    assert "4321" not in str([x.detail for x in rows])
