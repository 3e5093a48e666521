"""Real Chromium on the console's fakes: the customer card's history says what became of a call that
no agent wrapped up. Walking a shift, the customer's earlier call that nobody answered showed an
empty badge "—" and "1 min ago · phone ·", the separator dangling where the agent's name was."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser.conftest import log_in
from tests.browser.console.conftest import Site


async def test_a_call_nobody_wrapped_up_says_how_it_ended_and_no_separator_dangles(site: Site, page: Page) -> None:
    now = site.demo.crm.clock()
    site.demo.crm.book[1]["interactions"][:0] = [
        {"id": 2001, "at": now - 90, "channel": "phone", "direction": "inbound", "agent": None,
         "disposition": None, "outcome": "abandoned_queue", "notes": None, "resolved": False},
        {"id": 2002, "at": now - 120, "channel": "phone", "direction": "inbound", "agent": "Ann",
         "disposition": None, "outcome": "answered", "notes": None, "resolved": False},
    ]
    await log_in(page, site.base, "alice", "demo-pass-1")
    await expect(page.locator("#btn-ready")).to_be_enabled()
    await page.click("#btn-ready")
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "available")
    await site.demo.desk.offer_call("a1001", caller_number="+8613800138000")
    rows = page.locator("#cust-history li")
    await expect(rows.first.locator(".badge.disp")).to_have_text("Hung up while waiting")
    await expect(rows.first.locator(".muted")).to_have_text("1 min ago · phone")
    await expect(rows.nth(1).locator(".badge.disp")).to_have_text("—")  # answered, no disposition yet
    await expect(rows.nth(1).locator(".muted")).to_have_text("2 min ago · phone · Ann")
    await page.locator(".lang-toggle:visible").click()
    await expect(rows.first.locator(".badge.disp")).to_have_text("排队时挂断")
