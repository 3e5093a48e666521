"""Business hours in a time zone, holidays included; the time is always passed in."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from ivr.flow import Hours
from ivr.hours import is_open, problems

SH = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")
WEEKDAYS = {d: ["09:00-12:00", "13:00-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")}
HOURS = Hours(timezone="Asia/Shanghai", weekly={**WEEKDAYS, "sat": ["10:00-24:00"]}, holidays=["2026-10-01"])


@pytest.mark.parametrize(("local", "expected"), [
    (datetime(2026, 11, 25, 8, 59, tzinfo=SH), False),
    (datetime(2026, 11, 25, 9, 0, tzinfo=SH), True),
    (datetime(2026, 11, 25, 12, 30, tzinfo=SH), False),  # lunch
    (datetime(2026, 11, 25, 17, 59, tzinfo=SH), True),
    (datetime(2026, 11, 25, 18, 0, tzinfo=SH), False),  # end is exclusive
    (datetime(2026, 11, 28, 23, 59, tzinfo=SH), True),  # "24:00" closes at midnight
    (datetime(2026, 11, 29, 11, 0, tzinfo=SH), False),  # sunday
    (datetime(2026, 10, 1, 10, 0, tzinfo=SH), False),  # holiday on a thursday
    # 21:30 in New York on Tuesday is 10:30 on Wednesday in Shanghai: the flow's zone decides.
    (datetime(2026, 11, 24, 21, 30, tzinfo=NY), True),
])
def test_is_open(local: datetime, expected: bool) -> None:
    assert is_open(HOURS, local.timestamp()) is expected


def test_problems_name_fields() -> None:
    bad = Hours(timezone="Nowhere/City", weekly={"mon": ["25:00-26:00", "10:00-09:00"]}, holidays=["2026-02-30"])
    assert problems(bad) == [
        ("hours.timezone", "unknown time zone 'Nowhere/City'"),
        ("hours.weekly.mon", "bad time range '25:00-26:00'"),
        ("hours.weekly.mon", "range '10:00-09:00' ends before it starts"),
        ("hours.holidays", "bad date '2026-02-30'"),
    ]
    assert problems(HOURS) == []
