"""docs/softphone.md "No microphone": a browser phone without a usable microphone cannot answer (the
answer fails, SIP 480, and counts as a missed call), so the console refuses Ready until it has one,
and a microphone lost while ready puts the agent not ready ("No microphone"). Real Asterisk, real
Chromium: no fake device, the permission refused, and a fake microphone that goes away."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, async_playwright, expect

from callcenter.engine import Engine
from cti.events import Event
from cti.journey import AgentDialEnded
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.browser.console.test_softphone import (  # noqa: F401 (engine, phone_page: fixtures)
    call_in,
    engine,
    login,
    login_ready,
    phone_page,
)
from tests.browser.watch import watch
from tests.helpers import customer_number, until

# The test's hand on the microphones the page opened: a device unplugged ends its track ("ended"),
# and none can be opened until it is back.
KEEP_STREAMS = """
(() => {
  const md = navigator.mediaDevices;
  if (!md) return;
  const open = md.getUserMedia.bind(md);
  window.__mics = [];
  md.getUserMedia = async (c) => {
    if (window.__unplugged) throw new DOMException("Requested device not found", "NotFoundError");
    const s = await open(c);
    window.__mics.push(s);
    return s;
  };
})();
"""
UNPLUG = """
window.__unplugged = true;
window.__mics.forEach((s) => s.getAudioTracks().forEach((tr) => { tr.stop(); tr.dispatchEvent(new Event("ended")); }));
"""


async def refused_ready(page: Page, eng: Engine, problem: str) -> None:
    """Ready (button and R key) is refused in the console, naming the problem; nothing reaches the engine."""
    await expect(page.locator("#phone-status")).to_have_attribute("data-state", "registered", timeout=15_000)
    await expect(page.locator("#phone-status")).to_contain_text("no microphone")
    await expect(page.locator("#btn-ready")).to_be_enabled()
    await page.click("#btn-ready")
    await expect(page.locator("#toasts .toast.error").last).to_contain_text("You cannot go ready")
    await expect(page.locator("#toasts .toast.error").last).to_contain_text(problem)
    await page.locator("#main").focus()
    await page.keyboard.press("r")
    await expect(page.locator("#toasts .toast.error")).to_have_count(2)
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "logged_out")
    assert eng.acd.agent_state("1001").value == "logged_out"  # not even logged into the queues


async def test_no_microphone_refuses_ready(engine: tuple[Engine, list[Event]], page: Page) -> None:  # noqa: F811
    eng, _ = engine
    await login(page, eng.url)  # the plain browser fixture: no fake devices
    await expect(page.locator("#phone-message")).to_contain_text("No microphone found", timeout=15_000)
    await refused_ready(page, eng, "No microphone found")


async def test_a_refused_microphone_permission_refuses_ready(engine: tuple[Engine, list[Event]],  # noqa: F811
                                                            request: pytest.FixtureRequest) -> None:
    """Fake devices but no fake consent UI: headless Chromium refuses the permission prompt."""
    eng, _ = engine
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                           args=[*CHROMIUM_ARGS, "--use-fake-device-for-media-stream"])
        try:
            page = await browser.new_page(locale="en-US")
            seen = watch(page.context, request)
            await login(page, eng.url)
            await expect(page.locator("#phone-message")).to_contain_text("Microphone permission refused",
                                                                         timeout=15_000)
            await refused_ready(page, eng, "Microphone permission refused")
        finally:
            await browser.close()
    seen.check()


async def test_a_microphone_lost_while_ready_warns_and_puts_the_agent_not_ready(
        engine: tuple[Engine, list[Event]], phone_page: Page) -> None:  # noqa: F811 (phone_page)
    eng, _ = engine
    page = phone_page
    await page.add_init_script(KEEP_STREAMS)
    await login_ready(page, eng.url)
    await until(lambda: eng.router.agent("1001").state.value == "available", what="the agent ready")
    await page.evaluate(UNPLUG)
    await expect(page.locator("#toasts .toast.error").last).to_contain_text("Microphone lost", timeout=10_000)
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "not_ready", timeout=10_000)
    await expect(page.locator("#state-reason")).to_have_text("No microphone")
    await expect(page.locator("#phone-status")).to_contain_text("no microphone")
    await expect(page.locator("#phone-message")).to_contain_text("Microphone lost")
    view = eng.router.agent("1001")
    assert (view.state.value, view.reason) == ("not_ready", "no_microphone")
    # And Ready is refused while it is missing.
    await page.click("#btn-ready")
    await expect(page.locator("#toasts .toast.error").last).to_contain_text("You cannot go ready")
    await expect(page.locator("#toasts .toast.error").last).to_contain_text("No microphone found")
    assert eng.router.agent("1001").state.value == "not_ready"
    # Plugged in again: Ready opens it and goes through.
    await page.evaluate("window.__unplugged = false")
    await page.click("#btn-ready")
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "available", timeout=10_000)
    await expect(page.locator("#phone-status")).to_have_text("Phone ready")


# The microphone's permission withdrawn without a word to the page: its tracks end silently (stop()
# fires no "ended") and none can be opened again. The phone learns it only when it needs one.
REVOKE = """
window.__denied = true;
window.__mics.forEach((s) => s.getAudioTracks().forEach((tr) => tr.stop()));
"""


def dial_ends(eng: Engine) -> list[AgentDialEnded]:
    """The outcomes of the rings the callers' dials make (busy: the agent's phone declined)."""
    ends: list[AgentDialEnded] = []
    eng.bus.observe(AgentDialEnded, ends.append, name="test.dial_ends")
    return ends


async def declined_for_no_microphone(page: Page, eng: Engine, ends: list[AgentDialEnded], toast: str,
                                     reason: str = "No microphone") -> None:
    """The ring was declined at once (the dial ended busy, not at the ring timeout), the toast says
    why, the call waits again, and the agent is not ready with no_microphone, not missed."""
    await until(lambda: ends, what="the ring's end")
    assert [e.result for e in ends] == ["busy"], ends  # declined, not rung out (noanswer) nor failed
    await expect(page.locator("#phone-card")).to_have_attribute("data-ringing", "false", timeout=10_000)
    await expect(page.locator("#toasts .toast.error").filter(has_text=toast)).to_have_count(1, timeout=10_000)
    await expect(page.locator("#offer-card")).to_be_hidden(timeout=10_000)
    linkedid = ends[0].linkedid
    await until(lambda: eng.router.call(linkedid).state.value == "waiting", what="the call waiting again")
    await until(lambda: eng.router.agent("1001").reason == "no_microphone", what="not ready: no_microphone")
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "not_ready", timeout=10_000)
    await expect(page.locator("#state-reason")).to_have_text(reason)
    view = eng.router.agent("1001")
    assert (view.state.value, view.reason) == ("not_ready", "no_microphone")


async def test_a_microphone_revoked_while_an_offer_rings_declines_at_answer(
        engine: tuple[Engine, list[Event]], phone_page: Page) -> None:  # noqa: F811 (phone_page)
    """The permission withdrawn between the offer and the answer: Answer finds no microphone, says so,
    and declines; before, the answer failed (SIP 480) and the caller waited for the ring timeout."""
    eng, queued = engine
    page = phone_page
    _, _, number = await customer_number(eng)
    await page.add_init_script(KEEP_STREAMS.replace(
        "if (window.__unplugged)",
        'if (window.__denied) throw new DOMException("Permission denied", "NotAllowedError");\n'
        "    if (window.__unplugged)"))
    await login_ready(page, eng.url)
    ends = dial_ends(eng)
    await call_in(eng, queued, number, "")
    await expect(page.locator("#phone-card")).to_have_attribute("data-ringing", "true", timeout=15_000)
    await page.evaluate(REVOKE)
    await page.click("#phone-answer")
    await declined_for_no_microphone(page, eng, ends, "Microphone permission refused")
    await expect(page.locator("#phone-status")).to_contain_text("no microphone")


async def test_a_microphone_unplugged_while_an_offer_rings_declines_at_once_in_the_pages_language(
        engine: tuple[Engine, list[Event]], phone_page: Page) -> None:  # noqa: F811 (phone_page)
    """The device goes away while the phone rings (its track ends): the phone cannot answer, so the
    ring is declined at once, said in the page's language (Chinese here)."""
    eng, queued = engine
    page = phone_page
    _, _, number = await customer_number(eng)
    await page.add_init_script(KEEP_STREAMS)
    await login_ready(page, eng.url)
    await page.locator("#main").focus()
    await page.keyboard.press("l")  # 中文
    ends = dial_ends(eng)
    await call_in(eng, queued, number, "")
    await expect(page.locator("#phone-card")).to_have_attribute("data-ringing", "true", timeout=15_000)
    await page.evaluate(UNPLUG)
    await declined_for_no_microphone(page, eng, ends, "麦克风", reason="无麦克风")
    await expect(page.locator("#toasts .toast.error").filter(has_text="来电已拒接")).to_have_count(1)


async def test_an_offer_to_a_phone_without_a_microphone_is_declined_at_once(
        engine: tuple[Engine, list[Event]], page: Page) -> None:  # noqa: F811
    """The microphone never granted (no device at all), the agent made ready by other means than
    the console's Ready (which refuses): the offer is declined as it rings."""
    eng, queued = engine
    _, _, number = await customer_number(eng)
    await login(page, eng.url)  # the plain browser fixture: no fake devices
    await expect(page.locator("#phone-message")).to_contain_text("No microphone found", timeout=15_000)
    await expect(page.locator("#phone-status")).to_have_attribute("data-state", "registered", timeout=15_000)
    await eng.desk.login_queues("1001", [])
    await eng.desk.set_ready("1001")
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "available", timeout=10_000)
    ends = dial_ends(eng)
    await call_in(eng, queued, number, "")
    await declined_for_no_microphone(page, eng, ends, "No microphone found")


async def test_a_declined_offer_goes_back_to_routing_at_once(
        engine: tuple[Engine, list[Event]], phone_page: Page) -> None:  # noqa: F811 (phone_page)
    """Decline (486) ends the caller's dial busy at once: the call waits again then, not at the ring
    timeout, and the agent is not ready "missed"."""
    eng, queued = engine
    page = phone_page
    _, _, number = await customer_number(eng)
    await login_ready(page, eng.url)
    ends = dial_ends(eng)
    await call_in(eng, queued, number, "")
    await expect(page.locator("#phone-card")).to_have_attribute("data-ringing", "true", timeout=15_000)
    await page.click("#phone-decline")
    await until(lambda: ends, what="the ring's end")
    assert [e.result for e in ends] == ["busy"], ends  # declined, not rung out (noanswer) nor failed
    linkedid = ends[0].linkedid
    await until(lambda: eng.router.call(linkedid).state.value == "waiting", what="the call waiting again")
    await expect(page.locator("#state-pill")).to_have_attribute("data-state", "not_ready", timeout=10_000)
    view = eng.router.agent("1001")
    assert (view.state.value, view.reason) == ("not_ready", "missed")


# The browser refuses the caller's media description (a codec or an ICE problem would do the same):
# SIP.js's accept() then fails with a reason other than the microphone.
FAIL_ANSWER = """
(() => {
  const setRemote = RTCPeerConnection.prototype.setRemoteDescription;
  RTCPeerConnection.prototype.setRemoteDescription = function (...args) {
    const refused = new DOMException("the caller's media cannot be used", "OperationError");
    if (window.__failAnswer) return Promise.reject(refused);
    return setRemote.apply(this, args);
  };
})();
"""


async def test_an_answer_that_fails_says_why_and_the_phone_stays_registered(
        engine: tuple[Engine, list[Event]], phone_page: Page) -> None:  # noqa: F811 (phone_page)
    """Answer fails for a reason other than the microphone: SIP.js has already refused the INVITE
    itself (480) and ended the call, so the page only says why and the phone stays registered; the
    call goes back to routing at once and the agent is not ready "missed". (The page showed "Phone
    failed" over a registered phone, with the bare reason, and sent a second rejection SIP.js
    refused.)"""
    eng, queued = engine
    page = phone_page
    _, _, number = await customer_number(eng)
    await page.add_init_script(FAIL_ANSWER)
    await login_ready(page, eng.url)
    ends = dial_ends(eng)
    await page.evaluate("window.__failAnswer = true")
    await call_in(eng, queued, number, "")
    await expect(page.locator("#phone-card")).to_have_attribute("data-ringing", "true", timeout=15_000)
    await page.click("#phone-answer")
    await expect(page.locator("#phone-message")).to_contain_text("Could not answer the call", timeout=10_000)
    await expect(page.locator("#phone-message")).to_contain_text("the caller's media cannot be used")
    await expect(page.locator("#phone-card")).to_have_attribute("data-ringing", "false")
    await expect(page.locator("#phone-status")).to_have_attribute("data-state", "registered")
    await until(lambda: ends, what="the ring's end")
    linkedid = ends[0].linkedid
    await until(lambda: eng.router.call(linkedid).state.value == "waiting", what="the call waiting again")
    assert [e.result for e in ends] == ["no_answer"], ends  # Asterisk's reading of the 480: a missed ring
    await until(lambda: eng.router.agent("1001").reason == "missed", what="not ready: missed")
