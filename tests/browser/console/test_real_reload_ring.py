"""Real Chromium's browser phone on the real Asterisk: the page reloaded mid-call. The engine keeps
the caller on hold and rings the browser again; the call card says why the phone rings and what to
do (it showed "On hold" and a ringing phone side by side, unexplained: a new agent could take it for
a second caller), and once answered the agent talks to the caller again. Meanwhile Resume cannot
work (the agent's leg is the ringing one) and is disabled: clicked, it was refused with "Something
went wrong: call cti-... is not on hold" under a card saying "On hold"."""

from __future__ import annotations

from playwright.async_api import Page, expect

from callcenter.engine import Engine
from cti.events import Event
from cti.pbx import ManagedPbx
from tests.browser.conftest import shot
from tests.browser.console.test_softphone import (  # noqa: F401 (engine, phone_page: fixtures)
    call_in,
    engine,
    login_ready,
    phone_page,
)
from tests.helpers import customer_number


async def test_after_a_reload_mid_call_the_ring_again_is_explained(
        engine: tuple[Engine, list[Event]], phone_page: Page, pbx: ManagedPbx) -> None:  # noqa: F811
    eng, queued = engine
    page = phone_page
    _, _, number = await customer_number(eng)
    await login_ready(page, eng.url)
    caller = await call_in(eng, queued, number, f"{pbx.instance_path}/spool/monitor/reload-{id(page)}")
    await expect(page.locator("#phone-card")).to_have_attribute("data-ringing", "true", timeout=15_000)
    note = page.locator("#call-rering")
    await expect(note).to_be_hidden()  # a first ring is the offer's, which says it itself
    await page.click("#phone-answer")
    await expect(page.locator("#call-status")).to_have_text("Talking", timeout=10_000)

    await page.reload()
    await expect(page.locator("#phone-card")).to_have_attribute("data-ringing", "true", timeout=20_000)
    await expect(page.locator("#call-status")).to_have_text("On hold")
    await expect(note).to_be_visible()
    await expect(note).to_have_text("Your phone rings again for this call (the caller is on hold): "
                                    "answer it to talk to them again.")
    await page.screenshot(path=shot("reload-rering"))
    await expect(page.locator("#btn-hold")).to_be_disabled()
    await expect(page.locator("#btn-hold")).to_contain_text("Resume")
    await page.locator("#main").focus()
    await page.keyboard.press("h")  # H: nothing to refuse either
    await expect(page.locator("#toasts")).not_to_contain_text("not on hold")
    await page.click("#phone-answer")
    await expect(page.locator("#call-status")).to_have_text("Talking", timeout=10_000)
    await expect(note).to_be_hidden()
    await expect(page.locator("#btn-hold")).to_be_enabled()
    await eng.ami.control.hangup(caller)
    await expect(page.locator("#wrap-form")).to_be_visible(timeout=10_000)
