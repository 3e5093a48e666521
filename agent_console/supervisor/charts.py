"""The reports' trend charts: ``acd.reports.chart`` fed so that its axes read well.

The y axis has five ticks (0 and top/4 steps): ``top`` is four round steps in the field's unit
(counts: whole numbers; seconds: whole seconds, then half minutes and minutes shown as m:ss;
rates: 0-100 %). The x labels are short (``MM-DD`` for days and weeks, ``HH:MM`` for a day's
intervals, ``MM-DD HH:MM`` across days) and, where they would still overlap, only every n-th one
drawn (every point keeps its tooltip). The SL target line is the one the rows were computed with.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Sequence

from acd.kpis import KpiSummary, ReportRow
from acd.reports import chart, percent, trend_series

RATE_FIELDS = frozenset({"service_level", "abandon_rate", "occupancy", "utilization", "fcr", "csat_satisfied"})
_INT_FIELDS = frozenset(f.name for f in dataclasses.fields(KpiSummary) if f.type in ("int", int))
_STEPS = (1.0, 2.0, 2.5, 5.0)
_SECOND_STEPS = (30, 60, 120, 300, 600, 900, 1200, 1800, 3600)  # past 2 minutes: half minutes, minutes...
_CHAR_PX = 6.5  # an 11 px sans-serif character, about (acd.reports draws at font-size 11)
_X_LABEL = re.compile(r'<text x="([\d.]+)" y="[\d.]+" text-anchor="middle">[^<]*</text>')


def nice_step(peak: float, *, whole: bool = False, seconds: bool = False) -> float:
    """The smallest round step with four of them at or above ``peak``."""
    raw = max(peak, 0.0) / 4
    if raw <= 0:
        return 1.0 if whole or seconds else 0.25
    if seconds and raw > 25:
        for s in _SECOND_STEPS:
            if s >= raw:
                return float(s)
    k = math.floor(math.log10(raw))
    while True:
        for m in _STEPS:
            step = m * 10.0 ** k
            if (whole or seconds) and (step < 1 or step != int(step)):
                continue
            if step >= raw * (1 - 1e-9):
                return step
        k += 1


def _clock(v: float) -> str:
    s = round(v)
    return f"{s // 60}:{s % 60:02d}"


def axis(field: str, values: Sequence[float | None]) -> tuple[float, Callable[[float], str]]:
    """(the y axis' top, the tick format) for ``field``."""
    if field in RATE_FIELDS:
        return 1.0, percent
    peak = max([v for v in values if v is not None] + [0.0])
    if field.endswith("_s"):
        top = 4 * nice_step(peak, seconds=True)
        return top, (_clock if top >= 120 else (lambda v: f"{v:.0f} s"))
    if field in _INT_FIELDS:
        return 4 * nice_step(peak, whole=True), lambda v: f"{v:.0f}"
    return 4 * nice_step(peak), lambda v: f"{v:g}"


def short_labels(rows: Sequence[ReportRow]) -> list[str]:
    """Interval starts (local time) as short as they stay clear."""
    if not rows:
        return []
    if rows[0].interval in ("day", "week"):
        return [r.start_local[5:10] for r in rows]
    one_day = len({r.start_local[:10] for r in rows}) == 1
    return [r.start_local[11:16] if one_day else r.start_local[5:16].replace("T", " ") for r in rows]


def thin_x_labels(svg: str, labels: Sequence[str]) -> str:
    """Drop x labels (not the points' tooltips) until those left do not overlap."""
    found = list(_X_LABEL.finditer(svg))
    if len(found) < 2:
        return svg
    gap = float(found[1].group(1)) - float(found[0].group(1))
    width = max(len(x) for x in labels) * _CHAR_PX + 8
    every = max(1, math.ceil(width / gap)) if gap > 0 else 1
    if every == 1:
        return svg
    out, at = [], 0
    for i, m in enumerate(found):
        out.append(svg[at:m.start()] + (m.group(0) if i % every == 0 else ""))
        at = m.end()
    return "".join(out) + svg[at:]


_ABBREVIATIONS = {"aht": "AHT", "asa": "ASA", "fcr": "FCR", "ivr": "IVR", "csat": "CSAT", "sl": "SL"}


def field_title(field: str) -> str:
    """A KPI column as people read it: aht_s -> "AHT (s)", service_level -> "Service level"."""
    words = [_ABBREVIATIONS.get(w, w) for w in field.removesuffix("_s").split("_")]
    text = " ".join(words)
    return text[:1].upper() + text[1:] + (" (s)" if field.endswith("_s") else "")


def trend_chart(rows: Sequence[ReportRow], field: str, kind: str = "line", *, target: float | None = None,
                title: str | None = None, target_label: str = "target") -> str:
    """The SVG trend of one KPI over ungrouped report rows; ``target``: the SL target line
    (service_level only). ``title`` and ``target_label``: the words in the reader's language (the
    reports page sends its own); the title is also the legend. Default: English."""
    words = title or field_title(field)
    _, series = trend_series(rows, field, label=words)
    labels = short_labels(rows)
    top, fmt = axis(field, series.values)
    svg = chart("bar" if kind == "bar" else "line", labels, [series], title=words, y_max=top,
                target=target if field == "service_level" else None, y_format=fmt, target_label=target_label)
    return thin_x_labels(svg, labels)
