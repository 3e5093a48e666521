"""Real Chromium on the wallboard (unstarted Engine, seeded CRM): deactivated users are not on the
board (they stayed listed as "Logged out"); their calls stay in the reports."""

from __future__ import annotations

from playwright.async_api import Page, expect
from sqlalchemy import update

from crm_core.models import User
from tests.browser.conftest import log_in
from tests.browser.supervisor.conftest import NO_PBX_FOR_SUP1
from tests.web.supervisor.conftest import Site


@NO_PBX_FOR_SUP1
async def test_deactivated_users_leave_the_wallboard(site: Site, page: Page) -> None:
    acd = site.engine.acd
    await acd.agent_login("1003", {"support": 3}, ["support"])  # logged in once, then out again
    await acd.agent_logout("1003")
    await acd.agent_login("1004", {"support": 3}, ["support"])  # still at work: stays on the board
    async with site.engine.db.session() as s:
        await s.execute(update(User).where(User.agent_id.in_(["1002", "1003", "1004"])).values(active=False))
    await log_in(page, site.base, "sup1", "sup1-demo-1")
    await page.wait_for_url("**/wallboard")
    site.svc.wallboard.invalidate_records()  # the user table is read with the records
    await site.svc.wallboard.refresh()
    await expect(page.locator('#agents tr[data-agent="1001"]')).to_be_visible()  # active, never logged in
    await expect(page.locator('#agents tr[data-agent="1004"]')).to_be_visible()
    await expect(page.locator('#agents tr[data-agent="1002"]')).to_have_count(0)
    await expect(page.locator('#agents tr[data-agent="1003"]')).to_have_count(0)
