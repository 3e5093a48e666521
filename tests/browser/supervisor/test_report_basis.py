"""Real Chromium: the reports page and the wallboard say what handled calls, AHT, occupancy and
utilization count (docs/kpis.md): handled and AHT inbound calls only, occupancy and utilization
every handling minute, agents' own outbound calls included. The pages' basis line spoke of the
service level and abandons only, so a supervisor comparing an agent's AHT x handled with their
occupancy could not tell why they differ. English and Chinese."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser.conftest import log_in
from tests.browser.supervisor.conftest import NO_PBX_FOR_SUP1
from tests.web.supervisor.conftest import Site


@NO_PBX_FOR_SUP1
async def test_the_reports_and_the_wallboard_say_what_handled_aht_and_occupancy_count(site: Site,
                                                                                        page: Page) -> None:
    await log_in(page, site.base, "sup1", "sup1-demo-1")
    await page.wait_for_url("**/wallboard")
    basis = page.locator("p.basis")
    await expect(basis).to_contain_text("Handled and AHT: inbound calls only")
    await expect(basis).to_contain_text("agents' own outbound calls included")
    await page.goto(site.base + "/reports")
    await expect(page.locator("#report thead tr")).to_have_count(1)
    await expect(basis).to_contain_text("Handled and AHT: inbound calls only")
    await expect(basis).to_contain_text("occupancy and utilization: handling time")
    await page.click(".lang-toggle")
    await expect(basis).to_contain_text("处理量与平均处理时长：仅计呼入电话")
    await expect(basis).to_contain_text("含坐席自己的外呼")
    await page.click(".lang-toggle")
