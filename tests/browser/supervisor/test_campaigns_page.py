"""Real Chromium on the supervisor's campaigns page (unstarted Engine, seeded SQLite CRM): reached from
the wallboard, it shows a campaign's progress and outcomes, offers only the commands its state
allows, and start, pause, resume and stop change the campaign on the server."""

from __future__ import annotations

from datetime import UTC, datetime

from playwright.async_api import Page, expect

from crm_core import campaigns
from crm_core.campaign_rules import CampaignIn
from tests.web.supervisor.conftest import Site


async def _campaign(site: Site) -> int:
    async with site.engine.db.session() as s:
        c = await campaigns.create_campaign(session=s, spec=CampaignIn(
            name="spring", queue="sales", mode="predictive", timezone="Asia/Shanghai", drop_cap=0.02))
        await campaigns.add_contacts(session=s, campaign=c, rows=[(1, {"number": "13912345678"}),
                                                                  (2, {"number": "13800138000"})])
        campaigns.step(c, "start")
        attempt = await campaigns.begin_attempt(session=s, campaign=c, contact_id=1, linkedid="cmp1-x",
                                                now=datetime(2030, 3, 6, 3, 0, tzinfo=UTC))
        assert attempt is not None
        await campaigns.finish_attempt(session=s, linkedid="cmp1-x", outcome="human",
                                       now=datetime(2030, 3, 6, 3, 1, tzinfo=UTC))
        campaigns.step(c, "pause")
        return c.id


async def test_supervisor_runs_a_campaign_from_its_page(site: Site, page: Page) -> None:
    cid = await _campaign(site)
    await page.goto(site.base + "/")
    await page.fill("#login-username", "sup1")
    await page.fill("#login-password", "sup1-demo-1")
    await page.click("#login-submit")
    await page.wait_for_url("**/wallboard")
    await page.click('a[href="/campaigns"]')
    row = page.locator(f'#campaigns tr[data-id="{cid}"]')
    await expect(row.locator(".state")).to_have_text("paused")
    await expect(row.locator(".progress")).to_have_text("1 / 2")
    await expect(row.locator(".outcomes")).to_have_text("human 1")
    await expect(row.locator("button")).to_have_count(2)  # resume, stop
    await row.locator('button[data-command="resume"]').click()
    await expect(row.locator(".state")).to_have_text("running")
    await expect(page.locator("#cmp-msg")).to_have_text("Campaign spring: running.")
    await row.locator('button[data-command="pause"]').click()
    await expect(row.locator(".state")).to_have_text("paused")
    await row.locator('button[data-command="stop"]').click()
    await expect(row.locator(".state")).to_have_text("stopped")
    await expect(row.locator("button")).to_have_count(0)
    async with site.engine.db.session() as s:
        assert (await campaigns.get_campaign(session=s, campaign_id=cid)).state == "stopped"
