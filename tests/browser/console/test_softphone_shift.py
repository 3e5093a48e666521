"""Real Chromium's browser phone on the real Asterisk, more of an agent's shift: a caller who hangs
up while on hold ends the browser's call and the agent wraps up; the dial box rings the browser first
(the console says so meanwhile, not showing the customer browsed before, and takes no second dial),
and once the agent answers the customer's phone is dialled and heard (its 2 kHz tone)."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect

from callcenter.engine import Engine
from cti.events import Event
from cti.pbx import ManagedPbx
from tests.ami_events import AmiEvents
from tests.browser.conftest import wait_js
from tests.browser.console.test_softphone import (  # noqa: F401 (engine, phone_page: fixtures)
    call_in,
    engine,
    login_ready,
    phone_page,
    wrap_up,
)
from tests.helpers import customer_number, until

# cti-sim-customer: 8695X answers at once and plays a 2 kHz tone.
TONE_NUMBER = "86950001"


async def test_a_caller_leaving_on_hold_ends_the_browser_call_then_the_dial_box_rings_the_browser_first(
        engine: tuple[Engine, list[Event]], phone_page: Page, pbx: ManagedPbx) -> None:  # noqa: F811
    eng, queued = engine
    page = phone_page
    _, _, number = await customer_number(eng)
    await login_ready(page, eng.url)
    record = f"{pbx.instance_path}/spool/monitor/shift-{id(page)}"

    async with AmiEvents(eng.settings) as ami:
        caller = await call_in(eng, queued, number, record)
        await expect(page.locator("#phone-card")).to_have_attribute("data-ringing", "true", timeout=15_000)
        await page.click("#phone-answer")
        await expect(page.locator("#call-status")).to_have_text("Talking", timeout=10_000)
        await page.locator("#main").focus()
        await page.keyboard.press("h")
        await expect(page.locator("#call-status")).to_have_text("On hold", timeout=10_000)
        await until(lambda: ami.named("MusicOnHoldStart", Channel=re.escape(caller[:-1]) + "2"),
                    what="music on hold to the caller")
        # The caller hangs up on the music: the agent's parked leg (the browser's call) ends with it.
        await eng.ami.control.hangup(caller)
        await expect(page.locator("#phone-status")).to_have_attribute("data-state", "registered", timeout=5_000)
        await expect(page.locator("#call-status")).to_have_text("Ended", timeout=5_000)
    await wrap_up(page)

    # After the wrap-up the card shows the customer just served (browsing them).
    await expect(page.locator("#customer-card")).to_be_visible()

    # The dial box: the browser rings first (the agent's own leg; the engine answers the dial only
    # once it is answered). Meanwhile the console says what rings, not the customer browsed before,
    # and a second dial cannot go.
    await page.fill("#dial-number", TONE_NUMBER)
    await page.keyboard.press("Enter")
    await expect(page.locator("#phone-card")).to_have_attribute("data-ringing", "true", timeout=15_000)
    pending = page.locator("#dial-pending")
    await expect(pending).to_be_visible()
    await expect(pending).to_contain_text(TONE_NUMBER)
    await expect(pending).to_contain_text("your phone rings first. Answer your phone")
    await expect(page.locator("#customer-card")).to_be_hidden()
    await expect(page.locator("#dial-form button")).to_be_disabled()
    await page.click("#phone-answer")
    await expect(page.locator("#phone-status")).to_have_attribute("data-state", "in_call", timeout=10_000)
    await expect(page.locator("#call-direction")).to_have_text("Outbound", timeout=10_000)
    await expect(pending).to_be_hidden()
    await expect(page.locator("#dial-form button")).to_be_enabled()
    await wait_js(page, "window.ctiPhone.stats().then((s) => s?.inbound?.totalAudioEnergy > 0.05 && "
                        "s.inbound.audioLevel > 0.05)", 15.0)
    await page.locator("#main").focus()
    await page.keyboard.press("x")
    await expect(page.locator("#phone-status")).to_have_attribute("data-state", "registered", timeout=10_000)
    await expect(page.locator("#wrap-form")).to_be_visible(timeout=10_000)
    await expect(page.locator("#wrap-no-answer-row")).to_be_visible()  # an outbound call's wrap-up
    await page.select_option("#wrap-disposition", "info_given")
    await page.click("#wrap-submit")
    await expect(page.locator("#wrap-form")).to_be_hidden(timeout=10_000)
