"""Real Chromium's browser phones on the real Asterisk: agent1 consults agent2 (an attended transfer
to an agent, agent2 ready), and agent2 reloads their console *while their browser phone rings* with
the consultation. The page's WebSocket closes, Asterisk removes the phone's contact (ContactStatus
Removed) and the reloaded page registers a new one within a second, but the ring to the old
contact is not failed: it rang nobody for the whole ring (15 s), the consultation then ended as
agent2's no answer (agent1 told "did not answer", the caller back with them) and agent2 went not
ready "missed". Now the engine rings agent2's new contact again at once (acd.phone_contacts),
the caller on hold throughout; agent2 answers and talks with agent1. A phone not back within
``PHONE_GRACE_S`` ends the consultation unblamed (tests/unit/acd/test_consult_reregister.py)."""

from __future__ import annotations

import time

from playwright.async_api import Page, expect

from acd.consultations import PHONE_GRACE_S
from acd.events import AgentOfferWithdrawn, AgentStateChanged
from callcenter.engine import Engine
from cti.events import Event
from cti.pbx import ManagedPbx
from tests.browser.console.test_softphone import (  # noqa: F401 (engine, phone_page: fixtures)
    call_in,
    engine,
    login,
    login_ready,
    phone_page,
    until,
)
from tests.helpers import customer_number


async def test_a_consulted_agents_reload_while_their_phone_rings_rings_it_again(
        engine: tuple[Engine, list[Event]], phone_page: Page, pbx: ManagedPbx) -> None:  # noqa: F811
    eng, queued = engine
    seen: list[Event] = []

    async def keep(ev: Event) -> None:
        seen.append(ev)

    eng.bus.subscribe(AgentOfferWithdrawn, keep, name="test.withdrawn")
    eng.bus.subscribe(AgentStateChanged, keep, name="test.states")
    first = phone_page
    assert first.context.browser is not None
    ctx = await first.context.browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-US")
    second = await ctx.new_page()
    await login(second, eng.url, "agent2")
    await expect(second.locator("#phone-status")).to_have_attribute("data-state", "registered", timeout=15_000)
    await eng.desk.login_queues("1002", ["support"])

    _, _, number = await customer_number(eng)
    await login_ready(first, eng.url)
    await call_in(eng, queued, number, f"{pbx.instance_path}/spool/monitor/consult-reload-ring-{id(first)}")
    await expect(first.locator("#phone-card")).to_have_attribute("data-ringing", "true", timeout=15_000)
    await first.click("#phone-answer")
    await expect(first.locator("#call-status")).to_have_text("Talking", timeout=10_000)
    linkedid = eng.acd.agent_calls("1001")[0].linkedid
    await second.click("#btn-ready")  # agent2 free: the consultation rings their browser phone at once
    await expect(second.locator("#state-pill")).to_have_attribute("data-state", "available", timeout=10_000)
    await eng.desk.transfer("1001", linkedid, kind="attended", target_kind="agent", target="1002")
    await expect(first.locator("#call-status")).to_have_text("Consulting", timeout=10_000)
    await expect(second.locator("#phone-card")).to_have_attribute("data-ringing", "true", timeout=15_000)
    first_ring = next(n for n in eng.acd.live_channels() if n.startswith("PJSIP/web1002-"))

    await second.reload()
    reloaded = time.monotonic()
    # The reloaded page's phone rings again with the consultation, well before the first ring's 15 s.
    await expect(second.locator("#phone-card")).to_have_attribute("data-ringing", "true", timeout=10_000)
    assert time.monotonic() - reloaded < 10.0
    await until(lambda: first_ring not in eng.acd.live_channels(), 10.0, what="the ring to the old contact stopped")
    await expect(second.locator("#offer-card")).to_be_visible()
    call = eng.acd.calls[linkedid]
    assert (call.status, call.consult_target) == ("consulting", ("agent", "1002"))
    await expect(first.locator("#call-status")).to_have_text("Consulting")

    await second.click("#phone-answer")
    await expect(second.locator("#call-status")).to_have_text("Consultation", timeout=15_000)
    consult = eng.acd.calls[linkedid].consult
    assert consult is not None and consult.status == "consulting" and consult.agent_id == "1002"
    assert eng.router.agent("1002").state.value == "on_call"
    await expect(first.locator("#call-status")).to_have_text("Consulting")
    # agent1 never told "did not answer", agent2's console never told "withdrawn", nor "missed".
    await expect(first.locator("#toasts")).not_to_contain_text("did not answer")
    await expect(second.locator("#toasts")).not_to_contain_text("withdrawn")
    assert not [e for e in seen if isinstance(e, AgentOfferWithdrawn) and e.agent_id == "1002"], seen
    assert not [e for e in seen if isinstance(e, AgentStateChanged) and e.reason == "missed"], seen
    await ctx.close()


async def test_a_consulted_agents_page_closed_while_their_phone_rings_ends_the_consultation_after_the_grace(
        engine: tuple[Engine, list[Event]], phone_page: Page, pbx: ManagedPbx) -> None:  # noqa: F811
    """agent2 closes the console while the consultation rings: nobody registers again, and once
    ``PHONE_GRACE_S`` passed agent1 is told agent2 is no longer available, the caller back with
    them (it waited the whole 15 s ring, then said "did not answer" and made agent2 "missed")."""
    eng, queued = engine
    seen: list[Event] = []

    async def keep(ev: Event) -> None:
        seen.append(ev)

    eng.bus.subscribe(AgentStateChanged, keep, name="test.states")
    first = phone_page
    assert first.context.browser is not None
    ctx = await first.context.browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-US")
    second = await ctx.new_page()
    await login(second, eng.url, "agent2")
    await expect(second.locator("#phone-status")).to_have_attribute("data-state", "registered", timeout=15_000)
    await eng.desk.login_queues("1002", ["support"])
    _, _, number = await customer_number(eng)
    await login_ready(first, eng.url)
    await call_in(eng, queued, number, f"{pbx.instance_path}/spool/monitor/consult-close-ring-{id(first)}")
    await expect(first.locator("#phone-card")).to_have_attribute("data-ringing", "true", timeout=15_000)
    await first.click("#phone-answer")
    await expect(first.locator("#call-status")).to_have_text("Talking", timeout=10_000)
    linkedid = eng.acd.agent_calls("1001")[0].linkedid
    await second.click("#btn-ready")
    await expect(second.locator("#state-pill")).to_have_attribute("data-state", "available", timeout=10_000)
    await eng.desk.transfer("1001", linkedid, kind="attended", target_kind="agent", target="1002")
    await expect(second.locator("#phone-card")).to_have_attribute("data-ringing", "true", timeout=15_000)

    await ctx.close()
    closed = time.monotonic()
    toast = first.locator("#toasts .toast", has_text="no longer available")
    await expect(toast).to_have_text("Agent 1002 is no longer available. The caller is back with you.",
                                     timeout=12_000)
    waited = time.monotonic() - closed
    assert PHONE_GRACE_S - 0.5 < waited < 12.0, waited  # the grace, not the 15 s ring
    await expect(first.locator("#call-status")).to_have_text("Talking")
    assert eng.acd.calls[linkedid].status == "talking"
    await until(lambda: not [n for n in eng.acd.live_channels() if n.startswith("PJSIP/web1002-")], 10.0,
                what="the ring to nobody stopped")
    assert not [e for e in seen if isinstance(e, AgentStateChanged) and e.reason == "missed"], seen
