"""A supervisor moves a real waiting caller to another queue on the real Asterisk: a customer the
IVR put in support (topic skill support) waits there (its only agent not ready); sup1 moves it to
billing; billing's agent, who has no support skill, takes it at once and Asterisk bridges them. The
move is audited and the call's queue_left says ``moved``."""

from __future__ import annotations

import httpx

from cti.journey import CallConnected, QueueEntered, QueueLeft
from tests.asterisk.supervisor.conftest import Running
from tests.helpers import until


async def test_a_moved_caller_is_answered_by_an_agent_of_the_new_queue(running: Running) -> None:
    eng = running.engine
    await eng.desk.login_queues("1001", ["support"])  # logged in, not ready: the caller waits in support
    linkedid = await running.place_support_call()
    waiting = await until(lambda: [w for w in eng.acd.waiting_calls(eng.acd.clock()) if w.call_id == linkedid])
    assert waiting[0].queue == "support"
    since = waiting[0].since
    async with httpx.AsyncClient(base_url=eng.url, timeout=30) as c:
        r = await c.post("/api/auth/login", json={"username": "sup1", "password": "sup1-demo-1"})
        assert r.status_code == 200
        r = await c.post(f"/api/supervisor/calls/{linkedid}/move", json={"queue": "billing"})
        assert r.status_code == 200, r.text
        assert r.json()["action"] == "call.move" and r.json()["detail"]["to"] == "billing"
        listed = [w for w in (await c.get("/api/supervisor/wallboard")).json()["waiting_calls"]
                  if w["linkedid"] == linkedid]
        assert [w["queue"] for w in listed] == ["billing"] and abs(listed[0]["since"] - since) < 0.01
    # 1003 has billing 5 and no support skill: offered at once, not after billing's last step.
    await eng.desk.login_queues("1003", ["billing"])
    await eng.desk.set_ready("1003")
    connected = await until(lambda: [e for e in running.seen if isinstance(e, CallConnected)
                                     and e.linkedid == linkedid], timeout_s=10)
    assert (connected[0].agent_id, connected[0].queue) == ("1003", "billing")
    channel = eng.acd.calls[linkedid].caller_channel
    assert await until(lambda: eng.ami.model.bridged_peer(channel), what="Asterisk bridged the caller")
    left = [e for e in running.seen if isinstance(e, QueueLeft) and e.linkedid == linkedid]
    assert [(e.queue, e.reason, e.target) for e in left] == [("support", "moved", "billing")]
    entered = [e for e in running.seen if isinstance(e, QueueEntered) and e.linkedid == linkedid]
    assert [e.queue for e in entered] == ["support", "billing"]
    assert "support" not in (entered[-1].skills or {})
