"""Real Chromium on every page of the engine's app (unstarted Engine, seeded CRM): loading a page asks
for nothing the app does not serve (no 404 in the browser's console: favicon, probes)."""

from __future__ import annotations

from playwright.async_api import Page, Response, expect

from tests.browser.conftest import log_in
from tests.browser.supervisor.conftest import NO_PBX_FOR_SUP1
from tests.web.supervisor.conftest import Site

SUPERVISOR_PAGES = ("/wallboard", "/callbacks", "/campaigns", "/reports", "/staffing", "/users", "/integrations")


def failures(page: Page) -> list[str]:
    """The requests of ``page`` answered with an error status, from now on. The softphone's
    credentials need the PBX, which this unstarted Engine has not (503)."""
    failed: list[str] = []

    def seen(r: Response) -> None:
        if r.status >= 400 and not (r.status == 503 and r.url.endswith("/api/phone/credentials")):
            failed.append(f"{r.status} {r.url}")

    page.on("response", seen)
    return failed


@NO_PBX_FOR_SUP1
async def test_supervisor_pages_request_nothing_that_fails(site: Site, page: Page) -> None:
    failed = failures(page)
    await log_in(page, site.base, "sup1", "sup1-demo-1")
    await page.wait_for_url("**/wallboard")
    for path in SUPERVISOR_PAGES:
        await page.goto(site.base + path)
        # /users and /integrations: administrators only (sup1 sees #forbidden)
        await expect(page.locator("#main, #forbidden").locator("visible=true")).to_have_count(1)
        await page.wait_for_load_state("networkidle")
        # Headless Chromium fetches no icon: the page must name one that loads.
        icon = await page.get_attribute("link[rel=icon]", "href")
        assert icon and (await page.request.get(site.base + icon)).ok, path
    assert failed == []
    assert (await page.request.get(site.base + "/favicon.ico")).ok  # pages without a <link rel=icon>


async def test_the_agent_console_on_the_engine_requests_nothing_that_fails(site: Site, page: Page) -> None:
    """The console asks /api/demo/status after the login: the engine answers that it has no demo
    (the Demo card stays hidden) where it used to answer 404 on every load."""
    failed = failures(page)
    await log_in(page, site.base, "agent1", "agent1-demo")
    await expect(page.locator("#console-view")).to_be_visible()
    await expect(page.locator("#conn-status")).to_have_attribute("data-ok", "true")
    await page.wait_for_load_state("networkidle")
    assert await (await page.request.get(site.base + "/api/demo/status")).json() == {"available": False}
    await expect(page.locator("#demo-card")).to_be_hidden()
    icon = await page.get_attribute("link[rel=icon]", "href")
    assert icon and (await page.request.get(site.base + icon)).ok
    assert failed == []


async def test_a_logged_out_visit_to_a_supervisor_page_goes_to_the_login_form_failing_nothing(
        site: Site, page: Page) -> None:
    """It asked /api/me, whose 401 landed in the browser's console before the redirect."""
    failed: list[str] = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    await page.goto(site.base + "/wallboard")
    await page.wait_for_url(site.base + "/")
    await expect(page.locator("#login-form")).to_be_visible()
    await page.wait_for_load_state("networkidle")
    assert failed == []
