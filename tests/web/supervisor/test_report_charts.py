"""The reports' SVG trend charts as the supervisor page shows them (unstarted Engine, seeded CRM):
readable axes (round y ticks in the field's unit, x labels that do not overlap) and the SL target
line of the queue charted."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.web.supervisor.conftest import Site, login

_Y_TICK = re.compile(r'<text x="[\d.]+" y="[\d.]+" text-anchor="end">([^<]*)</text>')
_X_LABEL = re.compile(r'<text x="([\d.]+)" y="[\d.]+" text-anchor="middle">([^<]*)</text>')
_TARGET = re.compile(r'<line class="target" x1="[\d.]+" y1="([\d.]+)"')


async def _chart(site: Site, **params: str) -> str:
    async with site.client() as c:
        await login(c, "sup1", "sup1-demo-1")
        r = await c.get("/api/supervisor/reports/chart.svg", params=params)
        assert r.status_code == 200, r.text
        return r.text


def _ticks(svg: str) -> list[str]:
    return _Y_TICK.findall(svg)


def _labels_do_not_overlap(svg: str) -> list[str]:
    """The x labels drawn; each one's width guessed at 6.5 px per character (11 px sans-serif)."""
    found = [(float(x), text) for x, text in _X_LABEL.findall(svg)]
    for (x0, a), (x1, b) in itertools.pairwise(found):
        assert x1 - x0 >= (len(a) + len(b)) / 2 * 6.5 + 4, (a, b, x1 - x0)
    return [text for _, text in found]


@pytest.mark.parametrize(("interval", "days"), [("day", 40), ("60m", 3), ("60m", 1), ("15m", 1)])
async def test_x_labels_do_not_overlap(site: Site, interval: str, days: int) -> None:
    start = (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M")
    svg = await _chart(site, field="offered", kind="bar", interval=interval, start=start)
    assert len(_labels_do_not_overlap(svg)) >= 3


async def test_y_ticks_are_round_in_the_field_unit(site: Site) -> None:
    start = (datetime.now(UTC) - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")
    counts = _ticks(await _chart(site, field="offered", kind="bar", interval="day", start=start))
    assert counts[0] == "0" and all(re.fullmatch(r"\d+", t) for t in counts), counts
    steps = {int(b) - int(a) for a, b in itertools.pairwise(counts)}
    assert len(steps) == 1 and re.fullmatch(r"(1|2|25?|5)0*", str(steps.pop())), counts
    rates = _ticks(await _chart(site, field="service_level", interval="day", start=start))
    assert rates == ["0%", "25%", "50%", "75%", "100%"]
    secs = _ticks(await _chart(site, field="aht_s", interval="day", start=start))
    assert all(re.fullmatch(r"\d+ s|\d+:\d\d", t) for t in secs), secs  # "40 s", or "2:30" past two minutes


async def test_the_target_line_is_the_queue_target(site: Site) -> None:
    start = (datetime.now(UTC) - timedelta(days=10)).strftime("%Y-%m-%dT%H:%M")
    assert site.svc.sl_targets.get("general") == 0.7  # config/alerts.yaml
    top, bottom = 32.0, 260 - 48.0  # acd.reports' frame: the plot's y for 100% and 0%
    for queue, target in (("general", 0.7), ("support", site.svc.sl_targets.get("support", 0.8)), (None, 0.8)):
        params = {"field": "service_level", "interval": "day", "start": start, **({"queue": queue} if queue else {})}
        y = float(_TARGET.findall(await _chart(site, **params))[0])
        assert y == pytest.approx(top + (bottom - top) * (1 - target), abs=0.1), queue


async def test_the_chart_names_its_field_as_people_read_it(site: Site) -> None:
    """The legend and the title said aht_s and service_level."""
    from agent_console.supervisor.charts import field_title

    start = (datetime.now(UTC) - timedelta(days=10)).strftime("%Y-%m-%dT%H:%M")
    svg = await _chart(site, field="aht_s", interval="day", start=start)
    assert ">AHT (s)</text>" in svg and ">aht_s<" not in svg and 'data-series="aht_s"' in svg
    assert field_title("service_level") == "Service level" and field_title("asa_s") == "ASA (s)"
    assert field_title("abandon_rate") == "Abandon rate"


async def test_the_chart_words_are_the_readers_language(site: Site) -> None:
    """The reports page in Chinese sends its words: title (and legend, and the image's label) and the
    target line's tooltip are those, escaped; without them, English. They stayed English."""
    start = (datetime.now(UTC) - timedelta(days=10)).strftime("%Y-%m-%dT%H:%M")
    svg = await _chart(site, field="service_level", interval="day", start=start, title="服务水平 <&>",
                       target_label="目标")
    assert 'aria-label="服务水平 &lt;&amp;&gt;"' in svg
    assert svg.count(">服务水平 &lt;&amp;&gt;</text>") == 2  # the title and the legend
    assert "<title>目标 80%</title>" in svg and "Service level" not in svg and "target" not in svg.replace(
        'class="target"', "")
    english = await _chart(site, field="service_level", interval="day", start=start)
    assert ">Service level</text>" in english and "<title>target 80%</title>" in english
    async with site.client() as c:
        await login(c, "sup1", "sup1-demo-1")
        r = await c.get("/api/supervisor/reports/chart.svg", params={"field": "offered", "title": "x" * 81})
        assert r.status_code == 422 and "title" in r.text
