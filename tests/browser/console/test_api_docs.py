"""Real Chromium on /docs, the API reference `make run` prints: Swagger UI served from node_modules
(swagger-ui-dist) renders the app's operations under its Content-Security-Policy, nothing fetched
from outside and no script or CSP error in the page (the ``page`` fixture fails on either)."""

from __future__ import annotations

from playwright.async_api import Page, Request, expect

from tests.browser.console.conftest import Site


async def test_docs_render_the_operations_offline_under_the_csp(page: Page, site: Site) -> None:
    outside: list[str] = []

    def seen(r: Request) -> None:
        if not r.url.startswith((site.base, "data:")):
            outside.append(r.url)

    page.on("request", seen)
    got = await page.goto(site.base + "/docs")
    assert got is not None and got.ok
    assert "script-src 'self'" in (await got.all_headers())["content-security-policy"]
    ops = page.locator(".opblock")
    await expect(ops.first).to_be_visible(timeout=15_000)
    assert await ops.count() > 10
    await expect(page.locator(".opblock-summary-path", has_text="/api/auth/login").first).to_be_visible()
    await page.screenshot(path="/tmp/ui-shots/docs.png")
    assert outside == []
    assert (await page.request.get(site.base + "/redoc")).status in (403, 404)  # nothing names it: gone
