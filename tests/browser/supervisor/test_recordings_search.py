"""Real Chromium on the reports page (unstarted Engine, seeded CRM): the recordings under the report
are those of its From / To, and a caller's number finds theirs. The list showed the newest
recordings whatever the period (today's under a report of last month), so an older call's
recording could not be found from the page."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from playwright.async_api import Page, expect

from crm_core.models import Interaction
from crm_core.recordings import Recording
from tests.browser.conftest import log_in
from tests.browser.supervisor.conftest import NO_PBX_FOR_SUP1
from tests.web.supervisor.conftest import Site

NOV_20 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 10:00 in Asia/Shanghai
DEC_01 = datetime(2026, 12, 1, 6, 30, tzinfo=UTC)  # 14:30 in Asia/Shanghai


@pytest.mark.expected_failed_load(422, "/api/recordings")  # "abc" below: the number is refused
@NO_PBX_FOR_SUP1
async def test_recordings_follow_the_reports_period_and_a_callers_number(site: Site, page: Page) -> None:
    async with site.engine.db.session() as s:
        for linkedid, at, number in (("rec-nov-20", NOV_20, "+8613911112222"),
                                     ("rec-dec-01", DEC_01, "+8613833334444")):
            s.add(Interaction(linkedid=linkedid, started_at=at, queue="support", agent_id="1001",
                              caller_number=number))
            s.add(Recording(linkedid=linkedid, path=f"2026/x/{linkedid}-1.wav", duration_s=5.0, size_bytes=44,
                            started_at=at, ended_at=at, pauses=[]))
    await log_in(page, site.base, "sup1", "sup1-demo-1")
    await page.wait_for_url("**/wallboard")
    await page.goto(site.base + "/reports")
    rows = page.locator("#recordings tbody tr")
    await expect(rows).to_have_count(2)  # no period chosen: the newest
    await page.fill("#f-start", "2026-11-20T00:00")
    await page.fill("#f-end", "2026-11-21T00:00")
    await page.click("#rep-form button[type=submit]")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("+8613911112222")
    await expect(rows.first).to_contain_text("11/20/2026, 10:00")
    # A caller's number, over every date.
    await page.fill("#f-start", "")
    await page.fill("#f-end", "")
    await page.fill("#r-number", "3833")
    await page.click("#rec-form button[type=submit]")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("+8613833334444")
    await page.fill("#r-number", "12 34")  # nobody's
    await page.click("#rec-form button[type=submit]")
    await expect(rows).to_have_count(0)
    await expect(page.locator("#rec-msg")).to_have_text("No recordings found.")
    await page.fill("#r-number", "abc")
    await page.click("#rec-form button[type=submit]")
    await expect(page.locator("#rec-msg")).to_contain_text("number")
