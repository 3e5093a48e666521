"""Real Chromium's browser phone on the real Asterisk, more of an agent's shift: mute silences the
agent for the caller (the caller's recording: 1 kHz, silence, 1 kHz again); a caller who hangs
up while on hold ends the browser's call and the agent wraps up; the dial box rings the browser first
(the console says so meanwhile, not showing the customer browsed before, and takes no second dial),
and once the agent answers the customer's phone is dialled and heard (its 2 kHz tone); a callback
from the Next customer panel shows "Calling…" while the browser rings, and after a no-answer wrap-up
the agent is told it goes back on the list. Two browser phones (1 kHz and 600 Hz microphones): an
attended transfer rings the second agent's browser, they hear the first, the conference carries both
agents to the caller at once, and the call stays the second agent's when the first leaves."""

from __future__ import annotations

import asyncio
import math
import re
import subprocess
import time
from array import array
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page, async_playwright, expect
from sqlalchemy import select

from callcenter.engine import Engine
from crm_core.models import Callback
from cti.events import Event
from cti.journey import CallbackRequested
from cti.pbx import ManagedPbx
from tests.ami_events import AmiEvents
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, wait_js
from tests.browser.console.test_softphone import (  # noqa: F401 (engine, phone_page: fixtures)
    MEDIA_ARGS,
    call_in,
    engine,
    login,
    login_ready,
    phone_page,
    tone_wav,
    wrap_up,
)
from tests.browser.watch import watch
from tests.helpers import customer_number, until

# cti-sim-customer: 8695X answers at once and plays a 2 kHz tone.
TONE_NUMBER = "86950001"
CALLBACK_NUMBER = "+8695000123"
MUTED_S = 3.0


def windows(path: Path, ms: int = 100, freq: int = 1000) -> list[tuple[float, float]]:
    """Each ``ms`` window of a recording: its RMS (full scale 1) and the share of its power at ``freq``
    (Goertzel; about 1 for a fake microphone's tone at ``freq``, near 0 for music, speech or silence)."""
    raw = subprocess.run(["sox", str(path), "-t", "raw", "-r", "8000", "-c", "1", "-b", "16", "-e", "signed", "-"],
                         capture_output=True, check=True).stdout
    samples = array("h")
    samples.frombytes(raw)
    n = 8000 * ms // 1000
    coeff = 2 * math.cos(2 * math.pi * freq / 8000)
    out = []
    for start in range(0, len(samples) - n + 1, n):
        s1 = s2 = energy = 0.0
        for x in samples[start:start + n]:
            v = x / 32768
            s1, s2 = v + coeff * s1 - s2, s1
            energy += v * v
        power = s1 * s1 + s2 * s2 - coeff * s1 * s2
        out.append((math.sqrt(energy / n), power / (energy * n / 2) if energy else 0.0))
    return out


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
        await wait_js(page, "window.ctiPhone.stats().then((s) => s?.outbound?.packetsSent > 100)", 10.0)
        # Mute (M) for 3 s, then unmute: the caller hears the agent's 1 kHz, silence, the 1 kHz again
        # (checked on the caller's recording below). The sleeps are the scenario's durations.
        await page.locator("#main").focus()
        await page.keyboard.press("m")
        await expect(page.locator("#phone-mute")).to_have_attribute("aria-pressed", "true")
        await asyncio.sleep(MUTED_S)
        await page.keyboard.press("m")
        await expect(page.locator("#phone-mute")).to_have_attribute("aria-pressed", "false")
        await asyncio.sleep(1.5)
        await page.keyboard.press("h")
        await expect(page.locator("#call-status")).to_have_text("On hold", timeout=10_000)
        await until(lambda: ami.named("MusicOnHoldStart", Channel=re.escape(caller[:-1]) + "2"),
                    what="music on hold to the caller")
        # The caller hangs up on the music: the agent's parked leg (the browser's call) ends with it.
        await eng.ami.control.hangup(caller)
        await expect(page.locator("#phone-status")).to_have_attribute("data-state", "registered", timeout=5_000)
        await expect(page.locator("#call-status")).to_have_text("Ended", timeout=5_000)
    await wrap_up(page)
    heard = pbx.rootfs / (record.lstrip("/") + "-r.wav")
    await until(lambda: heard.exists() and heard.stat().st_size > 8000, what="the caller's recording")
    spoken = [rms > 0.02 and share > 0.8 for rms, share in await asyncio.to_thread(windows, heard)]
    silent = [rms < 0.003 for rms, _ in await asyncio.to_thread(windows, heard)]
    answered = spoken.index(True)  # the agent's 1 kHz reaches the caller from the answer on
    run = longest = end = 0
    for i in range(answered, len(silent)):
        run = run + 1 if silent[i] else 0
        if run > longest:
            longest, end = run, i
    assert longest >= (MUTED_S - 1) * 10, f"no silence while muted: {longest} silent 100 ms windows"
    assert any(spoken[end + 1:]), "the agent's 1 kHz did not come back after unmute"

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

    # A callback from the Next customer panel: Dial rings the browser first too; meanwhile the card
    # says "Calling…" and offers no second Dial or Skip (it kept both until the agent answered).
    await eng.bus.publish(CallbackRequested(ts=time.time(), linkedid="shift-callback-1", number=CALLBACK_NUMBER,
                                            queue="support"))
    await eng.bus.drain()  # type: ignore[attr-defined]
    await page.click("#btn-preview-next")
    await expect(page.locator("#pv-number")).to_have_text(CALLBACK_NUMBER)
    await page.click("#pv-dial")
    await expect(page.locator("#phone-card")).to_have_attribute("data-ringing", "true", timeout=15_000)
    await expect(page.locator("#pv-calling")).to_be_visible()
    await expect(page.locator("#pv-actions")).to_be_hidden()
    await page.click("#phone-answer")
    await expect(page.locator("#call-direction")).to_have_text("Callback", timeout=10_000)
    await expect(page.locator("#pv-calling")).to_be_visible()
    await page.locator("#main").focus()
    await page.keyboard.press("x")
    await expect(page.locator("#wrap-form")).to_be_visible(timeout=10_000)
    await page.check("#wrap-no-answer")  # a voicemail answered: the callback is tried again later
    await page.select_option("#wrap-disposition", "info_given")
    await page.click("#wrap-submit")
    # The agent is told what became of the callback (the toast said only "Wrap-up saved").
    await expect(page.locator("#toasts")).to_contain_text(
        "Callback not reached: back on the list, tried again later (attempt 1 of ", timeout=10_000)
    await expect(page.locator("#wrap-form")).to_be_hidden()
    await expect(page.locator("#pv-item")).to_be_hidden()
    async with eng.db.session() as session:
        rows = (await session.scalars(select(Callback).where(Callback.number == CALLBACK_NUMBER))).all()
        assert [(c.state, c.attempts) for c in rows] == [("pending", 1)]


@pytest.fixture
async def second_phone(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    """Another Chromium, its microphone playing 600 Hz (the first one's plays 1 kHz)."""
    wav = tone_wav(tmp_path / "mic-600.wav", 600)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=[*CHROMIUM_ARGS, *MEDIA_ARGS, f"--use-file-for-fake-audio-capture={wav}"])
        ctx = await browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-US")
        seen = watch(ctx, request)
        page = await ctx.new_page()
        try:
            yield page
        finally:
            await browser.close()
    seen.check()


async def test_an_attended_transfer_between_browser_phones_through_a_conference_carries_both_agents(
        engine: tuple[Engine, list[Event]], phone_page: Page, second_phone: Page,  # noqa: F811
        pbx: ManagedPbx) -> None:
    eng, queued = engine
    first, second = phone_page, second_phone
    _, _, number = await customer_number(eng)
    await login(second, eng.url, "agent2")
    await expect(second.locator("#phone-status")).to_have_attribute("data-state", "registered", timeout=15_000)
    await login_ready(first, eng.url)  # agent2 stays logged out of the queues: the call is agent1's
    record = f"{pbx.instance_path}/spool/monitor/xfer-{id(first)}"
    caller = await call_in(eng, queued, number, record)
    await expect(first.locator("#phone-card")).to_have_attribute("data-ringing", "true", timeout=15_000)
    await first.click("#phone-answer")
    await expect(first.locator("#call-status")).to_have_text("Talking", timeout=10_000)
    await second.click("#btn-ready")
    await expect(second.locator("#state-pill")).to_have_attribute("data-state", "available", timeout=10_000)

    # Attended: agent2's browser rings, answers, and hears agent1 (the caller waits on hold).
    await first.locator("#main").focus()
    await first.keyboard.press("t")
    await first.check('input[name="xfer-kind"][value="attended"]')
    await first.select_option("#xfer-target-kind", "agent")
    await first.fill("#xfer-target", "1002")
    await first.click("#transfer-form button[type=submit]")
    await expect(second.locator("#phone-card")).to_have_attribute("data-ringing", "true", timeout=15_000)
    await second.click("#phone-answer")
    await expect(second.locator("#call-status")).to_have_text("Consultation", timeout=10_000)
    await wait_js(second, "window.ctiPhone.stats().then((s) => s?.inbound?.packetsReceived > 100 && "
                          "s.inbound.audioLevel > 0.02)", 10.0)

    # The conference: all three; then agent1 leaves and the call is agent2's, on agent2's browser.
    await first.click("#btn-conference")
    await expect(first.locator("#call-status")).to_have_text("Conference", timeout=10_000)
    await asyncio.sleep(2)  # the three talk
    await first.click("#btn-hangup")
    await expect(first.locator("#phone-status")).to_have_attribute("data-state", "registered", timeout=10_000)
    await expect(first.locator("#wrap-form")).to_be_visible(timeout=10_000)
    await expect(second.locator("#call-status")).to_have_text("Talking", timeout=10_000)
    await expect(second.locator("#phone-status")).to_have_attribute("data-state", "in_call")
    await asyncio.sleep(2)  # agent2 talks to the caller alone
    await eng.ami.control.hangup(caller)
    await expect(second.locator("#phone-status")).to_have_attribute("data-state", "registered", timeout=10_000)
    await wrap_up(second)

    # The caller heard both agents at once in the conference (agent1's 1 kHz and agent2's 600 Hz in
    # the same windows), then agent2 alone, each for more than a second.
    heard = pbx.rootfs / (record.lstrip("/") + "-r.wav")
    await until(lambda: heard.exists() and heard.stat().st_size > 8000, what="the caller's recording")
    one = await asyncio.to_thread(windows, heard, 100, 1000)
    two = await asyncio.to_thread(windows, heard, 100, 600)
    both = sum(rms > 0.02 and a > 0.2 and b > 0.2 for (rms, a), (_, b) in zip(one, two, strict=True))
    alone = sum(rms > 0.02 and b > 0.8 for rms, b in two)
    assert both > 10 and alone > 10, (both, alone)


async def test_x_while_the_browser_rings_again_after_a_reload_declines_and_the_call_goes_back_to_routing(
        engine: tuple[Engine, list[Event]], phone_page: Page, pbx: ManagedPbx) -> None:  # noqa: F811
    """X is Decline while the browser phone rings (docs/softphone.md). After a reload mid-call the
    phone rings again for the call the agent still has (on hold): X must decline that ring, not hang
    up the customer waiting on music (it did both: the console's X is Hang up for the call). The
    decline is a "not now", as for a missed offer: the call waits again at once at its place for
    another agent (the engine rang the same agent every second until the requeue time), the agent
    wraps up their part and goes not ready "Missed a call", and is not rung again for it."""
    eng, queued = engine
    page = phone_page
    _, _, number = await customer_number(eng)
    await login_ready(page, eng.url)
    record = f"{pbx.instance_path}/spool/monitor/rering-{id(page)}"
    async with AmiEvents(eng.settings) as ami:
        caller = await call_in(eng, queued, number, record)
        linkedid = queued[-1].linkedid  # type: ignore[attr-defined]
        await expect(page.locator("#phone-card")).to_have_attribute("data-ringing", "true", timeout=15_000)
        await page.click("#phone-answer")
        await expect(page.locator("#call-status")).to_have_text("Talking", timeout=10_000)
        await page.reload()
        await expect(page.locator("#phone-card")).to_have_attribute("data-ringing", "true", timeout=20_000)
        await expect(page.locator("#call-status")).to_have_text("On hold")
        rings = len(ami.named("Hangup", Channel=r"PJSIP/web1001-"))
        await page.locator("#main").focus()
        await page.keyboard.press("x")
        # Declined: that ring's channel ends, and the call waits again for another agent at once
        # (well before the requeue time, eng.settings' softphone requeue: 60 s).
        await until(lambda: len(ami.named("Hangup", Channel=r"PJSIP/web1001-")) > rings, what="the ring declined")
        await until(lambda: linkedid in eng.acd.calls and eng.acd.calls[linkedid].status == "queued",
                    timeout_s=15, what="the call back to routing")
        assert eng.router.waiting(eng.acd.calls[linkedid].queue) == [linkedid]
        assert not ami.named("Hangup", Channel=re.escape(caller)), "X hung up the caller"
        # The agent's part ends: the wrap-up form, then not ready "Missed a call", not ready again.
        await expect(page.locator("#wrap-form")).to_be_visible(timeout=10_000)
        await expect(page.locator("#state-reason")).to_contain_text("Missed a call")
        await page.select_option("#wrap-disposition", "resolved")
        await page.click("#wrap-submit")
        await expect(page.locator("#state-pill")).to_have_attribute("data-state", "not_ready", timeout=10_000)
        await expect(page.locator("#state-label")).to_have_text("Not ready")
        await expect(page.locator("#state-reason")).to_have_text("Missed a call")
        # Not rung again for it: no new leg to the agent's phone while the caller waits.
        rings = len(ami.named("Newchannel", Channel=r"PJSIP/web1001-"))
        await asyncio.sleep(3)  # several of the watcher's 1 s retries, had it kept ringing
        assert len(ami.named("Newchannel", Channel=r"PJSIP/web1001-")) == rings
        await expect(page.locator("#phone-card")).to_have_attribute("data-ringing", "false")
        assert eng.acd.calls[linkedid].status == "queued"
        await eng.ami.control.hangup(caller)
