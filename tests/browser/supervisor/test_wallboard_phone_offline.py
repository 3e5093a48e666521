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


@NO_PBX_FOR_SUP1
async def test_the_wallboard_says_whose_phone_is_offline_and_why(site: Site, page: Page) -> None:
    # After a restart the recovery logs agents back in whose browser has closed meanwhile (the demo's
    # agent7 and agent8): the supervisor read "Phones offline 2" and nothing more. The tile names
    # them and says why (console closed or phone off: no calls); each row says it in its reason.
    acd = site.engine.acd
    web1, web2 = AgentPhone("1001", "webrtc"), AgentPhone("1002", "webrtc")
    acd.device_state = lambda device: "UNAVAILABLE" if device in (web1.device, web2.device) else None
    await acd.agent_login("1001", {"support": 3}, ["support"], phone=web1, ready=True)
    await acd.agent_login("1002", {"support": 3}, ["support"], phone=web2, ready=True)
    await acd.agent_login("1003", {"support": 3}, ["support"], ready=True)
    await log_in(page, site.base, "sup1", "sup1-demo-1")
    await page.wait_for_url("**/wallboard")
    await expect(page.locator("#tot-phone-offline")).to_have_text("2")
    who = page.locator("#phone-offline-who")
    await expect(who).to_be_visible()
    await expect(who).to_contain_text("1001 王丽 Wang Li · 1002")
    await expect(who).not_to_contain_text("1003")
    await expect(who).to_contain_text("console is closed or their phone is off: offered no calls")
    reason = page.locator('#agents tr[data-agent="1001"] td').nth(2)
    await expect(reason).to_contain_text("console closed")
    await expect(reason).to_contain_text("Log out frees the seat")
    await expect(page.locator('#agents tr[data-agent="1003"] td').nth(2)).to_have_text("")
    await page.screenshot(path=f"{SHOTS}/wallboard-phone-offline-who.png")
    await page.click(".lang-toggle >> visible=true")
    await expect(who).to_contain_text("坐席台已关闭")
    await expect(reason).to_contain_text("坐席台已关闭")
    # Logged out (the row's Log out, or the agents' own): the tile is a plain 0 again.
    await acd.agent_logout("1001")
    await acd.agent_logout("1002")
    await expect(page.locator("#tot-phone-offline")).to_have_text("0")
    await expect(who).to_be_hidden()
