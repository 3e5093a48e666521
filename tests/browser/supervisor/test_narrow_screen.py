"""Real Chromium on the wallboard at 420 px wide (a phone): the top bar wraps inside its dark band,
and wide tables scroll inside their card instead of widening the page."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import log_in
from tests.browser.supervisor.conftest import NO_PBX_FOR_SUP1
from tests.web.supervisor.conftest import Site


@pytest.fixture
def viewport() -> dict[str, int]:
    return {"width": 420, "height": 860}


@NO_PBX_FOR_SUP1
@pytest.mark.parametrize("path", ["/wallboard", "/callbacks", "/reports"])
async def test_supervisor_pages_fit_a_narrow_screen(site: Site, page: Page, path: str) -> None:
    await log_in(page, site.base, "sup1", "sup1-demo-1")
    await page.wait_for_url("**/wallboard")
    if path != "/wallboard":
        await page.goto(site.base + path)
    await expect(page.locator("#main")).to_be_visible()
    await expect(page.locator("table.sgrid").first).to_be_visible()
    await page.wait_for_load_state("networkidle")
    await page.screenshot(path=f"/tmp/ui-shots/narrow{path.replace('/', '-')}.png", full_page=True)
    bar = await page.locator("header.sbar").bounding_box()
    assert bar
    for sel in (".snav a", "#who-name", "#btn-logout", ".lang-toggle"):
        for box in [await x.bounding_box() for x in await page.locator(f"header.sbar {sel}").all()]:
            assert box and bar["y"] <= box["y"] and box["y"] + box["height"] <= bar["y"] + bar["height"] + 0.5, sel
            assert box["x"] + box["width"] <= 420, sel
    # Nothing widens the page: a wide table scrolls in its own box.
    assert await page.evaluate("document.documentElement.scrollWidth") <= 420
