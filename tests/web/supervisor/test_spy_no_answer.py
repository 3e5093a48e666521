"""A listen / whisper / barge whose supervisor phone does not answer: nothing was started, nothing is
wrong; the API says so with ``phone_no_answer`` (409), as the console's click-to-dial does, and no
intervention is audited."""

from __future__ import annotations

import time

import pytest

from acd.calls import LiveCall
from cti.ami.control import FakeCallControl, OriginateResult
from tests.web.supervisor.conftest import Site, login


@pytest.mark.parametrize("mode", ["listen", "whisper", "barge"])
async def test_a_supervisor_phone_that_does_not_answer_is_phone_no_answer(site: Site, mode: str) -> None:
    eng = site.engine
    fake = FakeCallControl(originate_result=OriginateResult(False, 3))  # 3: no answer
    eng.ami.control = fake  # type: ignore[assignment]
    await eng.acd.agent_login("1001", {"support": 3}, ["support"], ready=True)
    eng.acd.calls["L1"] = LiveCall(linkedid="L1", caller_channel="PJSIP/trunk-0001", caller_number="+8613800000000",
                                   queue="support", status="talking", agent_id="1001",
                                   agent_channel="Local/1001@cti-sim-phone-00000001;1", answered_at=time.time())
    async with site.client() as c:
        await login(c, "sup1", "sup1-demo-1")
        r = await c.post("/api/supervisor/agents/1001/spy", json={"mode": mode, "phone": "2001"})
        assert r.status_code == 409, r.text
        detail = r.json()["detail"]
        assert detail["code"] == "phone_no_answer"
        assert "2001" in detail["message"] and "did not answer" in detail["message"]
        assert fake.called("spy")  # the phone was rung
        # Nothing started: no spy leg kept for "stop", nothing audited.
        assert "sup1" not in site.svc.interventions.spies
        assert await site.svc.audit.list(target="agent:1001") == []
        assert (await c.post("/api/supervisor/spy/stop")).status_code == 409
