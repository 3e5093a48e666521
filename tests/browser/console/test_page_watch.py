"""The browser tier's watch on its pages (tests.browser.watch) in a real Chromium: a resource the
page failed to load fails the test unless the test names that load; it ignored every one of them."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Page

from tests.browser.console.conftest import Site
from tests.browser.watch import FailedLoad, PageWatch

FETCH_404 = "fetch('/api/no-such-thing').then((r) => r.status)"


async def _watched(browser: Browser, site: Site, watch: PageWatch) -> Page:
    ctx = await browser.new_context()
    watch.attach(ctx)
    page = await ctx.new_page()
    await page.goto(site.base + "/docs")  # a page that asks for nothing that fails
    return page


async def test_a_failed_load_nobody_named_fails_the_test(browser: Browser, site: Site) -> None:
    watch = PageWatch()
    page = await _watched(browser, site, watch)
    assert await page.evaluate(FETCH_404) == 404
    await page.context.close()
    with pytest.raises(AssertionError, match=r"did not expect .*'404 /api/no-such-thing'"):
        watch.check()


async def test_an_expected_console_error_does_not_cover_a_failed_load(browser: Browser, site: Site) -> None:
    watch = PageWatch(expected_errors=("Failed to load resource",))
    page = await _watched(browser, site, watch)
    await page.evaluate(FETCH_404)
    await page.context.close()
    with pytest.raises(AssertionError, match="404 /api/no-such-thing"):
        watch.check()


async def test_a_named_load_passes_and_a_named_load_never_seen_fails(browser: Browser, site: Site) -> None:
    named = PageWatch(expected_loads=[FailedLoad(404, "/api/no-such-thing")])
    page = await _watched(browser, site, named)
    await page.evaluate(FETCH_404)
    await page.context.close()
    named.check()
    # Another status on that path, or the path unseen, is not what the test named.
    other = PageWatch(expected_loads=[FailedLoad(403, "/api/no-such-thing"), FailedLoad(404, "/api/gone")])
    page = await _watched(browser, site, other)
    await page.evaluate(FETCH_404)
    await page.context.close()
    with pytest.raises(AssertionError, match=r"did not expect .*404 /api/no-such-thing.*never happened.*"
                                             r"'403 /api/no-such-thing', '404 /api/gone'"):
        other.check()
    maybe = PageWatch(expected_loads=[FailedLoad(404, "/api/gone", always=False)])
    await (await _watched(browser, site, maybe)).context.close()
    maybe.check()


@pytest.mark.expected_failed_load(404, "/api/no-such-thing")  # provoked below: the marker reaches the fixture
async def test_the_page_fixture_takes_the_tests_named_loads(page: Page, site: Site) -> None:
    await page.goto(site.base + "/docs")
    assert await page.evaluate(FETCH_404) == 404
