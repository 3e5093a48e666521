"""The access policy seen from outside, per role: what each may do (403 for the rest), and the row
rules: an agent's pops are their own calls', a customer's history hides other agents' notes."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.web.security.conftest import Site

A, S, M, D = "agent1", "sup1", "mgr1", "admin"  # mgr1: the demo company's manager
# (method, path, json body, who may): everyone else gets 403.
TABLE: list[tuple[str, str, dict[str, Any] | None, set[str]]] = [
    ("GET", "/api/me", None, {A, S, M, D}),
    ("GET", "/api/crm/customers", None, {A, S, M, D}),
    ("GET", "/api/crm/dispositions", None, {A, S, M, D}),
    ("POST", "/api/crm/dispositions", {"code": "zz_test", "label": "x"}, {D}),
    ("DELETE", "/api/crm/scripts/999999", None, {D}),
    ("POST", "/api/crm/cases/1/assign", {"owner_id": 1}, {S, M, D}),
    ("PATCH", "/api/crm/customers/1", {"tier": "gold"}, {S, D}),
    ("PATCH", "/api/crm/customers/1", {"pin": "4321"}, {S, D}),
    ("PATCH", "/api/crm/customers/1", {"phones": [{"number": "13900000001"}]}, {S, D}),
    ("PATCH", "/api/crm/customers/1", {"notes": "called back"}, {A, S, M, D}),
    ("POST", "/api/crm/customers", {"name": "New", "tier": "gold"}, {S, D}),
    ("POST", "/api/crm/customers", {"name": "New", "pin": "4321"}, {S, D}),
    ("POST", "/api/crm/customers", {"name": "New", "emails": ["new@example.com"]}, {A, S, M, D}),
    ("GET", "/api/supervisor/wallboard", None, {S, M, D}),
    ("GET", "/api/supervisor/reports", None, {S, M, D}),
    ("GET", "/api/supervisor/audit", None, {S, M, D}),
    ("POST", "/api/supervisor/agents/1001/not-ready", {"reason": "supervisor"}, {S, D}),
    ("POST", "/api/supervisor/spy/stop", None, {S, D}),
    ("GET", "/api/supervisor/callbacks", None, {S, M, D}),
    ("GET", "/api/events", None, {D}),
    ("GET", "/api/webhooks", None, {D}),
]


@pytest.mark.parametrize(("method", "path", "body", "allowed"), TABLE,
                         ids=[f"{m} {p} {sorted(b or {})}" for m, p, b, _ in TABLE])
async def test_role_table(site: Site, method: str, path: str, body: dict[str, Any] | None,
                          allowed: set[str]) -> None:
    for user in (A, S, M, D):
        c = await site.login(user)
        r = await c.request(method, path, json=body)
        if user in allowed:
            assert r.status_code != 403 and r.status_code < 500, (user, r.status_code, r.text)
        else:
            assert r.status_code == 403, (user, r.status_code, r.text)
            assert r.json()["detail"]["code"] == "forbidden"


async def _interaction_of_other_agent(site: Site, agent_id: str) -> tuple[int, str, str]:
    """A seeded interaction with notes handled by an agent other than ``agent_id``: customer, linkedid, notes."""
    from sqlalchemy import select

    from crm_core.models import Interaction

    async with site.engine.db.session() as s:
        row = (await s.scalars(select(Interaction).where(Interaction.agent_id != agent_id, Interaction.notes != "",
                                                         Interaction.customer_id.is_not(None)).limit(1))).one()
        return int(row.customer_id), row.linkedid, row.notes  # type: ignore[arg-type]


async def test_agent_sees_history_without_other_agents_notes(site: Site) -> None:
    customer_id, _, notes = await _interaction_of_other_agent(site, "1001")
    agent = await site.login("agent1")  # agent id 1001
    for path in (f"/api/customers/{customer_id}/history", f"/api/customers/{customer_id}"):
        r = await agent.get(path)
        assert r.status_code == 200
        items = r.json() if isinstance(r.json(), list) else r.json()["interactions"]
        others = [i for i in items if i["agent"] != "1001"]
        assert others and all(i["notes"] == "" for i in others)
    sup = await site.login("sup1")
    items = (await sup.get(f"/api/customers/{customer_id}/history", params={"limit": 200})).json()
    assert notes in [i["notes"] for i in items]


async def test_agent_gets_only_their_own_calls_pop(site: Site) -> None:
    _, linkedid, _ = await _interaction_of_other_agent(site, "1001")
    agent = await site.login("agent1")
    r = await agent.get(f"/api/crm/screenpop/{linkedid}")
    assert r.status_code == 404 and r.json()["detail"]["code"] == "not_found"
    sup = await site.login("sup1")
    assert (await sup.get(f"/api/crm/screenpop/{linkedid}")).status_code == 200


async def test_staff_get_no_pop_for_no_call_but_one_for_a_call_only_the_logger_holds(
        site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    """No such call: 404 for staff too (was a 200 with an empty pop). A live call the call logger
    holds in memory but has not written yet (a caller in the IVR) is a call: its pop is served."""
    admin = await site.login("admin")
    assert (await admin.get("/api/crm/screenpop/ivr-1.1")).status_code == 404
    logger = site.engine.logger
    held = logger.live
    monkeypatch.setattr(logger, "live", lambda linkedid: object() if linkedid == "ivr-1.1" else held(linkedid))
    r = await admin.get("/api/crm/screenpop/ivr-1.1")
    assert r.status_code == 200 and r.json()["call_id"] == "ivr-1.1", r.text
    assert (await admin.get("/api/crm/screenpop/ivr-2.1")).status_code == 404


async def test_the_ringing_pop_has_no_other_agents_notes(site: Site) -> None:
    """The pop the console gets with an offer (websocket) lists the customer's last contacts: other
    agents' wrap-up notes are blanked there as in the history, whether the hub asked the CRM for the
    pop or the publisher built it (a transferred call's)."""
    from acd.events import AgentOffer

    customer_id, _, notes = await _interaction_of_other_agent(site, "1001")
    hub = site.app.state.console.hub
    built = await site.engine.acd.pop_builder("pop-notes-2", "1001", {"customer_id": customer_id})
    assert notes in [i["notes"] for i in built["interactions"]]  # the CRM's pop holds them
    for linkedid, pop in (("pop-notes-1", None), ("pop-notes-2", built)):
        await hub.on_event(AgentOffer(ts=time.time(), agent_id="1001", linkedid=linkedid, queue="support",
                                      customer_id=customer_id, pop=pop))
        for _ in range(200):
            offer = hub.snaps["1001"].offer
            if offer is not None and offer.call_id == linkedid and offer.pop.complete:
                break
            await asyncio.sleep(0.02)
        assert offer is not None and offer.call_id == linkedid and offer.pop.complete
        others = [i for i in offer.pop.interactions if i.agent != "1001"]
        assert others and all(i.notes == "" for i in others), linkedid
