"""Real Chromium's browser phone on the real Asterisk: after a blind transfer to a number (the
caller first on hold and back) the engine's call is over, but the agent's own leg stays up in Asterisk
(cti-park-agent, Wait: a server-side fault, reported; acd/call_actions.py is not the console's).
The console showed "On the phone" with no way to hang it up, through the wrap-up and into Ready, and
the next dial was refused 409 "still on their phone". A browser phone left on a line the engine no
longer shows as a call now offers *Hang up phone*; it frees the phone and the next dial rings it."""

from __future__ import annotations

import asyncio

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

# cti-sim-customer: 8695X answers at once and plays a 2 kHz tone.
TONE_NUMBER = "86950001"


async def test_a_blind_transfer_to_a_number_frees_the_agents_browser_phone(
        engine: tuple[Engine, list[Event]], phone_page: Page, pbx: ManagedPbx) -> None:  # noqa: F811
    eng, queued = engine
    page = phone_page
    _, _, number = await customer_number(eng)
    await login_ready(page, eng.url)
    await call_in(eng, queued, number, f"{pbx.instance_path}/spool/monitor/blind-{id(page)}")
    await expect(page.locator("#phone-card")).to_have_attribute("data-ringing", "true", timeout=15_000)
    await page.click("#phone-answer")
    await expect(page.locator("#call-status")).to_have_text("Talking", timeout=10_000)

    # On hold and back first, as an agent checking something does: the caller's and the agent's legs
    # are bridged again by the resume.
    await page.click("#btn-hold")
    await expect(page.locator("#call-status")).to_have_text("On hold", timeout=10_000)
    await page.click("#btn-hold")
    await expect(page.locator("#call-status")).to_have_text("Talking", timeout=10_000)

    await page.click("#btn-transfer")
    await page.select_option("#xfer-target-kind", "number")
    await page.fill("#xfer-target", TONE_NUMBER)
    await page.click("#transfer-form button[type=submit]")
    await expect(page.locator("#wrap-form")).to_be_visible(timeout=10_000)
    # The card says where the call went, not just "Ended" (the engine's detail.transferred).
    await expect(page.locator("#call-status")).to_have_text(f"Transferred to {TONE_NUMBER}", timeout=10_000)
    # Freed by the engine (once the server-side fault is fixed) or by the console's own button.
    hang = page.locator("#phone-hangup")
    status = page.locator("#phone-status")
    for _ in range(100):
        if await status.get_attribute("data-state") == "registered" or await hang.is_visible():
            break
        await asyncio.sleep(0.1)
    if await hang.is_visible():
        await expect(hang).to_have_text("Hang up phone")
        await page.screenshot(path=shot("phone-loose"))
        await hang.click()
    await expect(status).to_have_attribute("data-state", "registered", timeout=10_000)
    await expect(hang).to_be_hidden()
    assert "PJSIP/web1001-" not in await asyncio.to_thread(pbx.cli, "core show channels concise")

    # The wrap-up, then the next dial rings the browser (it was refused: still on the phone).
    await page.select_option("#wrap-disposition", "resolved")
    await page.click("#wrap-submit")
    await expect(page.locator("#wrap-form")).to_be_hidden(timeout=10_000)
    await page.fill("#dial-number", TONE_NUMBER)
    await page.keyboard.press("Enter")
    await expect(page.locator("#phone-card")).to_have_attribute("data-ringing", "true", timeout=15_000)
    await page.click("#phone-decline")
