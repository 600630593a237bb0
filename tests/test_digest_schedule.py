"""When the weekly digest is due: `schedule.digest`, time zones, and no back-dated first one."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from pydantic import ValidationError

from config.schema import ServiceConfig, WeeklyTime
from digest.schedule import due_week, latest_digest_time

MONDAY_0730 = WeeklyTime(0, time(7, 30))


@pytest.mark.parametrize(("text", "expected"), [
    ("mon 07:30", "mon 07:30"), ("Thursday 18:05", "thu 18:05"), ("off", "None"),
    (None, "None")])
def test_schedule_digest_reads_a_weekday_and_a_time_or_off(text: str | None,
                                                           expected: str) -> None:
    config = ServiceConfig.model_validate({"schedule": {"digest": text}})
    assert str(config.schedule.digest) == expected


def test_schedule_digest_defaults_to_monday_morning_and_rejects_nonsense() -> None:
    assert ServiceConfig().schedule.digest == MONDAY_0730
    for bad in ("monday", "mon 25:00", "07:30", "xyz 07:30"):
        with pytest.raises(ValidationError, match="mon 07:30"):
            ServiceConfig.model_validate({"schedule": {"digest": bad}})


def test_the_digest_is_due_for_the_week_just_ended_in_the_athletes_zone() -> None:
    # Monday 30 Nov 2026 06:45 UTC is 07:45 in Berlin (digest time passed) but 06:45 in London
    now = datetime(2026, 11, 30, 6, 45, tzinfo=UTC)
    assert latest_digest_time(now, "Europe/Berlin", MONDAY_0730) == datetime(
        2026, 11, 30, 6, 30, tzinfo=UTC)
    assert due_week(now, "Europe/Berlin", MONDAY_0730) == "2026-W48"
    # London's Monday 07:30 has not come: last week's digest was the one for W47
    assert due_week(now, "Europe/London", MONDAY_0730) == "2026-W47"


def test_a_missed_digest_stays_due_until_the_next_digest_time() -> None:
    thursday = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    assert due_week(thursday, "UTC", MONDAY_0730) == "2026-W48"
    sunday_night = datetime(2026, 12, 6, 23, 59, tzinfo=UTC)
    assert due_week(sunday_night, "UTC", MONDAY_0730) == "2026-W48"


def test_a_new_store_sends_no_back_dated_digest() -> None:
    started = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)  # Wednesday, after Monday's digest time
    assert due_week(started, "UTC", MONDAY_0730, not_before=started) is None
    next_monday = datetime(2026, 12, 7, 7, 30, tzinfo=UTC)
    assert due_week(next_monday, "UTC", MONDAY_0730, not_before=started) == "2026-W49"


def test_a_mid_week_digest_time_covers_the_last_complete_week() -> None:
    thursday_6pm = WeeklyTime(3, time(18, 0))
    now = datetime(2026, 12, 3, 18, 0, tzinfo=UTC)  # Thursday of W49
    assert due_week(now, "UTC", thursday_6pm) == "2026-W48"


def test_a_weeks_digest_lists_the_alerts_between_two_digest_times() -> None:
    """An alert fired on Monday at 07:00 about Sunday's long run belongs in Monday 07:30's
    digest; each moment falls in exactly one week's window."""
    from digest.schedule import digest_window

    start, end = digest_window("2026-W48", "Europe/Berlin", MONDAY_0730)
    assert start == datetime(2026, 11, 23, 6, 30, tzinfo=UTC)  # 07:30 in Berlin (CET)
    assert end == datetime(2026, 11, 30, 6, 30, tzinfo=UTC)
    assert digest_window("2026-W49", "Europe/Berlin", MONDAY_0730)[0] == end
    # without a schedule: the local week itself
    assert digest_window("2026-W48", "UTC", None) == (
        datetime(2026, 11, 23, tzinfo=UTC), datetime(2026, 11, 30, tzinfo=UTC))
