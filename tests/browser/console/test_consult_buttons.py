"""Real Chromium: a warm (attended) transfer with a note, then the consultation's own buttons --
back to the caller, and a three-way conference."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser.console.conftest import Site
from tests.browser.console.test_console_flow import login


async def test_consult_cancel_then_conference_buttons(page: Page, site: Site) -> None:
    await login(page, site)
    await page.click("#btn-ready")
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "available")
    call_id = await site.demo.desk.offer_call("a1001", caller_number="+441632960123")
    await site.demo.desk.answer(call_id)
    await expect(page.locator("#call-status")).to_have_text("Talking")
    await expect(page.locator("#btn-cancel-consult")).to_be_hidden()
    await expect(page.locator("#btn-conference")).to_be_hidden()
    for _ in range(2):
        await page.keyboard.press("t")
        await page.check('input[name="xfer-kind"][value="attended"]')
        await page.select_option("#xfer-target-kind", "number")
        await page.fill("#xfer-target", "8610555")
        await page.fill("#xfer-note", "Wants the refund for order A-17")
        await page.click("#transfer-form button[type=submit]")
        await expect(page.locator("#call-status")).to_have_text("Consulting")
        await expect(page.locator("#btn-cancel-consult")).to_be_visible()
        await expect(page.locator("#btn-conference")).to_be_visible()
        # The caller waits on hold for the consultation: no Hold, no second transfer (both refused).
        await expect(page.locator("#btn-hold")).to_be_disabled()
        await expect(page.locator("#btn-transfer")).to_be_disabled()
        await expect(page.locator("#btn-hangup")).to_be_enabled()  # completes the transfer
        if not [a for a in site.demo.desk.actions if a[0] == "cancel_consult"]:
            await page.click("#btn-cancel-consult")
            await expect(page.locator("#call-status")).to_have_text("Talking")
            await expect(page.locator("#btn-cancel-consult")).to_be_hidden()
    await page.click("#btn-conference")
    await expect(page.locator("#call-status")).to_have_text("Conference")
    await expect(page.locator("#btn-conference")).to_be_hidden()
    await expect(page.locator("#btn-hold")).to_be_disabled()
    await expect(page.locator("#btn-transfer")).to_be_disabled()
    await expect(page.locator("#btn-hangup")).to_be_enabled()  # leaves the conference
    transfers = [a for a in site.demo.desk.actions if a[0] == "transfer"]
    assert transfers[0][2]["note"] == "Wants the refund for order A-17"
    assert [a[0] for a in site.demo.desk.actions if a[0] in ("cancel_consult", "conference")] == [
        "cancel_consult", "conference"]
