"""A supervisor moves a waiting caller to another queue (POST /api/supervisor/calls/{linkedid}/move):
the policy's ``supervisor.move_call`` (supervisors and administrators; not managers, not agents),
both queues in the supervisor's scope, the move audited ``call.move`` and published as the call's
``call.queue_left`` (reason ``moved``) and ``call.queued``; the board shows the caller in its new
queue with its wait kept. Unknown or no-longer-waiting calls are 404, one ringing an agent 409, an
unknown queue (or its own) 422. A real (unstarted) Engine, seeded SQLite CRM."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import websockets

from acd.calls import LiveCall
from cti.ami.control import FakeCallControl
from cti.events import Event
from cti.journey import QueueEntered, QueueLeft
from tests.web.supervisor.conftest import Site, login
from tests.web.supervisor.test_queue_scope import PASSWORDS, as_user, assign


def _waiting(site: Site, linkedid: str, queue: str, ago: float, skills: dict[str, int] | None = None) -> float:
    eng = site.engine
    now = time.time()
    eng.acd.calls[linkedid] = LiveCall(linkedid=linkedid, caller_channel=f"PJSIP/trunk-{linkedid}",
                                       caller_number="+8613800000001", queue=queue, queued_at=now - ago,
                                       skills=skills)
    eng.router.enqueue(linkedid, queue, now - ago, skills=skills)
    return now - ago


async def test_a_supervisor_moves_a_waiting_caller_and_it_is_audited(site: Site) -> None:
    eng = site.engine
    eng.ami.control = FakeCallControl()  # type: ignore[assignment]
    seen: list[Event] = []

    async def record(ev: Event) -> None:
        seen.append(ev)

    eng.bus.subscribe(QueueLeft, record, name="test.left")
    eng.bus.subscribe(QueueEntered, record, name="test.entered")
    await eng.bus.start()
    now = time.time()
    # Logged in, not ready: the calls wait (with nobody logged in, a queue sends them on).
    eng.router.agent_login("1002", {"support": 3, "billing": 3}, now - 60, queues=["support", "billing"])
    since = _waiting(site, "W1", "support", 40, skills={"support": 2, "zh": 1})
    async with site.client() as c:
        await login(c, "sup1", "sup1-demo-1")
        r = await c.post("/api/supervisor/calls/W1/move", json={"queue": "billing"})
        assert r.status_code == 200, r.text
        entry = r.json()
        assert (entry["action"], entry["target"], entry["actor"]) == ("call.move", "call:W1", "sup1")
        assert entry["detail"] == {"queue": "support", "to": "billing", "linkedid": "W1"}
        listed = [w for w in (await c.get("/api/supervisor/wallboard")).json()["waiting_calls"]
                  if w["linkedid"] == "W1"]
        assert [(w["queue"], w["position"]) for w in listed] == [("billing", 1)]
        assert abs(listed[0]["since"] - since) < 0.01  # its wait counts from its first entry
        assert eng.acd.calls["W1"].queue == "billing" and eng.acd.calls["W1"].skills == {"zh": 1}
        audit = (await c.get("/api/supervisor/audit", params={"target": "call:W1"})).json()
        assert [a["action"] for a in audit] == ["call.move"]
        # Its own queue now, an unknown queue, an empty one: 422 naming the field.
        for body in ({"queue": "billing"}, {"queue": "nowhere"}, {"queue": ""}):
            r = await c.post("/api/supervisor/calls/W1/move", json=body)
            assert r.status_code == 422, (body, r.text)
            assert "queue" in r.text
        # Unknown call: 404.
        r = await c.post("/api/supervisor/calls/nobody/move", json={"queue": "support"})
        assert r.status_code == 404, r.text
    await eng.bus.drain()  # type: ignore[attr-defined]
    left = [e for e in seen if isinstance(e, QueueLeft)]
    assert [(e.queue, e.reason, e.target) for e in left] == [("support", "moved", "billing")]
    entered = [e for e in seen if isinstance(e, QueueEntered)]
    assert [(e.queue, e.skills) for e in entered] == [("billing", {"zh": 1})]
    await eng.bus.stop()


async def test_a_ringing_or_connected_call_is_not_moved(site: Site) -> None:
    eng = site.engine
    eng.ami.control = FakeCallControl()  # type: ignore[assignment]
    await eng.acd.agent_login("1001", {"support": 3}, ["support"], ready=True)
    eng.acd.calls["R1"] = LiveCall(linkedid="R1", caller_channel="PJSIP/trunk-R1", caller_number="+8613800000001",
                                   queue="support", queued_at=time.time())
    eng.router.enqueue("R1", "support", time.time())  # offered to 1001 at once: ringing
    assert eng.router.call("R1").state.value == "ringing"
    async with as_user(site, "admin") as c:
        r = await c.post("/api/supervisor/calls/R1/move", json={"queue": "billing"})
        assert r.status_code == 409 and r.json()["detail"]["code"] == "acd_call_not_movable", r.text
        eng.router.offer_answered("R1", "1001", time.time())
        r = await c.post("/api/supervisor/calls/R1/move", json={"queue": "billing"})
        assert r.status_code == 404 and r.json()["detail"]["code"] == "acd_call_not_waiting", r.text
        assert (await c.get("/api/supervisor/audit", params={"target": "call:R1"})).json() == []
    assert eng.router.call("R1").queue == "support"


async def test_only_the_floor_of_both_queues_moves_a_caller(site: Site) -> None:
    eng = site.engine
    eng.ami.control = FakeCallControl()  # type: ignore[assignment]
    now = time.time()
    eng.router.agent_login("1002", {"support": 3, "billing": 3}, now - 60, queues=["support", "billing", "sales"])
    _waiting(site, "W1", "support", 30)
    _waiting(site, "W2", "billing", 30)
    async with site.client() as c:
        await login(c, "agent1", "agent1-demo")
        r = await c.post("/api/supervisor/calls/W1/move", json={"queue": "billing"})
        assert r.status_code == 403 and r.json()["detail"]["code"] == "forbidden"
    async with as_user(site, "mgr1") as c:  # managers do not intervene in calls
        r = await c.post("/api/supervisor/calls/W1/move", json={"queue": "billing"})
        assert r.status_code == 403 and r.json()["detail"]["code"] == "forbidden"
    assert (await assign(site, "sup1", ["billing", "sales"])).status_code == 200
    async with as_user(site, "sup1") as c:
        r = await c.post("/api/supervisor/calls/W1/move", json={"queue": "billing"})  # from support: not theirs
        assert r.status_code == 403 and "support" in r.json()["detail"]["message"], r.text
        r = await c.post("/api/supervisor/calls/W2/move", json={"queue": "support"})  # to support: not theirs
        assert r.status_code == 403 and "support" in r.json()["detail"]["message"], r.text
        assert eng.router.call("W1").queue == "support" and eng.router.call("W2").queue == "billing"
        r = await c.post("/api/supervisor/calls/W2/move", json={"queue": "sales"})  # both theirs
        assert r.status_code == 200, r.text
    assert eng.router.call("W2").queue == "sales"
    async with as_user(site, "admin") as c:
        r = await c.post("/api/supervisor/calls/W1/move", json={"queue": "general"})
        assert r.status_code == 200, r.text
        assert [a["actor"] for a in (await c.get("/api/supervisor/audit", params={"action": "call.move"})).json()] \
            == ["admin", "sup1"]
    assert eng.router.call("W1").queue == "general"


async def _board_where(ws: websockets.ClientConnection, linkedid: str, queues: set[str],
                       rows: set[str] | None = None) -> dict[str, Any]:
    """The next wallboard frame that lists ``linkedid`` waiting in one of ``queues`` (set(): in none),
    with the queue rows ``rows`` when given (a websocket takes a new assignment at its next read of
    the records)."""
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if frame["type"] != "wallboard" or (rows is not None and {q["queue"] for q in frame["queues"]} != rows):
            continue
        if {w["queue"] for w in frame["waiting_calls"] if w["linkedid"] == linkedid} == queues:
            return dict(frame)


async def test_every_supervisor_watching_sees_the_caller_another_one_moved(site: Site) -> None:
    """Two supervisors watch the board (websocket) while a third moves a caller: the one of every
    queue sees it leave support for billing; the one assigned billing only sees it arrive there. The
    board is built from the router at each push (the move pushes one at once), so no list goes stale."""
    eng = site.engine
    eng.ami.control = FakeCallControl()  # type: ignore[assignment]
    eng.router.agent_login("1002", {"support": 3, "billing": 3}, time.time() - 60, queues=["support", "billing"])
    _waiting(site, "W1", "support", 20)
    assert (await assign(site, "sup1", ["billing"])).status_code == 200
    ws_url = site.base.replace("http", "ws") + "/ws/supervisor"
    async with site.client() as c:
        every_token = await login(c, "mgr1", PASSWORDS["mgr1"])
    async with site.client() as c:
        billing_token = await login(c, "sup1", PASSWORDS["sup1"])
    async with websockets.connect(f"{ws_url}?token={every_token}") as every, \
            websockets.connect(f"{ws_url}?token={billing_token}") as billing:
        await _board_where(every, "W1", {"support"})
        await _board_where(billing, "W1", set(), rows={"billing"})  # support's caller is not sup1's
        async with as_user(site, "admin") as admin:
            r = await admin.post("/api/supervisor/calls/W1/move", json={"queue": "billing"})
            assert r.status_code == 200, r.text
        seen = await _board_where(every, "W1", {"billing"})
        assert [w["position"] for w in seen["waiting_calls"] if w["linkedid"] == "W1"] == [1]
        await _board_where(billing, "W1", {"billing"}, rows={"billing"})


async def test_the_public_feed_says_who_moved_the_caller_and_where(site: Site) -> None:
    """The feed's ``call.queue_left`` of a move names the supervisor who made it (``actor``,
    ``actor_role``, as ``supervisor.intervention`` names them) and the queue it went to (``target``);
    the feed is read under its own access rule (administrators, integration tokens). Before, the
    move's ``call.queue_left`` had no actor: only the audit knew who moved the caller."""
    eng = site.engine
    eng.ami.control = FakeCallControl()  # type: ignore[assignment]
    eng.feed.subscribe(eng.bus)
    await eng.feed.start()
    await eng.bus.start()
    eng.router.agent_login("1002", {"support": 3, "billing": 3}, time.time() - 60, queues=["support", "billing"])
    _waiting(site, "W1", "support", 40)
    async with as_user(site, "sup1") as c:
        r = await c.post("/api/supervisor/calls/W1/move", json={"queue": "billing"})
        assert r.status_code == 200, r.text
        assert (await c.get("/api/events")).status_code == 403  # a supervisor does not read the feed
    await eng.bus.drain()  # type: ignore[attr-defined]
    await eng.feed.flush()
    async with as_user(site, "admin") as c:
        r = await c.get("/api/events", params={"types": "call.queue_left,call.queued"})
        assert r.status_code == 200, r.text
        events = r.json()["events"]
    left = [e for e in events if e["type"] == "call.queue_left"]
    assert [(e["call_id"], e["queue"]) for e in left] == [("W1", "support")]
    data = left[0]["data"]
    assert (data["reason"], data["target"], data["actor"], data["actor_role"]) == (
        "moved", "billing", "sup1", "supervisor")
    assert data["waited_s"] >= 39.0
    assert [(e["call_id"], e["queue"]) for e in events if e["type"] == "call.queued"] == [("W1", "billing")]
    await eng.bus.stop()
    await eng.feed.stop()
