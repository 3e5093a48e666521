"""Real Chromium on the console demo: an agent on a break dials a customer. During the call the
state line says they are on an outbound call with the break pending ("then not ready: Lunch"); after
the call's wrap-up they are on the same break again (docs/kpis.md: the call is handling time; before,
the dial kept the break's reason and the call counted as the break)."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser.console.conftest import Site
from tests.browser.console.test_console_flow import login


async def test_a_dial_from_a_break_shows_the_outbound_call_then_the_break_again(page: Page, site: Site) -> None:
    await login(page, site)
    await page.keyboard.press("r")
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "available")
    await page.select_option("#reason-select", "lunch")
    await page.locator("#reason-select").blur()
    await page.keyboard.press("n")
    await expect(page.locator("#state-reason")).to_have_text("Lunch")
    await page.fill("#dial-number", "13800138000")
    await page.keyboard.press("Enter")
    await expect(page.locator("#call-status")).to_have_text("Talking")
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "not_ready")
    await expect(page.locator("#state-reason")).to_have_text("On an outbound call · then not ready: Lunch")
    await page.click("#btn-hangup")
    await expect(page.locator("#wrap-form")).to_be_visible()
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "wrap_up")
    await expect(page.locator("#state-reason")).to_have_text("then not ready: Lunch")
    await page.select_option("#wrap-disposition", "sale")
    await page.click("#wrap-submit")
    await expect(page.locator("#wrap-form")).to_be_hidden()
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "not_ready")
    await expect(page.locator("#state-reason")).to_have_text("Lunch")
