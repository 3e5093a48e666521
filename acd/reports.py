"""Report output: rows as CSV text and small self-contained SVG charts (no script, nothing fetched),
and how large a report may be (``check_report_size``)."""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Callable, Sequence
from typing import Literal
from xml.sax.saxutils import escape, quoteattr

from acd.errors import InvalidRequest
from acd.kpis import Interval, KpiSummary, ReportRow, bucket_start, next_bucket

Cell = str | int | float | bool | None

# KpiSummary fields in CSV order ("basis" is the human sentence: the threshold columns say it).
KPI_COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(KpiSummary) if f.name != "basis")
REPORT_COLUMNS: tuple[str, ...] = ("interval_start", "interval", "group_by", "key", *KPI_COLUMNS)

# The intervals a report may list: 93 days at 15 minutes were 8,928 rows, 7.9 MB of JSON and 2.7 s
# (docs/supervisor.md). 2,000 is 20 days at 15 minutes, 41 at 30, 83 at 60; any range (93 days at most)
# by day or week.
MAX_REPORT_INTERVALS = 2000
_INTERVAL_S = {"15m": 900.0, "30m": 1800.0, "60m": 3600.0, "day": 86400.0, "week": 7 * 86400.0}

_PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf", "#7f7f7f")


def _cell(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".") if value == value else ""
    if isinstance(value, int):
        return str(value)
    # A spreadsheet would run a cell that starts like a formula (queue or disposition names are
    # operator-entered text): quote it.
    if _looks_like_formula(value):
        return "'" + value
    return value


# Formula starters, with the full-width and small-form variants that East Asian spreadsheet
# locales (and some importers' NFKC folding) read as the ASCII ones.
_FORMULA_START = frozenset("=+-@＝＋－＠﹦﹢﹣﹫")
# A tab, CR or LF first is refused outright (OWASP's list; an LF makes some importers start the
# cell on the next line); other leading blanks (space, NBSP, ideographic space) are trimmed by
# spreadsheets before they evaluate, so the first character after them decides.
_CONTROL_START = frozenset("\t\r\n")


def _looks_like_formula(text: str) -> bool:
    if text[:1] in _CONTROL_START:
        return True
    return text.lstrip()[:1] in _FORMULA_START


def to_csv(header: Sequence[str], rows: Sequence[Sequence[Cell]]) -> str:
    """CSV text (RFC 4180, CRLF line ends) with a header line."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        if len(row) != len(header):
            raise InvalidRequest("rows", f"a row has {len(row)} cells, the header {len(header)}")
        writer.writerow([_cell(v) for v in row])
    return out.getvalue()


def report_csv(rows: Sequence[ReportRow]) -> str:
    """Interval report rows as CSV; rates are fractions (0.8 = 80 %), empty when undefined."""
    table: list[list[Cell]] = []
    for r in rows:
        kpis: list[Cell] = [getattr(r.kpis, c) for c in KPI_COLUMNS]
        table.append([r.start_local, r.interval, r.group_by or "", r.key, *kpis])
    return to_csv(REPORT_COLUMNS, table)


# -- SVG charts --------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True, slots=True)
class Series:
    """A named run of values, one per label; None is a gap. ``label``: the legend's words (default
    the name, which also names the series in the SVG's ``data-series``)."""

    name: str
    values: Sequence[float | None]
    label: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class _Frame:
    width: int
    height: int
    left: int = 56
    right: int = 16
    top: int = 32
    bottom: int = 48

    @property
    def plot_w(self) -> float:
        return float(self.width - self.left - self.right)

    @property
    def plot_h(self) -> float:
        return float(self.height - self.top - self.bottom)


def _num(v: float) -> str:
    return f"{v:.2f}".rstrip("0").rstrip(".")


def _check_chart(labels: Sequence[str], series: Sequence[Series], width: int, height: int) -> None:
    if not series:
        raise InvalidRequest("series", "a chart needs at least one series")
    for s in series:
        if len(s.values) != len(labels):
            raise InvalidRequest("series", f"{s.name!r} has {len(s.values)} values for {len(labels)} labels")
    if width < 160 or height < 120:
        raise InvalidRequest("size", "a chart is at least 160 x 120")


def _scale(series: Sequence[Series], y_max: float | None, target: float | None) -> float:
    if y_max is not None:
        return y_max
    top = max([v for s in series for v in s.values if v is not None] + [target or 0.0, 0.0])
    return top * 1.1 if top > 0 else 1.0


def _frame_parts(fr: _Frame, labels: Sequence[str], title: str, top: float, y_format: Callable[[float], str],
                 target: float | None, series: Sequence[Series], target_label: str) -> list[str]:
    parts = [f'<text x="{fr.width / 2:.1f}" y="18" text-anchor="middle" font-weight="bold">{escape(title)}</text>']
    for i in range(5):  # horizontal grid with y labels
        v = top * i / 4
        y = fr.top + fr.plot_h * (1 - i / 4)
        parts.append(f'<line class="grid" x1="{fr.left}" y1="{y:.1f}" x2="{fr.width - fr.right}" y2="{y:.1f}" '
                     'stroke="#ddd"/>')
        parts.append(f'<text x="{fr.left - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(y_format(v))}</text>')
    step = max(1, -(-len(labels) // 12))  # at most ~12 x labels
    for i in range(0, len(labels), step):
        x = fr.left + fr.plot_w * (i + 0.5) / max(1, len(labels))
        parts.append(f'<text x="{x:.1f}" y="{fr.height - fr.bottom + 16}" text-anchor="middle">'
                     f'{escape(labels[i])}</text>')
    if target is not None and 0 <= target <= top:
        y = fr.top + fr.plot_h * (1 - target / top)
        parts.append(f'<line class="target" x1="{fr.left}" y1="{y:.1f}" x2="{fr.width - fr.right}" y2="{y:.1f}" '
                     f'stroke="#555" stroke-dasharray="6 4"><title>{escape(target_label)} {escape(y_format(target))}'
                     '</title></line>')
    for i, s in enumerate(series):  # legend
        x = fr.left + 120 * i
        color = _PALETTE[i % len(_PALETTE)]
        parts.append(f'<rect x="{x}" y="{fr.height - 16}" width="10" height="10" fill="{color}"/>'
                     f'<text x="{x + 14}" y="{fr.height - 7}">{escape(s.label or s.name)}</text>')
    return parts


def _svg(fr: _Frame, title: str, body: list[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{fr.width}" height="{fr.height}" '
            f'viewBox="0 0 {fr.width} {fr.height}" role="img" aria-label={quoteattr(title)} '
            f'font-family="sans-serif" font-size="11">' + "".join(body) + "</svg>")


def chart(kind: Literal["line", "bar"], labels: Sequence[str], series: Sequence[Series], *, title: str = "",
          width: int = 640, height: int = 260, y_max: float | None = None, target: float | None = None,
          y_format: Callable[[float], str] = _num, target_label: str = "target") -> str:
    """An SVG line or grouped-bar chart: one point (circle) or bar (rect) per non-None value.

    Each series is a ``<g class="series" data-series=...>``; a line breaks at gaps. ``target``
    draws a dashed horizontal line (e.g. the SL target), its tooltip ``target_label`` and the value.
    """
    _check_chart(labels, series, width, height)
    fr = _Frame(width, height)
    top = _scale(series, y_max, target)
    n = max(1, len(labels))
    slot = fr.plot_w / n

    def y_of(v: float) -> float:
        return fr.top + fr.plot_h * (1 - max(0.0, min(v, top)) / top)

    body = _frame_parts(fr, labels, title, top, y_format, target, series, target_label)
    for si, s in enumerate(series):
        color = _PALETTE[si % len(_PALETTE)]
        body.append(f'<g class="series" data-series={quoteattr(s.name)}>')
        if kind == "line":
            runs: list[list[str]] = [[]]
            for i, v in enumerate(s.values):
                if v is None:
                    runs.append([])
                    continue
                x, y = fr.left + slot * (i + 0.5), y_of(v)
                runs[-1].append(f"{x:.1f},{y:.1f}")
                body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}">'
                            f"<title>{escape(f'{labels[i]}: {y_format(v)}')}</title></circle>")
            for run in runs:
                if len(run) > 1:
                    body.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{" ".join(run)}"/>')
        elif kind == "bar":
            bar_w = slot * 0.8 / len(series)
            for i, v in enumerate(s.values):
                if v is None:
                    continue
                x, y = fr.left + slot * i + slot * 0.1 + bar_w * si, y_of(v)
                body.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" '
                            f'height="{fr.top + fr.plot_h - y:.1f}" fill="{color}">'
                            f"<title>{escape(f'{labels[i]}: {y_format(v)}')}</title></rect>")
        else:
            raise InvalidRequest("kind", f"must be line or bar (got {kind!r})")
        body.append("</g>")
    return _svg(fr, title, body)


def percent(v: float) -> str:
    """A y_format for fractions: 0.8 -> '80%'."""
    return f"{v * 100:.0f}%"


def trend_series(rows: Sequence[ReportRow], field: str, name: str | None = None,
                 label: str | None = None) -> tuple[list[str], Series]:
    """Labels (local interval starts) and one KPI field of ungrouped report rows, ready for ``chart``."""
    if field not in KPI_COLUMNS:
        raise InvalidRequest("field", f"not a KPI column: {field!r}")
    labels = [r.start_local[:16].replace("T", " ") if r.interval in ("15m", "30m", "60m") else r.start_local[:10]
              for r in rows]
    values: list[float | None] = []
    for r in rows:
        v = getattr(r.kpis, field)
        values.append(None if v is None else float(v))
    return labels, Series(name or field, values, label)


def report_intervals(start: float, end: float, interval: Interval, tz: str) -> int:
    """How many intervals a report of [start, end) lists (an ungrouped one: a row each; counted up to
    one past ``MAX_REPORT_INTERVALS``)."""
    at, count = bucket_start(start, interval, tz), 0
    if interval in ("15m", "30m", "60m"):  # real-time steps, whatever the zone's clock changes
        step = _INTERVAL_S[interval]
        return max(0, int(-(-(end - at) // step)))
    while at < end and count <= MAX_REPORT_INTERVALS:
        at, count = next_bucket(at, interval, tz), count + 1
    return count


def _span(seconds: float) -> str:
    days, hours = int(seconds // 86400), int(seconds % 86400 // 3600)
    return f"{days} days" + (f" {hours} hours" if hours else "")


def check_report_size(start: float, end: float, interval: Interval, tz: str) -> None:
    """InvalidRequest naming ``interval`` (422) when the report would list more than
    ``MAX_REPORT_INTERVALS`` intervals, saying the longest range that interval allows."""
    count = report_intervals(start, end, interval, tz)
    if count > MAX_REPORT_INTERVALS:
        raise InvalidRequest("interval", (
            f"{count:,} intervals of {interval} in this range; a report has at most {MAX_REPORT_INTERVALS:,} "
            f"intervals: at {interval} a report covers at most {_span(MAX_REPORT_INTERVALS * _INTERVAL_S[interval])} "
            "(choose a shorter range or a longer interval)"))
