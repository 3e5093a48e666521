"""Real Chromium against the real engine on a real Asterisk: the agent dials from the dial box and
the engine never gets Asterisk's answer to the Originate (simulated: the real Originate runs, its
answer is replaced by the engine's own timeout). The console says the dial failed ("did not answer
in time"), yet Asterisk placed the call: once the agent's phone answered it the call card appears
(outbound, the number dialled, Talking), and the agent hangs up and wraps up from the console, which
makes them ready again. Before, the console never showed such a call (no card, no wrap-up)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from callcenter.engine import Engine
from cti.ami.control import OriginateResult
from cti.events import Event
from cti.journey import CallEnded
from cti.pbx import ManagedPbx
from cti.settings import Settings
from tests.helpers import recorded_engine, until

NUMBER = "8613800138000"  # cti-sim-customer: answers after 1 s, then waits


@pytest.fixture
async def engine(pbx: ManagedPbx, pbx_settings: Settings, tmp_path: Path) -> AsyncIterator[tuple[Engine, list[Event]]]:
    async with recorded_engine(pbx, pbx_settings, tmp_path, CallEnded, answer_after_s=0.5) as recorded:
        yield recorded


async def test_a_late_dial_shows_its_call_card_and_is_wrapped_up(engine: tuple[Engine, list[Event]], page: Page,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    eng, ended = engine
    real = eng.acd.control.originate
    ids: list[str] = []

    async def answer_lost(*args: object, **kwargs: object) -> OriginateResult:
        ids.append(str(kwargs["channel_id"]))
        placed = await real(*args, **kwargs)  # type: ignore[arg-type]
        assert placed.success, placed
        return OriginateResult(False, "Originate: no answer from Asterisk within 45.0 s", timed_out=True)

    monkeypatch.setattr(eng.acd.control, "originate", answer_lost)
    await page.goto(eng.url + "/")
    await page.fill("#login-username", "agent1")
    await page.fill("#login-password", "agent1-demo")
    await page.keyboard.press("Enter")
    await expect(page.locator("#console-view")).to_be_visible()
    await expect(page.locator("#conn-status")).to_have_attribute("data-ok", "true")
    await page.click("#btn-ready")
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "available", timeout=10_000)

    await page.fill("#dial-number", NUMBER)
    await page.click("#dial-form button[type=submit]")
    await expect(page.get_by_text("did not answer in time")).to_be_visible(timeout=15_000)  # the dial's error
    # The call Asterisk placed all the same: its card, once the agent's phone answered it.
    await expect(page.locator("#call-status")).to_have_text("Talking", timeout=15_000)
    await expect(page.locator("#call-direction")).to_have_text("Outbound")
    await expect(page.locator("#call-peer")).to_have_text(f"+{NUMBER}")
    (linkedid,) = ids
    assert linkedid in eng.acd.calls
    await page.click("#btn-hangup")
    await until(lambda: any(e.call_id == linkedid for e in ended), what="the call's end")
    await expect(page.locator("#wrap-form")).to_be_visible(timeout=10_000)
    await expect(page.locator("#call-status")).to_have_text("Ended")
    await page.select_option("#wrap-disposition", "resolved")
    await page.click("#wrap-submit")
    await expect(page.locator("#wrap-form")).to_be_hidden()
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "available", timeout=10_000)
    assert eng.acd.agent_call("1001", linkedid) is None
