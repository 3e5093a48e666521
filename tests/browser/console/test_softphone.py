"""The console as the agent's real softphone: real Chromium (fake microphone playing a 1 kHz tone)
registers over WebSocket to the real Asterisk, a caller playing 440 Hz is routed to the agent, the
browser rings, the agent answers in the console, and audio is checked in both directions."""

from __future__ import annotations

import asyncio
import contextlib
import re
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect
from sqlalchemy import update

from callcenter.engine import Engine
from crm_core.models import User
from cti.events import Event
from cti.journey import QueueEntered
from cti.pbx import ManagedPbx
from cti.settings import Settings
from tests.ami_events import AmiEvents
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, wait_js
from tests.browser.watch import watch
from tests.helpers import customer_number, engine_settings, running_engine

MEDIA_ARGS = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
              # Chromium offers loopback ICE candidates only with this flag; media stays on 127.0.0.1.
              "--allow-loopback-in-peer-connection", "--autoplay-policy=no-user-gesture-required"]


def tone_wav(path: Path, freq: int = 1000) -> Path:
    subprocess.run(["sox", "-n", "-r", "48000", "-c", "1", "-b", "16", str(path), "synth", "60", "sine", str(freq),
                    "vol", "0.5"], check=True)
    return path


def sox_stat(path: Path) -> dict[str, float]:
    """sox's `stat` figures of a recording (RMS amplitude, rough frequency, ...)."""
    out = subprocess.run(["sox", str(path), "-n", "stat"], capture_output=True, text=True, check=True).stderr
    stats = {}
    for line in out.splitlines():
        name, _, value = line.partition(":")
        with contextlib.suppress(ValueError):
            stats[name.strip()] = float(value.strip())
    return stats


def dominant_frequency(path: Path) -> float:
    """The frequency with the most power over the whole file (sox `stat -freq` spectra, summed)."""
    out = subprocess.run(["sox", str(path), "-n", "stat", "-freq"], capture_output=True, text=True, check=True).stderr
    power: dict[float, float] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2:
            with contextlib.suppress(ValueError):
                freq, p = float(parts[0]), float(parts[1])
                power[freq] = power.get(freq, 0.0) + p
    assert power, f"no spectrum from sox for {path}"
    return max(power, key=power.__getitem__)


async def until(predicate: Any, timeout_s: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout_s
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"{what} not met within {timeout_s} s"
        await asyncio.sleep(0.1)
    return value


@pytest.fixture
async def engine(pbx: ManagedPbx, pbx_settings: Settings, tmp_path: Path) -> AsyncIterator[tuple[Engine, list[Event]]]:
    seen: list[Event] = []

    async def record(ev: Event) -> None:
        seen.append(ev)

    settings = engine_settings(pbx_settings, tmp_path)
    subscribe = lambda eng: eng.bus.subscribe(QueueEntered, record, name="test.recorder")  # noqa: E731
    async with running_engine(pbx, settings, before_start=subscribe, phone_kind="webrtc") as eng:
        yield eng, seen


@pytest.fixture
async def phone_page(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    """Chromium whose microphone plays a 1 kHz tone; watched as the ``page`` fixture is (tests.browser.watch)."""
    wav = tone_wav(tmp_path / "mic-1khz.wav")
    async with async_playwright() as pw:
        browser: Browser = await pw.chromium.launch(
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


async def energy(page: Page) -> float:
    stats = await page.evaluate("window.ctiPhone.stats()")
    return float(stats["inbound"]["totalAudioEnergy"])


async def login(page: Page, url: str, user: str = "agent1") -> None:
    await page.goto(url + "/")
    await page.fill("#login-username", user)
    await page.fill("#login-password", f"{user}-demo")
    await page.keyboard.press("Enter")
    await expect(page.locator("#console-view")).to_be_visible()


async def login_ready(page: Page, url: str) -> None:
    """agent1 logs in, the softphone registers, and the agent goes ready."""
    await login(page, url)
    await expect(page.locator("#phone-status")).to_have_attribute("data-state", "registered", timeout=15_000)
    await page.click("#btn-ready")
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "available", timeout=10_000)


async def call_in(eng: Engine, queued: list[Event], number: str, record: str) -> str:
    """A caller playing 440 Hz (cti-sim-caller-tone) dials the IVR and presses 1 until queued;
    returns the caller's own half (;1), which records what it hears."""
    before = len(queued)
    result = await eng.ami.control.originate("Local/5002@cti-inbound/n", context="cti-sim-caller-tone", exten="s",
                                             caller_id=f"<{number}>", variables={"CTI_RECORD": record},
                                             timeout_ms=10000)
    assert result.success, result
    caller = str(result.channel)
    deadline = time.monotonic() + 30
    while len(queued) == before:
        assert time.monotonic() < deadline, "the call never reached the queue"
        await eng.ami.control.play_dtmf(caller, "1")
        await asyncio.sleep(0.7)
    return caller


async def test_browser_phone_rings_answers_and_carries_audio_both_ways(
        engine: tuple[Engine, list[Event]], phone_page: Page, pbx: ManagedPbx, tmp_path: Path) -> None:
    eng, queued = engine
    page = phone_page
    _, name, number = await customer_number(eng)
    await login_ready(page, eng.url)

    record_inside = f"{pbx.instance_path}/spool/monitor/softphone-{time.monotonic_ns()}"
    record = pbx.rootfs / record_inside.lstrip("/")
    async with AmiEvents(eng.settings) as ami:
        caller = await call_in(eng, queued, number, record_inside)
        # The browser rings (tone playing) while the pop shows the caller.
        await expect(page.locator("#phone-card")).to_have_attribute("data-ringing", "true", timeout=15_000)
        await expect(page.locator("body")).to_have_attribute("data-phone-ringing", "true")
        await wait_js(page, "window.ctiPhone.ringAudible", 5.0)
        await expect(page.locator("#offer-card")).to_be_visible()
        await expect(page.locator("#cust-name")).to_contain_text(name)

        await page.click("#phone-answer")
        await expect(page.locator("#phone-status")).to_have_attribute("data-state", "in_call", timeout=10_000)
        await expect(page.locator("#call-status")).to_have_text("Talking", timeout=10_000)
        # Media both ways: polled up to the 4 s it slept before looking; the asserts below are unchanged.
        await wait_js(page, "window.ctiPhone.stats().then((s) => s?.inbound?.packetsReceived > 100 && "
                            "s.inbound.totalAudioEnergy > 0.05 && s.inbound.audioLevel > 0.05 && "
                            "s?.outbound?.packetsSent > 100)", 4.0)
        stats = await page.evaluate("window.ctiPhone.stats()")
        inbound = stats["inbound"]
        assert inbound["packetsReceived"] > 100, stats
        # The caller's 440 Hz reaches the browser: energy well above silence (~1e-6 for comfort noise).
        assert inbound["totalAudioEnergy"] > 0.05 and inbound["audioLevel"] > 0.05, stats
        assert stats["outbound"]["packetsSent"] > 100, stats
        # The card offers the microphones and speakers the browser has, and the meter moves with the 1 kHz.
        assert await page.locator("#phone-mic option").count() >= 2
        assert await page.evaluate("document.getElementById('phone-level').value") > 0.05
        await page.keyboard.press("m")
        await expect(page.locator("#phone-mute")).to_have_attribute("aria-pressed", "true")
        await wait_js(page, "document.getElementById('phone-level').value === 0", 5.0)
        await page.keyboard.press("m")
        await expect(page.locator("#phone-mute")).to_have_attribute("aria-pressed", "false")

        # The keypad sends RFC 4733 events on the browser's RTP: Asterisk sees DTMF from the WebRTC channel.
        await page.keyboard.press("d")
        await page.keyboard.press("5")
        await page.keyboard.press("#")
        await expect(page.locator("#dtmf-sent")).to_have_text("5#")
        await page.keyboard.press("Escape")
        await until(lambda: [e["Digit"] for e in ami.named("DTMFEnd", Channel=r"PJSIP/web1001-",
                                                              Direction="Received")] == ["5", "#"],
                    what="DTMF 5 then # from the browser")

        # The engine's hold: the caller hears music; resume brings the agent back.
        await page.click("#btn-hold")
        await until(lambda: ami.named("MusicOnHoldStart", Channel=r"Local/5002@cti-inbound-.*;2"),
                    what="music on hold to the caller")
        await expect(page.locator("#call-status")).to_have_text("On hold", timeout=10_000)
        await asyncio.sleep(1)
        held_from = await energy(page)
        await asyncio.sleep(2)
        held = await energy(page) - held_from
        await page.click("#btn-hold")
        await expect(page.locator("#call-status")).to_have_text("Talking", timeout=10_000)
        await asyncio.sleep(1)
        resumed_from = await energy(page)
        await asyncio.sleep(2)
        resumed = await energy(page) - resumed_from
        # On hold the agent's leg waits in silence; after resume the caller's tone is back.
        assert held < 0.01 < resumed, (held, resumed)

        # The agent hangs up in the console: the browser's call ends, and so does the caller's.
        await page.click("#btn-hangup")
        await expect(page.locator("#phone-status")).to_have_attribute("data-state", "registered", timeout=10_000)
        await until(lambda: ami.named("Hangup", Channel=re.escape(caller)), what="the caller hung up")

    # The browser's 1 kHz reached the caller (MixMonitor closes its files when the channel ends).
    heard = record.with_name(record.name + "-r.wav")
    sent = record.with_name(record.name + "-t.wav")
    await until(lambda: heard.exists() and heard.stat().st_size > 8000, what="the caller's recording")
    await asyncio.sleep(0.5)
    h = sox_stat(heard)
    assert h["RMS     amplitude"] > 0.02, h  # not silence
    assert 980 < dominant_frequency(heard) < 1020, h  # the browser's microphone, 1 kHz
    assert 420 < dominant_frequency(sent) < 460  # and the caller's own 440 Hz went the other way


async def wrap_up(page: Page) -> None:
    await expect(page.locator("#wrap-form")).to_be_visible(timeout=10_000)
    await page.select_option("#wrap-disposition", "resolved")
    await page.click("#wrap-submit")
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "available", timeout=10_000)


async def test_keyboard_answer_caller_hangs_up_then_decline(
        engine: tuple[Engine, list[Event]], phone_page: Page, pbx: ManagedPbx) -> None:
    eng, queued = engine
    page = phone_page
    _, _, number = await customer_number(eng)
    await login_ready(page, eng.url)
    record = f"{pbx.instance_path}/spool/monitor/softphone-{time.monotonic_ns()}"

    # A answers from the keyboard; the caller hanging up ends the browser's call too.
    caller = await call_in(eng, queued, number, record)
    await expect(page.locator("#phone-card")).to_have_attribute("data-ringing", "true", timeout=15_000)
    await page.locator("#main").focus()
    await page.keyboard.press("a")
    await expect(page.locator("#phone-status")).to_have_attribute("data-state", "in_call", timeout=10_000)
    # Connected for the engine too (a caller leaving before the bridge is an abandon, with no wrap-up).
    await expect(page.locator("#call-status")).to_have_text("Talking", timeout=10_000)
    await eng.ami.control.hangup(caller)
    await expect(page.locator("#phone-status")).to_have_attribute("data-state", "registered", timeout=10_000)
    await wrap_up(page)

    # X declines a ringing call: the ring stops and the ACD withdraws the offer.
    await call_in(eng, queued, number, record + "-2")
    await expect(page.locator("#phone-card")).to_have_attribute("data-ringing", "true", timeout=15_000)
    await page.keyboard.press("x")
    await expect(page.locator("#phone-card")).to_have_attribute("data-ringing", "false", timeout=10_000)
    await expect(page.locator("body")).not_to_have_attribute("data-phone-ringing", "true")
    await expect(page.locator("#offer-card")).to_be_hidden(timeout=10_000)
    await expect(page.locator("#phone-status")).to_have_attribute("data-state", "registered")


async def test_wrong_credentials_are_refused_and_shown_and_logout_revokes(
        engine: tuple[Engine, list[Event]], phone_page: Page, pbx: ManagedPbx) -> None:
    eng, _ = engine
    page = phone_page

    async def tamper(route: Any) -> None:
        response = await route.fetch()
        body = await response.json()
        body["password"] = "not-the-password"
        await route.fulfill(response=response, json=body)

    await page.route("**/api/phone/credentials", tamper)
    await login(page, eng.url)
    await expect(page.locator("#phone-status")).to_have_attribute("data-state", "failed", timeout=15_000)
    await expect(page.locator("#phone-message")).to_contain_text("Registration refused by the PBX (401")
    await expect(page.locator("#phone-status")).to_contain_text("Phone failed")

    # The real password is in AstDB while the agent is logged in, and gone after logout.
    assert "/cti_phone/auth/web1001" in pbx.cli("database show cti_phone/auth")
    await page.click("#btn-logout")
    await expect(page.locator("#login-view")).to_be_visible()
    await until(lambda: "/cti_phone/auth/web1001" not in pbx.cli("database show cti_phone/auth"),
                what="the password removed from AstDB")
    await expect(page.locator("#phone-status")).to_have_attribute("data-state", "off")


async def test_a_browser_without_a_microphone_says_so_and_still_registers(
        engine: tuple[Engine, list[Event]], page: Page, pbx: ManagedPbx) -> None:
    await login(page, engine[0].url)  # the plain browser fixture: no fake devices
    await expect(page.locator("#phone-message")).to_contain_text("No microphone found", timeout=15_000)
    await expect(page.locator("#phone-status")).to_have_attribute("data-state", "registered", timeout=15_000)
    assert "web1001/sip:" in (await asyncio.to_thread(pbx.cli, "pjsip show contacts"))
    # Logging out unregisters the phone (before its password is revoked) and it shows as off.
    await page.click("#btn-logout")
    await expect(page.locator("#phone-status")).to_have_attribute("data-state", "off")
    await until(lambda: "web1001/sip:" not in pbx.cli("pjsip show contacts"), what="the contact removed")


async def test_a_refused_microphone_permission_is_shown(engine: tuple[Engine, list[Event]], tmp_path: Path,
                                                       request: pytest.FixtureRequest) -> None:
    """Fake devices but no fake consent UI: headless Chromium refuses the permission prompt."""
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                           args=[*CHROMIUM_ARGS, "--use-fake-device-for-media-stream"])
        try:
            page = await browser.new_page()
            seen = watch(page.context, request)
            await login(page, engine[0].url)
            await expect(page.locator("#phone-message")).to_contain_text("Microphone permission refused",
                                                                         timeout=15_000)
        finally:
            await browser.close()
    seen.check()


async def test_a_supervisors_listen_rings_the_wallboards_browser_phone_and_carries_the_call(
        engine: tuple[Engine, list[Event]], phone_page: Page) -> None:
    """sup1 on the wallboard has a registered softphone: Listen rings it instead of the simulated
    phone, and once answered the supervisor hears the agent's call (the caller's 440 Hz)."""
    eng, queued = engine
    page = phone_page
    async with eng.db.session() as s:  # the test PBX has endpoints web1001..web1005 only (sup1 is 1009)
        await s.execute(update(User).where(User.username == "sup1").values(extension="1005"))
    _, _, number = await customer_number(eng)
    eng.desk.phone_overrides["1001"] = "sim"  # the agent answers on the simulated phone
    await eng.desk.login_queues("1001", [])
    await eng.desk.set_ready("1001")
    await page.goto(eng.url + "/")
    await page.fill("#login-username", "sup1")
    await page.fill("#login-password", "sup1-demo-1")
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/wallboard")
    await expect(page.locator("#phone-status")).to_have_attribute("data-state", "registered", timeout=15_000)
    await call_in(eng, queued, number, "")
    row = page.locator('#agents tr[data-agent="1001"]')
    listen = row.get_by_role("button", name="Listen")
    await expect(listen).to_be_enabled(timeout=15_000)
    await listen.click()
    await expect(page.locator("#phone-card")).to_have_attribute("data-ringing", "true", timeout=10_000)
    await page.click("#phone-answer")
    await expect(page.locator("#phone-status")).to_have_attribute("data-state", "in_call", timeout=10_000)
    # The agent's call heard: polled up to the 3 s it slept before looking; the assert below is unchanged.
    await wait_js(page, "window.ctiPhone.stats().then((s) => s?.inbound?.totalAudioEnergy > 0.02 && "
                        "s.inbound.audioLevel > 0.05)", 3.0)
    stats = await page.evaluate("window.ctiPhone.stats()")
    assert stats["inbound"]["totalAudioEnergy"] > 0.02 and stats["inbound"]["audioLevel"] > 0.05, stats
    live = [ch.name for call in eng.ami.model.calls() for ch in call.live]
    assert any(name.startswith("PJSIP/web1005-") for name in live), live  # the browser, not Local/1005@cti-sim-phone
    await page.click("#spy-stop")
    await expect(page.locator("#phone-status")).to_have_attribute("data-state", "registered", timeout=10_000)
