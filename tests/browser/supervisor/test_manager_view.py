"""Real Chromium, logged in as the demo's manager (mgr1): a manager sees what a supervisor sees but may
not intervene (supervisor.intervene) nor run campaigns (campaigns.manage), so the wallboard and the
campaigns page offer no such controls (each click was a 403), and the console names the role."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser.conftest import log_in
from tests.browser.supervisor.conftest import NO_PBX_FOR_SUP1
from tests.browser.supervisor.test_campaigns_page import _campaign
from tests.web.supervisor.conftest import Site

SHOTS = "/tmp/ui2-shots"


async def test_a_manager_sees_the_floor_without_its_controls(site: Site, page: Page) -> None:
    cid = await _campaign(site)
    await site.engine.acd.agent_login("1001", {"support": 3}, ["support"], ready=True)
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/api/phone/credentials" in r.url else None)
    await log_in(page, site.base, "mgr1", "mgr1-demo-1")
    await page.wait_for_url("**/wallboard")
    agent = page.locator('#agents tr[data-agent="1001"]')
    await expect(agent.locator(".pill")).to_have_text("Ready")
    assert asked == []  # no softphone for whoever may not listen in: nothing would ring it
    await expect(agent.locator("button")).to_have_count(0)  # no listen / whisper / barge / not ready / skills
    await expect(page.locator("#agents button")).to_have_count(0)
    await expect(page.locator("#my-phone")).to_be_hidden()
    await expect(page.locator("#agents th", has_text="Actions")).to_be_hidden()
    await expect(page.locator(".snav a[href='/users'], .snav a[href='/integrations']")).to_have_count(0)  # admins'
    await page.screenshot(path=f"{SHOTS}/manager-wallboard.png", full_page=True)

    await page.click('a[href="/campaigns"]')
    row = page.locator(f'#campaigns tr[data-id="{cid}"]')
    await expect(row.locator(".state")).to_have_text("paused")
    await expect(page.locator("#campaigns button")).to_have_count(0)  # no resume / pause / stop
    await page.screenshot(path=f"{SHOTS}/manager-campaigns.png", full_page=True)

    await page.goto(site.base + "/")
    await expect(page.locator("#idle-text")).to_have_text(
        "You are a manager: the wallboard and reports are your screens.")
    await page.click(".lang-toggle >> visible=true")
    await expect(page.locator("#idle-text")).to_have_text("您是经理：请使用监控大屏和报表。")
    await page.screenshot(path=f"{SHOTS}/manager-console.png")


@NO_PBX_FOR_SUP1
async def test_a_supervisor_keeps_the_controls(site: Site, page: Page) -> None:
    cid = await _campaign(site)
    await site.engine.acd.agent_login("1001", {"support": 3}, ["support"], ready=True)
    await log_in(page, site.base, "sup1", "sup1-demo-1")
    await page.wait_for_url("**/wallboard")
    agent = page.locator('#agents tr[data-agent="1001"]')
    await expect(agent.get_by_role("button", name="Not ready")).to_be_enabled()
    await expect(agent.get_by_role("button", name="Listen")).to_be_visible()
    await expect(page.locator("#my-phone")).to_be_visible()
    await page.click('a[href="/campaigns"]')
    await expect(page.locator(f'#campaigns tr[data-id="{cid}"] button[data-command]')).to_have_count(2)  # resume, stop
    await page.goto(site.base + "/")
    await expect(page.locator("#idle-text")).to_have_text("You are a supervisor: the wallboard is your screen.")
