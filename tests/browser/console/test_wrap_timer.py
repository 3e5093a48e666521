"""Real Chromium against the real engine on a real Asterisk: after a call the wrap-up form counts down
the queue's wrap-up time (a reload mid-wrap-up keeps the countdown); when the time runs out with the
form still open the agent is told they are ready for calls again, and the form, sent late, still
gives the call its disposition and notes."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from callcenter.engine import Engine
from crm_core.interactions import interaction_by_linkedid
from cti.events import Event
from cti.journey import QueueEntered
from cti.pbx import ManagedPbx
from cti.settings import Settings
from tests.helpers import customer_number, place_call, recorded_engine


@pytest.fixture
async def engine(pbx: ManagedPbx, pbx_settings: Settings, tmp_path: Path) -> AsyncIterator[tuple[Engine, list[Event]]]:
    async with recorded_engine(pbx, pbx_settings, tmp_path, QueueEntered, answer_after_s=1.0) as recorded:
        yield recorded


def seconds(text: str) -> int:
    found = re.search(r"(\d\d):(\d\d)", text)
    assert found, text
    return int(found[1]) * 60 + int(found[2])


async def test_the_wrap_up_counts_down_and_says_when_its_time_ran_out(engine: tuple[Engine, list[Event]],
                                                                      page: Page) -> None:
    eng, queued = engine
    _, name, number = await customer_number(eng)
    await page.goto(eng.url + "/")
    await page.fill("#login-username", "agent1")
    await page.fill("#login-password", "agent1-demo")
    await page.keyboard.press("Enter")
    await expect(page.locator("#conn-status")).to_have_attribute("data-ok", "true")
    await page.click("#btn-ready")
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "available", timeout=10_000)
    await place_call(eng, lambda: queued, number)
    await expect(page.locator("#call-status")).to_have_text("Talking", timeout=15_000)
    await expect(page.locator("#cust-name")).to_contain_text(name)
    linkedid = queued[0].linkedid  # type: ignore[attr-defined]
    queue = queued[0].queue  # type: ignore[attr-defined]
    wrap_s = eng.acd_config.queue(queue).wrap_up_s

    await page.click("#btn-hangup")
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "wrap_up", timeout=10_000)
    left = page.locator("#wrap-left")
    await expect(left).to_contain_text("Wrap-up time left", timeout=3_000)
    first = seconds(await left.inner_text())
    assert 0 < first <= wrap_s, (first, wrap_s)
    await page.select_option("#wrap-disposition", "resolved")
    await page.fill("#wrap-notes", "Explained the invoice.")

    # A reload mid-wrap-up: the countdown comes back with the form (the engine's hello says when it ends).
    await page.reload()
    await expect(page.locator("#wrap-form")).to_be_visible(timeout=10_000)
    await expect(left).to_contain_text("Wrap-up time left")
    assert seconds(await left.inner_text()) <= first

    # The time runs out with the form open: ready again, and told so; the form is still there.
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "available",
                                                                timeout=(wrap_s + 5) * 1000)
    await expect(left).to_contain_text("Wrap-up time is over")
    await expect(left).to_contain_text("calls ring again")
    await expect(page.locator("#toasts")).to_contain_text("Wrap-up time is over")
    await expect(page.locator("#wrap-notes")).to_have_value("Explained the invoice.")
    await page.click("#wrap-submit")
    await expect(page.locator("#wrap-form")).to_be_hidden(timeout=10_000)

    # Sent after the wrap-up state ended, the form still gives the call its disposition and notes.
    for _ in range(50):
        async with eng.db.session() as s:
            row = await interaction_by_linkedid(session=s, linkedid=linkedid)
        if row is not None and row.disposition:
            break
        await asyncio.sleep(0.2)
    assert row is not None and (row.disposition, row.notes) == ("resolved", "Explained the invoice.")
