"""With pbx.tls on, Asterisk also serves SIP over secure WebSocket with the certificate `cti pbx
up` generates, and the console registers over wss:// (Chromium told to accept the self-signed
certificate, as a browser that trusts it would)."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import async_playwright, expect

from callcenter.engine import Engine
from cti.pbx import ManagedPbx
from cti.settings import Settings
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.browser.console.test_softphone import MEDIA_ARGS, login, tone_wav
from tests.browser.watch import watch
from tests.helpers import engine_settings, running_engine
from tests.servers import free_port, rtp_range


@pytest.fixture(scope="module")
def tls_pbx(pbx_settings: Settings) -> Iterator[ManagedPbx]:
    """A second Asterisk instance of its own, with TLS on (the session's runs without)."""
    settings = pbx_settings.model_copy(update={
        "ami": pbx_settings.ami.model_copy(update={"port": free_port()}),
        "agi": pbx_settings.agi.model_copy(update={"port": free_port()}),
        "pbx": pbx_settings.pbx.model_copy(update={
            "instance": f"w{os.getpid()}", "sip_port": free_port(), "http_port": free_port(), "tls": True,
            "https_port": free_port(), **rtp_range("wss")}),
        "web": pbx_settings.web.model_copy(update={"port": free_port()}),
    })
    managed = ManagedPbx(settings)
    managed.up(progress=False)
    try:
        yield managed
    finally:
        managed.remove_instance()


@pytest.fixture
async def tls_engine(tls_pbx: ManagedPbx, tmp_path: Path) -> AsyncIterator[Engine]:
    async with running_engine(tls_pbx, engine_settings(tls_pbx.settings, tmp_path), phone_kind="webrtc") as eng:
        yield eng


async def test_console_registers_over_wss_with_the_generated_certificate(
        tls_engine: Engine, tls_pbx: ManagedPbx, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    pbx = tls_pbx.settings.pbx
    status = tls_pbx.cli("http show status")
    assert f"HTTPS Server Enabled and Bound to 127.0.0.1:{pbx.https_port}" in status, status
    cert = tls_pbx.instance_dir / "keys" / "asterisk.crt"
    assert cert.exists() and (cert.with_suffix(".key").stat().st_mode & 0o077) == 0
    wav = tone_wav(tmp_path / "mic.wav")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            *CHROMIUM_ARGS, *MEDIA_ARGS, f"--use-file-for-fake-audio-capture={wav}", "--ignore-certificate-errors"])
        try:
            page = await browser.new_page()
            seen = watch(page.context, request)
            await login(page, tls_engine.url)
            await expect(page.locator("#phone-status")).to_have_attribute("data-state", "registered", timeout=15_000)
            # phone.js registers on the first URL only (no fallback): wss:// when TLS is on.
            creds = await page.evaluate("fetch('/api/phone/credentials').then((r) => r.json())")
            assert creds["ws_servers"][0] == f"wss://127.0.0.1:{pbx.https_port}/ws", creds["ws_servers"]
            assert "web1001/sip:" in tls_pbx.cli("pjsip show contacts")

            # The connection to the PBX drops (killed on the PBX's side): the phone says so at once.
            await asyncio.to_thread(subprocess.run, ["ss", "-K", "dst", "127.0.0.1", "dport", "=",
                                                     str(pbx.https_port)], check=True, capture_output=True)
            await expect(page.locator("#phone-message")).to_contain_text("Network lost", timeout=10_000)
            await expect(page.locator("#phone-status")).to_have_attribute("data-state", "failed")
            # ... and registers again by itself.
            await expect(page.locator("#phone-status")).to_have_attribute("data-state", "registered", timeout=20_000)
        finally:
            await browser.close()
    seen.check()

