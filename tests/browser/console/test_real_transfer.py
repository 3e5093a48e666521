"""Real Chromium, two agents' consoles, the real engine on a real Asterisk: agent1 takes a caller
from the IVR and transfers it with consultation (and a note) to agent2. Each console offers only
what its agent may do: the transferring agent is told whom they consult and may go back to the
caller or conference; the consulted agent sees who transfers and the note, and may only hang up
until the transfer completes; then the call is theirs, note still on screen."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, WebSocket, expect

from callcenter.engine import Engine
from cti.events import Event
from cti.journey import QueueEntered
from cti.pbx import ManagedPbx
from cti.settings import Settings
from tests.browser.conftest import wait_js
from tests.helpers import customer_number, place_call, recorded_engine, until

NOTE = "Wants the refund for order A-17, identity checked"


@pytest.fixture
async def engine(pbx: ManagedPbx, pbx_settings: Settings, tmp_path: Path) -> AsyncIterator[tuple[Engine, list[Event]]]:
    async with recorded_engine(pbx, pbx_settings, tmp_path, QueueEntered, answer_after_s=1.0) as recorded:
        yield recorded


@pytest.fixture
async def second_page(browser: Browser) -> AsyncIterator[Page]:
    """Another agent's browser (its own cookies); script errors fail the test."""
    ctx = await browser.new_context(viewport={"width": 1366, "height": 768}, locale="en-US")
    pg = await ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        yield pg
    finally:
        await ctx.close()
    assert not [e for e in errors if "Failed to load resource" not in e], errors


async def log_in(page: Page, url: str, user: str) -> None:
    await page.goto(url + "/")
    await page.fill("#login-username", user)
    await page.fill("#login-password", f"{user}-demo")
    await page.keyboard.press("Enter")
    await expect(page.locator("#conn-status")).to_have_attribute("data-ok", "true")


async def state(page: Page, which: str) -> None:
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", which, timeout=10_000)


def socket_frames(page: Page) -> list[dict[str, Any]]:
    """What the console's socket receives from now on (its JSON frames), in order."""
    frames: list[dict[str, Any]] = []

    def on_socket(ws: WebSocket) -> None:
        ws.on("framereceived", lambda f: frames.append(json.loads(f)) if isinstance(f, str) else None)

    page.on("websocket", on_socket)
    return frames


def ringing(eng: Engine, number: str) -> bool:
    return any(number in ch.name for c in eng.ami.model.calls() for ch in c.live)


async def consult_number(page: Page, eng: Engine, number: str) -> None:
    """From a talking call: an attended transfer to ``number`` from the dialog, until the call is
    consulting, the dialog closed and the number ringing. The dialog closes once the call is
    consulting: the request itself is answered only when the number answers (or not), and the dialog,
    modal, would hide Back to caller until then."""
    await page.keyboard.press("t")
    await page.check('input[name="xfer-kind"][value="attended"]')
    await page.select_option("#xfer-target-kind", "number")
    await page.fill("#xfer-target", number)
    await page.click("#transfer-form button[type=submit]")
    await expect(page.locator("#call-status")).to_have_text("Consulting", timeout=10_000)
    await expect(page.locator("#transfer-dialog")).not_to_have_attribute("open", "")
    await until(lambda: ringing(eng, number), what="the number ringing")


async def test_an_attended_transfer_shows_each_agent_their_side_and_the_note(
        engine: tuple[Engine, list[Event]], page: Page, second_page: Page) -> None:
    eng, queued = engine
    _, name, number = await customer_number(eng)
    first, second = page, second_page
    await log_in(first, eng.url, "agent1")
    # The not-ready picker offers the agent's reasons, not the engine's own (missed, login, outbound).
    # The hello fills it, after the socket's open that log_in waited for: waited for too (read once,
    # it was still empty on a loaded machine).
    await wait_js(first, "document.querySelectorAll('#reason-select option').length > 0", 10.0)
    assert await first.locator("#reason-select option").evaluate_all("os => os.map(o => o.value)") == [
        "break", "lunch", "meeting", "training", "after_call_work"]
    await log_in(second, eng.url, "agent2")
    await second.click("#btn-ready")
    await state(second, "available")
    await second.click("#btn-not-ready")  # agent2 on a break while the call comes in: it is agent1's
    await state(second, "not_ready")
    await first.click("#btn-ready")
    await state(first, "available")

    await place_call(eng, lambda: queued, number)
    await expect(first.locator("#call-status")).to_have_text("Talking", timeout=20_000)
    await expect(first.locator("#call-transfer")).to_be_hidden()  # a call from the queue: nobody transferred it
    await second.click("#btn-ready")
    await state(second, "available")

    await first.keyboard.press("t")
    await first.check('input[name="xfer-kind"][value="attended"]')
    await first.select_option("#xfer-target-kind", "agent")
    await first.fill("#xfer-target", "1002")
    await first.fill("#xfer-note", NOTE)
    await first.click("#transfer-form button[type=submit]")
    await expect(first.locator("#call-status")).to_have_text("Consulting")
    # The transferring agent is told whom they consult (it said "Talking to undefined").
    await expect(first.locator("#toasts")).to_contain_text("Talking to agent 1002.")
    await expect(first.locator("#toasts")).not_to_contain_text("undefined")

    # The consulted agent's phone rings with the caller's card, who transfers and the note.
    await expect(second.locator("#offer-card")).to_be_visible(timeout=15_000)
    await expect(second.locator("#offer-transfer")).to_contain_text(f"Transferred by agent 1001: {NOTE}")
    await expect(second.locator("#cust-name")).to_contain_text(name)
    # Answered: they talk to agent1 (the caller waits on hold). The call is not theirs yet: only
    # Hang up, none of the transferring agent's buttons (the engine refused every one of them).
    await expect(second.locator("#call-status")).to_have_text("Consultation", timeout=15_000)
    await expect(second.locator("#call-transfer")).to_contain_text(f"Transferred by agent 1001: {NOTE}")
    await expect(second.locator("#btn-hangup")).to_be_enabled()
    for button in ("#btn-hold", "#btn-transfer", "#btn-dtmf"):
        await expect(second.locator(button)).to_be_disabled()
    for button in ("#btn-cancel-consult", "#btn-conference"):
        await expect(second.locator(button)).to_be_hidden()
    await second.keyboard.press("h")  # the shortcut offers nothing either: no refused action, no error toast
    await expect(second.locator("#call-status")).to_have_text("Consultation")
    await expect(first.locator("#btn-cancel-consult")).to_be_visible()
    await expect(first.locator("#btn-conference")).to_be_visible()

    # agent1 hangs up: the transfer completes and the call is agent2's, note still on screen.
    await first.click("#btn-hangup")
    await expect(first.locator("#wrap-form")).to_be_visible(timeout=10_000)
    await expect(second.locator("#call-status")).to_have_text("Talking", timeout=10_000)
    await expect(second.locator("#call-transfer")).to_contain_text(NOTE)
    for button in ("#btn-hold", "#btn-transfer", "#btn-dtmf", "#btn-hangup"):
        await expect(second.locator(button)).to_be_enabled()
    await second.click("#btn-hold")
    await expect(second.locator("#call-status")).to_have_text("On hold", timeout=10_000)
    await expect(second.locator("#toasts .toast.error")).to_have_count(0)
    # Hang up while the caller is on hold: the call ends (it stayed "On hold": the agent's parked leg
    # kept the call alive, tests/asterisk/acd/test_delivery.py).
    await second.click("#btn-hangup")
    await expect(second.locator("#wrap-form")).to_be_visible(timeout=10_000)
    await expect(second.locator("#state-pill")).to_have_attribute("data-state", "wrap_up")
