"""docs/softphone.md "Reload or network lost during a call": the browser's leg goes away mid-call
(the page reloads, or its network goes silent and then drops), the caller hears the queue's music,
and the same agent's console rings again once it is back: same caller, one CRM interaction."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect
from sqlalchemy import select

from callcenter.engine import Engine
from crm_core.models import Interaction
from cti.events import Event
from cti.journey import QueueEntered
from cti.pbx import ManagedPbx
from cti.settings import Settings
from tests.ami_events import AmiEvents
from tests.browser.console.test_softphone import (  # noqa: F401 (engine, phone_page: fixtures)
    call_in,
    engine,
    login_ready,
    phone_page,
    until,
    wrap_up,
)
from tests.helpers import customer_number, engine_settings, running_engine


class WsLink:
    """A TCP relay between the page and Asterisk's WebSocket port: the page's network, which the test
    can cut (both connections reset, as when a route dies) while new connections still pass."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port, self.links = host, port, list[tuple[asyncio.StreamWriter, asyncio.StreamWriter]]()

    async def __aenter__(self) -> WsLink:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.local_port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.cut()
        self.server.close()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        self.links.append((writer, up_writer))

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))

    def cut(self) -> None:
        for page_side, pbx_side in self.links:
            page_side.transport.abort()
            pbx_side.transport.abort()
        self.links.clear()


def _chromium_pids() -> list[int]:
    """This test process's Chromium processes (browser, renderers, network service)."""
    parent: dict[int, int] = {}
    names: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                names[int(entry.name)] = stat[stat.index("(") + 1:stat.rindex(")")]
                parent[int(entry.name)] = int(stat[stat.rindex(")") + 2:].split()[1])

    def mine(pid: int) -> bool:
        while pid > 1:
            if pid == os.getpid():
                return True
            pid = parent.get(pid, 1)
        return False

    return [pid for pid, name in names.items() if name.startswith("chrom") and mine(pid)]


@contextlib.contextmanager
def frozen_browser() -> Iterator[None]:
    """The browser stops dead: no RTP, no SIP, no FIN on its sockets, like a network gone silent."""
    pids = _chromium_pids()
    assert pids, "no Chromium process found under this test"
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


@pytest.fixture
async def relayed(pbx: ManagedPbx, pbx_settings: Settings,
                  tmp_path: Path) -> AsyncIterator[tuple[Engine, list[Event], WsLink]]:
    """The engine with browser softphones, which reach Asterisk through a WsLink: the engine names
    the relay's port as Asterisk's WebSocket (credentials, the page's connect-src)."""
    seen: list[Event] = []

    async def record(ev: Event) -> None:
        seen.append(ev)

    async with WsLink(pbx_settings.pbx.http_host, pbx_settings.pbx.http_port) as link:
        settings = engine_settings(pbx_settings, tmp_path)
        settings = settings.model_copy(update={"pbx": settings.pbx.model_copy(update={"http_port": link.local_port})})
        subscribe = lambda eng: eng.bus.subscribe(QueueEntered, record, name="test.recorder")  # noqa: E731
        async with running_engine(pbx, settings, before_start=subscribe, phone_kind="webrtc") as eng:
            yield eng, seen, link


async def answer_again_and_hang_up(page: Page, ami: AmiEvents, caller: str, name: str) -> None:
    """The same agent's softphone rings again (the call held meanwhile); Answer brings the caller's
    440 Hz back to the same customer, the caller was never hung up, and the console's Hang up ends
    the call as before (wrap-up follows)."""
    await expect(page.locator("#phone-card")).to_have_attribute("data-ringing", "true", timeout=20_000)
    await expect(page.locator("#call-status")).to_have_text("On hold")
    await page.click("#phone-answer")
    await expect(page.locator("#call-status")).to_have_text("Talking", timeout=10_000)
    await expect(page.locator("#cust-name")).to_contain_text(name)
    await asyncio.sleep(2)
    stats = await page.evaluate("window.ctiPhone.stats()")
    assert stats["inbound"]["totalAudioEnergy"] > 0.02 and stats["inbound"]["audioLevel"] > 0.05, stats
    assert not ami.named("Hangup", Channel=re.escape(caller)), "the caller was dropped"
    await page.click("#btn-hangup")
    await until(lambda: ami.named("Hangup", Channel=re.escape(caller)), what="the caller hung up")


async def test_a_lost_network_mid_call_keeps_the_caller_on_music_and_rings_the_same_agent_again(
        relayed: tuple[Engine, list[Event], WsLink], phone_page: Page, pbx: ManagedPbx) -> None:  # noqa: F811 (phone_page)
    """No BYE ever comes: Asterisk ends the silent leg after pbx.softphone_media_timeout_s without
    RTP, the engine keeps the caller, and the console that reconnects is rung again."""
    eng, queued, link = relayed
    page = phone_page
    customer_id, name, number = await customer_number(eng)
    since = datetime.now(UTC)
    await login_ready(page, eng.url)
    assert link.links, "the softphone does not go through the relay"
    async with AmiEvents(eng.settings) as ami:
        caller = await call_in(eng, queued, number, "")
        linkedid = queued[-1].linkedid  # type: ignore[attr-defined]
        await expect(page.locator("#phone-card")).to_have_attribute("data-ringing", "true", timeout=15_000)
        await page.click("#phone-answer")
        await expect(page.locator("#call-status")).to_have_text("Talking", timeout=10_000)
        queue_side = caller.removesuffix(";1") + ";2"  # the half in the queue's dialplan, bridged with the agent
        browser_leg = eng.acd.agent_calls("1001")[0].agent_channel
        assert browser_leg and browser_leg.startswith("PJSIP/web1001-"), browser_leg
        moh_before = len(ami.named("MusicOnHoldStart", Channel=re.escape(queue_side)))

        with frozen_browser():  # the network goes quiet: no RTP, no SIP, yet no connection breaks
            lost_at = time.monotonic()
            # Without RTP for softphone_media_timeout_s, Asterisk ends the leg: the caller is on music.
            await until(lambda: len(ami.named("MusicOnHoldStart", Channel=re.escape(queue_side))) > moh_before,
                        timeout_s=20, what="music for the caller after the network loss")
            detected_s = time.monotonic() - lost_at
            timeout_s = eng.settings.pbx.softphone_media_timeout_s
            assert timeout_s - 1 < detected_s < timeout_s + 4, detected_s
            await until(lambda: eng.acd.calls[linkedid].status == "held", what="the call held for its agent")
            assert eng.router.agent("1001").state.value == "on_call"
            assert browser_leg not in pbx.cli("core show channels concise")
            # Its OPTIONS unanswered (qualify), the silent softphone shows as unreachable.
            await until(lambda: any("web1001/sip:" in line and "Unavail" in line
                                    for line in pbx.cli("pjsip show contacts").splitlines()),
                        timeout_s=15, what="the quiet softphone unreachable")
            link.cut()  # and then the connection dies: Asterisk drops the registration
            await until(lambda: "web1001/sip:" not in pbx.cli("pjsip show contacts"), what="the contact removed")
            assert not ami.named("Hangup", Channel=re.escape(caller)), "the caller was dropped"

        # The network is back: the softphone reconnects and registers, and the engine rings it again.
        await answer_again_and_hang_up(page, ami, caller, name)
    await wrap_up(page)

    async def interactions() -> list[Interaction]:
        async with eng.db.session() as s:
            return list(await s.scalars(select(Interaction).where(Interaction.customer_id == customer_id,
                                                                  Interaction.started_at >= since)))

    rows: list[Interaction] = []
    for _ in range(50):
        rows = await interactions()
        if rows and rows[0].disposition:
            break
        await asyncio.sleep(0.2)
    assert [(r.linkedid, r.agent_id, r.outcome, r.disposition) for r in rows] == [
        (linkedid, "1001", "answered", "resolved")]


async def test_a_reload_mid_call_keeps_the_caller_on_music_and_rings_the_same_agent_again(
        engine: tuple[Engine, list[Event]], phone_page: Page, pbx: ManagedPbx) -> None:  # noqa: F811
    """docs/softphone.md "Reload or network lost during a call": the caller hears music, the same
    agent's console rings again once it is back, and answering brings the caller's voice back."""
    eng, queued = engine
    page = phone_page
    _, name, number = await customer_number(eng)
    await login_ready(page, eng.url)
    record = f"{pbx.instance_path}/spool/monitor/softphone-{time.monotonic_ns()}"
    async with AmiEvents(eng.settings) as ami:
        caller = await call_in(eng, queued, number, record)
        await expect(page.locator("#phone-card")).to_have_attribute("data-ringing", "true", timeout=15_000)
        await page.click("#phone-answer")
        await expect(page.locator("#call-status")).to_have_text("Talking", timeout=10_000)
        queue_side = caller.removesuffix(";1") + ";2"  # the half in the queue's dialplan, bridged with the agent
        moh_before = len(ami.named("MusicOnHoldStart", Channel=re.escape(queue_side)))

        await page.reload()
        # The caller is kept: back on the queue's music while the console loads again.
        await until(lambda: len(ami.named("MusicOnHoldStart", Channel=re.escape(queue_side))) > moh_before,
                    what="music for the caller after the reload")
        await expect(page.locator("#console-view")).to_be_visible(timeout=15_000)
        await expect(page.locator("#call-status")).to_have_text("On hold", timeout=15_000)
        await answer_again_and_hang_up(page, ami, caller, name)
    await wrap_up(page)
