"""Real Chromium at 1366x768 (the commonest laptop screen): the supervisor pages' top bar holds on
one line, "Log out" included, in English and in Chinese (it wrapped "Log out" onto a second line on
the wallboard and the staffing page)."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import log_in
from tests.browser.supervisor.conftest import NO_PBX_FOR_SUP1
from tests.web.supervisor.conftest import Site

SHOTS = "/tmp/ui-shots"


@pytest.fixture
def viewport() -> dict[str, int]:
    return {"width": 1366, "height": 768}


async def _one_line(page: Page, label: str) -> None:
    brand = await page.locator("header.sbar .brand").bounding_box()
    assert brand
    for sel in (".snav a", ".grow ~ *:visible", "#btn-logout", ".lang-toggle"):
        for item in await page.locator(f"header.sbar {sel}").all():
            box = await item.bounding_box()
            if box is None or box["width"] == 0:
                continue  # an empty status not shown yet
            middle = box["y"] + box["height"] / 2
            assert brand["y"] <= middle <= brand["y"] + brand["height"], (
                f"{label}: {sel} {await item.text_content()!r} is not on the bar's first line ({box} vs {brand})")
            assert box["x"] + box["width"] <= 1366, f"{label}: {sel} beyond the screen"
    assert await page.evaluate("document.documentElement.scrollWidth") <= 1366, label


@NO_PBX_FOR_SUP1
@pytest.mark.parametrize("user", ["sup1", "admin"])  # the administrator's bar has two links more
@pytest.mark.parametrize("path", ["/wallboard", "/staffing", "/callbacks", "/campaigns", "/reports"])
async def test_the_bar_holds_on_one_line_at_1366(site: Site, page: Page, path: str, user: str) -> None:
    await log_in(page, site.base, user, f"{user}-demo-1")
    await page.wait_for_url("**/wallboard")
    if path != "/wallboard":
        await page.goto(site.base + path)
    await expect(page.locator("#btn-logout")).to_be_visible()
    await expect(page.locator("#who-name")).not_to_be_empty()
    if path == "/wallboard":
        await expect(page.locator("#conn")).to_have_text("live")
    await page.wait_for_load_state("networkidle")
    await page.screenshot(path=f"{SHOTS}/bar-1366-{user}{path.replace('/', '-')}.png")
    await _one_line(page, f"{user} {path} en")
    for cut in await page.locator("header.sbar > *").all():  # what the ellipsis cuts, the tooltip holds
        if await cut.evaluate("(e) => e.scrollWidth > e.clientWidth + 1"):
            assert await cut.get_attribute("title"), f"{user} {path}: {await cut.text_content()!r} cut, no tooltip"
    await page.click(".lang-toggle >> visible=true")
    await expect(page.locator("#btn-logout")).to_have_text("退出")
    await page.screenshot(path=f"{SHOTS}/bar-1366-{user}{path.replace('/', '-')}-zh.png")
    await _one_line(page, f"{user} {path} zh")


@NO_PBX_FOR_SUP1
async def test_a_bar_button_stays_readable_under_the_mouse(site: Site, page: Page) -> None:
    # The buttons' light hover background (#f0f3f8) under the bar's light text made "Log out" and the
    # language button unreadable (white on white) while the mouse was on them.
    await log_in(page, site.base, "sup1", "sup1-demo-1")
    await page.wait_for_url("**/wallboard")
    for sel in ("header.sbar #btn-logout", "header.sbar .lang-toggle"):
        await page.hover(sel)
        colours = await page.eval_on_selector(sel, """(b) => [getComputedStyle(b).backgroundColor,
            getComputedStyle(b).color, getComputedStyle(b.closest('header')).backgroundColor]""")
        lightness = await page.evaluate("""([bg, bar]) => {
            const rgb = (c) => c.match(/[\\d.]+/g).map(Number);
            const [r, g, b, a = 1] = rgb(bg), [R, G, B] = rgb(bar);
            return ((r * a + R * (1 - a)) + (g * a + G * (1 - a)) + (b * a + B * (1 - a))) / 3; }""",
            [colours[0], colours[2]])
        assert lightness < 100, f"{sel} under the mouse: background {colours[0]} behind text {colours[1]}"
