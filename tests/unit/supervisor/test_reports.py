"""Report CSV and SVG charts."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET

import pytest

from acd import kpis, reports
from acd.errors import InvalidRequest
from acd.reports import Series
from tests.unit.supervisor.test_kpis import CALLS, SH, T0, TIMES

SVG = "{http://www.w3.org/2000/svg}"


def test_report_csv_round_trips() -> None:
    rows = kpis.interval_report(CALLS, interval="30m", tz=SH, start=T0, end=T0 + 3600, agent_times=TIMES)
    text = reports.report_csv(rows)
    assert text.endswith("\r\n")
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert len(parsed) == 2
    assert list(parsed[0]) == list(reports.REPORT_COLUMNS)
    first, second = parsed
    assert first["interval_start"] == "2026-11-23T09:00:00+08:00" and first["interval"] == "30m"
    assert (first["offered"], first["answered"], first["service_level"]) == ("2", "2", "0.5")
    assert first["occupancy"] == "0.7"
    assert second["service_level"] == "0.3333"
    assert second["short_abandons_excluded"] == "true" and second["sl_seconds"] == "20"
    assert second["fcr"] == "1" and first["fcr"] == "0.5"  # c1 yes, K1 no / K2 yes


def test_empty_rates_are_empty_cells() -> None:
    rows = kpis.interval_report([], interval="60m", tz=SH, start=T0, end=T0 + 3600)
    row = next(csv.DictReader(io.StringIO(reports.report_csv(rows))))
    assert row["service_level"] == "" and row["offered"] == "0"


def test_csv_quotes_formula_like_text() -> None:
    text = reports.to_csv(["key", "n"], [["=HYPERLINK(\"x\")", 1], ["a,b", 2.5], ["-1 day", None]])
    assert list(csv.reader(io.StringIO(text))) == [["key", "n"], ["'=HYPERLINK(\"x\")", "1"], ["a,b", "2.5"],
                                                   ["'-1 day", ""]]
    with pytest.raises(InvalidRequest):
        reports.to_csv(["a", "b"], [[1]])


@pytest.mark.parametrize(("cell", "written"), [
    # the classic triggers (quoted before this table existed)
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1+1", "'\t=1+1"), ("\r=1+1", "'\r=1+1"),
    # a line feed first: some importers start the cell at the next line
    ("\n=1+1", "'\n=1+1"), ("\n", "'\n"),
    # blanks before a trigger: spreadsheets trim them and then evaluate the rest
    (" =1+1", "' =1+1"), ("   +cmd|' /C calc'!A0", "'   +cmd|' /C calc'!A0"), ("\u00a0=1", "'\u00a0=1"),
    ("\u3000=1", "'\u3000=1"),
    # full-width (and small-form) variants that East Asian spreadsheet locales read as the ASCII ones
    ("＝1+1", "'＝1+1"), ("＋1", "'＋1"), ("－1", "'－1"), ("＠SUM(A1)", "'＠SUM(A1)"),
    (" ＝1", "' ＝1"), ("﹦1", "'﹦1"), ("﹢1", "'﹢1"), ("﹣1", "'﹣1"), ("﹫x", "'﹫x"),
    # ordinary text is left alone, blanks included
    ("billing", "billing"), (" billing", " billing"), ("a=b", "a=b"), ("", ""), ("   ", "   "),
    ("1-800", "1-800"), ("中文＝", "中文＝"),
])
def test_csv_neutralises_every_formula_trigger(cell: str, written: str) -> None:
    text = reports.to_csv(["key"], [[cell]])
    assert list(csv.reader(io.StringIO(text, newline=""))) == [["key"], [written]]


def _series_groups(svg: str) -> dict[str, ET.Element]:
    root = ET.fromstring(svg)  # valid XML or this raises
    assert root.tag == SVG + "svg"
    return {g.attrib["data-series"]: g for g in root.iter(SVG + "g") if g.attrib.get("class") == "series"}


def test_line_chart_has_one_point_per_value_and_breaks_at_gaps() -> None:
    labels = ["09:00", "09:30", "10:00", "10:30", "11:00"]
    svg = reports.chart("line", labels, [Series("SL <support>", [0.9, 0.7, None, 0.85, 0.8]),
                                         Series("offered", [1, 2, 3, 4, 5])],
                        title="Service level & offered", y_max=5, target=0.8, y_format=reports.percent)
    groups = _series_groups(svg)
    assert set(groups) == {"SL <support>", "offered"}
    sl = groups["SL <support>"]
    assert len(sl.findall(SVG + "circle")) == 4
    lines = sl.findall(SVG + "polyline")
    assert [len(p.attrib["points"].split()) for p in lines] == [2, 2]
    assert len(groups["offered"].findall(SVG + "circle")) == 5
    assert [len(p.attrib["points"].split()) for p in groups["offered"].findall(SVG + "polyline")] == [5]
    root = ET.fromstring(svg)
    assert any(t.text == "Service level & offered" for t in root.iter(SVG + "text"))
    assert len([e for e in root.iter(SVG + "line") if e.attrib.get("class") == "target"]) == 1
    # Higher values are drawn higher (smaller y).
    ys = [float(c.attrib["cy"]) for c in groups["offered"].findall(SVG + "circle")]
    assert ys == sorted(ys, reverse=True)


def test_bar_chart_from_report_rows() -> None:
    rows = kpis.interval_report(CALLS, interval="30m", tz=SH, start=T0, end=T0 + 2 * 3600)
    labels, offered = reports.trend_series(rows, "offered")
    _, sl = reports.trend_series(rows, "service_level", "SL")
    assert labels == ["2026-11-23 09:00", "2026-11-23 09:30", "2026-11-23 10:00", "2026-11-23 10:30"]
    assert list(offered.values) == [2.0, 5.0, 0.0, 0.0] and sl.values[2] is None
    svg = reports.chart("bar", labels, [offered, sl], title="Offered")
    groups = _series_groups(svg)
    assert len(groups["offered"].findall(SVG + "rect")) == 4
    assert len(groups["SL"].findall(SVG + "rect")) == 2
    assert "<script" not in svg and "href" not in svg


def test_chart_refuses_mismatched_series() -> None:
    with pytest.raises(InvalidRequest):
        reports.chart("line", ["a", "b"], [Series("x", [1.0])])
    with pytest.raises(InvalidRequest):
        reports.chart("line", ["a"], [])
    with pytest.raises(InvalidRequest):
        reports.trend_series([], "nope")
