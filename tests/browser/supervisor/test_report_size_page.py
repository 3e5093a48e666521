"""Real Chromium on the reports page: a report past 2,000 intervals (93 days at 15 minutes were
7.9 MB of JSON and 2.7 s) is refused, and the page says why and the longest range, for Show and for
Export CSV; the limit is written under the filters."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import log_in
from tests.browser.supervisor.conftest import NO_PBX_FOR_SUP1
from tests.web.supervisor.conftest import Site


@NO_PBX_FOR_SUP1
@pytest.mark.expected_failed_load(422, "/api/supervisor/reports")
async def test_a_report_of_too_many_intervals_is_refused_on_the_page(site: Site, page: Page) -> None:
    await log_in(page, site.base, "sup1", "sup1-demo-1")
    await page.wait_for_url("**/wallboard")
    await page.goto(site.base + "/reports")
    await expect(page.locator("#rep-limit")).to_contain_text("at most 2,000 intervals")
    await page.select_option("#f-interval", "15m")
    await page.fill("#f-start", "2026-06-01T00:00")
    await page.fill("#f-end", "2026-09-01T00:00")
    await page.click("#rep-form button[type=submit]")
    msg = page.locator("#rep-msg")
    await expect(msg).to_contain_text("a report has at most 2,000 intervals")
    await expect(msg).to_contain_text("at 15m a report covers at most 20 days 20 hours")
    await page.evaluate("() => { document.getElementById('rep-msg').textContent = ''; }")
    await page.click("#csv-link")
    await expect(msg).to_contain_text("at 15m a report covers at most 20 days 20 hours")
    await page.click(".lang-toggle")
    await expect(page.locator("#rep-limit")).to_contain_text("最多 2,000 个时段")
