"""Real Chromium on the console demo: a call rings the agent and they log off all their queues. It
was refused (409: no transition from reserved on logout, a red error under a ringing card); now the
ringing card goes, they are logged out, and the call is withdrawn from them (not a miss): the ACD
gives it to the next agent (tests/asterisk/acd/test_logout_while_rung.py on the real PBX)."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser.console.conftest import Site
from tests.browser.console.test_console_flow import login


async def test_log_off_all_while_a_call_rings_withdraws_the_offer(page: Page, site: Site) -> None:
    await login(page, site)
    await page.keyboard.press("r")
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "available")
    desk = site.demo.desk
    call_id = await desk.offer_call("a1001", caller_number="+8613800138000")
    await expect(page.locator("#offer-card")).to_be_visible()
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "reserved")
    await page.click("#btn-queues")
    await expect(page.locator("#queues-dialog")).to_be_visible()
    await page.click("#btn-logoff")
    await expect(page.locator("#queues-dialog")).to_be_hidden()
    await expect(page.locator("#offer-card")).to_be_hidden()
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "logged_out")
    await expect(page.locator("#toasts .toast.error")).to_have_count(0)
    assert call_id not in desk.calls  # withdrawn from this agent
