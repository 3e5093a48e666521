"""Real Chromium's browser phone on the real Asterisk: a caller from the queue rings agent1's browser
phone, and agent1 reloads the console *while it rings*. The page's WebSocket closes, Asterisk
removes the phone's contact (ContactStatus Removed) and the reloaded page registers a new one
within a second, but the ring to the old contact is not failed: it rang nobody for the whole ring
(15 s), then counted as agent1's missed offer (agent1 not ready "missed", the caller back at the
queue's head). Now the engine rings agent1's new contact again at once (acd.ring_contacts), the
caller on the queue's music meanwhile; agent1 answers and talks with the caller, both ways. A page
not back within ``PHONE_GRACE_S`` has the offer withdrawn unblamed: the caller waits again, and
agent1 is left as an offline phone is (available, phone offline: offered nothing), not missed."""

from __future__ import annotations

import asyncio
import time

from playwright.async_api import Page, expect

from acd.consultations import PHONE_GRACE_S
from acd.events import AgentOfferWithdrawn, AgentStateChanged
from callcenter.engine import Engine
from cti.events import Event
from cti.pbx import ManagedPbx
from tests.browser.conftest import wait_js
from tests.browser.console.test_softphone import (  # noqa: F401 (engine, phone_page: fixtures)
    call_in,
    dominant_frequency,
    engine,
    login_ready,
    phone_page,
    sox_stat,
    until,
)
from tests.helpers import customer_number


async def test_a_reload_while_a_queue_call_rings_the_browser_rings_it_again(
        engine: tuple[Engine, list[Event]], phone_page: Page, pbx: ManagedPbx) -> None:  # noqa: F811
    eng, queued = engine
    page = phone_page
    seen: list[Event] = []

    async def keep(ev: Event) -> None:
        seen.append(ev)

    eng.bus.subscribe(AgentOfferWithdrawn, keep, name="test.withdrawn")
    eng.bus.subscribe(AgentStateChanged, keep, name="test.states")
    _, _, number = await customer_number(eng)
    await login_ready(page, eng.url)
    record_inside = f"{pbx.instance_path}/spool/monitor/queue-reload-ring-{time.monotonic_ns()}"
    record = pbx.rootfs / record_inside.lstrip("/")
    caller = await call_in(eng, queued, number, record_inside)
    await expect(page.locator("#phone-card")).to_have_attribute("data-ringing", "true", timeout=15_000)
    (linkedid,) = [c.linkedid for c in eng.acd.calls.values() if c.status == "ringing"]
    first_ring = next(n for n in eng.acd.live_channels() if n.startswith("PJSIP/web1001-"))

    await page.reload()
    reloaded = time.monotonic()
    # The reloaded page's phone rings again with the call, well before the first ring's 15 s.
    await expect(page.locator("#phone-card")).to_have_attribute("data-ringing", "true", timeout=10_000)
    assert time.monotonic() - reloaded < 10.0
    await until(lambda: first_ring not in eng.acd.live_channels(), 10.0, what="the ring to the old contact stopped")
    await expect(page.locator("#offer-card")).to_be_visible()
    assert eng.acd.calls[linkedid].status == "ringing"
    assert eng.router.agent("1001").state.value == "reserved"

    await page.click("#phone-answer")
    await expect(page.locator("#call-status")).to_have_text("Talking", timeout=15_000)
    assert eng.acd.calls[linkedid].status == "talking"
    # The caller's 440 Hz reaches the reloaded browser.
    await wait_js(page, "window.ctiPhone.stats().then((s) => s?.inbound?.packetsReceived > 100 && "
                        "s.inbound.totalAudioEnergy > 0.05 && s?.outbound?.packetsSent > 100)", 10.0)
    await asyncio.sleep(4)  # the browser's 1 kHz, long enough to rule the caller's recording
    await eng.ami.control.hangup(caller)
    await expect(page.locator("#wrap-form")).to_be_visible(timeout=10_000)
    # Rung again, not withdrawn nor missed: no "withdrawn" toast, agent1 never not ready "missed".
    await expect(page.locator("#toasts")).not_to_contain_text("withdrawn")
    assert not [e for e in seen if isinstance(e, AgentOfferWithdrawn) and e.agent_id == "1001"], seen
    assert not [e for e in seen if isinstance(e, AgentStateChanged) and e.reason == "missed"], seen
    # The browser's 1 kHz reached the caller (MixMonitor closes its files when the channel ends).
    heard = record.with_name(record.name + "-r.wav")
    await until(lambda: heard.exists() and heard.stat().st_size > 8000, what="the caller's recording")
    await asyncio.sleep(0.5)
    assert sox_stat(heard)["RMS     amplitude"] > 0.02
    assert 980 < dominant_frequency(heard) < 1020


async def test_a_page_closed_while_a_queue_call_rings_withdraws_the_offer_after_the_grace(
        engine: tuple[Engine, list[Event]], phone_page: Page, pbx: ManagedPbx) -> None:  # noqa: F811
    """agent1 closes the console while the call rings: nobody registers again, and once
    ``PHONE_GRACE_S`` passed the offer is withdrawn, the ring to nobody stopped, the caller waits at
    its place again; agent1 stays available with the phone offline, not "missed" (before: the whole
    15 s ring, then "missed")."""
    eng, queued = engine
    page = phone_page
    seen: list[Event] = []

    async def keep(ev: Event) -> None:
        seen.append(ev)

    eng.bus.subscribe(AgentOfferWithdrawn, keep, name="test.withdrawn")
    eng.bus.subscribe(AgentStateChanged, keep, name="test.states")
    _, _, number = await customer_number(eng)
    await login_ready(page, eng.url)
    await call_in(eng, queued, number, f"{pbx.instance_path}/spool/monitor/queue-close-ring-{time.monotonic_ns()}")
    await expect(page.locator("#phone-card")).to_have_attribute("data-ringing", "true", timeout=15_000)
    (linkedid,) = [c.linkedid for c in eng.acd.calls.values() if c.status == "ringing"]

    await page.close()
    closed = time.monotonic()
    await until(lambda: eng.acd.calls[linkedid].status == "queued", 12.0, what="the caller waiting again")
    waited = time.monotonic() - closed
    assert PHONE_GRACE_S - 0.5 < waited < 12.0, waited  # the grace, not the 15 s ring
    await until(lambda: not [n for n in eng.acd.live_channels() if n.startswith("PJSIP/web1001-")], 10.0,
                what="the ring to nobody stopped")
    agent = eng.router.agent("1001")
    assert agent.state.value == "available" and not agent.registered  # an offline phone's state
    assert [e.reason for e in seen if isinstance(e, AgentOfferWithdrawn)] == ["withdrawn"], seen
    assert not [e for e in seen if isinstance(e, AgentStateChanged) and e.reason == "missed"], seen
    await asyncio.sleep(1.0)
    assert eng.acd.calls[linkedid].status == "queued"  # not offered to the phone that is gone
