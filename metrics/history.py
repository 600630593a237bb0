"""An athlete's stored activities as seen on their local calendar, up to an as-of date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from store import Activity


@dataclass(frozen=True)
class ActivityPoint:
    """One activity reduced to what the metrics read; distances in km, dates local."""

    activity_id: int
    local_date: date
    start_utc: datetime
    distance_km: float
    is_run: bool
    is_strength: bool
    steady_cadence_spm: float | None
    gct_balance_left_pct: float | None


@dataclass(frozen=True)
class History:
    """Activities with local_date <= as_of, oldest first; later ones are ignored."""

    as_of: date
    points: tuple[ActivityPoint, ...]

    @property
    def first_date(self) -> date | None:
        return self.points[0].local_date if self.points else None

    @property
    def runs(self) -> tuple[ActivityPoint, ...]:
        return tuple(p for p in self.points if p.is_run)

    def between(self, first: date, last: date) -> list[ActivityPoint]:
        """Activities whose local day lies in first..last, both included."""
        return [p for p in self.points if first <= p.local_date <= last]

    def days_back(self, days: int) -> date:
        """The first day of a window of `days` days ending on as_of (D-(days-1))."""
        return self.as_of - timedelta(days=days - 1)

    @property
    def newest_start_utc(self) -> datetime | None:
        return max((p.start_utc for p in self.points), default=None)


def local_date_of(start_utc: datetime, timezone_name: str) -> date:
    """A run at 23:30 local belongs to that local day, whatever UTC says."""
    return start_utc.astimezone(ZoneInfo(timezone_name)).date()


def load_history(session: Session, athlete_id: str, timezone_name: str, as_of: date) -> History:
    # one day of slack on each side of UTC, then the exact cut on the local date
    cutoff_utc = datetime.combine(as_of + timedelta(days=2), datetime.min.time(),
                                  tzinfo=ZoneInfo("UTC"))
    rows = session.scalars(
        select(Activity)
        .where(Activity.athlete_id == athlete_id, Activity.start_utc < cutoff_utc)
        .order_by(Activity.start_utc, Activity.id)
    ).all()
    points = []
    for row in rows:
        local_day = local_date_of(row.start_utc, timezone_name)
        if local_day > as_of:
            continue
        points.append(ActivityPoint(
            activity_id=row.id,
            local_date=local_day,
            start_utc=row.start_utc,
            distance_km=(row.distance_m or 0.0) / 1000.0,
            is_run=row.is_run,
            is_strength=row.is_strength,
            steady_cadence_spm=row.steady_cadence_spm,
            gct_balance_left_pct=row.gct_balance_left_pct,
        ))
    return History(as_of=as_of, points=tuple(points))
