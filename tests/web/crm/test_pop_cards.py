"""The screen pop's recent cards (what a pop shows during a CRM outage) on a real Engine (not
started: no PBX) over a seeded SQLite CRM: a customer edited through the REST API is what the next
outage pop shows, and a number that moved to another customer no longer pops its former owner
(neither from the pop's cards nor through the IVR's remembered caller identities)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent_console.demo import serve
from callcenter.engine import Engine
from crm_core.errors import DatabaseUnavailable
from crm_core.screenpop import SqlPopSource
from ivr.errors import DirectoryUnavailable
from tests.helpers import DatabaseAway
from tests.web.engines import seeded_engine


@dataclass
class Site:
    engine: Engine
    http: httpx.AsyncClient
    tokens: dict[str, str]

    @property
    def pops(self) -> SqlPopSource:
        pops = self.engine.app.state.console.pops  # type: ignore[union-attr]
        assert isinstance(pops, SqlPopSource)
        return pops

    async def as_(self, user: str, method: str, path: str, **kw: Any) -> httpx.Response:
        if user not in self.tokens:
            r = await self.http.post("/api/auth/login", json={"username": user, "password": f"{user}-demo"
                                                             if user.startswith("agent") else f"{user}-demo-1"})
            assert r.status_code == 200, r.text
            self.tokens[user] = r.json()["token"]
        return await self.http.request(method, path, headers={"Authorization": f"Bearer {self.tokens[user]}"}, **kw)

    async def settled(self) -> None:
        """The bus's subscribers have handled what was published (the pop cards' refresh among them)."""
        changes = getattr(self.pops, "changes", 0)  # none on a source that keeps no cards
        for _ in range(200):
            await asyncio.sleep(0.01)
            if getattr(self.pops, "changes", 0) > changes:
                break
        await asyncio.sleep(0.05)  # the refresh's own read


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async with seeded_engine(tmp_path) as engine:
        assert engine.app is not None
        port = engine.settings.web.port
        await engine.bus.start()
        try:
            async with serve(engine.app, "127.0.0.1", port):
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
                    yield Site(engine, http, {})
        finally:
            await engine.bus.stop()


async def _customer(site: Site, name: str, number: str) -> int:
    r = await site.as_("sup1", "POST", "/api/crm/customers", json={"name": name, "phones": [{"number": number}],
                                                                   "tags": ["new"]})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def test_an_outage_pop_shows_the_customer_as_edited_not_as_cached(site: Site) -> None:
    cid = await _customer(site, "Chen Jing", "13611112222")
    pops = site.pops
    first = await pops.build_pop("L1", "1001", {"caller_number": "+8613611112222", "customer_id": cid})
    assert first["source"] == "crm" and first["customer"]["name"] == "Chen Jing"
    edited = await site.as_("agent1", "PATCH", f"/api/crm/customers/{cid}",
                            json={"name": "Chen Jing-Li", "tags": ["vip"], "language": "en"})
    assert edited.status_code == 200, edited.text
    await site.settled()
    pops.db = DatabaseAway(site.engine.db)  # type: ignore[assignment]
    for info in ({"caller_number": "+8613611112222"}, {"caller_number": "13611112222", "customer_id": cid}):
        pop = await pops.build_pop("L2", "1001", info)
        assert pop["source"] == "cache", pop
        assert (pop["customer"]["name"], pop["customer"]["tags"], pop["customer"]["language"]) == (
            "Chen Jing-Li", ["vip"], "en"), pop["customer"]


class _DatabaseAway(DatabaseAway):
    """The IVR's look-ups (``run_read``) fail too."""

    async def run_read(self, fn: Any) -> Any:
        raise DatabaseUnavailable("database away")


async def test_a_number_moved_to_another_customer_no_longer_pops_its_former_owner(site: Site) -> None:
    old = await _customer(site, "Zhou Min", "13622223333")
    pops, directory = site.pops, site.engine.directory
    assert (await pops.build_pop("L1", "1001", {"caller_number": "+8613622223333"}))["customer"]["id"] == old
    assert (await directory.lookup_by_number("+8613622223333")).customer_id == old  # type: ignore[union-attr]
    moved = await site.as_("sup1", "PATCH", f"/api/crm/customers/{old}", json={"phones": [{"number": "13633334444"}]})
    assert moved.status_code == 200, moved.text
    await site.settled()
    new = await _customer(site, "Wu Lei", "13622223333")
    pops.db = directory.db = _DatabaseAway(site.engine.db)  # type: ignore[assignment]
    # The IVR cannot say who calls (the pop says the CRM is away), rather than name the former owner.
    with pytest.raises(DirectoryUnavailable):
        await directory.lookup_by_number("+8613622223333")
    for number in ("+8613622223333", "13622223333"):
        pop = await pops.build_pop("L2", "1001", {"caller_number": number})
        assert pop["customer"] is None and pop["source"] == "unavailable", pop["customer"]
    # Their own card still pops by id (the IVR identified them), with the new number on it.
    mine = await pops.build_pop("L3", "1001", {"caller_number": "13633334444", "customer_id": old})
    assert mine["source"] == "cache" and mine["customer"]["phone"] == "+8613633334444", mine
    assert new != old
