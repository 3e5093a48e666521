"""Real Chromium, the real engine on a real Asterisk: agent1 consults a number that rings and never
answers, and does nothing more. The transfer dialog has closed (the call shows Consulting, the
request still waits for the number); when the ring gives up, the console says so in a calm toast
(its own code, target_no_answer: information, not an error) and
shows the agent back with the caller (Talking, Hold offered, no Back to caller), and on Asterisk
the caller is bridged with the agent's leg again.

The ring is the trunks' ``outbound.dial_timeout_s`` (docs/trunks.md): set to 5 s here, the shortest
the file accepts, in the engine's routing, as a trunks.yaml saying 5 would load it (the test PBX's
own Dial gives up after 10 s: the engine's limit is the one that ends this ring)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from callcenter.engine import Engine
from cti.events import Event
from cti.journey import QueueEntered
from cti.pbx import ManagedPbx
from cti.settings import Settings
from cti.trunks import TrunksConfig
from tests.browser.console.test_real_transfer import consult_number, log_in, ringing, socket_frames, state
from tests.helpers import customer_number, place_call, recorded_engine, until

NUMBER = "86990073"  # cti-sim-customer: 8699... rings and never answers
RING_S = 5


@pytest.fixture
async def engine(pbx: ManagedPbx, pbx_settings: Settings, tmp_path: Path) -> AsyncIterator[tuple[Engine, list[Event]]]:
    async with recorded_engine(pbx, pbx_settings, tmp_path, QueueEntered, answer_after_s=1.0) as recorded:
        eng = recorded[0]
        routing = eng.acd.actions.routing
        data = routing.model_dump()
        data["outbound"]["dial_timeout_s"] = RING_S
        eng.acd.actions.routing = TrunksConfig.model_validate(data)
        yield recorded


async def test_a_consulted_number_that_never_answers_ends_in_a_toast_with_the_agent_back_with_the_caller(
        engine: tuple[Engine, list[Event]], page: Page) -> None:
    eng, queued = engine
    _, _, number = await customer_number(eng)
    frames = socket_frames(page)  # what the console's socket received
    await log_in(page, eng.url, "agent1")
    await page.click("#btn-ready")
    await state(page, "available")
    caller = (await place_call(eng, lambda: queued, number)).channel
    await expect(page.locator("#call-status")).to_have_text("Talking", timeout=20_000)
    call = next(iter(eng.acd.calls.values()))
    agent_leg = call.agent_channel
    assert agent_leg is not None

    await consult_number(page, eng, NUMBER)  # the dialog closed while the number rings
    rang_at = time.monotonic()
    await expect(page.locator("#btn-cancel-consult")).to_be_enabled()

    # Nobody answers: the ring gives up after RING_S, before the test PBX's own Dial would (10 s).
    await until(lambda: not ringing(eng, NUMBER), timeout_s=15, what="the ring given up")
    rang_s = time.monotonic() - rang_at
    assert RING_S - 1.5 < rang_s < 9.0, rang_s
    # Told calmly, as information (no error toast, no "Something went wrong"), naming the number.
    toast = page.locator("#toasts .toast", has_text="did not answer")
    await expect(toast).to_have_text(f"{NUMBER} did not answer. The caller is back with you.", timeout=10_000)
    assert "error" not in (await toast.get_attribute("class") or "").split()
    await expect(page.locator("#call-status")).to_have_text("Talking", timeout=10_000)
    await expect(page.locator("#btn-cancel-consult")).to_be_hidden()
    await expect(page.locator("#btn-hold")).to_be_enabled()
    await expect(page.locator("#transfer-dialog")).not_to_have_attribute("open", "")
    answer = next(f for f in frames if f.get("type") == "error")
    assert answer["code"] == "target_no_answer", answer
    assert answer["message"] == f"transfer target {NUMBER} did not answer; the caller is back with the agent"
    # The engine and Asterisk agree: the caller talks with the agent's same leg again.
    assert (call.status, call.agent_id, call.consult_ring, call.consult_target) == ("talking", "1001", None, None)
    await until(lambda: (p := eng.ami.model.bridged_peer(caller)) is not None and p.name == agent_leg,
                what="the caller bridged with the agent's leg again")
    assert eng.router.agent("1001").state.value == "on_call"
