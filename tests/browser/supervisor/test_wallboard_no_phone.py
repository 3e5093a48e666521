"""Real Chromium: a member of staff without a phone extension (the demo's admin) opens the wallboard;
having no softphone is not a fault (it said "Phone failed: ... 403")."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser.conftest import log_in
from tests.web.supervisor.conftest import Site


async def test_staff_without_an_extension_see_the_phone_off_not_failed(site: Site, page: Page) -> None:
    async with page.expect_response(lambda r: r.url.endswith("/api/phone/credentials")) as answer:
        await log_in(page, site.base, "admin", "admin-demo-1")
        await page.wait_for_url("**/wallboard")
    assert (await answer.value).status == 403  # the server's answer: no extension, no softphone
    pill = page.locator("#phone-status")
    await expect(pill).to_have_attribute("data-state", "off")
    await expect(pill).to_have_attribute("title", "you have no phone extension in the CRM, hence no softphone")
