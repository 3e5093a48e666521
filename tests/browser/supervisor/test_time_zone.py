"""Real Chromium in a browser whose zone is not the call center's: the supervisor pages show times
in the call center's zone (``timezone``, the one reports use) and say which. The recordings list,
alerts and callbacks used the browser's zone while the reports beside them used the server's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from playwright.async_api import Browser, Page, expect

from crm_core.recordings import Recording
from tests.browser.conftest import log_in
from tests.browser.supervisor.conftest import NO_PBX_FOR_SUP1
from tests.browser.watch import watch
from tests.web.supervisor.conftest import Site

STARTED = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)  # 11:04 in Asia/Shanghai, 22:04 the day before in New York


@pytest.fixture
async def new_york(browser: Browser, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    ctx = await browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-US",
                                    timezone_id="America/New_York")
    seen = watch(ctx, request)
    try:
        yield await ctx.new_page()
    finally:
        await ctx.close()
    seen.check()


@NO_PBX_FOR_SUP1
async def test_supervisor_pages_show_the_call_centers_zone_and_name_it(site: Site, new_york: Page) -> None:
    assert site.engine.settings.timezone == "Asia/Shanghai"  # config/engine.yaml
    async with site.engine.db.session() as s:
        s.add(Recording(linkedid="tz-test-1", path="2026/01/02/03/tz-test-1-0.wav", duration_s=5.0, size_bytes=44,
                        started_at=STARTED, ended_at=STARTED, pauses=[]))
    page = new_york
    await log_in(page, site.base, "sup1", "sup1-demo-1")
    await page.wait_for_url("**/wallboard")
    await expect(page.locator("#tz-note")).to_have_text("Times in Asia/Shanghai")
    await page.goto(site.base + "/reports")
    await expect(page.locator("#tz-note")).to_have_text("Times in Asia/Shanghai")
    started = page.locator("#recordings tbody tr").first.locator("td").first
    await expect(started).to_contain_text("11:04")
    await expect(started).to_contain_text("01/02/2026")
    await page.locator(".lang-toggle").click()
    await expect(page.locator("#tz-note")).to_have_text("时间：Asia/Shanghai")
