"""Real Chromium on the fakes: the Callbacks panel lists the due callbacks of the agent's queues,
Claim turns into Call, and Call dials the customer (the wrap-up's no-answer box marks it retried)."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser.console.conftest import Site
from tests.browser.console.test_console_flow import login


async def test_panel_lists_claims_and_calls_a_callback(page: Page, site: Site) -> None:
    desk = site.demo.desk
    mine = desk.add_callback("+8613800138000", queue="support", customer_id=1, customer_name="李伟 Li Wei",
                             due_at=desk.clock() - 600)
    desk.add_callback("+8613900001111", queue="billing")  # alice is not in billing after logging in to support
    await login(page, site)
    await expect(page.locator("#callbacks li")).to_have_text("No callbacks due.")  # logged out of every queue
    await page.click("#btn-queues")  # log in to support only: the panel refreshes on the state change
    await page.locator("#queues-list label", has_text="support").locator("input").check()
    await page.locator("#queues-dialog [data-close]").click()
    row = page.locator(f"#callbacks li[data-id='{mine}']")
    await expect(row).to_contain_text("李伟 Li Wei")
    await expect(row).to_contain_text("+8613800138000")
    await expect(row).to_contain_text("attempt 1 of 3")
    await expect(row).to_have_attribute("data-overdue", "true")
    await expect(page.locator("#callbacks li.cb")).to_have_count(1)

    await row.locator(".cb-claim").click()
    await expect(row).to_have_attribute("data-state", "claimed")
    await expect(row.locator(".cb-call")).to_be_visible()
    await row.locator(".cb-call").click()
    await expect(row.locator(".badge")).to_have_text("Calling…")
    assert ("dial", "a1001", {"number": "8613800138000", "customer_id": 1}) in desk.actions
