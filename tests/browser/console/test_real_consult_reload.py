"""Real Chromium's browser phones on the real Asterisk: agent1 consults agent2 (an attended transfer
to an agent, waiting for agent2, not ready), and agent2 reloads their console. Their browser phone
unregisters while the page reloads (the engine sees it offline) and registers again a moment later:
the consultation goes on (it ended at once before: ``Consultations.target_unreachable``). A phone
that stays away ends it after ``PHONE_GRACE_S`` (tests/unit/acd/test_consult_agent_gone.py)."""

from __future__ import annotations

import asyncio

from playwright.async_api import Page, expect

from acd.consultations import PHONE_GRACE_S
from acd.events import AgentPhoneReachability
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


async def test_a_consulted_agents_reload_does_not_end_the_consultation(
        engine: tuple[Engine, list[Event]], phone_page: Page, pbx: ManagedPbx) -> None:  # noqa: F811
    eng, queued = engine
    reach: list[AgentPhoneReachability] = []

    async def keep(ev: AgentPhoneReachability) -> None:
        reach.append(ev)

    eng.bus.subscribe(AgentPhoneReachability, keep, name="test.reachability")
    first = phone_page
    assert first.context.browser is not None
    ctx = await first.context.browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-US")
    second = await ctx.new_page()
    await login(second, eng.url, "agent2")
    await expect(second.locator("#phone-status")).to_have_attribute("data-state", "registered", timeout=15_000)
    await eng.desk.login_queues("1002", ["support"])  # logged in, not ready: a consultation waits for them

    _, _, number = await customer_number(eng)
    await login_ready(first, eng.url)
    await call_in(eng, queued, number, f"{pbx.instance_path}/spool/monitor/consult-reload-{id(first)}")
    await expect(first.locator("#phone-card")).to_have_attribute("data-ringing", "true", timeout=15_000)
    await first.click("#phone-answer")
    await expect(first.locator("#call-status")).to_have_text("Talking", timeout=10_000)
    linkedid = eng.acd.agent_calls("1001")[0].linkedid
    await eng.desk.transfer("1001", linkedid, kind="attended", target_kind="agent", target="1002")
    await expect(first.locator("#call-status")).to_have_text("Consulting", timeout=10_000)

    await second.reload()
    await until(lambda: any(e.agent_id == "1002" and not e.reachable for e in reach), 20.0,
                what="agent2's phone seen offline during the reload")
    await expect(second.locator("#phone-status")).to_have_attribute("data-state", "registered", timeout=15_000)
    await until(lambda: any(e.agent_id == "1002" and e.reachable for e in reach), 20.0,
                what="agent2's phone back")
    await asyncio.sleep(PHONE_GRACE_S + 1.0)
    call = eng.acd.calls[linkedid]
    assert (call.status, call.consult_target) == ("consulting", ("agent", "1002"))
    await expect(first.locator("#call-status")).to_have_text("Consulting")
    await ctx.close()
