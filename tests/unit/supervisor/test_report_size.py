"""A report has at most ``MAX_REPORT_INTERVALS`` intervals: 93 days at 15 minutes were 8,928 rows,
7.9 MB of JSON and 2.7 s (found by the supervisor's trial). Past the limit it is refused naming
``interval`` and the longest range that interval allows."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from acd.errors import InvalidRequest
from acd.kpis import Interval
from acd.reports import MAX_REPORT_INTERVALS, check_report_size, report_intervals

TZ = "Asia/Shanghai"
START = datetime(2026, 9, 1, tzinfo=ZoneInfo(TZ)).timestamp()
DAY = 86400.0


@pytest.mark.parametrize(("interval", "days", "count"), [
    ("15m", 93, 8928), ("30m", 93, 4464), ("60m", 93, 2232), ("day", 93, 93), ("week", 93, 14),
    ("15m", 1, 96), ("15m", 20, 1920), ("60m", 83, 1992),
])
def test_the_intervals_a_report_lists(interval: Interval, days: int, count: int) -> None:
    assert report_intervals(START, START + days * DAY, interval, TZ) == count


def test_a_range_starting_inside_an_interval_counts_it() -> None:
    assert report_intervals(START + 600, START + 3600, "15m", TZ) == 4  # 00:10 .. 01:00: 00:00, 15, 30, 45


@pytest.mark.parametrize(("interval", "days", "longest"), [
    ("15m", 93, "20 days 20 hours"), ("30m", 93, "41 days 16 hours"), ("60m", 84, "83 days 8 hours"),
])
def test_past_the_limit_the_report_is_refused_naming_interval_and_the_longest_range(
        interval: Interval, days: int, longest: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        check_report_size(START, START + days * DAY, interval, TZ)
    assert info.value.field == "interval" and info.value.http_status == 422
    assert f"at most {MAX_REPORT_INTERVALS:,} intervals" in info.value.message
    assert f"at {interval} a report covers at most {longest}" in info.value.message


@pytest.mark.parametrize(("interval", "days"), [("15m", 20), ("30m", 41), ("60m", 83), ("day", 93), ("week", 93)])
def test_within_the_limit_nothing_is_refused(interval: Interval, days: int) -> None:
    check_report_size(START, START + days * DAY, interval, TZ)


def test_the_limit_itself() -> None:
    assert MAX_REPORT_INTERVALS == 2000
    check_report_size(START, START + 2000 * 900, "15m", TZ)
    with pytest.raises(InvalidRequest):
        check_report_size(START, START + 2000 * 900 + 1, "15m", TZ)
