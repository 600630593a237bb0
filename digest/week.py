"""ISO weeks ("2026-W48", Monday to Sunday) as the digest names them, and their local bounds."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_WEEK_RE = re.compile(r"^\s*(\d{4})-W(\d{2})\s*$", re.IGNORECASE)


def weeks_in_year(year: int) -> int:
    """52 or 53: 28 December always lies in the ISO year's last week."""
    return date(year, 12, 28).isocalendar().week


def parse_week(week: str) -> tuple[int, int]:
    """(ISO year, week number) of "2026-W48"; ValueError naming the expected form otherwise."""
    match = _WEEK_RE.match(week) if isinstance(week, str) else None
    if match is None:
        raise ValueError(f"expected an ISO week such as 2026-W48 (year, -W, two-digit week), "
                         f"got {week!r}")
    year, number = int(match.group(1)), int(match.group(2))
    if year < 1:
        raise ValueError(f"{week!r}: no ISO year {year}")
    last = weeks_in_year(year)
    if not 1 <= number <= last:
        raise ValueError(f"{week!r}: ISO year {year} has weeks W01 to W{last:02d}")
    return year, number


def format_week(year: int, number: int) -> str:
    return f"{year:04d}-W{number:02d}"


def week_of(day: date) -> str:
    """The ISO week a local day belongs to (1 January may lie in the previous year's W52/W53)."""
    year, number, _weekday = day.isocalendar()
    return format_week(year, number)


def week_days(week: str) -> tuple[date, date]:
    """(Monday, Sunday) of an ISO week."""
    monday = date.fromisocalendar(*parse_week(week), 1)
    return monday, monday + timedelta(days=6)


def week_label(week: str) -> str:
    """A short axis label: "W48"."""
    return f"W{parse_week(week)[1]:02d}"


def shift_week(week: str, weeks: int) -> str:
    """The ISO week `weeks` weeks later (earlier when negative)."""
    return week_of(week_days(week)[0] + timedelta(weeks=weeks))


def week_ended_before(local_day: date) -> str:
    """The week a digest on `local_day` is about: the ISO week whose Sunday is the most recent
    Sunday strictly before local_day (on a Monday, the week that just ended; on a Sunday, the
    week before, since the current one is not over)."""
    return week_of(local_day - timedelta(days=local_day.isoweekday()))


def previous_weeks(week: str, n: int) -> tuple[str, ...]:
    """The n ISO weeks before `week`, oldest first (`week` itself not included)."""
    return tuple(shift_week(week, -back) for back in range(n, 0, -1))


def weeks_ending(week: str, n: int) -> tuple[str, ...]:
    """The n ISO weeks ending with `week`, oldest first."""
    return (*previous_weeks(week, n - 1), week) if n > 0 else ()


def week_bounds_utc(week: str, timezone_name: str) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the local week: Monday 00:00 to the next Monday 00:00 in the zone
    (a DST change makes it 167 or 169 hours long)."""
    zone = ZoneInfo(timezone_name)
    monday, sunday = week_days(week)
    start = datetime.combine(monday, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(sunday + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return start, end
