"""A customer's change on one engine node reaches every node's caller directory and pop cards
(bus: redis, a real redis-server, two Engines on one CRM database).

Node B's IVR looked up a number nobody had yet: "not a customer", kept for a database outage. Node
A's administrator then gave that number to a customer, by creating one with it or by adding it to
an existing one. Node B went on answering "not a customer" from that cache during an outage: the
creation told no node, and the change told B only to forget the numbers that had been the
customer's, not the ones that now are."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent_console.demo import serve
from callcenter.engine import Engine
from crm_core.errors import DatabaseUnavailable
from cti.settings import load_settings
from ivr.directory import CallerIdentity
from ivr.errors import DirectoryUnavailable
from tests.servers import free_port, redis_server
from tests.web.engines import seeded_db


@pytest.fixture(scope="module")
def own_redis() -> Iterator[str]:
    with redis_server() as url:  # its own: the Engines' bus stream is cti:events, whatever the test
        yield url


_SECRET = secrets.token_urlsafe(32)  # both nodes: one deployment


def _settings(tmp_path: Path, redis_url: str, node: str) -> Any:
    return load_settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}", state_dir=tmp_path / node,
                         bus="redis", redis_url=redis_url, node_id=f"{node}-{uuid.uuid4().hex[:6]}",
                         web={"port": free_port(), "session_secret": _SECRET})


@pytest.fixture
async def nodes(tmp_path: Path, own_redis: str) -> AsyncIterator[tuple[Engine, Engine, httpx.AsyncClient]]:
    a_settings = _settings(tmp_path, own_redis, "node-a")
    await seeded_db(tmp_path / "crm.db", a_settings.config_dir)
    a, b = Engine(a_settings), Engine(_settings(tmp_path, own_redis, "node-b"))
    async with AsyncExitStack() as stack:
        for eng in (a, b):
            await eng.bus.start()
            stack.push_async_callback(eng.db.dispose)
            stack.push_async_callback(eng.bus.stop)
        assert a.app is not None
        await stack.enter_async_context(serve(a.app, "127.0.0.1", a_settings.web.port))
        http = await stack.enter_async_context(httpx.AsyncClient(base_url=f"http://127.0.0.1:{a_settings.web.port}",
                                                                 timeout=10))
        login = await http.post("/api/auth/login", json={"username": "admin", "password": "admin-demo-1"})
        http.headers["Authorization"] = f"Bearer {login.json()['token']}"
        yield a, b, http


async def _during_an_outage(eng: Engine, number: str) -> CallerIdentity | str | None:
    """What ``eng``'s IVR answers for ``number`` with its database away: an identity, None ("not a
    customer"), or "unavailable" (nothing known: the call goes on marked CRM-away)."""
    directory = eng.directory

    async def away(*_a: Any, **_k: Any) -> Any:
        raise DatabaseUnavailable("the CRM is unavailable (test)")

    real = directory.db.run_read
    directory.db.run_read = away  # type: ignore[method-assign]
    try:
        return await directory.lookup_by_number(number)
    except DirectoryUnavailable:
        return "unavailable"
    finally:
        directory.db.run_read = real  # type: ignore[method-assign]


async def _settles(check: Any) -> Any:
    for _ in range(100):  # the other node reads the bus every 0.2-1 s
        got = await check()
        if got:
            return got
        await asyncio.sleep(0.05)
    return await check()


async def test_a_number_given_to_a_customer_on_one_node_is_no_stranger_on_another(
        nodes: tuple[Engine, Engine, httpx.AsyncClient]) -> None:
    _, b, http = nodes
    for number in ("+8613911112222", "+8613911113333"):
        assert await b.directory.lookup_by_number(number) is None  # not a customer (yet)
        assert await _during_an_outage(b, number) is None  # what the outage cache keeps
    pops = b.app.state.console.pops if b.app is not None else None
    changes = pops.changes

    created = await http.post("/api/crm/customers", json={"name": "Gao Lan", "phones": [{"number": "13911112222"}]})
    assert created.status_code == 201, created.text
    gao = created.json()["id"]

    async def b_forgot_the_new_customers_number() -> bool:
        return await _during_an_outage(b, "+8613911112222") != None  # noqa: E711 - None is "not a customer"
    assert await _settles(b_forgot_the_new_customers_number), "node B still says: not a customer"

    listed = await http.get("/api/crm/customers", params={"limit": 5})
    assert listed.status_code == 200, listed.text
    zhao = next(c for c in listed.json()["items"] if c["phones"] and c["id"] != gao)
    phones = [{"number": p["number"], "label": p["label"]} for p in zhao["phones"]] + [{"number": "13911113333"}]
    patched = await http.patch(f"/api/crm/customers/{zhao['id']}", json={"phones": phones})
    assert patched.status_code == 200, patched.text

    async def b_forgot_the_added_number() -> bool:
        return await _during_an_outage(b, "+8613911113333") != None  # noqa: E711
    assert await _settles(b_forgot_the_added_number), "node B still says: not a customer"
    # B's pop cards heard both changes too; with the database back B names the customers.
    assert pops.changes >= changes + 2
    found = await b.directory.lookup_by_number("+8613911112222")
    assert found is not None and found.customer_id == gao
    found = await b.directory.lookup_by_number("+8613911113333")
    assert found is not None and found.customer_id == zhao["id"]
