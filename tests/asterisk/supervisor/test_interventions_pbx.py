"""Interventions on the real Asterisk: a supervisor listens to an agent's live call (the
supervisor's simulated phone is originated into ChanSpy on the agent's channel), then barges
(the listening leg is replaced), then stops; all audited. Forcing not ready during the call takes effect after it."""

from __future__ import annotations

import httpx

from cti.journey import CallConnected
from tests.asterisk.supervisor.conftest import Running
from tests.helpers import until


async def _agent_1001_on_a_call(running: Running) -> str:
    """Agent 1001 ready, then talking to a caller; the call's linkedid."""
    eng = running.engine
    await eng.desk.login_queues("1001", ["support", "general"])
    await eng.desk.set_ready("1001")
    # A call carrying audio, as every real one does: ChanSpy ends a hung-up spy leg only once it has
    # detached from the agent's channel, which happens when a frame next passes that channel. Between
    # two silent simulated phones none ever does, and a spy leg hung up right after it attached
    # stayed up until the call ended (Asterisk 22.10's ast_audiohook_detach waits for it).
    linkedid = await running.place_support_call(caller="cti-sim-caller-tone")
    await until(lambda: any(isinstance(e, CallConnected) and e.linkedid == linkedid for e in running.seen))
    await until(lambda: eng.acd.agent_calls("1001") and eng.acd.agent_calls("1001")[0].agent_channel)
    return linkedid


async def test_listen_and_barge_on_a_live_call(running: Running) -> None:
    eng = running.engine
    linkedid = await _agent_1001_on_a_call(running)

    async with httpx.AsyncClient(base_url=eng.url, timeout=30) as c:
        r = await c.post("/api/auth/login", json={"username": "agent1", "password": "agent1-demo"})
        assert r.status_code == 200
        r = await c.post("/api/supervisor/agents/1001/spy", json={"mode": "listen", "phone": "2001"})
        assert r.status_code == 403  # an agent cannot listen to a colleague
        r = await c.post("/api/auth/login", json={"username": "sup1", "password": "sup1-demo-1"})
        assert r.status_code == 200
        r = await c.post("/api/supervisor/agents/1001/spy", json={"mode": "listen", "phone": "2001"})
        assert r.status_code == 200, r.text
        # The supervisor's phone answered and runs ChanSpy on the agent's leg.
        spying = await until(lambda: "ChanSpy" in running.pbx.cli("core show channels concise")
                             and running.pbx.cli("core show channels concise"), timeout_s=10)
        assert "Local/2001@cti-sim-phone" in spying
        listen_leg = r.json()["detail"]["spy_channel"]
        assert listen_leg.startswith("Local/2001@cti-sim-phone-")
        r = await c.post("/api/supervisor/agents/1001/spy", json={"mode": "barge", "phone": "2001"})
        assert r.status_code == 200, r.text
        barge_leg = r.json()["detail"]["spy_channel"]
        # Barging replaced listening: the first spy leg was hung up.
        await until(lambda: listen_leg not in running.pbx.cli("core show channels concise"), timeout_s=10)
        assert barge_leg in running.pbx.cli("core show channels concise")
        r = await c.post("/api/supervisor/spy/stop")
        assert r.status_code == 200, r.text
        await until(lambda: "ChanSpy" not in running.pbx.cli("core show channels concise"), timeout_s=10)
        assert (await c.post("/api/supervisor/spy/stop")).status_code == 409
        r = await c.post("/api/supervisor/agents/1001/not-ready", json={"reason": "supervisor"})
        assert r.status_code == 200
        assert eng.router.agent("1001").state.value == "on_call"  # the call goes on
        assert eng.router.agent("1001").not_ready_after_call == "supervisor"
        audit = [a for a in (await c.get("/api/supervisor/audit")).json() if not a["action"].startswith("alert.")]
    assert [a["action"] for a in audit] == ["agent.force_not_ready", "spy.stop", "spy.barge", "spy.listen"]
    assert all(a["actor"] == "sup1" and a["target"] == "agent:1001" for a in audit)
    assert audit[-1]["detail"]["linkedid"] == linkedid


async def test_stop_hangs_up_a_spy_leg_whose_phone_still_rings(running: Running) -> None:
    """"Stop listening" while the supervisor's phone still rang answered 409 ("not listening") and the
    phone rang on until the Originate's 30 s timeout: the leg was known only once answered. It is
    originated with a uniqueid of the engine's choosing now, and hung up by it."""
    import asyncio

    eng = running.engine
    await _agent_1001_on_a_call(running)

    async with httpx.AsyncClient(base_url=eng.url, timeout=40) as c:
        r = await c.post("/api/auth/login", json={"username": "sup1", "password": "sup1-demo-1"})
        assert r.status_code == 200
        # 9... on the simulated phone rings and never answers (extensions.conf, cti-sim-phone)
        listen = asyncio.create_task(c.post("/api/supervisor/agents/1001/spy",
                                            json={"mode": "listen", "phone": "9001"}))
        await until(lambda: "Local/9001@cti-sim-phone" in running.pbx.cli("core show channels concise"), timeout_s=10)
        stopped = await c.post("/api/supervisor/spy/stop")
        assert stopped.status_code == 200, stopped.text
        await until(lambda: "Local/9001@cti-sim-phone" not in running.pbx.cli("core show channels concise"),
                    timeout_s=5)
        answer = await asyncio.wait_for(listen, 10)  # not the 30 s of ringing
        assert answer.status_code == 409 and "stopped before" in answer.json()["detail"]["message"], answer.text
        assert (await c.post("/api/supervisor/spy/stop")).status_code == 409  # nothing left to stop

async def test_a_supervisor_phone_that_cannot_answer_is_phone_no_answer(running: Running) -> None:
    """The supervisor's SIP desk phone is not registered (PJSIP/1004 on the test PBX: an endpoint
    with no contact): Asterisk's Originate fails, nothing was started. Answered 409 phone_no_answer
    (the wallboard says so calmly: tests/browser/supervisor/test_wallboard_spy_no_answer.py), no spy
    leg kept, nothing audited, the agent's call untouched. 1004 is made sup1's own desk phone (agent4,
    whose it is in the demo, deactivated): a spy rings no colleague's phone (tests/web/security/test_spy_phone.py)."""
    from sqlalchemy import update

    from crm_core.models import User

    eng = running.engine
    async with eng.db.session() as s:
        await s.execute(update(User).where(User.username == "agent4").values(active=False))
        await s.execute(update(User).where(User.username == "sup1").values(extension="1004"))
    linkedid = await _agent_1001_on_a_call(running)
    interventions = eng.app.state.supervisor.interventions
    interventions._phone_kind = lambda: "sip"  # the engine's default phone kind: SIP desk phones
    async with httpx.AsyncClient(base_url=eng.url, timeout=40) as c:
        r = await c.post("/api/auth/login", json={"username": "sup1", "password": "sup1-demo-1"})
        assert r.status_code == 200
        r = await c.post("/api/supervisor/agents/1001/spy", json={"mode": "whisper", "phone": "1004"})
        assert r.status_code == 409, r.text
        assert r.json()["detail"]["code"] == "phone_no_answer", r.text
        assert "1004" in r.json()["detail"]["message"]
        assert (await c.post("/api/supervisor/spy/stop")).status_code == 409  # nothing to stop
        audit = [a for a in (await c.get("/api/supervisor/audit")).json() if a["action"].startswith("spy.")]
    assert audit == []
    assert "ChanSpy" not in running.pbx.cli("core show channels concise")
    assert eng.acd.calls[linkedid].status == "talking"
