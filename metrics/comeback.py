"""The return after a break: how long the athlete went without running before the latest run,
and how the load since coming back compares with the weeks before the break
(research/science-addendum.md §1; the thresholds there are coaching heuristics, grade C).

Terms, on the athlete's local calendar as of D:
- a break: 14 or more days without a run between two run days;
- the first day back, R: the run day ending the latest break that began no more than four
  weeks before D (R in D-27..D); P: the run day before the break;
- the weeks before: P-27..P, the 28 days ending on the last run before the break, which
  must hold at least 4 runs for there to be an old load to compare with.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import cached_property
from statistics import median

from metrics.history import ActivityPoint, History
from metrics.result import NO_DATA, MetricResult

BREAK_MIN_DAYS = 14
PRE_BREAK_DAYS = 28
PRE_BREAK_MIN_RUNS = 4
RETURN_DAYS = 28  # the return is judged for four weeks from the first day back
FIRST_WEEK_DAYS = 7


def _run_days(history: History) -> list[date]:
    return sorted({run.local_date for run in history.runs})


def _longest_on(history: History, day: date) -> ActivityPoint:
    return max(history.runs_between(day, day), key=lambda run: run.distance_km)


@dataclass(frozen=True)
class Comeback:
    """A return after a break, with the weeks before it, as seen on `as_of`."""

    as_of: date
    last_before: date  # P: the last run day before the break
    first_day: date  # R: the first run day after it
    first_run: ActivityPoint  # the longest run of the first day back
    before: tuple[ActivityPoint, ...]  # the runs of P-27..P
    since: tuple[ActivityPoint, ...]  # the runs of R..as_of

    @property
    def days_off(self) -> int:
        return (self.first_day - self.last_before).days - 1

    @property
    def day_number(self) -> int:
        """1 on the first day back, 7 at the end of its first week."""
        return (self.as_of - self.first_day).days + 1

    @cached_property
    def typical_run_km(self) -> float:
        return float(median(run.distance_km for run in self.before))

    @cached_property
    def longest_run_km(self) -> float:
        return max(run.distance_km for run in self.before)

    @cached_property
    def old_week_km(self) -> float:
        """The weekly average of the four weeks before the break: Σ km of P-27..P ÷ 4."""
        return sum(run.distance_km for run in self.before) / (PRE_BREAK_DAYS / 7)

    @property
    def first_run_ratio(self) -> float:
        return self.first_run.distance_km / self.typical_run_km

    @property
    def weekly_ratio(self) -> float | None:
        """The weekly average since R over the old weekly average; None in the first six days,
        before a whole week has passed."""
        if self.day_number < FIRST_WEEK_DAYS:
            return None
        since_km = sum(run.distance_km for run in self.since)
        return since_km / (self.day_number / 7.0) / self.old_week_km

    def detail(self) -> dict[str, object]:
        weekly = self.weekly_ratio
        return {
            "days_off": self.days_off,
            "break_first_day": (self.last_before + timedelta(days=1)).isoformat(),
            "first_run_date": self.first_day.isoformat(),
            "first_run_km": round(self.first_run.distance_km, 2),
            "first_run_activity_id": self.first_run.activity_id,
            "typical_run_km": round(self.typical_run_km, 2),
            "longest_run_km": round(self.longest_run_km, 2),
            "first_run_vs_typical": round(self.first_run_ratio, 3),
            "first_run_vs_longest": round(self.first_run.distance_km / self.longest_run_km, 3),
            "pre_break_runs": len(self.before),
            "pre_break_first_day": (self.last_before - timedelta(days=PRE_BREAK_DAYS - 1))
            .isoformat(),
            "pre_break_last_day": self.last_before.isoformat(),
            "old_week_km": round(self.old_week_km, 1),
            "half_old_week_km": round(self.old_week_km / 2, 1),
            "day_number": self.day_number,
            "since_return_km": round(sum(run.distance_km for run in self.since), 2),
            "weekly_ratio": None if weekly is None else round(weekly, 3),
        }


def find_comeback(history: History) -> Comeback | None:
    """The latest return after a break of ≥ 14 days whose first day lies in D-27..D and whose
    four weeks before the break hold ≥ 4 runs; None otherwise."""
    days = _run_days(history)
    earliest = history.as_of - timedelta(days=RETURN_DAYS - 1)
    for index in range(len(days) - 1, 0, -1):
        first_day, last_before = days[index], days[index - 1]
        if first_day < earliest:
            return None
        if (first_day - last_before).days - 1 < BREAK_MIN_DAYS:
            continue
        before = history.runs_between(last_before - timedelta(days=PRE_BREAK_DAYS - 1),
                                      last_before)
        if len(before) < PRE_BREAK_MIN_RUNS or median(r.distance_km for r in before) <= 0:
            return None  # no habit to compare with: the latest break decides
        return Comeback(history.as_of, last_before, first_day, _longest_on(history, first_day),
                        tuple(before), tuple(history.runs_between(first_day, history.as_of)))
    return None


def _comeback(history: History) -> Comeback | None:
    return history.memo("comeback", find_comeback)


def days_off_before_last_run(history: History) -> MetricResult:
    """Days without a run between the latest run day L ≤ D and the run day before it, P:
    (L − P) − 1 (0 after a run the day before). Null without two run days: the start of the
    record is not a break.

    Addendum §1: from 14 days the return needs care (grade C). When L ends a break (≥ 14
    days) with a habit before it (≥ 4 runs in its 28 days), the detail also holds the
    comparison `return_ratio` makes (the first run against the runs before the break).
    """
    days = _run_days(history)
    if len(days) < 2:
        return NO_DATA
    last, previous = days[-1], days[-2]
    run = _longest_on(history, last)
    detail: dict[str, object] = {"last_run_date": last.isoformat(),
                                 "previous_run_date": previous.isoformat(),
                                 "last_run_km": round(run.distance_km, 2)}
    comeback = _comeback(history)
    if comeback is not None and comeback.first_day == last:
        detail.update(comeback.detail())
    return MetricResult(float((last - previous).days - 1), (run.activity_id,), detail)


def return_ratio(history: History) -> MetricResult:
    """The return after a break (≥ 14 days without a run) against the four weeks before it,
    for the four weeks from the first day back R (null otherwise, or with < 4 runs before):

    - days 1-6 (R..R+5): the first run back ÷ the median run of P-27..P (the "typical run");
    - from day 7 (R+6) on: the weekly average since R, Σ km R..D ÷ ((D − R + 1) / 7),
      ÷ the old weekly average, Σ km P-27..P ÷ 4.

    Addendum §1 (coaching heuristics, grade C; no trial of returning runners exists): a first
    run ≥ 0.8 × the typical run (≥ 0.6 × after 28 days off) starts "near the old load"; at
    day 7 a weekly ratio over 0.6 (0.5 after 28 days off) is a fast rebuild; "time off ≈ time
    to rebuild", from about half the old volume. Both ratios are in the detail.
    """
    comeback = _comeback(history)
    if comeback is None:
        return NO_DATA
    weekly = comeback.weekly_ratio
    value = comeback.first_run_ratio if weekly is None else weekly
    ids = ((comeback.first_run.activity_id,) if weekly is None
           else tuple(run.activity_id for run in comeback.since))
    return MetricResult(round(value, 3), ids,
                        {**comeback.detail(), "phase": "first_run" if weekly is None else "weekly"})


def return_first_run_ratio(history: History) -> MetricResult:
    """The first run back ÷ the median run of the four weeks before the break, on days 1-6
    after a break of ≥ 14 days (R..R+5); null otherwise, and from day 7 on, when return_ratio
    turns to the weekly load: a rule about the first day back cannot fire a week later.

    Addendum §1 (grade C): ≥ 0.8 × the typical run (≥ 0.6 × after 28 days off) is "near the old
    load"."""
    comeback = _comeback(history)
    if comeback is None or comeback.weekly_ratio is not None:
        return NO_DATA
    return MetricResult(round(comeback.first_run_ratio, 3), (comeback.first_run.activity_id,),
                        {**comeback.detail(), "phase": "first_run"})
