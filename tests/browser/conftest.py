"""Real headless Chromium (Debian's, driven by Playwright) for every browser test."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

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
    """Console errors a test expects (a module overrides this fixture), matched as substrings."""
    return ()


@pytest.fixture
async def page(browser: Browser, viewport: dict[str, int],
               expected_page_errors: tuple[str, ...]) -> AsyncIterator[Page]:
    """A fresh page; any script error or console error on it fails the test."""
    ctx = await browser.new_context(viewport=viewport, locale="en-US")
    pg = await ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        yield pg
    finally:
        await ctx.close()
    # Resource errors are the tests' own to check (test_page_requests, test_login_page): some expect a
    # 503 of the absent PBX.
    real = [e for e in errors if "Failed to load resource" not in e and not any(x in e for x in expected_page_errors)]
    assert not real, f"errors in the page: {real}"


async def log_in(page: Page, base: str, user: str, password: str) -> None:
    """Log in through the console's login form at ``base``."""
    await page.goto(base + "/")
    await page.fill("#login-username", user)
    await page.fill("#login-password", password)
    await page.click("#login-submit")
