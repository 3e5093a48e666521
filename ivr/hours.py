"""Business hours and holidays in a time zone; pure (the time is passed in)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ivr.flow import Hours

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def problems(hours: Hours) -> list[tuple[str, str]]:
    """(field, message) for every invalid part of ``hours``."""
    out: list[tuple[str, str]] = []
    try:
        ZoneInfo(hours.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        out.append(("hours.timezone", f"unknown time zone {hours.timezone!r}"))
    for day, ranges in hours.weekly.items():
        for r in ranges:
            try:
                start, end = _range(r)
            except ValueError:
                out.append((f"hours.weekly.{day}", f"bad time range {r!r}"))
                continue
            if start >= end:
                out.append((f"hours.weekly.{day}", f"range {r!r} ends before it starts"))
    for d in hours.holidays:
        try:
            datetime.strptime(d, "%Y-%m-%d")
        except ValueError:
            out.append(("hours.holidays", f"bad date {d!r}"))
    return out


def is_open(hours: Hours, now: float) -> bool:
    """True when ``now`` (epoch seconds) falls in an opening range and is not a holiday."""
    local = datetime.fromtimestamp(now, ZoneInfo(hours.timezone))
    if local.strftime("%Y-%m-%d") in hours.holidays:
        return False
    minute = local.hour * 60 + local.minute
    for r in hours.weekly.get(_DAYS[local.weekday()], []):  # type: ignore[call-overload]
        start, end = _range(r)
        if start <= minute < end:
            return True
    return False


def _range(text: str) -> tuple[int, int]:
    a, b = text.split("-")
    return _minutes(a), _minutes(b)


def _minutes(hhmm: str) -> int:
    h, m = (int(x) for x in hhmm.split(":"))
    if not (0 <= h <= 24 and 0 <= m < 60) or (h == 24 and m):
        raise ValueError(hhmm)
    return h * 60 + m
