"""Real Chromium on the wallboard (unstarted Engine, seeded SQLite CRM): an available agent whose phone
is unreachable (a browser softphone not registered: console closed) is offered no calls; the board's
row says ``phone_offline``, and the wallboard shows "Phone offline" (not the green "Ready") and counts
it in the queue's agents and in the totals."""

from __future__ import annotations

from playwright.async_api import Page, expect

from acd.calls import AgentPhone
from tests.browser.conftest import log_in
from tests.browser.supervisor.conftest import NO_PBX_FOR_SUP1
from tests.web.supervisor.conftest import Site

SHOTS = "/tmp/ui2-shots"


@NO_PBX_FOR_SUP1
async def test_an_available_agent_without_a_reachable_phone_shows_phone_offline(site: Site, page: Page) -> None:
    # 1001 ready on the browser softphone, whose endpoint Asterisk reports unreachable (the console
    # closed; no PBX here: the device state the ACD reads says so); 1002 ready on a simulated phone.
    acd = site.engine.acd
    web = AgentPhone("1001", "webrtc")
    acd.device_state = lambda device: "UNAVAILABLE" if device == web.device else None
    await acd.agent_login("1001", {"support": 3}, ["support"], phone=web, ready=True)
    await acd.agent_login("1002", {"support": 3}, ["support"], ready=True)
    rows = {a.agent_id: a for a in acd.router.agents()}
    assert (rows["1001"].state.value, rows["1001"].registered, rows["1002"].registered) == ("available", False, True)
    await log_in(page, site.base, "sup1", "sup1-demo-1")
    await page.wait_for_url("**/wallboard")
    offline = page.locator('#agents tr[data-agent="1001"] .pill')
    await expect(offline).to_have_text("Phone offline")
    await expect(offline).to_have_class("pill st-phone_offline")  # not st-available's green
    await expect(page.locator('#agents tr[data-agent="1002"] .pill')).to_have_text("Ready")
    support = page.locator('#queues tr[data-queue="support"] td.agents')
    await expect(support).to_contain_text("Ready 1 ·")
    await expect(support.locator(".phone-offline")).to_have_text("Phone offline 1")
    await expect(page.locator("#tot-phone-offline")).to_have_text("1")
    await page.screenshot(path=f"{SHOTS}/wallboard-phone-offline.png", full_page=True)
    await page.click(".lang-toggle >> visible=true")
    await expect(offline).to_have_text("话机离线")
    await expect(support.locator(".phone-offline")).to_have_text("话机离线 1")
