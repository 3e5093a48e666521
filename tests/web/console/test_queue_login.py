"""Which queues an agent may log in to, on a real Engine (not started: no PBX) over the seeded CRM:
the queues of their skills and ``general`` only; the console's catalog offers those."""

from __future__ import annotations

from tests.web.console import test_callbacks
from tests.web.console.test_callbacks import Site

site = test_callbacks.site  # the fixture: a real Engine (no PBX) over a seeded SQLite CRM


async def _queues(site: Site, user: str) -> list[str]:
    agent = {"agent1": "1001", "agent3": "1003"}[user]
    if agent not in {a.agent_id for a in site.engine.acd.agents()}:
        return []
    return sorted(site.engine.acd.agent(agent).queues)


async def test_an_agent_joins_only_the_queues_of_their_skills_and_general(site: Site) -> None:
    """agent1 (skills support, general, zh, en) named billing and got billing's calls and its preview
    campaigns. Refused now, with a 403 naming the queue, whether logged out or adding it later."""
    for wanted in (["billing"], ["support", "sales"]):
        r = await site.as_("agent1", "POST", "/api/agent/queues/login", json={"queues": wanted})
        assert r.status_code == 403 and r.json()["detail"]["code"] == "forbidden", r.text
        assert repr(wanted[-1]) in r.json()["detail"]["message"], r.text
    assert await _queues(site, "agent1") == []  # nothing half done: still logged out
    r = await site.as_("agent1", "POST", "/api/agent/queues/login", json={"queues": ["support"]})
    assert r.status_code == 200, r.text
    refused = await site.as_("agent1", "POST", "/api/agent/queues/login", json={"queues": ["billing"]})
    assert refused.status_code == 403 and "'billing'" in refused.json()["detail"]["message"], refused.text
    assert await _queues(site, "agent1") == ["support"]
    r = await site.as_("agent1", "POST", "/api/agent/queues/login", json={"queues": ["general"]})
    assert r.status_code == 200, r.text
    assert await _queues(site, "agent1") == ["general", "support"]
    # agent3 (billing only): billing and general when naming none, as before.
    assert (await site.as_("agent3", "POST", "/api/agent/queues/login", json={"queues": []})).status_code == 200
    assert await _queues(site, "agent3") == ["billing", "general"]
    unknown = await site.as_("agent3", "POST", "/api/agent/queues/login", json={"queues": ["nope"]})
    assert unknown.status_code == 404, unknown.text


async def test_the_catalog_offers_the_agents_own_queues_to_join_and_every_queue_to_transfer_to(site: Site) -> None:
    catalog = (await site.as_("agent3", "GET", "/api/agent/snapshot")).json()["catalog"]
    assert catalog["login_queues"] == ["billing", "general"]
    assert set(catalog["queues"]) >= {"billing", "general", "sales", "support"}  # transfer targets
