"""Real Chromium: a wrap-up half written survives a reload of the console (the notes typed, the
disposition, a case being opened, a callback time): the page came back with an empty form and the
agent typed it all again. Finishing the wrap-up, or logging out, forgets the draft."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser.console.conftest import Site
from tests.browser.console.test_console_flow import login

NOTES = "Router replaced; customer to confirm the line is stable tomorrow."


async def _ended_call(page: Page, site: Site) -> str:
    call_id = await site.demo.desk.offer_call("a1001", caller_number="+8613800138000")
    await site.demo.desk.answer(call_id)
    await expect(page.locator("#call-status")).to_have_text("Talking")
    await site.demo.desk.caller_hangs_up(call_id)
    await expect(page.locator("#wrap-form")).to_be_visible()
    return call_id


async def test_a_wrap_up_draft_survives_a_reload_and_goes_with_the_wrap_up(page: Page, site: Site) -> None:
    await login(page, site)
    await page.keyboard.press("r")
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "available")
    call_id = await _ended_call(page, site)
    await page.select_option("#wrap-disposition", "escalated")
    await page.fill("#wrap-notes", NOTES)
    await page.check("#wrap-resolved")
    await page.check('input[name="case-mode"][value="new"]')
    await page.fill("#case-subject", "Line drops after router swap")
    await page.select_option("#case-priority", "high")
    await page.fill("#wrap-callback", "2031-01-02T09:30")

    await page.reload()
    await expect(page.locator("#wrap-form")).to_be_visible()
    await expect(page.locator("#wrap-disposition")).to_have_value("escalated")
    await expect(page.locator("#wrap-notes")).to_have_value(NOTES)
    await expect(page.locator("#wrap-resolved")).to_be_checked()  # ticked by hand: kept, whatever escalated says
    await expect(page.locator('input[name="case-mode"][value="new"]')).to_be_checked()
    await expect(page.locator("#case-new")).to_be_visible()
    await expect(page.locator("#case-subject")).to_have_value("Line drops after router swap")
    await expect(page.locator("#case-priority")).to_have_value("high")
    await expect(page.locator("#wrap-callback")).to_have_value("2031-01-02T09:30")

    await page.fill("#wrap-callback", "")  # a year ahead at most: no callback this time
    await page.click("#wrap-submit")
    await expect(page.locator("#wrap-form")).to_be_hidden()
    wrap = site.demo.desk.wrapups[-1]
    assert (wrap["call_id"], wrap["disposition"], wrap["notes"], wrap["resolved"]) == (
        call_id, "escalated", NOTES, True)
    assert wrap["case_id"] is not None  # the case the draft was opening

    # The next call's form starts empty, and so does one after a reload.
    await _ended_call(page, site)
    await expect(page.locator("#wrap-notes")).to_have_value("")
    await expect(page.locator("#wrap-disposition")).to_have_value("")
    await page.fill("#wrap-notes", "a draft the agent leaves behind")
    await page.click("#btn-logout")
    await expect(page.locator("#login-view")).to_be_visible()
    assert await page.evaluate("Object.keys(sessionStorage).filter(k => k.startsWith('cti.'))") == []
