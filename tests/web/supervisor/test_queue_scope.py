"""Supervisors see and act on their own queues only (docs/security.md, "Supervisors' queues").

sup1 is assigned billing: the wallboard (REST and websocket) shows billing's row, callers, agents,
alerts and totals only; reports, charts, callbacks and recordings are billing's (another queue asked
for is a 403 naming it); an intervention on an agent serving none of billing is a 403 naming the
agent. Managers and administrators see everything; a supervisor without an assignment sees every
queue (the default). A real (unstarted) Engine, seeded SQLite CRM."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
import websockets
from sqlalchemy import select

from acd.calls import LiveCall
from crm_core.audit import AuditEntry
from crm_core.models import Interaction, User
from crm_core.recordings import add_recording
from cti.ami.control import FakeCallControl
from tests.web.supervisor.conftest import Site, login
from tests.web.supervisor.test_supervisor_api import add_calls
from tests.web.supervisor.test_supervisor_callbacks import some_callbacks

PASSWORDS = {"sup1": "sup1-demo-1", "admin": "admin-demo-1", "mgr1": "mgr1-demo-1"}


@asynccontextmanager
async def as_user(site: Site, username: str) -> AsyncIterator[httpx.AsyncClient]:
    async with site.client() as c:
        await login(c, username, PASSWORDS[username])
        yield c


async def assign(site: Site, username: str, queues: list[str]) -> httpx.Response:
    async with as_user(site, "admin") as admin:
        users = (await admin.get("/api/admin/users")).json()
        uid = next(u["id"] for u in users if u["username"] == username)
        return await admin.patch(f"/api/admin/users/{uid}", json={"queues": queues})


async def floor(site: Site) -> None:
    """1001 serves support, 1002 billing; callers wait in both; the day's calls of both."""
    eng = site.engine
    eng.ami.control = FakeCallControl()  # type: ignore[assignment]
    now = time.time()
    await add_calls(site, now)  # support: c1..c4, billing: c6
    eng.router.agent_login("1001", {"support": 3}, now - 60, queues=["support"])
    eng.router.agent_login("1002", {"billing": 3}, now - 60, queues=["billing"])
    for linkedid, number, queue in (("W1", "+8613800000001", "support"), ("W2", "+8613800000002", "billing")):
        eng.acd.calls[linkedid] = LiveCall(linkedid=linkedid, caller_channel=f"PJSIP/trunk-{linkedid}",
                                           caller_number=number, queue=queue, queued_at=now - 30)
        eng.router.enqueue(linkedid, queue, now - 30)
    site.svc.invalidate_records()
    await site.svc.wallboard.refresh()


def _forbidden(r: httpx.Response, *words: str) -> None:
    assert r.status_code == 403, (r.status_code, r.text)
    detail = r.json()["detail"]
    assert detail["code"] == "forbidden", detail
    for w in words:
        assert w in detail["message"], (w, detail)


async def test_an_administrator_assigns_a_supervisor_queues_audited_unknown_ones_named(site: Site) -> None:
    r = await assign(site, "sup1", ["billing", "sales", "billing"])
    assert r.status_code == 200, r.text
    assert r.json()["queues"] == ["billing", "sales"]
    async with as_user(site, "admin") as admin:
        listed = {u["username"]: u for u in (await admin.get("/api/admin/users")).json()}
        assert listed["sup1"]["queues"] == ["billing", "sales"] and listed["mgr1"]["queues"] == []
        uid = listed["sup1"]["id"]
        # Unknown queues: a 422 naming them (and nothing written).
        r = await admin.patch(f"/api/admin/users/{uid}", json={"queues": ["billing", "suport", "xyz"]})
        assert r.status_code == 422, r.text
        detail = r.json()["detail"]
        assert detail["field"] == "queues" and "suport, xyz" in detail["message"], detail
        # Not a queue name at all (a NUL would reach the database): 422 naming the field.
        r = await admin.patch(f"/api/admin/users/{uid}", json={"queues": ["bill\u0000ing"]})
        assert r.status_code == 422 and "queues" in r.text, r.text
        # Only supervisors have queues: a manager oversees every one.
        r = await admin.patch(f"/api/admin/users/{listed['mgr1']['id']}", json={"queues": ["billing"]})
        assert r.status_code == 422 and r.json()["detail"]["field"] == "queues", r.text
        # A new supervisor given queues at once.
        r = await admin.post("/api/admin/users", json={"username": "sup2", "password": "copper-lantern-57",
                                                       "role": "supervisor", "queues": ["support"]})
        assert r.status_code == 201 and r.json()["queues"] == ["support"], r.text
        r = await admin.post("/api/admin/users", json={"username": "sup3", "password": "copper-lantern-57",
                                                       "role": "supervisor", "queues": ["nope"]})
        assert r.status_code == 422 and "nope" in r.json()["detail"]["message"], r.text
        assert "sup3" not in {u["username"] for u in (await admin.get("/api/admin/users")).json()}
        # Demoted to manager: the assignment goes with the role.
        r = await admin.patch(f"/api/admin/users/{uid}", json={"role": "manager"})
        assert r.status_code == 200 and r.json()["queues"] == [], r.text
    async with site.engine.db.session() as s:
        rows = (await s.scalars(select(AuditEntry).where(AuditEntry.action == "user.changed",
                                                         AuditEntry.target == "user:sup1")
                                .order_by(AuditEntry.id))).all()
    assert [r.detail.get("queues") for r in rows] == [{"before": [], "after": ["billing", "sales"]},
                                                      {"before": ["billing", "sales"], "after": []}]
    async with as_user(site, "mgr1") as mgr:  # not an administrator: no assigning
        assert (await mgr.patch(f"/api/admin/users/{uid}", json={"queues": []})).status_code == 403


async def test_the_wallboard_shows_a_supervisor_their_queues_callers_agents_and_totals(site: Site) -> None:
    await floor(site)
    async with as_user(site, "sup1") as sup:
        # No assignment: every queue (the default, as before assignments existed).
        everything = (await sup.get("/api/supervisor/wallboard")).json()
        assert {q["queue"] for q in everything["queues"]} >= {"support", "billing"}
        assert (await assign(site, "sup1", ["billing"])).status_code == 200
        board = (await sup.get("/api/supervisor/wallboard")).json()
        assert [q["queue"] for q in board["queues"]] == ["billing"]
        assert [(w["queue"], w["caller_number"]) for w in board["waiting_calls"]] == [("billing", "+8613800000002")]
        ids = {a["agent_id"] for a in board["agents"]}
        assert "1002" in ids and "1001" not in ids
        assert board["totals"]["waiting"] == 1 and board["totals"]["today"]["offered"] == 1  # billing's c6 only
        agents = (await sup.get("/api/supervisor/agents")).json()
        assert {a["agent_id"] for a in agents} == ids
        assert "+8613800000001" not in json.dumps(board)
    for user in ("admin", "mgr1"):
        async with as_user(site, user) as c:
            board = (await c.get("/api/supervisor/wallboard")).json()
            assert {q["queue"] for q in board["queues"]} >= {"support", "billing"}, user
            assert {w["queue"] for w in board["waiting_calls"]} == {"support", "billing"}, user
            assert {"1001", "1002"} <= {a["agent_id"] for a in board["agents"]}, user


async def test_the_supervisor_websocket_pushes_only_their_queues(site: Site) -> None:
    await floor(site)
    assert (await assign(site, "sup1", ["billing"])).status_code == 200
    site.svc.wallboard.invalidate_records()
    await site.svc.wallboard.refresh()  # the assignments are read with the records
    async with site.client() as c:
        token = await login(c, "sup1", "sup1-demo-1")
    url = site.base.replace("http", "ws") + f"/ws/supervisor?token={token}"
    async with websockets.connect(url) as ws:
        boards = []
        while len(boards) < 2:  # the first (on connect) and one pushed by the loop
            frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
            if frame["type"] == "wallboard":
                boards.append(frame)
    for board in boards:
        assert [q["queue"] for q in board["queues"]] == ["billing"]
        assert {w["queue"] for w in board["waiting_calls"]} == {"billing"}
        assert "1001" not in {a["agent_id"] for a in board["agents"]}


async def test_a_supervisor_acts_only_on_the_agents_of_their_queues(site: Site) -> None:
    await floor(site)
    eng = site.engine
    assert (await assign(site, "sup1", ["billing"])).status_code == 200
    eng.acd.calls["L1"] = LiveCall(linkedid="L1", caller_channel="PJSIP/trunk-0001", caller_number="+8613800000000",
                                   queue="support", status="talking", agent_id="1001",
                                   agent_channel="Local/1001@cti-sim-phone-00000001;1", answered_at=time.time())
    async with as_user(site, "sup1") as sup:
        for method, path, body in (("POST", "/api/supervisor/agents/1001/not-ready", {"reason": "supervisor"}),
                                   ("POST", "/api/supervisor/agents/1001/logout", None),
                                   ("POST", "/api/supervisor/agents/1001/spy", {"mode": "listen", "phone": "2001"}),
                                   ("PUT", "/api/supervisor/agents/1001/skills", {"skills": {"billing": 2}})):
            _forbidden(await sup.request(method, path, json=body), "agent 1001", "billing")
        assert eng.router.agent("1001").state.value == "not_ready" and eng.router.agent("1001").reason == "login"
        # Their own team's agent: as before. A skill naming another team's queue stays theirs to give.
        r = await sup.put("/api/supervisor/agents/1002/skills", json={"skills": {"billing": 5, "support": 2}})
        _forbidden(r, "'support'")
        r = await sup.put("/api/supervisor/agents/1002/skills", json={"skills": {"billing": 5, "en": 2}})
        assert r.status_code == 200, r.text
        assert dict(eng.router.agent("1002").skills) == {"billing": 5, "en": 2}
        r = await sup.post("/api/supervisor/agents/1002/logout")
        assert r.status_code == 200, r.text
    async with as_user(site, "admin") as admin:
        r = await admin.post("/api/supervisor/agents/1001/logout")
        assert r.status_code == 200, r.text
        everything = {(e["action"], e["target"]) for e in (await admin.get("/api/supervisor/audit")).json()}
        assert {("agent.force_logout", "agent:1001"), ("agent.force_logout", "agent:1002"),
                ("user.changed", "user:sup1")} <= everything
    # The audit log: their own steps and those about their agents and queues, not the other team's.
    await eng.acd.agent_login("1003", {"billing": 1}, ["billing"], ready=True)
    async with as_user(site, "admin") as admin:
        assert (await admin.post("/api/supervisor/agents/1003/logout")).status_code == 200
    async with as_user(site, "sup1") as sup:
        seen = {(e["action"], e["target"]) for e in (await sup.get("/api/supervisor/audit")).json()}
        assert {("agent.force_logout", "agent:1002"), ("agent.force_logout", "agent:1003")} <= seen, seen
        assert ("agent.force_logout", "agent:1001") not in seen and ("user.changed", "user:sup1") not in seen


async def test_reports_and_charts_are_of_the_supervisors_queues(site: Site) -> None:
    await floor(site)
    async with as_user(site, "sup1") as sup:
        all_rows = (await sup.get("/api/supervisor/reports?interval=day")).json()["rows"]
        assert sum(r["kpis"]["offered"] for r in all_rows) == 5  # c1..c4 and c6: every queue
        assert (await assign(site, "sup1", ["billing"])).status_code == 200
        _forbidden(await sup.get("/api/supervisor/reports?queue=support"), "'support'", "billing")
        _forbidden(await sup.get("/api/supervisor/reports?queue=billing&queue=support&format=csv"), "'support'")
        _forbidden(await sup.get("/api/supervisor/reports/chart.svg?queue=support"), "'support'")
        rows = (await sup.get("/api/supervisor/reports?interval=day")).json()["rows"]
        assert sum(r["kpis"]["offered"] for r in rows) == 1  # billing's c6 only
        by_queue = (await sup.get("/api/supervisor/reports?interval=day&group_by=queue")).json()["rows"]
        assert {r["key"] for r in by_queue} == {"billing"}
        text = (await sup.get("/api/supervisor/reports?interval=day&group_by=queue&format=csv")).text
        assert {row["key"] for row in csv.DictReader(io.StringIO(text))} == {"billing"}
        assert (await sup.get("/api/supervisor/reports/chart.svg?queue=billing")).status_code == 200
    async with as_user(site, "admin") as admin:
        rows = (await admin.get("/api/supervisor/reports?interval=day&group_by=queue")).json()["rows"]
        assert {"support", "billing"} <= {r["key"] for r in rows}


async def test_callbacks_of_other_queues_are_neither_listed_nor_cancelled(site: Site) -> None:
    ids = await some_callbacks(site)  # support ones, one billing, one personal
    assert (await assign(site, "sup1", ["billing"])).status_code == 200
    async with as_user(site, "sup1") as sup:
        listed = (await sup.get("/api/supervisor/callbacks")).json()
        assert [c["id"] for c in listed] == [ids["billing"]]
        _forbidden(await sup.get("/api/supervisor/callbacks?queue=support"), "'support'")
        _forbidden(await sup.post(f"/api/supervisor/callbacks/{ids['due']}/cancel", json={"reason": "dup"}),
                   f"callback {ids['due']}", "support")
        r = await sup.post(f"/api/supervisor/callbacks/{ids['billing']}/cancel", json={"reason": "dup"})
        assert r.status_code == 200, r.text
    async with as_user(site, "admin") as admin:
        assert len((await admin.get("/api/supervisor/callbacks")).json()) == 5  # the rest, personal one too


async def test_recordings_of_other_queues_are_neither_listed_nor_played(site: Site) -> None:
    started = datetime.now(UTC) - timedelta(minutes=5)
    async with site.engine.db.session() as s:
        for lid, queue in (("R-support", "support"), ("R-billing", "billing")):
            s.add(Interaction(linkedid=lid, started_at=started, agent_id="1001", queue=queue,
                              caller_number="+8613800000009", direction="inbound", status="complete"))
            await s.flush()
            await add_recording(session=s, linkedid=lid, path=f"{lid}.wav", duration_s=2.0, size_bytes=10,
                                started_at=started, ended_at=started, pauses=[])
    async with as_user(site, "sup1") as sup:
        ids = {r["linkedid"]: r["id"] for r in (await sup.get("/api/recordings")).json()}
        assert {"R-support", "R-billing"} <= set(ids)  # no assignment: every queue
        assert (await assign(site, "sup1", ["billing"])).status_code == 200
        listed = (await sup.get("/api/recordings")).json()
        assert {r["queue"] for r in listed} == {"billing"}, listed
        _forbidden(await sup.get("/api/recordings?queue=support"), "'support'")
        _forbidden(await sup.get(f"/api/recordings/{ids['R-support']}/audio"), "support", "billing")
        # Their queue's: past the policy (no file in this test's store: 404).
        assert (await sup.get(f"/api/recordings/{ids['R-billing']}/audio")).status_code == 404
    async with as_user(site, "admin") as admin:
        assert {r["queue"] for r in (await admin.get("/api/recordings")).json()} >= {"support", "billing"}


async def test_alerts_about_other_queues_are_neither_shown_nor_acknowledged(site: Site) -> None:
    eng = site.engine
    eng.ami.control = FakeCallControl()  # type: ignore[assignment]
    now = time.time()
    # Past both waiting_above thresholds (config/alerts.yaml: support 10, billing 8), nobody logged in
    # to take them (support's no-agents action would send its callers on).
    eng.router.agent_login("1002", {"support": 1, "billing": 1}, now - 60, queues=["support", "billing"])
    for i in range(12):
        for queue in ("support", "billing"):
            eng.router.enqueue(f"{queue}-{i}", queue, now - 5)
    board = await site.svc.wallboard.refresh()
    await site.svc.alerts.evaluate(board, board["ts"])  # now, whenever the loop last evaluated
    assert (await assign(site, "sup1", ["billing"])).status_code == 200
    async with as_user(site, "admin") as admin:
        active = (await admin.get("/api/supervisor/alerts")).json()["active"]
        support = next(a for a in active if a["rule_id"] == "support-waiting")
        assert any(a["rule_id"] == "billing-waiting" for a in active)
    async with as_user(site, "sup1") as sup:
        alerts = (await sup.get("/api/supervisor/alerts")).json()
        seen = {a["rule_id"] for a in alerts["active"]}
        assert "billing-waiting" in seen and "support-waiting" not in seen
        assert {r["queue"] for r in alerts["rules"]} == {"billing", None}  # the other teams' thresholds neither
        board = (await sup.get("/api/supervisor/wallboard")).json()
        assert all(a.get("queue") in (None, "billing") for a in board["alerts"]), board["alerts"]
        _forbidden(await sup.post(f"/api/supervisor/alerts/{support['alert_id']}/ack"), "billing")


async def test_campaigns_of_other_queues_are_neither_listed_read_filled_nor_steered(site: Site) -> None:
    spec = {"mode": "preview", "timezone": "Asia/Shanghai", "caller_id": "010 5888 0002"}
    async with as_user(site, "admin") as admin:
        ids = {}
        for name, queue in (("spring-sales", "sales"), ("spring-billing", "billing")):
            r = await admin.post("/api/campaigns", json={**spec, "name": name, "queue": queue})
            assert r.status_code == 201, r.text
            ids[queue] = r.json()["id"]
    assert (await assign(site, "sup1", ["billing"])).status_code == 200
    async with as_user(site, "sup1") as sup:
        assert [c["id"] for c in (await sup.get("/api/campaigns")).json()] == [ids["billing"]]
        assert (await sup.get("/api/campaigns/options")).json()["queues"] == ["billing"]
        sales = ids["sales"]
        one = {"contacts": [{"number": "13900000001"}]}
        for method, path, body in (("GET", f"/api/campaigns/{sales}", None),
                                   ("POST", f"/api/campaigns/{sales}/contacts", one),
                                   ("POST", f"/api/campaigns/{sales}/dnc", {"number": "13900000001"}),
                                   ("POST", f"/api/campaigns/{sales}/start", None)):
            _forbidden(await sup.request(method, path, json=body), f"campaign {sales}", "'sales'", "billing")
        r = await sup.post(f"/api/campaigns/{sales}/contacts.csv", content="number\n13900000001\n",
                           headers={"Content-Type": "text/csv"})
        _forbidden(r, "'sales'")
        _forbidden(await sup.post("/api/campaigns", json={**spec, "name": "mine", "queue": "sales"}), "'sales'")
        assert (await sup.post("/api/campaigns", json={**spec, "name": "mine", "queue": "billing"})).status_code == 201
        assert (await sup.get(f"/api/campaigns/{ids['billing']}")).status_code == 200
        r = await sup.post(f"/api/campaigns/{ids['billing']}/contacts", json={"contacts": [{"number": "13900000001"}]})
        assert r.status_code == 201, r.text
    async with as_user(site, "admin") as admin:
        assert (await admin.get(f"/api/campaigns/{sales}")).json()["contacts"] == {}  # nothing was added
        assert len((await admin.get("/api/campaigns")).json()) == 3


async def test_a_waiting_virtual_hold_entry_of_another_queue_is_not_cancelled(site: Site) -> None:
    from acd.virtual_hold import VirtualEntry

    eng = site.engine
    eng.ami.control = FakeCallControl()  # type: ignore[assignment]
    now = time.time()
    eng.router.agent_login("1002", {"support": 1, "billing": 1}, now - 60, queues=["support", "billing"])
    for entry_id, queue in (("web-s", "support"), ("web-b", "billing")):
        eng.router.enqueue(entry_id, queue, now - 10, virtual=True)
        eng.virtual_hold.entries[entry_id] = VirtualEntry(entry_id, "+8613900000009", queue, now - 10, source="web")
    assert (await assign(site, "sup1", ["billing"])).status_code == 200
    async with as_user(site, "sup1") as sup:
        _forbidden(await sup.post("/api/supervisor/callback-requests/web-s/cancel"), "web-s", "'support'", "billing")
        assert "web-s" in eng.virtual_hold.entries
        r = await sup.post("/api/supervisor/callback-requests/web-b/cancel")
        assert r.status_code == 200 and r.json()["queue"] == "billing", r.text
    async with as_user(site, "admin") as admin:
        assert (await admin.post("/api/supervisor/callback-requests/web-s/cancel")).status_code == 200


async def test_the_crm_shows_a_supervisor_the_calls_and_pops_of_their_queues(site: Site) -> None:
    await floor(site)  # c1..c4 support, c6 billing (c5 never queued)
    async with site.engine.db.session() as s:
        ids = {i.linkedid: i.id for i in (await s.scalars(select(Interaction))).all()}
    assert (await assign(site, "sup1", ["billing"])).status_code == 200
    async with as_user(site, "sup1") as sup:
        page = (await sup.get("/api/crm/interactions?limit=100")).json()
        assert {i["linkedid"] for i in page["items"]} == {"c6"} and page["total"] == 1
        _forbidden(await sup.get("/api/crm/interactions?queue=support"), "'support'")
        assert (await sup.get(f"/api/crm/interactions/{ids['c6']}")).status_code == 200
        _forbidden(await sup.get(f"/api/crm/interactions/{ids['c1']}"), "support", "billing")
        _forbidden(await sup.put(f"/api/crm/interactions/{ids['c1']}/customer", json={"customer_id": 1}), "support")
        # Pops: of a stored call and of a live one (the caller waiting in support, W1).
        assert (await sup.get("/api/crm/screenpop/c6")).status_code == 200
        _forbidden(await sup.get("/api/crm/screenpop/c1"), "call c1", "support")
        _forbidden(await sup.get("/api/crm/screenpop/W1"), "call W1", "support")
        assert (await sup.get("/api/crm/screenpop/W2")).status_code == 200
        # No such call: 404, as for every role; a call of no queue, not theirs: as good as absent
        # (a 403 there would tell an unknown id from a queueless call: c5 never queued).
        for absent in ("nope.1", "c5"):
            r = await sup.get(f"/api/crm/screenpop/{absent}")
            assert r.status_code == 404 and r.json()["detail"]["code"] == "not_found", (absent, r.text)
    async with as_user(site, "admin") as admin:
        assert (await admin.get("/api/crm/interactions?limit=100")).json()["total"] == 6
        assert (await admin.get("/api/crm/screenpop/W1")).status_code == 200
        assert (await admin.get("/api/crm/screenpop/c5")).status_code == 200  # a queueless call: there
        assert (await admin.get("/api/crm/screenpop/nope.1")).status_code == 404


async def test_the_database_away_a_supervisor_keeps_the_queues_last_read(site: Site) -> None:
    """The wallboard works through a database outage (docs/resilience.md): the scope of a REST
    request falls back to the assignment the wallboard last read, never to every queue."""
    from agent_console.security import Principal
    from crm_core.errors import DatabaseUnavailable

    assert (await assign(site, "sup1", ["billing"])).status_code == 200
    async with site.engine.db.session() as s:
        uid = (await s.scalars(select(User.id).where(User.username == "sup1"))).one()
    sup1 = Principal(user_id=uid, username="sup1", role="supervisor", agent_id=None)
    site.svc.wallboard.invalidate_records()
    await site.svc.wallboard.refresh()  # reads the assignments with the records

    @asynccontextmanager
    async def down() -> AsyncIterator[None]:
        raise DatabaseUnavailable("database unavailable: test")
        yield

    real = site.engine.db.session
    site.engine.db.session = down  # type: ignore[method-assign]
    try:
        scope = await site.svc.scope_of(sup1)
    finally:
        site.engine.db.session = real  # type: ignore[method-assign]
    assert scope.queues == frozenset({"billing"})


async def test_a_live_calls_recording_of_another_queue_is_not_controlled(site: Site) -> None:
    eng = site.engine
    for linkedid, queue in (("L-s", "support"), ("L-b", "billing")):
        eng.acd.calls[linkedid] = LiveCall(linkedid=linkedid, caller_channel=f"PJSIP/trunk-{linkedid}",
                                           caller_number="+8613800000000", queue=queue, status="talking",
                                           agent_id="1001", answered_at=time.time())
    assert (await assign(site, "sup1", ["billing"])).status_code == 200
    async with as_user(site, "sup1") as sup:
        _forbidden(await sup.get("/api/calls/L-s/recording"), "call L-s", "'support'", "billing")
        for action in ("pause", "resume", "start"):
            _forbidden(await sup.post(f"/api/calls/L-s/recording/{action}"), "'support'")
        assert (await sup.get("/api/calls/L-b/recording")).json()["state"] == "off"
    async with as_user(site, "admin") as admin:
        assert (await admin.get("/api/calls/L-s/recording")).json()["state"] == "off"
