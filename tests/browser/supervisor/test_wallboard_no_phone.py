"""Real Chromium: a member of staff without a phone extension (the demo's admin) opens the wallboard;
having no softphone is not a fault (it said "Phone failed: ... 403"), and the page knows it from
``/api/me`` (``phone: false``) instead of asking for credentials it cannot get (the 403 landed in
the browser's console on every load)."""

from __future__ import annotations

from playwright.async_api import Page, Request, Response, expect

from tests.browser.conftest import log_in
from tests.web.supervisor.conftest import Site


async def test_staff_without_an_extension_see_the_phone_off_and_ask_for_no_phone(site: Site, page: Page) -> None:
    asked: list[str] = []
    failed: list[str] = []
    logs: list[str] = []

    def request(r: Request) -> None:
        if "/api/phone/" in r.url:
            asked.append(r.url)

    def response(r: Response) -> None:
        if r.status >= 400 and not r.url.endswith("/api/auth/login"):
            failed.append(f"{r.status} {r.url}")

    await log_in(page, site.base, "admin", "admin-demo-1")
    await page.wait_for_url("**/wallboard")
    # From the wallboard's load on (the login page's own: tests/browser/console/test_login_page.py).
    page.on("request", request)
    page.on("response", response)
    page.on("console", lambda m: logs.append(m.text) if m.type == "error" else None)
    await page.reload()
    pill = page.locator("#phone-status")
    await expect(pill).to_have_attribute("data-state", "off")
    await expect(pill).to_have_attribute("title", "you have no phone extension in the CRM, hence no softphone")
    await page.wait_for_load_state("networkidle")
    assert asked == [] and failed == [], (asked, failed)
    assert not [x for x in logs if "Failed to load resource" in x], logs
    await page.locator(".lang-toggle").click()
    await expect(pill).to_have_attribute("title", "您在 CRM 中没有分机号，因此没有软电话")
    await page.goto(site.base + "/")  # the agent console, as staff without an agent id: asks for no phone either
    await expect(page.locator("#console-view")).to_be_visible()
    await page.wait_for_load_state("networkidle")
    assert asked == [] and failed == [] and logs == [], (asked, failed, logs)
