"""The callbacks API of the console on a real Engine (not started: no PBX) over a seeded SQLite CRM:
who sees and claims what, the claim race, validation, and the wrap-up that settles a callback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from acd.calls import LiveCall
from agent_console.demo import serve
from callcenter.engine import Engine
from crm_core import callbacks, users
from crm_core.models import Callback, Case
from cti.settings import load_settings
from tests.web.engines import seeded_db, seeded_engine


@dataclass
class Site:
    engine: Engine
    http: httpx.AsyncClient
    tokens: dict[str, str]

    async def as_(self, user: str, method: str, path: str, **kw: Any) -> httpx.Response:
        if user not in self.tokens:
            r = await self.http.post("/api/auth/login", json={"username": user, "password": f"{user}-demo"
                                                             if user.startswith("agent") else f"{user}-demo-1"})
            assert r.status_code == 200, r.text
            self.tokens[user] = r.json()["token"]
        return await self.http.request(method, path, headers={"Authorization": f"Bearer {self.tokens[user]}"}, **kw)

    async def add(self, **kw: Any) -> int:
        args: dict[str, Any] = {"number": "13800138001", "queue": "support",
                                "due_at": datetime.now(UTC) - timedelta(minutes=1)} | kw
        async with self.engine.db.session() as s:
            return (await callbacks.create_callback(session=s, **args)).id

    async def row(self, cb_id: int) -> Callback:
        async with self.engine.db.session() as s:
            return await callbacks.get_callback(session=s, callback_id=cb_id)


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async with seeded_engine(tmp_path) as engine:
        assert engine.app is not None
        port = engine.settings.web.port
        async with serve(engine.app, "127.0.0.1", port):
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
                yield Site(engine, http, {})


async def test_agents_see_and_claim_only_callbacks_of_their_queues(site: Site) -> None:
    support, billing = await site.add(), await site.add(queue="billing", number="13800138002")
    personal = await site.add(queue=None, agent_id="1001", number="13800138003")
    await site.add(due_at=datetime.now(UTC) + timedelta(hours=1))  # not due yet
    joined = await site.as_("agent1", "POST", "/api/agent/queues/login", json={"queues": ["support"]})
    assert joined.status_code == 200

    listed = await site.as_("agent1", "GET", "/api/callbacks")
    assert listed.status_code == 200
    assert [(c["id"], c["number"], c["queue"], c["state"]) for c in listed.json()] == [
        (support, "+8613800138001", "support", "pending"), (personal, "+8613800138003", None, "pending")]
    denied = await site.as_("agent1", "POST", f"/api/callbacks/{billing}/claim")
    assert denied.status_code == 403 and denied.json()["detail"]["code"] == "forbidden"
    assert "billing" in denied.json()["detail"]["message"]
    assert (await site.row(billing)).state == "pending"

    # Logged off the ACD, the agent sees only their personal callback.
    assert (await site.as_("agent1", "POST", "/api/agent/queues/logout", json={"queues": []})).status_code == 200
    assert [c["id"] for c in (await site.as_("agent1", "GET", "/api/callbacks")).json()] == [personal]

    everyone = await site.as_("sup1", "GET", "/api/callbacks")
    assert {c["id"] for c in everyone.json()} == {support, billing, personal}
    not_agent = await site.as_("sup1", "POST", f"/api/callbacks/{support}/claim")
    assert not_agent.status_code == 403
    site.http.cookies.clear()  # the logins left their session cookie
    anonymous = await site.http.get("/api/callbacks")
    assert anonymous.status_code == 401 and anonymous.json()["detail"]["code"] == "not_authenticated"


async def test_a_supervisor_of_some_queues_lists_only_their_callbacks(site: Site) -> None:
    """The desk's list for staff went around the supervisors' queues (docs/security.md): sup1,
    assigned billing, read support's callbacks and another agent's personal one there; the other
    supervisor routes give them billing's only. Unassigned, and administrators: every callback."""
    support, billing = await site.add(), await site.add(queue="billing", number="13800138002")
    personal = await site.add(queue=None, agent_id="1001", number="13800138003")
    own = await site.add(queue=None, agent_id="1009", number="13800138004")  # sup1 takes calls as 1009
    everyone = {support, billing, personal, own}
    async with site.engine.db.session() as s:
        sup1 = await users.user_by_username(session=s, username="sup1")
        assert sup1 is not None
        sup1.agent_id = "1009"
    assert {c["id"] for c in (await site.as_("sup1", "GET", "/api/callbacks")).json()} == everyone
    async with site.engine.db.session() as s:
        sup1 = await users.user_by_username(session=s, username="sup1")
        assert sup1 is not None
        await users.set_supervised_queues(session=s, user=sup1, queues=["billing"])
    scoped = await site.as_("sup1", "GET", "/api/callbacks")
    assert scoped.status_code == 200, scoped.text
    assert {c["id"] for c in scoped.json()} == {billing, own}
    assert {c["id"] for c in (await site.as_("admin", "GET", "/api/callbacks")).json()} == everyone


async def test_a_manager_lists_the_callbacks_of_every_queue(site: Site) -> None:
    """The desk's list gave a manager the agent's view (agent_console/service.py): a manager with no
    agent id got 403 "not an agent", one who takes calls only the callbacks of the queues they were
    logged into. A manager oversees every queue (docs/supervisor.md), as on the callbacks page."""
    support, billing = await site.add(), await site.add(queue="billing", number="13800138002")
    personal = await site.add(queue=None, agent_id="1001", number="13800138003")
    everyone = {support, billing, personal}
    listed = await site.as_("mgr1", "GET", "/api/callbacks")
    assert listed.status_code == 200, listed.text
    assert {c["id"] for c in listed.json()} == everyone
    page = await site.as_("mgr1", "GET", "/api/supervisor/callbacks")
    assert {c["id"] for c in page.json()} == everyone
    async with site.engine.db.session() as s:  # a manager who also takes calls, as 1010
        mgr1 = await users.user_by_username(session=s, username="mgr1")
        assert mgr1 is not None
        mgr1.agent_id = "1010"
    site.tokens.pop("mgr1")
    listed = await site.as_("mgr1", "GET", "/api/callbacks")
    assert listed.status_code == 200, listed.text
    assert {c["id"] for c in listed.json()} == everyone


async def test_two_agents_claim_at_once_one_gets_409(site: Site) -> None:
    cb = await site.add()
    for user in ("agent1", "agent2"):
        await site.as_(user, "POST", "/api/agent/queues/login", json={"queues": ["support"]})
    r1, r2 = await asyncio.gather(site.as_("agent1", "POST", f"/api/callbacks/{cb}/claim"),
                                  site.as_("agent2", "POST", f"/api/callbacks/{cb}/claim"))
    assert sorted((r1.status_code, r2.status_code)) == [200, 409]
    won, lost = (r1, r2) if r1.status_code == 200 else (r2, r1)
    assert lost.json()["detail"]["code"] == "callback_taken"
    winner = won.json()["claimed_by"]
    assert (await site.row(cb)).claimed_by == winner and won.json()["state"] == "claimed"
    # The loser no longer sees it; the winner sees their claim.
    loser = "agent2" if winner == "1001" else "agent1"
    assert (await site.as_(loser, "GET", "/api/callbacks")).json() == []


async def test_validation_and_state_errors(site: Site) -> None:
    cb = await site.add()
    await site.as_("agent1", "POST", "/api/agent/queues/login", json={"queues": ["support"]})
    for method, path, status, code, field in (
            ("GET", "/api/callbacks?limit=0", 422, "invalid_input", "limit"),
            ("POST", "/api/callbacks/abc/claim", 422, "invalid_input", "callback_id"),
            ("POST", "/api/callbacks/999999/claim", 404, "target_not_found", None),
            ("POST", f"/api/callbacks/{cb}/call", 409, "illegal_callback_step", None),
            ("POST", f"/api/callbacks/{cb}/release", 409, "illegal_callback_step", None)):
        r = await site.as_("agent1", method, path)
        assert r.status_code == status, (path, r.text)
        assert r.json()["detail"]["code"] == code and r.json()["detail"].get("field") == field


async def test_call_then_no_answer_wrap_up_retries_later(site: Site) -> None:
    cb = await site.add(customer_id=None)
    await site.as_("agent1", "POST", "/api/agent/queues/login", json={"queues": ["support"]})
    dialled: list[tuple[str, str, int | None]] = []

    async def dial(agent_id: str, number: str, customer_id: int | None, *, callback: bool, **_: Any) -> str:  # no PBX
        assert callback  # a callback's call: the agent's screen says so
        dialled.append((agent_id, number, customer_id))
        site.engine.acd.wrapups[(agent_id, "out-1")] = LiveCall(
            linkedid="out-1", caller_channel="", caller_number=number.lstrip("+"), queue="", direction="outbound",
            status="ended", agent_id=agent_id)
        return "out-1"

    site.engine.desk.dial = dial  # type: ignore[method-assign]
    assert (await site.as_("agent1", "POST", f"/api/callbacks/{cb}/claim")).status_code == 200
    called = await site.as_("agent1", "POST", f"/api/callbacks/{cb}/call")
    assert called.status_code == 200, called.text
    assert called.json()["call_id"] == "out-1" and called.json()["callback"]["calling"] is True
    assert dialled == [("1001", "+8613800138001", None)]
    assert (await site.row(cb)).last_linkedid == "out-1"

    before = datetime.now(UTC)
    wrapped = await site.as_("agent1", "POST", "/api/calls/out-1/wrap-up",
                             json={"disposition": "info_given", "no_answer": True})
    assert wrapped.status_code == 200, wrapped.text
    assert wrapped.json()["result"]["settled_callback"] == {"id": cb, "state": "pending", "attempts": 1}
    row = await site.row(cb)
    assert row.state == "pending" and row.claimed_by is None
    assert timedelta(minutes=14) < row.due_at - before < timedelta(minutes=16)  # config: retry_delay_min 15


async def test_wrap_up_with_callback_time_schedules_a_callback_and_its_case(site: Site) -> None:
    site.engine.acd.wrapups[("1002", "in-9")] = LiveCall(
        linkedid="in-9", caller_channel="", caller_number="1001", queue="billing", status="ended", agent_id="1002")
    at = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    bad = await site.as_("agent2", "POST", "/api/calls/in-9/wrap-up",
                         json={"disposition": "callback_scheduled", "callback_at": at.isoformat()})
    assert bad.status_code == 422 and bad.json()["detail"]["field"] == "callback_number"  # an extension
    ok = await site.as_("agent2", "POST", "/api/calls/in-9/wrap-up", json={
        "disposition": "callback_scheduled", "callback_at": at.isoformat(), "callback_number": "+8613912345678"})
    assert ok.status_code == 200, ok.text
    result = ok.json()["result"]
    row = await site.row(result["callback_id"])
    assert (row.number, row.queue, row.state, row.due_at, row.case_id) == (
        "+8613912345678", "billing", "pending", at, result["callback_case_id"])
    async with site.engine.db.session() as s:
        case = await s.get(Case, row.case_id)
        assert case is not None and case.category == "callback" and case.due_at == at


async def test_openapi_documents_the_callback_endpoints(site: Site) -> None:
    spec = (await site.http.get("/openapi.json")).json()
    claim = spec["paths"]["/api/callbacks/{callback_id}/claim"]["post"]
    assert claim["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/CallbackView")
    assert claim["responses"]["409"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
    call = spec["paths"]["/api/callbacks/{callback_id}/call"]["post"]
    assert call["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/CallbackCall")
    assert "no_answer" in spec["components"]["schemas"]["WrapUpFields"]["properties"]
    assert {"/api/callbacks", "/api/callbacks/{callback_id}/release"} <= set(spec["paths"])


async def test_the_engine_applies_the_configured_call_timeout(tmp_path: Path) -> None:
    """callbacks.call_timeout_min reaches the desk: a call placed 45 min ago and never wrapped up
    is lost with a 30 min limit (it would still be held under the 120 min default)."""
    settings = load_settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}", state_dir=tmp_path / "state",
                             callbacks={"call_timeout_min": 30})
    await seeded_db(tmp_path / "crm.db", settings.config_dir)
    engine = Engine(settings, web=False)
    try:
        async with engine.db.session() as s:
            cb = await callbacks.create_callback(session=s, number="13800138001", queue="support",
                                                 due_at=datetime.now(UTC) - timedelta(hours=1))
            cb.state, cb.claimed_by = "claimed", "1001"
            cb.claimed_at = cb.called_at = datetime.now(UTC) - timedelta(minutes=45)
            await s.commit()
            cb_id = cb.id
        await engine.desk.callbacks(None, everyone=True)
        async with engine.db.session() as s:
            row = await callbacks.get_callback(session=s, callback_id=cb_id)
        assert (row.state, row.attempts, row.claimed_by) == ("pending", 1, None)
    finally:
        await engine.db.dispose()


async def test_a_callback_time_needs_its_offset_and_is_kept_as_that_instant(site: Site) -> None:
    """The wrap-up's ``callback_at`` is an instant: a time without a UTC offset is refused (422 naming
    the field, the message showing the form), never read in the server's zone; one with the agent's
    offset (+08:00 here, the server's clock being UTC) is due at that very instant."""
    site.engine.acd.wrapups[("1002", "in-8")] = LiveCall(
        linkedid="in-8", caller_channel="", caller_number="+8613912345678", queue="billing", status="ended",
        agent_id="1002")
    shanghai = timezone(timedelta(hours=8))
    at = (datetime.now(shanghai) + timedelta(days=2)).replace(hour=9, minute=30, second=0, microsecond=0)
    naive = await site.as_("agent2", "POST", "/api/calls/in-8/wrap-up", json={
        "disposition": "callback_scheduled", "callback_at": at.replace(tzinfo=None).isoformat()})
    assert naive.status_code == 422, naive.text
    detail = naive.json()["detail"]
    assert detail["field"] == "callback_at" and "offset" in detail["message"], detail
    ok = await site.as_("agent2", "POST", "/api/calls/in-8/wrap-up", json={
        "disposition": "callback_scheduled", "callback_at": at.isoformat()})
    assert ok.status_code == 200, ok.text
    row = await site.row(ok.json()["result"]["callback_id"])
    assert row.due_at == at and row.due_at.astimezone(UTC).hour == 1
