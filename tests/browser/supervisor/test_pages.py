"""Real Chromium on the supervisor pages (unstarted Engine, seeded CRM): reports with CSV export (its
link follows the filters as edited) and SVG trend charts (in the page's language), the Erlang C
calculator, Chinese labels, and an agent kept out."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import log_in, wait_js
from tests.browser.supervisor.conftest import NO_PBX_FOR_SUP1
from tests.web.supervisor.conftest import Site


@NO_PBX_FOR_SUP1
@pytest.mark.expected_failed_load(422, "/api/supervisor/reports")  # the CSV of a To before the From
async def test_reports_staffing_and_chinese(site: Site, page: Page) -> None:
    await log_in(page, site.base, "sup1", "sup1-demo-1")
    await page.wait_for_url("**/wallboard")
    await expect(page.locator('#queues tr[data-queue="support"]')).to_be_visible()
    # Which figures are the last hour's and which today's: every tile and column says (the manager's
    # trial read "Offered 0 / 9" and an ASA tile with no period).
    for tile, period in (("#tot-sl", r"last 60 min"), ("#tot-asa", r"last 60 min"), ("#tot-abandon", r"last 60 min"),
                         ("#tot-aht", r"last 60 min"), ("#tot-fcr", r"today"), ("#tot-sl-today", r"today")):
        label = page.locator(".tile", has=page.locator(tile)).locator(".tl")
        await expect(label).to_have_text(re.compile(period))
    heads = page.locator("#queues th")
    for n, text in ((4, r"Service level\s+last 60 min"), (5, r"ASA\s+last 60 min"), (8, r"FCR\s+today"),
                    (9, r"Offered\s+last 60 min / today")):
        await expect(heads.nth(n)).to_have_text(re.compile(text))

    await page.click("a[href='/reports']")
    await expect(page.locator("#report thead tr")).to_have_count(1)  # the first report is shown
    await page.select_option("#f-interval", "day")
    await page.select_option("#f-group", "queue")
    await page.fill("#f-start", (datetime.now(UTC) - timedelta(days=20)).strftime("%Y-%m-%dT%H:%M"))
    await page.click("#rep-form button[type=submit]")
    await expect(page.locator("#csv-link")).to_have_attribute("href", re.compile("group_by=queue.*format=csv"))
    rows = page.locator("#report tbody tr")
    keys = rows.locator("td:nth-child(2)")
    await expect(keys.filter(has_text=re.compile(r"^(billing|sales|support)$")).first).to_be_visible()  # the new report
    # Calls with no queue (IVR only) are a row of their own, named: a bare dash read as a missing
    # figure (and the first row was such a dash on the days the range began with one).
    assert "—" not in await keys.all_inner_texts()
    assert "(no queue: IVR only)" in await keys.all_inner_texts()  # the seed's history has IVR-only calls
    assert await rows.count() >= 2  # the seed's history: several days and queues
    # Short abandons have their column: an hour with only one shows SL "—" and says why.
    await expect(page.locator("#report thead")).to_contain_text("Short abandons")
    href = await page.get_attribute("#csv-link", "href")
    assert href
    exported = await page.request.get(site.base + href)
    assert exported.ok and (await exported.text()).startswith("interval_start,interval,group_by,key,offered")
    for chart in ("#chart-sl", "#chart-offered", "#chart-aht"):
        await expect(page.locator(chart)).to_have_attribute("src", re.compile("chart.svg.*interval=day"))
        await wait_js(page, f"document.querySelector('{chart}').naturalWidth > 0", 10.0)

    # The manager's trial: the period changed without Show, then Export CSV gave the old period. The
    # link follows the filters as they are now; a hint says the table below is the last one shown.
    await expect(page.locator("#rep-stale")).to_be_hidden()
    week_ago = (datetime.now(UTC) - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M")
    await page.fill("#f-start", week_ago)
    await page.select_option("#f-group", "agent")
    await expect(page.locator("#rep-stale")).to_be_visible()
    href = await page.get_attribute("#csv-link", "href") or ""
    assert f"start={week_ago.replace(':', '%3A')}" in href and "group_by=agent" in href, href
    async with page.expect_download() as download:
        await page.click("#csv-link")
    got = await download.value
    assert got.suggested_filename == "report-day-agent.csv"
    saved = await got.path()
    table = list(csv.DictReader(io.StringIO(await asyncio.to_thread(Path(saved).read_text, encoding="utf-8"))))
    assert table and {r["group_by"] for r in table} == {"agent"}
    assert min(r["interval_start"] for r in table) >= (datetime.now(UTC) - timedelta(days=8)).strftime("%Y-%m-%d")
    # Filters the server refuses: said under them, and nothing downloaded.
    await page.fill("#f-end", (datetime.now(UTC) - timedelta(days=9)).strftime("%Y-%m-%dT%H:%M"))
    await page.click("#csv-link")
    await expect(page.locator("#rep-msg")).to_contain_text("end")
    await page.fill("#f-end", "")
    shown = await page.locator("#report tbody tr").count()
    await page.click("#rep-form button[type=submit]")  # shown again: the hint goes
    await expect(page.locator("#rep-stale")).to_be_hidden()
    await expect(page.locator("#report tbody tr")).not_to_have_count(shown)

    # In Chinese the charts' words are too (title, legend, the image's label), and back in English.
    await page.click(".lang-toggle")
    await expect(page.locator("#chart-sl")).to_have_attribute("alt", "服务水平趋势")
    for chart, words in (("#chart-sl", "服务水平"), ("#chart-offered", "来电量"), ("#chart-aht", "平均处理时长 (秒)")):
        await wait_js(page, f"document.querySelector('{chart}').naturalWidth > 0", 10.0)
        svg = await (await page.request.get(site.base + (await page.get_attribute(chart, "src") or ""))).text()
        assert f'aria-label="{words}"' in svg and svg.count(f">{words}</text>") == 2, chart
    await page.click(".lang-toggle")
    await expect(page.locator("#chart-sl")).to_have_attribute("alt", "Service level trend")

    await page.click("a[href='/staffing']")
    await expect(page.locator("#r-need")).to_be_visible()  # the page computed its defaults
    await page.fill("#s-calls", "100")
    await page.fill("#s-interval", "1800")
    await page.fill("#s-aht", "180")
    await page.fill("#s-target", "80")
    await page.fill("#s-seconds", "20")
    await page.fill("#s-shrinkage", "30")
    await page.click("#st-form button[type=submit]")
    await expect(page.locator("#r-need")).to_have_text("14")
    await expect(page.locator("#r-positions")).to_have_text("20")
    await expect(page.locator("#r-traffic")).to_have_text("10.00")

    await page.click(".lang-toggle")
    await expect(page.locator("#r-need")).to_have_text("14")
    await expect(page.locator("[data-i18n='st.title']").first).to_have_text("排班计算（Erlang C）")
    await expect(page.locator("dt").nth(1)).to_have_text("所需坐席")
    await page.click("a[href='/wallboard']")
    await expect(page.locator("#queues th").first).to_have_text("队列")  # the choice is kept across pages


async def test_an_agent_is_kept_out_of_the_wallboard(site: Site, page: Page) -> None:
    await log_in(page, site.base, "agent1", "agent1-demo")
    await expect(page.locator("#console-view")).to_be_visible()  # logged in: "/" is also the login page
    await page.goto(site.base + "/wallboard")
    await expect(page.locator("#forbidden")).to_be_visible()
    await expect(page.locator("#main")).to_be_hidden()
    assert not site.svc.wallboard.subscribers
