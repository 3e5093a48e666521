"""The console's customer history (``GET /api/customers/{id}/history``, ``InteractionView``) says
whether an agent linked each call to the customer (``customer_linked``), as the CRM's
``InteractionOut`` does: a real Engine (not started: no PBX) over a seeded SQLite CRM, in-process."""

from __future__ import annotations

from sqlalchemy import select

from crm_core.models import Interaction
from tests.web.security.conftest import Site, site  # noqa: F401  (the fixture)


async def test_the_history_says_which_calls_an_agent_linked_to_the_customer(site: Site) -> None:  # noqa: F811
    async with site.engine.db.session() as s:
        row = (await s.scalars(select(Interaction).where(Interaction.customer_id.is_not(None)).limit(1))).one()
        customer_id, interaction_id = int(row.customer_id), row.id  # type: ignore[arg-type]
    sup = await site.login("sup1")
    before = (await sup.get(f"/api/customers/{customer_id}/history", params={"limit": 200})).json()
    assert before and all(i["customer_linked"] is False for i in before)  # the seed's rows: matched, not linked
    r = await sup.put(f"/api/crm/interactions/{interaction_id}/customer", json={"customer_id": customer_id})
    assert r.status_code == 200 and r.json()["customer_linked"] is True, r.text
    agent = await site.login("agent1")
    for who in (sup, agent):
        items = (await who.get(f"/api/customers/{customer_id}/history", params={"limit": 200})).json()
        assert [i["id"] for i in items if i["customer_linked"]] == [interaction_id]
    detail = (await agent.get(f"/api/customers/{customer_id}")).json()["interactions"]
    assert all(isinstance(i["customer_linked"], bool) for i in detail)
    field = site.app.openapi()["components"]["schemas"]["InteractionView"]["properties"]["customer_linked"]
    assert field["type"] == "boolean" and "0025" in field["description"]
