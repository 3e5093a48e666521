"""Web callback requests through the engine's app (not started: no PBX needed until an agent is
free): a valid request becomes a virtual entry of the queue, saved in the CRM; bad input gets a 4xx
naming the field; requests are throttled per number and per client address."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from callcenter.engine import Engine
from crm_core.virtual_holds import entry_row
from cti.settings import load_settings


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    settings = load_settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}", state_dir=tmp_path / "state",
                             web={"port": 8080, "session_secret": secrets.token_urlsafe(32)})
    eng = Engine(settings)
    await eng.db.upgrade()
    eng.router.agent_login("1003", {"billing": 5}, time.time(), queues=["billing"])  # not ready: requests wait
    try:
        yield eng
    finally:
        await eng.db.dispose()


async def _post(eng: Engine, body: dict[str, str]) -> httpx.Response:
    assert eng.app is not None
    transport = httpx.ASGITransport(app=eng.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as http:
        return await http.post("/api/callback-requests", json=body)


async def test_request_becomes_a_virtual_entry_saved_in_the_crm(engine: Engine) -> None:
    r = await _post(engine, {"number": "139 1234 5678", "queue": "billing"})
    assert r.status_code == 202, r.text
    body = r.json()
    assert (body["number"], body["queue"], body["state"]) == ("+8613912345678", "billing", "virtual")
    view = engine.router.call(body["id"])
    assert view.virtual and view.queue == "billing"
    assert engine.router.waiting("billing") == [body["id"]]
    async with engine.db.session() as s:
        row = await entry_row(body["id"], session=s)
    assert row is not None and (row.source, row.number, row.state) == ("web", "+8613912345678", "virtual")
    again = await _post(engine, {"number": "+86 139-1234-5678", "queue": "billing"})
    assert again.status_code == 422 and again.json()["detail"]["field"] == "number"  # already waiting


BAD = [
    ({"number": "12ab", "queue": "billing"}, 422, "number"),
    ({"number": "+8613912345678", "queue": "support"}, 422, "queue"),  # a queue without virtual hold
    ({"number": "+8613912345678", "queue": "nope"}, 404, None),
    ({"number": "+8613912345678", "queue": "bil ling"}, 422, "queue"),
    ({"queue": "billing"}, 422, "number"),
]


async def test_bad_requests_name_what_is_wrong(engine: Engine) -> None:
    for body, status, field in BAD:
        r = await _post(engine, body)
        assert r.status_code == status, (body, r.text)
        assert r.json()["detail"].get("field") == field, body
    assert engine.router.waiting("billing") == []


async def test_requests_are_throttled_per_number_and_per_address(engine: Engine) -> None:
    statuses = [(await _post(engine, {"number": "+8613900000001", "queue": "billing"})).status_code
                for _ in range(4)]
    assert statuses == [202, 422, 422, 429]  # the 4th for one number within the hour
    for n in range(2, 8):  # 6 more from this address: 10 in all
        assert (await _post(engine, {"number": f"+861390000000{n}", "queue": "billing"})).status_code == 202
    r = await _post(engine, {"number": "+8613900000009", "queue": "billing"})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    assert r.json()["detail"]["code"] == "request_throttled"
    assert len(engine.router.waiting("billing")) == 7
