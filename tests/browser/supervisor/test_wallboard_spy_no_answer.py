"""Real Chromium on the wallboard (unstarted Engine, seeded CRM, fake call control): a supervisor's
Listen / Whisper / Barge whose own phone does not answer is told calmly as information ("Your phone
did not answer, so nothing was started."), in English and in Chinese, not as an "Error:" line."""

from __future__ import annotations

import time

import pytest
from playwright.async_api import Page, expect

from acd.calls import LiveCall
from cti.ami.control import FakeCallControl, OriginateResult
from tests.browser.conftest import log_in
from tests.browser.supervisor.conftest import NO_PBX_FOR_SUP1
from tests.web.supervisor.conftest import Site


@NO_PBX_FOR_SUP1
@pytest.mark.expected_failed_load(409, "/api/supervisor/agents/1001/spy")  # the phone that did not answer
async def test_a_supervisor_phone_that_does_not_answer_is_told_calmly(site: Site, page: Page) -> None:
    eng = site.engine
    eng.ami.control = FakeCallControl(originate_result=OriginateResult(False, 3))  # type: ignore[assignment]
    await eng.acd.agent_login("1001", {"support": 3}, ["support"], ready=True)
    eng.acd.calls["L1"] = LiveCall(linkedid="L1", caller_channel="PJSIP/trunk-0001", caller_number="+8613800000000",
                                   queue="support", status="talking", agent_id="1001",
                                   agent_channel="Local/1001@cti-sim-phone-00000001;1", answered_at=time.time())
    await log_in(page, site.base, "sup1", "sup1-demo-1")
    await page.wait_for_url("**/wallboard")
    agent = page.locator('#agents tr[data-agent="1001"]')
    msg = page.locator("#act-msg")
    await agent.get_by_role("button", name="Listen").click()
    await expect(msg).to_have_text("Your phone did not answer, so nothing was started.")
    await page.click(".lang-toggle")
    await agent.get_by_role("button", name="强插").click()
    await expect(msg).to_have_text("您的话机未接听，因此没有开始任何操作。")
    assert "sup1" not in site.svc.interventions.spies
