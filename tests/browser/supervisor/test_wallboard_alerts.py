"""Real Chromium on the wallboard (unstarted Engine, seeded CRM): an alert says how far past its limit
it is, and a supervisor acknowledges it there (the alert card named only the rule and its subject,
so a supervisor could not tell a case a minute late from one a week late; found by the supervisor's
trial)."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser.conftest import log_in
from tests.browser.supervisor.conftest import NO_PBX_FOR_SUP1
from tests.web.supervisor.conftest import Site


@NO_PBX_FOR_SUP1
async def test_an_alert_shows_its_figure_and_is_acknowledged_on_the_wallboard(site: Site, page: Page) -> None:
    await site.svc.wallboard.refresh()  # the seed's overdue cases raise supervisor-level alerts
    alert = next(a for a in site.svc.alerts.active() if a["kind"] == "case_overdue")
    days = int(alert["value"] // 86400)
    assert days >= 1, alert  # the seed's overdue cases are days late
    await log_in(page, site.base, "sup1", "sup1-demo-1")
    await page.wait_for_url("**/wallboard")
    card = page.locator(f'#alerts li[data-alert="{alert["alert_id"]}"]')
    await expect(card).to_contain_text("Case overdue")
    await expect(card.locator(".al-figure")).to_contain_text(f"overdue by {days} d ")
    await card.get_by_role("button", name="Acknowledge").click()
    await expect(card).to_contain_text("acknowledged by sup1")
    assert next(a for a in site.svc.alerts.active() if a["alert_id"] == alert["alert_id"])["acknowledged_by"] == "sup1"
    await page.locator(".lang-toggle").click()
    await expect(card.locator(".al-figure")).to_contain_text(f"超期 {days} 天")
