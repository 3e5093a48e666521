"""Web callback requests through the engine's app (not started: no PBX needed until an agent is
free): a valid request becomes a virtual entry of the queue, saved in the CRM; bad input gets a 4xx
naming the field; requests are throttled per number and per client address (limits from the
settings); the requester cancels with the answer's token, a supervisor without."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from callcenter.engine import Engine
from crm_core.errors import DatabaseUnavailable
from crm_core.models import Customer, CustomerPhone
from crm_core.virtual_holds import entry_row
from cti.settings import load_settings
from tests.web.console import test_callbacks
from tests.web.console.test_callbacks import Site

site = test_callbacks.site  # a real Engine over a seeded CRM (its users log in)


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
    # Toll fraud: a stranger's form may not have the centre call abroad (default_region CN here)
    ({"number": "+1 876 555 0123", "queue": "billing"}, 422, "number"),
    ({"number": "+44 20 7946 0000", "queue": "billing"}, 422, "number"),
]


async def test_bad_requests_name_what_is_wrong(engine: Engine) -> None:
    for body, status, field in BAD:
        r = await _post(engine, body)
        assert r.status_code == status, (body, r.text)
        assert r.json()["detail"].get("field") == field, body
    assert engine.router.waiting("billing") == []


async def test_a_bad_number_is_one_error_code_whatever_is_wrong_with_it(engine: Engine) -> None:
    """The route answered a bad number with acd_invalid_request (not a number, not routable, already
    waiting) or invalid_input (too short, toll fraud): one code now, the message saying what is wrong."""
    bad = {
        "12": "at least 3 characters",  # the schema's check
        "12ab": "not a phone number",  # the ACD's
        "+1 876 555 0123": "+18765550123",  # toll fraud: the refusal names the number
        "+86 139-1234-5678": "already waiting",  # twice in the queue (the first below)
    }
    assert (await _post(engine, {"number": "139 1234 5678", "queue": "billing"})).status_code == 202
    for number, says in bad.items():
        r = await _post(engine, {"number": number, "queue": "billing"})
        detail = r.json()["detail"]
        assert (r.status_code, detail["code"], detail["field"]) == (422, "invalid_input", "number"), (number, r.text)
        assert says in detail["message"] and detail["message"].startswith("number: "), (number, detail)


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


async def test_an_ipv6_network_counts_as_one_address(engine: Engine) -> None:
    """A host picks any address of its /64 (privacy addresses, or at will): counted per address, one
    host could ask for callbacks without end. 10 per hour from the network, whatever the address."""
    assert engine.app is not None
    statuses = []
    for n in range(1, 12):
        transport = httpx.ASGITransport(app=engine.app, client=(f"2001:db8:7:9::{n:x}", 40000 + n))
        async with httpx.AsyncClient(transport=transport, base_url="http://console") as http:
            r = await http.post("/api/callback-requests", json={"number": f"+86139000001{n:02d}", "queue": "billing"})
            statuses.append(r.status_code)
    assert statuses == [202] * 10 + [429]
    transport = httpx.ASGITransport(app=engine.app, client=("2001:db8:7:a::1", 40000))  # another network
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as http:
        r = await http.post("/api/callback-requests", json={"number": "+8613900000200", "queue": "billing"})
    assert r.status_code == 202


async def _cancel(eng: Engine, entry_id: str, token: str) -> httpx.Response:
    assert eng.app is not None
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=eng.app), base_url="http://console") as http:
        return await http.post(f"/api/callback-requests/{entry_id}/cancel", json={"token": token})


async def test_the_requester_cancels_with_the_token_of_the_answer(engine: Engine) -> None:
    mine = (await _post(engine, {"number": "+8613900000001", "queue": "billing"})).json()
    other = (await _post(engine, {"number": "+8613900000002", "queue": "billing"})).json()
    assert len(mine["cancel_token"]) == 40 and mine["cancel_token"] != other["cancel_token"]
    wrong = await _cancel(engine, mine["id"], other["cancel_token"])
    assert wrong.status_code == 403 and wrong.json()["detail"]["field"] == "token"
    for entry_id, body, field in ((mine["id"], {}, "token"), (mine["id"], {"token": "é"}, "token"),
                                  ("bad id!", {"token": "ab"}, "request_id")):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=engine.app), base_url="http://c") as http:
            r = await http.post(f"/api/callback-requests/{entry_id}/cancel", json=body)
        assert (r.status_code, r.json()["detail"]["field"]) == (422, field)
    assert engine.router.waiting("billing") == [mine["id"], other["id"]]

    r = await _cancel(engine, mine["id"], mine["cancel_token"])
    assert r.status_code == 200 and r.json() == {"id": mine["id"], "queue": "billing", "state": "cancelled"}
    assert engine.router.waiting("billing") == [other["id"]]  # the other keeps its place
    async with engine.db.session() as s:
        row = await entry_row(mine["id"], session=s)
    assert row is not None and row.state == "cancelled"
    assert (await _cancel(engine, mine["id"], mine["cancel_token"])).status_code == 404  # no longer waiting
    # The number may ask again (a new request, at the end of the queue).
    assert (await _post(engine, {"number": "+8613900000001", "queue": "billing"})).status_code == 202


async def test_the_limits_are_settings(tmp_path: Path) -> None:
    settings = load_settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}", state_dir=tmp_path / "state",
                             web={"port": 8080, "session_secret": secrets.token_urlsafe(32)},
                             callbacks={"requests_per_address": 2, "requests_per_number": 1,
                                        "requests_window_min": 1})
    eng = Engine(settings)
    await eng.db.upgrade()
    eng.router.agent_login("1003", {"billing": 5}, time.time(), queues=["billing"])
    try:
        assert (await _post(eng, {"number": "+8613900000001", "queue": "billing"})).status_code == 202
        r = await _post(eng, {"number": "+8613900000001", "queue": "billing"})  # the number's only one
        assert r.status_code == 429 and 0 < int(r.headers["Retry-After"]) <= 60
        assert (await _post(eng, {"number": "+8613900000002", "queue": "billing"})).status_code == 429  # address
    finally:
        await eng.db.dispose()


async def test_a_supervisor_cancels_a_waiting_callback_request(site: Site) -> None:
    site.engine.router.agent_login("1003", {"billing": 5}, time.time(), queues=["billing"])  # not ready
    r = await site.http.post("/api/callback-requests", json={"number": "+8613900000001", "queue": "billing"})
    assert r.status_code == 202, r.text
    entry = r.json()["id"]
    assert (await site.as_("agent1", "POST", f"/api/supervisor/callback-requests/{entry}/cancel")).status_code == 403
    done = await site.as_("sup1", "POST", f"/api/supervisor/callback-requests/{entry}/cancel")
    assert done.status_code == 200 and done.json()["state"] == "cancelled"
    assert site.engine.router.waiting("billing") == []
    gone = await site.as_("sup1", "POST", f"/api/supervisor/callback-requests/{entry}/cancel")
    assert gone.status_code == 404


async def test_a_request_whose_turn_came_is_not_cancelled(engine: Engine) -> None:
    body = (await _post(engine, {"number": "+8613900000001", "queue": "billing"})).json()
    engine.router.set_ready("1003", time.time())  # the router reserves the agent (the engine is not running)
    r = await _cancel(engine, body["id"], body["cancel_token"])
    assert r.status_code == 409 and r.json()["detail"]["code"] == "acd_illegal_transition"
    assert engine.router.call(body["id"]).agent_id == "1003"  # still reserved, still called back


async def test_a_known_customer_is_called_back_in_their_language(engine: Engine) -> None:
    """A web request has no call to take a language from: the CRM's customer with that number (the
    IVR's caller-ID lookup) gives it, stored with the entry; an unknown number leaves the PBX's
    default. Before, every web request's callback spoke the default."""
    async with engine.db.session() as s:
        wang, ann = Customer(name="王芳", language="zh-CN"), Customer(name="Ann", language="en-GB")
        s.add_all([wang, ann])
        await s.flush()
        s.add_all([CustomerPhone(customer_id=wang.id, e164="+8613912345678"),
                   CustomerPhone(customer_id=ann.id, e164="+8613900000077")])
        ids = {wang.name: wang.id, ann.name: ann.id}
    said = {}
    for number in ("139 1234 5678", "+8613900000077", "+8613900000066"):
        r = await _post(engine, {"number": number, "queue": "billing"})
        assert r.status_code == 202, r.text
        assert "language" not in r.json()  # the answer is the web site's: unchanged
        entry = engine.virtual_hold.entries[r.json()["id"]]
        async with engine.db.session() as s:
            row = await entry_row(entry.entry_id, session=s)
        assert row is not None and row.language == entry.language
        said[entry.number] = (entry.customer_id, entry.language)
    assert said == {"+8613912345678": (ids["王芳"], "zh"), "+8613900000077": (ids["Ann"], "en"),
                    "+8613900000066": (None, None)}


class _CrmAwayForLookups:
    """The engine's database, whose look-ups fail as an unreachable database's (DatabaseUnavailable)."""

    def __init__(self, db: Any) -> None:
        self._db = db

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)

    async def run_read(self, *args: Any, **kwargs: Any) -> Any:
        raise DatabaseUnavailable("database away")


async def test_a_request_is_taken_while_the_crm_cannot_say_whose_number_it_is(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """The customer look-up failing (the CRM away, the number not among the recent callers) refused
    the request with a 503, though the entry itself is journaled until the database is back: it is
    taken, with no customer and the PBX's default language, as the IVR goes on with an unidentified
    caller."""
    monkeypatch.setattr(engine.directory, "db", _CrmAwayForLookups(engine.db))
    r = await _post(engine, {"number": "+8613900000055", "queue": "billing"})
    assert r.status_code == 202, r.text
    entry = engine.virtual_hold.entries[r.json()["id"]]
    assert (entry.customer_id, entry.language) == (None, None)
    assert engine.router.waiting("billing") == [entry.entry_id]
