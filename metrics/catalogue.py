"""The metric catalogue of DESIGN §4: each a pure function of an athlete's History as of a date."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from statistics import median
from typing import Any

from metrics.history import History

PROGRESSION_MIN_PREV_KM = 10.0
SPIKE_LOOKBACK_DAYS = 30


@dataclass(frozen=True)
class MetricResult:
    """A metric's value (None where the data cannot say), the activities behind it, and details."""

    value: float | None
    activity_ids: tuple[int, ...] = ()
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricSpec:
    name: str
    unit: str
    meaning: str
    compute: Callable[[History], MetricResult]


def _sum_km(history: History, first_day_offset: int, last_day_offset: int) -> float:
    first = history.as_of - timedelta(days=first_day_offset)
    last = history.as_of - timedelta(days=last_day_offset)
    return sum(p.distance_km for p in history.between(first, last) if p.is_run)


def distance_7d_km(history: History) -> MetricResult:
    """Running km in D-6..D. Null before the athlete's first activity."""
    if history.first_date is None:
        return MetricResult(None)
    week = [p for p in history.between(history.days_back(7), history.as_of) if p.is_run]
    return MetricResult(round(sum(p.distance_km for p in week), 3),
                        tuple(p.activity_id for p in week))


def distance_prev_7d_km(history: History) -> MetricResult:
    """Running km in D-13..D-7. Null when history starts after D-7 (the week is not covered)."""
    if history.first_date is None or history.first_date > history.as_of - timedelta(days=7):
        return MetricResult(None)
    return MetricResult(round(_sum_km(history, 13, 7), 3))


def distance_change_7d_pct(history: History) -> MetricResult:
    """Week-over-week progression (7d / prev 7d − 1) × 100; null if prev 7d < 10 km.

    Nielsen et al. 2014, JOSPT 44(10): novices progressing > 30 % over two weeks seemed more
    vulnerable to distance-related injuries; Buist et al. 2008 found the 10 % rule no help.
    """
    current = distance_7d_km(history)
    previous = distance_prev_7d_km(history).value
    if current.value is None or previous is None or previous < PROGRESSION_MIN_PREV_KM:
        return MetricResult(None)
    change_pct = (current.value / previous - 1.0) * 100.0
    return MetricResult(round(change_pct, 2), current.activity_ids,
                        {"distance_7d_km": current.value, "distance_prev_7d_km": previous})


def longest_run_km(history: History) -> MetricResult:
    """Longest single run in D-6..D; null with no run in that window."""
    week = [p for p in history.between(history.days_back(7), history.as_of) if p.is_run]
    if not week:
        return MetricResult(None)
    longest = max(week, key=lambda p: p.distance_km)
    return MetricResult(round(longest.distance_km, 3), (longest.activity_id,))


def longest_run_ratio_30d(history: History) -> MetricResult:
    """max over runs r in D-6..D of distance(r) ÷ longest single run in the 30 days before r's day.

    Frandsen et al. 2025, BJSM 59(17):1203-1210: a session > 10 % longer than the longest run of
    the past 30 days raised the injury rate (HR 1.64); > 100 % longer, HR 2.28. Null when no run
    in the window has a run in its 30 days before.
    """
    runs = history.runs
    best: MetricResult = MetricResult(None)
    for run in (r for r in runs if history.days_back(7) <= r.local_date <= history.as_of):
        window_start = run.local_date - timedelta(days=SPIKE_LOOKBACK_DAYS)
        prior = [r for r in runs if window_start <= r.local_date < run.local_date]
        reference = max(prior, key=lambda r: r.distance_km, default=None)
        if reference is None or reference.distance_km <= 0:
            continue
        ratio = run.distance_km / reference.distance_km
        if best.value is None or ratio > best.value:
            best = MetricResult(round(ratio, 3), (run.activity_id,), {
                "run_km": round(run.distance_km, 2),
                "run_date": run.local_date.isoformat(),
                "longest_prior_30d_km": round(reference.distance_km, 2),
                "longest_prior_30d_date": reference.local_date.isoformat(),
            })
    return best


def _strength_in(history: History, days: int) -> MetricResult:
    if history.first_date is None:
        return MetricResult(None)
    sessions = [p for p in history.between(history.days_back(days), history.as_of)
                if p.is_strength]
    return MetricResult(float(len(sessions)), tuple(p.activity_id for p in sessions))


def strength_sessions_7d(history: History) -> MetricResult:
    """Strength sessions in D-6..D. WHO 2020 (Bull et al., BJSM 54:1451): ≥ 2 days a week."""
    return _strength_in(history, 7)


def strength_sessions_14d(history: History) -> MetricResult:
    """Strength sessions in D-13..D (Blagrove et al. 2018, Sports Med: 2-3 a week help runners)."""
    return _strength_in(history, 14)


def days_since_strength(history: History) -> MetricResult:
    """Days from the last strength session's local day to D; null if there never was one."""
    last = max((p for p in history.points if p.is_strength), key=lambda p: p.local_date,
               default=None)
    if last is None:
        return MetricResult(None)
    return MetricResult(float((history.as_of - last.local_date).days), (last.activity_id,))


def consecutive_run_days(history: History) -> MetricResult:
    """Run days up to and including D without a day off (coaching heuristic; Foster 1998)."""
    if history.first_date is None:
        return MetricResult(None)
    run_days = {p.local_date for p in history.runs}
    streak, day = 0, history.as_of
    while day in run_days:
        streak += 1
        day -= timedelta(days=1)
    return MetricResult(float(streak))


def rest_days_7d(history: History) -> MetricResult:
    """Days with no run in D-6..D; null until the athlete has a week of history."""
    if history.first_date is None or history.first_date > history.days_back(7):
        return MetricResult(None)
    run_days = {p.local_date for p in history.between(history.days_back(7), history.as_of)
                if p.is_run}
    return MetricResult(float(7 - len(run_days)))


def cadence_spm(history: History) -> MetricResult:
    """Median steady cadence (steps/min) of runs in D-6..D; null without cadence data."""
    week = [p for p in history.between(history.days_back(7), history.as_of)
            if p.is_run and p.steady_cadence_spm]
    if not week:
        return MetricResult(None)
    return MetricResult(round(median(p.steady_cadence_spm for p in week), 1),
                        tuple(p.activity_id for p in week))


def gct_balance_left_pct(history: History) -> MetricResult:
    """Median stance-time balance (% left) of the last 5 runs that have it.

    Garmin rates balance outside 47.8-52.2 % as 'poor'; not shown to predict injury
    (Malisoux 2024), so it is a prompt for strength work, not a diagnosis.
    """
    with_balance = [p for p in history.runs if p.gct_balance_left_pct][-5:]
    if not with_balance:
        return MetricResult(None)
    return MetricResult(round(median(p.gct_balance_left_pct for p in with_balance), 2),
                        tuple(p.activity_id for p in with_balance))


CATALOGUE: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        MetricSpec("distance_7d_km", "km", "running distance in the last 7 days", distance_7d_km),
        MetricSpec("distance_prev_7d_km", "km", "running distance in the 7 days before that",
                   distance_prev_7d_km),
        MetricSpec("distance_change_7d_pct", "%", "week-over-week change in running distance",
                   distance_change_7d_pct),
        MetricSpec("longest_run_km", "km", "longest run in the last 7 days", longest_run_km),
        MetricSpec("longest_run_ratio_30d", "×",
                   "a recent run's length over the longest run of the 30 days before it",
                   longest_run_ratio_30d),
        MetricSpec("strength_sessions_7d", "sessions", "strength sessions in the last 7 days",
                   strength_sessions_7d),
        MetricSpec("strength_sessions_14d", "sessions", "strength sessions in the last 14 days",
                   strength_sessions_14d),
        MetricSpec("days_since_strength", "days", "days since the last strength session",
                   days_since_strength),
        MetricSpec("consecutive_run_days", "days", "run days in a row up to today",
                   consecutive_run_days),
        MetricSpec("rest_days_7d", "days", "days without a run in the last 7 days", rest_days_7d),
        MetricSpec("cadence_spm", "steps/min", "median steady cadence of the last 7 days",
                   cadence_spm),
        MetricSpec("gct_balance_left_pct", "% left",
                   "ground-contact time balance, median of the last 5 runs", gct_balance_left_pct),
    )
}


def compute_all(history: History) -> dict[str, MetricResult]:
    """Every catalogue metric for one athlete as of history.as_of."""
    return {name: spec.compute(history) for name, spec in CATALOGUE.items()}
