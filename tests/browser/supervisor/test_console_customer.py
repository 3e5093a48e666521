"""Real Chromium on the agent console of the engine (unstarted Engine, seeded CRM): a customer's card
and history as an agent finds them, in English and Chinese."""

from __future__ import annotations

from playwright.async_api import Page, expect
from sqlalchemy import func, select

from crm_core.models import Customer, Interaction
from crm_core.seed import DISPOSITIONS
from tests.browser.conftest import log_in
from tests.web.supervisor.conftest import Site


async def _customer_with_history(site: Site) -> str:
    """The name of a seeded customer with dispositions in their history."""
    async with site.engine.db.session() as s:
        cid = (await s.execute(select(Interaction.customer_id).where(Interaction.disposition.is_not(None),
                                                                     Interaction.customer_id.is_not(None))
                               .group_by(Interaction.customer_id).order_by(func.count().desc()).limit(1))).scalar_one()
        return str((await s.get(Customer, cid)).name)  # type: ignore[union-attr]


async def _open(page: Page, name: str) -> None:
    await page.fill("#search-q", name)
    await page.locator("#search-results button.result").first.click()
    await expect(page.locator("#cust-name")).to_have_text(name)


async def test_history_shows_disposition_labels_in_both_languages(site: Site, page: Page) -> None:
    name = await _customer_with_history(site)
    await log_in(page, site.base, "agent1", "agent1-demo")
    await expect(page.locator("#console-view")).to_be_visible()
    await _open(page, name)
    badges = page.locator("#cust-history .badge.disp")
    await expect(badges.first).to_be_visible()
    labels = {code: (en, zh) for code, en, zh, *_ in DISPOSITIONS}
    shown = await badges.all_inner_texts()
    assert shown and set(shown) <= {en for en, _ in labels.values()}, shown
    await page.locator(".lang-toggle:visible").click()
    await expect(page.locator("#search-q")).to_have_attribute("placeholder", "查找客户：姓名、电话、邮箱 ( / )")
    shown = await badges.all_inner_texts()
    assert set(shown) <= {zh for _, zh in labels.values()}, shown
