"""When a weekly digest is due: the latest `schedule.digest` moment in a time zone, and the ISO
week that had just ended then (DESIGN §8)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from config.schema import WeeklyTime
from digest.week import week_bounds_utc, week_days, week_ended_before


def latest_digest_time(now: datetime, timezone_name: str, when: WeeklyTime) -> datetime:
    """The most recent local `when` (e.g. Monday 07:30) at or before `now`, as an aware time."""
    zone = ZoneInfo(timezone_name)
    local_now = now.astimezone(zone)
    day = local_now.date() - timedelta(days=(local_now.weekday() - when.weekday) % 7)
    moment = datetime.combine(day, when.at, tzinfo=zone)
    if moment > local_now:
        moment = datetime.combine(day - timedelta(days=7), when.at, tzinfo=zone)
    return moment


def due_week(now: datetime, timezone_name: str, when: WeeklyTime,
             not_before: datetime | None = None) -> str | None:
    """The ISO week whose digest is due at `now`: the week that had ended at the latest digest
    time. A digest missed while the service was down is still due until the next digest time
    comes; `not_before` (the service's start, for a store that never sent a digest) keeps a new
    installation from sending a back-dated one."""
    moment = latest_digest_time(now, timezone_name, when)
    if not_before is not None and moment < not_before:
        return None
    return week_ended_before(moment.date())


def send_time(week: str, timezone_name: str, when: WeeklyTime) -> datetime:
    """When the digest of `week` goes out: the first `when` after the week ends (UTC)."""
    zone = ZoneInfo(timezone_name)
    next_monday = week_days(week)[1] + timedelta(days=1)
    day = next_monday + timedelta(days=when.weekday)
    return datetime.combine(day, when.at, tzinfo=zone).astimezone(UTC)


def digest_window(week: str, timezone_name: str,
                  when: WeeklyTime | None) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the alerts a week's digest lists: from the previous digest's
    send time to this one's, so that an alert fired on Monday at 07:00 about Sunday's long
    run is in Monday 07:30's digest, and no alert is in two digests or none. Without a
    schedule, the local week itself."""
    if when is None:
        return week_bounds_utc(week, timezone_name)
    monday = week_days(week)[0]
    previous = datetime.combine(monday + timedelta(days=when.weekday), when.at,
                                tzinfo=ZoneInfo(timezone_name)).astimezone(UTC)
    return previous, send_time(week, timezone_name, when)


FAILED_RETRY_AFTER = timedelta(hours=1)


class FailedDigests:
    """Digests that failed in this process, (kind, athlete key, week) -> when: the scheduler
    asks every few seconds, so a digest whose data cannot be rendered is tried again after an
    hour, not rebuilt (and logged) on every check."""

    def __init__(self, retry_after: timedelta = FAILED_RETRY_AFTER) -> None:
        self.retry_after = retry_after
        self._failed: dict[tuple[str, str, str], datetime] = {}

    def waiting(self, kind: str, athlete_key: str, week: str, now: datetime) -> bool:
        failed_at = self._failed.get((kind, athlete_key, week))
        return failed_at is not None and now - failed_at < self.retry_after

    def record(self, kind: str, athlete_key: str, week: str, failed: bool,
               now: datetime) -> None:
        if failed:
            self._failed[kind, athlete_key, week] = now
        else:
            self._failed.pop((kind, athlete_key, week), None)
