"""Real headless Chromium (Debian's, driven by Playwright) for every browser test."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests.browser.watch import pytest_runtest_call, watch  # noqa: F401 - the hook closes the watches

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps dialling Google's hosts, which this
# machine's closed network refuses; as root it needs --no-sandbox.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
# Screenshots land in docs/screenshots (the README's pictures) only when CTI_UPDATE_SCREENSHOTS=1,
# so an ordinary test run leaves the work tree clean.
SHOTS = (Path(__file__).resolve().parents[2] / "docs" / "screenshots" if os.environ.get("CTI_UPDATE_SCREENSHOTS")
         else Path(tempfile.gettempdir()) / "cti-screenshots")


def shot(name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS / f"{name}.png"


@pytest.fixture
def viewport() -> dict[str, int]:
    return {"width": 1366, "height": 768}


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            await b.close()


@pytest.fixture
def expected_page_errors() -> tuple[str, ...]:
    """Console errors a test expects (a module overrides this fixture), matched as substrings; never
    a failed resource load, which a test names with ``@pytest.mark.expected_failed_load`` (tests.browser.watch)."""
    return ()


async def watched_page(browser: Browser, viewport: dict[str, int], expected_page_errors: tuple[str, ...],
                       request: pytest.FixtureRequest, **context: Any) -> AsyncIterator[Page]:
    """A fresh page in a context of its own (``context``: more of Playwright's context options);
    any script error, console error or failed resource load on it (or on another page of its
    context) that the test did not name fails the test."""
    ctx = await browser.new_context(viewport=viewport, locale="en-US", **context)
    seen = watch(ctx, request, expected_page_errors)
    pg = await ctx.new_page()
    try:
        yield pg
    finally:
        await ctx.close()
    seen.check()


@pytest.fixture
async def page(browser: Browser, viewport: dict[str, int], expected_page_errors: tuple[str, ...],
               request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    """A fresh, watched page (``watched_page``)."""
    async for pg in watched_page(browser, viewport, expected_page_errors, request):
        yield pg


async def log_in(page: Page, base: str, user: str, password: str) -> None:
    """Log in through the console's login form at ``base``."""
    await page.goto(base + "/")
    await page.fill("#login-username", user)
    await page.fill("#login-password", password)
    await page.click("#login-submit")


async def wait_js(page: Page, expression: str, timeout_s: float) -> None:
    """Poll a page expression from the test: Playwright's wait_for_function evaluates its predicate
    with eval inside the page, which the console's Content-Security-Policy (no 'unsafe-eval')
    refuses whenever the condition is not already true at the first look."""
    deadline = time.monotonic() + timeout_s
    while not await page.evaluate(expression):
        assert time.monotonic() < deadline, f"{expression} not true within {timeout_s} s"
        await asyncio.sleep(0.1)
