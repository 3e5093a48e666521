"""Real Chromium on the wallboard (unstarted Engine, seeded CRM, fake call control): a supervisor who
types a colleague's extension into "My phone" and clicks Listen is told why nothing rang (the 403
naming ``phone`` and whose phone it is), and no spy is originated; their own extension rings."""

from __future__ import annotations

import time

import pytest
from playwright.async_api import Page, expect

from acd.calls import LiveCall
from cti.ami.control import FakeCallControl
from tests.browser.conftest import log_in
from tests.browser.supervisor.conftest import NO_PBX_FOR_SUP1
from tests.web.supervisor.conftest import Site


@NO_PBX_FOR_SUP1
@pytest.mark.expected_failed_load(403, "/api/supervisor/agents/1001/spy")  # the colleague's phone, refused
async def test_a_colleagues_phone_in_my_phone_is_refused_on_the_wallboard(site: Site, page: Page) -> None:
    eng = site.engine
    control = FakeCallControl()
    eng.ami.control = control  # type: ignore[assignment]
    await eng.acd.agent_login("1001", {"support": 3}, ["support"], ready=True)
    eng.acd.calls["L1"] = LiveCall(linkedid="L1", caller_channel="PJSIP/trunk-0001", caller_number="+8613800000000",
                                   queue="support", status="talking", agent_id="1001",
                                   agent_channel="Local/1001@cti-sim-phone-00000001;1", answered_at=time.time())
    await log_in(page, site.base, "sup1", "sup1-demo-1")
    await page.wait_for_url("**/wallboard")
    agent = page.locator('#agents tr[data-agent="1001"]')
    msg = page.locator("#act-msg")
    await page.fill("#my-phone", "1004")  # agent4's desk phone
    await agent.get_by_role("button", name="Listen").click()
    await expect(msg).to_have_text("Error: phone: 1004 is the phone of 'agent4': a spy rings your own phone or one "
                                   "no user has")
    assert control.called("spy") == []
    await page.fill("#my-phone", "1009")  # sup1's own
    await agent.get_by_role("button", name="Listen").click()
    await expect(msg).to_have_text("Done: Listen 1001")
    assert [c["supervisor_channel"] for c in control.called("spy")] == ["Local/1009@cti-sim-phone/n"]
