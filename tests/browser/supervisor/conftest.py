"""Real headless Chromium for the supervisor pages, on the real Engine and Asterisk (``running``) or on
an unstarted Engine with a seeded CRM (``site``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests.asterisk.supervisor.conftest import running  # noqa: F401 - a fixture
from tests.web.supervisor.conftest import site  # noqa: F401 - a fixture

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            await b.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    ctx = await browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-US")
    pg = await ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        yield pg
    finally:
        await ctx.close()
    real = [e for e in errors if "Failed to load resource" not in e]  # the 401 on /api/me before login
    assert not real, f"errors in the page: {real}"
