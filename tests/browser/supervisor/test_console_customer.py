"""Real Chromium on the agent console of the engine (unstarted Engine, seeded CRM): a customer's card
and history as an agent finds them, in English and Chinese."""

from __future__ import annotations

from datetime import UTC, datetime

from playwright.async_api import Page, expect
from sqlalchemy import func, select

from crm_core.models import Customer, Interaction, User
from crm_core.recordings import Recording
from crm_core.seed import DISPOSITIONS
from tests.browser.conftest import log_in
from tests.browser.supervisor.conftest import NO_PBX_FOR_SUP1
from tests.web.supervisor.conftest import Site


async def _customer_with_history(site: Site) -> str:
    """The name of a seeded customer with dispositions in their history."""
    async with site.engine.db.session() as s:
        cid = (await s.execute(select(Interaction.customer_id).where(Interaction.disposition.is_not(None),
                                                                     Interaction.customer_id.is_not(None))
                               .group_by(Interaction.customer_id).order_by(func.count().desc()).limit(1))).scalar_one()
        return str((await s.get(Customer, cid)).name)  # type: ignore[union-attr]


async def _open(page: Page, name: str) -> None:
    await page.fill("#search-q", name)
    await page.locator("#search-results button.result").first.click()
    await expect(page.locator("#cust-name")).to_have_text(name)


async def test_history_shows_disposition_labels_in_both_languages(site: Site, page: Page) -> None:
    name = await _customer_with_history(site)
    await log_in(page, site.base, "agent1", "agent1-demo")
    await expect(page.locator("#console-view")).to_be_visible()
    await _open(page, name)
    badges = page.locator("#cust-history .badge.disp")
    await expect(badges.first).to_be_visible()
    labels = {code: (en, zh) for code, en, zh, *_ in DISPOSITIONS}
    shown = await badges.all_inner_texts()
    assert shown and set(shown) - {"—"} <= {en for en, _ in labels.values()}, shown  # "—": no disposition (abandoned)
    await page.locator(".lang-toggle:visible").click()
    await expect(page.locator("#search-q")).to_have_attribute("placeholder", "查找客户：姓名、电话、邮箱 ( / )")
    shown = await badges.all_inner_texts()
    assert set(shown) - {"—"} <= {zh for _, zh in labels.values()}, shown


@NO_PBX_FOR_SUP1
async def test_chinese_mode_has_no_english_leftovers(site: Site, page: Page) -> None:
    name = await _customer_with_history(site)
    await log_in(page, site.base, "agent1", "agent1-demo")
    await expect(page.locator("#console-view")).to_be_visible()
    await page.fill("#search-q", "nobody-by-this-name")
    await expect(page.locator("#search-results li")).to_have_text("No customer found.")
    await page.locator(".lang-toggle:visible").click()
    await expect(page.locator("#search-results li")).to_have_text("未找到客户。")  # the list says it again
    await _open(page, name)
    meta = page.locator("#cust-history .h-head .muted").first
    await expect(meta).to_contain_text(" · 电话 · ")  # the channel
    await page.screenshot(path="/tmp/ui-shots/console-zh.png")

    await page.click("#btn-logout")
    await expect(page.locator("#login-view")).to_be_visible()
    sup = await page.context.new_page()  # the same browser profile: the language choice is kept
    try:
        await log_in(sup, site.base, "sup1", "sup1-demo-1")
        await sup.wait_for_url("**/wallboard")
        await expect(sup.locator("#queues th").first).to_have_text("队列")  # the language is kept
        await site.engine.acd.agent_login("1001", {"support": 3}, ["support"])  # no PBX to log in through
        await site.engine.acd.set_not_ready("1001", "break")
        await site.svc.wallboard.refresh()
        await expect(sup.locator('#agents tr[data-agent="1001"] td').nth(2)).to_have_text("休息")
        await sup.locator(".lang-toggle").click()
        await expect(sup.locator("#phone-status")).to_contain_text("Phone")
        await sup.locator(".lang-toggle").click()
        await expect(sup.locator("#phone-status")).to_contain_text("话机")  # the softphone's state, too
        await sup.screenshot(path="/tmp/ui-shots/wallboard-zh.png")
    finally:
        await sup.close()


async def test_a_customer_without_a_company_has_no_leading_dot(site: Site, page: Page) -> None:
    async with site.engine.db.session() as s:
        customer = (await s.execute(select(Customer).where((Customer.company == "") | Customer.company.is_(None))
                                    .limit(1))).scalar_one()
        name = customer.name
    await log_in(page, site.base, "agent1", "agent1-demo")
    await expect(page.locator("#console-view")).to_be_visible()
    await _open(page, name)
    line = page.locator(".cust-id .muted")
    await expect(line).to_be_visible()
    text = await line.evaluate("e => [...e.children].filter(s => !s.hidden).map(s => getComputedStyle(s, '::before')"
                               ".content.replace(/^none$/, '').replaceAll('\"', '') + s.textContent).join('')")
    assert text.startswith("+") and " · " in text, text  # "+86... · someone@example.com"


async def _recorded_history(site: Site) -> tuple[str, str, str, dict[str, str]]:
    """A seeded customer with calls of agent 1001 and of other agents in their last five; one call of
    each gets a recording. The customer's name, the linkedids recorded (1001's, another agent's), and
    the agents' display names."""
    async with site.engine.db.session() as s:
        rows = (await s.execute(select(Interaction.customer_id, Interaction.agent_id, Interaction.linkedid)
                                .where(Interaction.customer_id.is_not(None), Interaction.agent_id.is_not(None))
                                .order_by(Interaction.started_at.desc()))).all()
        last: dict[int, list[tuple[str, str]]] = {}
        for cid, agent, linkedid in rows:
            last.setdefault(cid, []).append((agent, linkedid))
        cid, calls = next((c, v[:5]) for c, v in last.items()
                          if any(a == "1001" for a, _ in v[:5]) and any(a != "1001" for a, _ in v[:5]))
        mine = next(lid for a, lid in calls if a == "1001")
        theirs = next(lid for a, lid in calls if a != "1001")
        for n, lid in enumerate((mine, theirs)):
            s.add(Recording(linkedid=lid, path=f"2026/01/01/00/{lid}-{n}.wav", duration_s=5.0, size_bytes=44,
                            started_at=datetime.now(UTC), ended_at=datetime.now(UTC), pauses=[]))
        names = {u.agent_id: u.display_name for u in (await s.execute(select(User))).scalars() if u.agent_id}
        name = str((await s.get(Customer, cid)).name)  # type: ignore[union-attr]
    return name, mine, theirs, names


async def test_history_offers_recordings_the_agent_may_hear_and_names_agents(site: Site, page: Page) -> None:
    """Every row offered a Recording button (seeded calls have none: the click said so in an error);
    now only a call with a recording the viewer may hear (their own) has one. Rows named agents by
    id (1001); they say the agent's name."""
    name, mine, theirs, names = await _recorded_history(site)
    await log_in(page, site.base, "agent1", "agent1-demo")
    await expect(page.locator("#console-view")).to_be_visible()
    await _open(page, name)
    rows = page.locator("#cust-history li")
    await expect(rows.first.locator(".badge.disp")).to_be_visible()
    assert await page.locator("#cust-history .h-rec button").count() == 1
    own = page.locator(f'#cust-history li[data-call="{mine}"]')
    await expect(own.locator(".h-rec button")).to_be_visible()
    await expect(page.locator(f'#cust-history li[data-call="{theirs}"] .h-rec')).to_have_count(0)
    metas = await page.locator("#cust-history .h-head .muted").all_inner_texts()
    for meta in metas:
        agent = meta.rsplit(" · ", 1)[-1]
        assert agent in names.values() and agent not in names, metas


async def test_history_shows_the_callers_survey_score(site: Site, page: Page) -> None:
    """docs/recording.md: the console's history shows the post-call survey's score; the field was
    dropped on the way (InteractionView had no csat), so no row ever showed it."""
    name = await _customer_with_history(site)
    async with site.engine.db.session() as s:
        cid = (await s.execute(select(Customer.id).where(Customer.name == name))).scalar_one()
        newest = (await s.execute(select(Interaction).where(Interaction.customer_id == cid).order_by(
            Interaction.started_at.desc(), Interaction.id.desc()).limit(1))).scalar_one()
        newest.csat = 4
    await log_in(page, site.base, "agent1", "agent1-demo")
    await expect(page.locator("#console-view")).to_be_visible()
    await _open(page, name)
    await expect(page.locator("#cust-history li").first.locator(".chip")).to_have_text("CSAT 4/5")
