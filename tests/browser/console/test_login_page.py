"""Real Chromium: a logged-out visit to the console shows the login form and fails no request (the
page asked /api/me, whose 401 landed in the browser's console on every load)."""

from __future__ import annotations

from playwright.async_api import Page, Response, expect

from tests.browser.console.conftest import Site


async def test_the_login_page_fails_no_request_and_logs_no_error(page: Page, site: Site) -> None:
    failed: list[str] = []
    logs: list[str] = []

    def response(r: Response) -> None:
        if r.status >= 400:
            failed.append(f"{r.status} {r.url}")

    page.on("response", response)
    page.on("console", lambda m: logs.append(m.text) if m.type == "error" else None)
    await page.goto(site.base + "/")
    await expect(page.locator("#login-form")).to_be_visible()
    await page.wait_for_load_state("networkidle")
    assert failed == [] and logs == [], (failed, logs)
    # An API client still gets its 401 from /api/me: the page asks otherwise, auth is as strict.
    me = await page.request.get(site.base + "/api/me")
    assert me.status == 401
