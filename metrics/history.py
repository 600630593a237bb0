"""An athlete's stored activities and journal entries as seen on their local calendar, up to an
as-of date."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from store import Activity, JournalEntry

if TYPE_CHECKING:
    from metrics.daily import DailySeries

T = TypeVar("T")
JOURNAL_LOOKBACK_DAYS = 90  # journal entries a history holds: what any metric or chart reads


@dataclass(frozen=True)
class ActivityPoint:
    """One activity reduced to what the metrics read: km and minutes, local date, form summaries.

    The form fields are per-run summaries made at ingest (DESIGN §3); None where the file has
    no such data (no footpod, no running dynamics, no perceived effort).
    """

    activity_id: int
    local_date: date
    start_utc: datetime
    distance_km: float
    is_run: bool
    is_strength: bool = False
    moving_min: float = 0.0
    steady_cadence_spm: float | None = None
    steady_speed_mps: float | None = None
    cadence_first_fifth_spm: float | None = None
    cadence_last_fifth_spm: float | None = None
    speed_first_fifth_mps: float | None = None
    speed_last_fifth_mps: float | None = None
    gct_balance_left_pct: float | None = None
    rpe: float | None = None  # session perceived effort, Borg CR10 (0-10)
    sport: str | None = None  # the FIT sport name (or raw code), for rules with `sports`
    feel: float | None = None  # how the session felt (FIT workout_feel): 0 (weak) .. 100 (strong)


@dataclass(frozen=True)
class JournalPoint:
    """One journal entry on the athlete's local calendar: pain 0-10 in an area, and a note.

    `pain` is None for a note-only entry; `area` is None when the athlete named none.
    """

    entry_id: int
    day: date
    pain: int | None = None
    area: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class History:
    """Activities with local_date <= as_of, ordered by local date then start, and journal
    entries with day <= as_of, ordered by day; later ones are refused."""

    as_of: date
    points: tuple[ActivityPoint, ...]
    journal: tuple[JournalPoint, ...] = ()
    _dates: list[date] = field(init=False, repr=False, compare=False)
    _memo: dict[str, Any] = field(init=False, repr=False, compare=False, default_factory=dict)

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.points, key=lambda p: (p.local_date, p.start_utc)))
        if any(p.local_date > self.as_of for p in ordered):
            raise ValueError(f"a History as of {self.as_of} holds a later activity")
        object.__setattr__(self, "points", ordered)
        object.__setattr__(self, "_dates", [p.local_date for p in ordered])
        entries = tuple(sorted(self.journal, key=lambda e: (e.day, e.entry_id)))
        if any(e.day > self.as_of for e in entries):
            raise ValueError(f"a History as of {self.as_of} holds a later journal entry")
        object.__setattr__(self, "journal", entries)

    def memo(self, key: str, compute: Callable[[History], T]) -> T:
        """compute(self), once per history: several metrics share one trend fit."""
        if key not in self._memo:
            self._memo[key] = compute(self)
        return self._memo[key]  # type: ignore[no-any-return]

    @property
    def first_date(self) -> date | None:
        return self._dates[0] if self._dates else None

    @property
    def days_of_history(self) -> int:
        """Local days from the first activity's day to as_of, both included (0 when empty)."""
        return 0 if self.first_date is None else (self.as_of - self.first_date).days + 1

    @cached_property
    def daily(self) -> DailySeries | None:
        """The daily load series, built once per history and shared by every load metric."""
        from metrics.daily import daily_series  # metrics.daily builds on this module

        return daily_series(self)

    @cached_property
    def runs(self) -> tuple[ActivityPoint, ...]:
        return tuple(p for p in self.points if p.is_run)

    def between(self, first: date, last: date) -> list[ActivityPoint]:
        """Activities whose local day lies in first..last, both included."""
        return list(self.points[bisect_left(self._dates, first):bisect_right(self._dates, last)])

    def counting_as_runs(self, sports: Iterable[str]) -> History:
        """The same history where activities of these sports, and only those, are the runs."""
        wanted = set(sports)
        return History(self.as_of, tuple(replace(p, is_run=p.sport in wanted)
                                         for p in self.points), self.journal)

    def up_to(self, day: date) -> History:
        """The history as an evaluation on `day` saw it: activities and journal entries of
        later days left out (`day` at most as_of)."""
        if day > self.as_of:
            raise ValueError(f"a History as of {self.as_of} cannot say what {day} holds")
        return History(day, tuple(p for p in self.points if p.local_date <= day),
                       tuple(e for e in self.journal if e.day <= day))

    def journal_between(self, first: date, last: date) -> list[JournalPoint]:
        """Journal entries whose day lies in first..last, both included."""
        return [e for e in self.journal if first <= e.day <= last]

    def runs_between(self, first: date, last: date) -> list[ActivityPoint]:
        return [p for p in self.between(first, last) if p.is_run]

    def days_back(self, days: int) -> date:
        """The first day of a window of `days` days ending on as_of (D-(days-1))."""
        return self.as_of - timedelta(days=days - 1)

    @property
    def newest_start_utc(self) -> datetime | None:
        return max((p.start_utc for p in self.points), default=None)

    @property
    def newest_data_utc(self) -> datetime | None:
        """When the newest data was recorded: the latest activity's start, or the end of the
        latest journal entry's day (00:00 UTC after it: a daily entry has no hour), whichever
        is later. What an alert on journal entries is "about" when deciding if it is stale."""
        newest_entry = max((e.day for e in self.journal), default=None)
        entry_utc = (None if newest_entry is None else
                     datetime.combine(newest_entry + timedelta(days=1), time.min, tzinfo=UTC))
        return max((t for t in (self.newest_start_utc, entry_utc) if t is not None),
                   default=None)


def local_date_of(start_utc: datetime, timezone_name: str) -> date:
    """A run at 23:30 local belongs to that local day, whatever UTC says."""
    return start_utc.astimezone(ZoneInfo(timezone_name)).date()


# the columns a metric reads, in ActivityPoint's order after the first four
_POINT_COLUMNS = (
    Activity.is_strength, Activity.timer_s, Activity.steady_cadence_spm,
    Activity.steady_speed_mps, Activity.cadence_first_fifth_spm, Activity.cadence_last_fifth_spm,
    Activity.speed_first_fifth_mps, Activity.speed_last_fifth_mps,
    Activity.gct_balance_left_pct, Activity.rpe, Activity.sport, Activity.feel,
)


def points_from_rows(rows: Iterable[Sequence[Any]], timezone_name: str,
                     as_of: date) -> tuple[ActivityPoint, ...]:
    """Rows of (id, start_utc, distance_m, is_run, *_POINT_COLUMNS) as points on the local
    calendar; activities after as_of are left out (what `--as-of` means)."""
    zone = ZoneInfo(timezone_name)
    points = []
    for (activity_id, start_utc, distance_m, is_run, is_strength, timer_s, *form) in rows:
        local_day = start_utc.astimezone(zone).date()
        if local_day > as_of:
            continue
        points.append(ActivityPoint(
            activity_id, local_day, start_utc, (distance_m or 0.0) / 1000.0, bool(is_run),
            bool(is_strength), (timer_s or 0.0) / 60.0, *form))
    return tuple(points)


def load_history(session: Session, athlete_id: str, timezone_name: str, as_of: date, *,
                 journal_until: date | None = None) -> History:
    """Two indexed queries of plain columns, no ORM objects per row: activities (athlete,
    start) and journal entries (athlete, day) up to as_of.

    The journal reaches JOURNAL_LOOKBACK_DAYS back from `journal_until` (default as_of): a
    caller that cuts the history back to an earlier day (`History.up_to`) passes that day.
    """
    journal_from = min(journal_until or as_of, as_of) - timedelta(days=JOURNAL_LOOKBACK_DAYS)
    # one day of slack on each side of UTC, then the exact cut on the local date
    cutoff_utc = datetime.combine(as_of + timedelta(days=2), datetime.min.time(), tzinfo=UTC)
    rows = session.execute(
        select(Activity.id, Activity.start_utc, Activity.distance_m, Activity.is_run,
               *_POINT_COLUMNS)
        .where(Activity.athlete_id == athlete_id, Activity.start_utc < cutoff_utc)
        .order_by(Activity.start_utc, Activity.id)
    ).all()
    entries = session.execute(
        select(JournalEntry.id, JournalEntry.day, JournalEntry.pain, JournalEntry.area,
               JournalEntry.note)
        # the journal metrics look a week back; explain and alert charts six weeks before that
        .where(JournalEntry.athlete_id == athlete_id, JournalEntry.day <= as_of,
               JournalEntry.day > journal_from)
        .order_by(JournalEntry.day, JournalEntry.id)
    ).all()
    return History(as_of=as_of, points=points_from_rows(rows, timezone_name, as_of),
                   journal=tuple(JournalPoint(*entry) for entry in entries))
