"""Real headless Chromium (Debian's, driven by Playwright) for every browser test."""

from __future__ import annotations

import asyncio
import os
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright
from playwright.async_api import Error as PlaywrightError

from tests.browser.watch import pytest_runtest_call, watch  # noqa: F401 - the hook closes the watches

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps dialling Google's hosts, which this
# machine's closed network refuses; as root it needs --no-sandbox.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
# What Playwright's own launch() (1.65) adds for a headless Chromium: the worker's shared Chromium
# (``chromium``) is started with the same switches, so a page behaves as in a browser Playwright launched
# (no background timer throttling, no back-forward cache, scrollbars hidden, audio muted).
PLAYWRIGHT_SWITCHES = [
    "--disable-field-trial-config", "--disable-background-networking", "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows", "--disable-back-forward-cache", "--disable-breakpad",
    "--disable-component-extensions-with-background-pages", "--disable-component-update",
    "--no-default-browser-check", "--disable-default-apps", "--disable-dev-shm-usage", "--disable-extensions",
    "--disable-features=AvoidUnnecessaryBeforeUnloadCheckSync,DestroyProfileOnBrowserClose,HttpsUpgrades,"
    "HttpsFirstBalancedModeAutoEnable,LensOverlay,MediaRouter,PaintHolding,ThirdPartyStoragePartitioning,"
    "AvoidCorsURLLoaderRestartOnRedirect,OptimizationHints,NetworkTimeServiceQuerying,AimEnabled,"
    "PreconnectToSearch",
    "--enable-features=CDPScreenshotNewSurface", "--allow-pre-commit-input", "--disable-hang-monitor",
    "--disable-ipc-flooding-protection", "--disable-popup-blocking", "--disable-prompt-on-repost",
    "--disable-renderer-backgrounding", "--force-color-profile=srgb", "--metrics-recording-only",
    "--no-first-run", "--password-store=basic", "--use-mock-keychain", "--no-service-autorun",
    "--disable-search-engine-choice-screen", "--disable-infobars", "--disable-sync", "--headless",
    "--hide-scrollbars", "--mute-audio", "--enable-unsafe-swiftshader",
    "--blink-settings=primaryHoverType=2,availableHoverTypes=2,primaryPointerType=4,availablePointerTypes=4",
]
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


class SharedChromium:
    """One headless Chromium process for a pytest worker, reached over CDP: starting Chromium for
    every test cost 1-2 s of each browser test. Each test still gets contexts of its own (own
    cookies, storage, permissions), closed when it ends; a Chromium that died is started again."""

    def __init__(self, profiles: Path) -> None:
        self._profiles = profiles
        self._proc: subprocess.Popen[bytes] | None = None
        self._url = ""

    def url(self) -> str:
        if self._proc is None or self._proc.poll() is not None:
            self._start()
        return self._url

    def _start(self) -> None:
        self.stop()
        profile = Path(tempfile.mkdtemp(prefix="chromium-", dir=self._profiles))
        self._proc = subprocess.Popen(
            [CHROMIUM, *PLAYWRIGHT_SWITCHES, *CHROMIUM_ARGS, f"--user-data-dir={profile}",
             "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "--no-startup-window"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        active = profile / "DevToolsActivePort"  # Chromium writes its port here once it listens
        deadline = time.monotonic() + 30
        while not (active.exists() and active.read_text().count("\n") >= 1):
            if self._proc.poll() is not None:
                raise RuntimeError(f"{CHROMIUM} exited with {self._proc.returncode} at start")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{CHROMIUM} did not listen for DevTools within 30 s")
            time.sleep(0.05)
        self._url = f"http://127.0.0.1:{active.read_text().splitlines()[0]}"

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(10)
        self._proc = None


@pytest.fixture(scope="session")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedChromium]:
    shared = SharedChromium(tmp_path_factory.mktemp("chromium"))
    try:
        yield shared
    finally:
        shared.stop()


@pytest.fixture
async def browser(chromium: SharedChromium) -> AsyncIterator[Browser]:
    """The worker's Chromium (``SharedChromium``) for one test: closing it closes every context the
    test made there and disconnects, leaving the process for the next test."""
    async with async_playwright() as pw:
        try:
            b = await pw.chromium.connect_over_cdp(chromium.url(), timeout=30_000)
        except PlaywrightError:  # alive but not answering (an earlier test hung it): a fresh one
            chromium.stop()
            b = await pw.chromium.connect_over_cdp(chromium.url(), timeout=30_000)
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
