"""docs/softphone.md "No microphone": a browser phone without a usable microphone cannot answer (the
answer fails, SIP 480, and counts as a missed call), so the console refuses Ready until it has one,
and a microphone lost while ready puts the agent not ready ("No microphone"). Real Asterisk, real
Chromium: no fake device, the permission refused, and a fake microphone that goes away."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, async_playwright, expect

from callcenter.engine import Engine
from cti.events import Event
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.browser.console.test_softphone import (  # noqa: F401 (engine, phone_page: fixtures)
    engine,
    login,
    login_ready,
    phone_page,
)
from tests.browser.watch import watch
from tests.helpers import until

# The test's hand on the microphones the page opened: a device unplugged ends its track ("ended"),
# and none can be opened until it is back.
KEEP_STREAMS = """
(() => {
  const md = navigator.mediaDevices;
  if (!md) return;
  const open = md.getUserMedia.bind(md);
  window.__mics = [];
  md.getUserMedia = async (c) => {
    if (window.__unplugged) throw new DOMException("Requested device not found", "NotFoundError");
    const s = await open(c);
    window.__mics.push(s);
    return s;
  };
})();
"""
UNPLUG = """
window.__unplugged = true;
window.__mics.forEach((s) => s.getAudioTracks().forEach((tr) => { tr.stop(); tr.dispatchEvent(new Event("ended")); }));
"""


async def refused_ready(page: Page, eng: Engine, problem: str) -> None:
    """Ready (button and R key) is refused in the console, naming the problem; nothing reaches the engine."""
    await expect(page.locator("#phone-status")).to_have_attribute("data-state", "registered", timeout=15_000)
    await expect(page.locator("#phone-status")).to_contain_text("no microphone")
    await expect(page.locator("#btn-ready")).to_be_enabled()
    await page.click("#btn-ready")
    await expect(page.locator("#toasts .toast.error").last).to_contain_text("You cannot go ready")
    await expect(page.locator("#toasts .toast.error").last).to_contain_text(problem)
    await page.locator("#main").focus()
    await page.keyboard.press("r")
    await expect(page.locator("#toasts .toast.error")).to_have_count(2)
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "logged_out")
    assert eng.acd.agent_state("1001").value == "logged_out"  # not even logged into the queues


async def test_no_microphone_refuses_ready(engine: tuple[Engine, list[Event]], page: Page) -> None:  # noqa: F811
    eng, _ = engine
    await login(page, eng.url)  # the plain browser fixture: no fake devices
    await expect(page.locator("#phone-message")).to_contain_text("No microphone found", timeout=15_000)
    await refused_ready(page, eng, "No microphone found")


async def test_a_refused_microphone_permission_refuses_ready(engine: tuple[Engine, list[Event]],  # noqa: F811
                                                            request: pytest.FixtureRequest) -> None:
    """Fake devices but no fake consent UI: headless Chromium refuses the permission prompt."""
    eng, _ = engine
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                           args=[*CHROMIUM_ARGS, "--use-fake-device-for-media-stream"])
        try:
            page = await browser.new_page(locale="en-US")
            seen = watch(page.context, request)
            await login(page, eng.url)
            await expect(page.locator("#phone-message")).to_contain_text("Microphone permission refused",
                                                                         timeout=15_000)
            await refused_ready(page, eng, "Microphone permission refused")
        finally:
            await browser.close()
    seen.check()


async def test_a_microphone_lost_while_ready_warns_and_puts_the_agent_not_ready(
        engine: tuple[Engine, list[Event]], phone_page: Page) -> None:  # noqa: F811 (phone_page)
    eng, _ = engine
    page = phone_page
    await page.add_init_script(KEEP_STREAMS)
    await login_ready(page, eng.url)
    await until(lambda: eng.router.agent("1001").state.value == "available", what="the agent ready")
    await page.evaluate(UNPLUG)
    await expect(page.locator("#toasts .toast.error").last).to_contain_text("Microphone lost", timeout=10_000)
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "not_ready", timeout=10_000)
    await expect(page.locator("#state-reason")).to_have_text("No microphone")
    await expect(page.locator("#phone-status")).to_contain_text("no microphone")
    await expect(page.locator("#phone-message")).to_contain_text("Microphone lost")
    view = eng.router.agent("1001")
    assert (view.state.value, view.reason) == ("not_ready", "no_microphone")
    # And Ready is refused while it is missing.
    await page.click("#btn-ready")
    await expect(page.locator("#toasts .toast.error").last).to_contain_text("You cannot go ready")
    await expect(page.locator("#toasts .toast.error").last).to_contain_text("No microphone found")
    assert eng.router.agent("1001").state.value == "not_ready"
    # Plugged in again: Ready opens it and goes through.
    await page.evaluate("window.__unplugged = false")
    await page.click("#btn-ready")
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "available", timeout=10_000)
    await expect(page.locator("#phone-status")).to_have_text("Phone ready")
