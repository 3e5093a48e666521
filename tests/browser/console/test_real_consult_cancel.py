"""Real Chromium, the real engine on a real Asterisk: agent1 consults a number that rings (and never
answers), then clicks Back to caller before it does. The console closes the transfer dialog once the
call is consulting (Back to caller is on the call's card, behind it), carries the click out at once
(not after the ring gives up), and shows the caller back with the agent: the consult request's own
answer, "cancelled while ... rang", is the agent's click coming true, told calmly, never as an error."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from callcenter.engine import Engine
from cti.events import Event
from cti.journey import QueueEntered
from cti.pbx import ManagedPbx
from cti.settings import Settings
from tests.browser.console.test_real_transfer import consult_number, log_in, ringing, socket_frames, state
from tests.helpers import customer_number, place_call, recorded_engine, until

NUMBER = "86990071"  # cti-sim-customer: 8699... rings and never answers


@pytest.fixture
async def engine(pbx: ManagedPbx, pbx_settings: Settings, tmp_path: Path) -> AsyncIterator[tuple[Engine, list[Event]]]:
    async with recorded_engine(pbx, pbx_settings, tmp_path, QueueEntered, answer_after_s=1.0) as recorded:
        yield recorded


async def test_back_to_caller_while_the_number_rings_shows_the_caller_back_calmly(
        engine: tuple[Engine, list[Event]], page: Page) -> None:
    eng, queued = engine
    _, _, number = await customer_number(eng)
    frames = socket_frames(page)  # what the console's socket received
    await log_in(page, eng.url, "agent1")
    await page.click("#btn-ready")
    await state(page, "available")
    await place_call(eng, lambda: queued, number)
    await expect(page.locator("#call-status")).to_have_text("Talking", timeout=20_000)

    await consult_number(page, eng, NUMBER)  # the dialog closed while the number rings
    await expect(page.locator("#btn-cancel-consult")).to_be_enabled()

    await page.click("#btn-cancel-consult")
    # Carried out while the consult request waited (not once the ring gave up, 30 s later: the request's
    # answer, below, would then be "did not answer", and Back to caller refused).
    await expect(page.locator("#call-status")).to_have_text("Talking", timeout=20_000)
    await until(lambda: not ringing(eng, NUMBER), what="the ring hung up")
    await expect(page.locator("#btn-cancel-consult")).to_be_hidden()
    await expect(page.locator("#btn-hold")).to_be_enabled()
    # The consult request's answer came (cancelled while the number rang): the console tells the
    # caller back as a notice, and no error.
    answer = await until(lambda: next((f for f in frames if f.get("type") == "error"), None),
                         what="the consult request's answer")
    assert f"the consultation was cancelled while {NUMBER} rang" in answer["message"], answer
    await expect(page.locator("#toasts")).to_contain_text("Back with the caller", timeout=8_000)
    await expect(page.locator("#toasts .toast.error")).to_have_count(0)
    await expect(page.locator("#xfer-error")).to_be_hidden()
    call = next(iter(eng.acd.calls.values()))
    assert (call.status, call.agent_id, call.consult_ring) == ("talking", "1001", None)
