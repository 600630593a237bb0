"""Cadence trend (speed-adjusted Theil–Sen with its CI) and within-run drift on known histories."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from scipy.stats import theilslopes

from metrics import compute_all
from metrics.form import (
    POPULATION_SLOPE_SPM_PER_MPS,
    cadence_speed_slope,
    cadence_trend,
)
from metrics.history import ActivityPoint, History

AS_OF = date(2026, 11, 22)  # a Sunday
RUN_WEEKDAYS = (0, 1, 3, 5, 6)  # Mon, Tue, Thu, Sat, Sun
WORKOUT_SPEED_MPS = {0: 2.9, 1: 3.3, 3: 3.7, 5: 3.0, 6: 2.8}  # easy, steady, tempo, easy, long


def run_days(weeks: int) -> list[date]:
    """Five run days a week for `weeks` weeks ending on AS_OF, oldest first."""
    first_monday = AS_OF - timedelta(days=7 * weeks - 1)
    return [first_monday + timedelta(days=7 * w + d) for w in range(weeks) for d in RUN_WEEKDAYS]


def make_history(days: list[date], cadence_of: Callable[[date, float], float],
                 speed_of: Callable[[date], float], *, noise_spm: float = 1.0,
                 seed: int = 7) -> History:
    rng = np.random.default_rng(seed)
    points = []
    for index, day in enumerate(days):
        speed = speed_of(day)
        cadence = cadence_of(day, speed) + rng.normal(0.0, noise_spm)
        points.append(ActivityPoint(
            index + 1, day, datetime(day.year, day.month, day.day, 7, tzinfo=UTC),
            speed * 3.6 * 0.75, True, moving_min=45.0, steady_cadence_spm=cadence,
            steady_speed_mps=speed))
    return History(AS_OF, tuple(points))


def weeks_since_start(day: date, start: date) -> float:
    return (day - start).days / 7.0


def test_cadence_falling_16_spm_over_six_weeks_at_constant_pace() -> None:
    days = run_days(6)
    start, end = days[0], days[-1]
    span_days = (end - start).days
    history = make_history(days, lambda d, _v: 176.0 - 16.0 * (d - start).days / span_days,
                           lambda _d: 3.0)
    trend = cadence_trend(history)
    assert trend is not None
    expected_per_week = -16.0 / (span_days / 7.0)
    assert expected_per_week == pytest.approx(-2.7, abs=0.05)
    assert trend.spm_per_week == pytest.approx(expected_per_week, abs=0.3)
    assert trend.high_spm_per_week < 0
    metrics = compute_all(history)
    assert metrics["cadence_trend_spm_per_week"].value == pytest.approx(-2.7, abs=0.3)
    assert metrics["cadence_change_spm_8w"].value == pytest.approx(8 * trend.spm_per_week, abs=0.1)
    assert metrics["cadence_change_spm_8w_high"].value < 0
    assert metrics["cadence_change_spm_8w_low"].value < metrics["cadence_change_spm_8w"].value
    assert metrics["cadence_change_spm_8w"].detail["cadence_speed_slope_from"].startswith(
        "population")  # one pace: the runner's own slope cannot be fitted


def test_constant_cadence_with_pace_changing_has_a_ci_containing_zero() -> None:
    days = run_days(8)
    start = days[0]
    history = make_history(
        days, lambda _d, _v: 170.0,
        lambda d: WORKOUT_SPEED_MPS[d.weekday()] - 0.06 * weeks_since_start(d, start))
    trend = cadence_trend(history)
    assert trend is not None
    assert trend.low_spm_per_week <= 0 <= trend.high_spm_per_week


def test_a_cadence_fall_explained_by_slower_running_is_adjusted_away() -> None:
    # cadence = 140 + 9 spm per m/s; the runner slows by 0.5 m/s over eight weeks, so raw
    # cadence falls ~4.5 spm, but at any one speed it does not change at all
    days = run_days(8)
    start = days[0]
    history = make_history(
        days, lambda _d, v: 140.0 + 9.0 * v,
        lambda d: WORKOUT_SPEED_MPS[d.weekday()] - 0.5 * weeks_since_start(d, start) / 8)
    raw = theilslopes([p.steady_cadence_spm for p in history.runs],
                      [(p.local_date - AS_OF).days / 7 for p in history.runs], alpha=0.95)
    assert raw.high_slope < 0  # unadjusted, the fall looks real
    slope = cadence_speed_slope(history)
    assert slope.source.startswith("your runs")
    assert slope.spm_per_mps == pytest.approx(9.0, abs=1.5)
    trend = cadence_trend(history)
    assert trend is not None
    assert trend.low_spm_per_week <= 0 <= trend.high_spm_per_week


def test_trend_is_null_under_ten_runs_or_four_weeks() -> None:
    few = make_history(run_days(8)[::4][:9], lambda _d, _v: 170.0, lambda _d: 3.0)
    assert len(few.runs) == 9 and cadence_trend(few) is None
    three_weeks = make_history(run_days(3), lambda _d, _v: 170.0, lambda _d: 3.0)
    assert len(three_weeks.runs) == 15 and cadence_trend(three_weeks) is None
    assert compute_all(three_weeks)["cadence_change_spm_8w"].value is None


def test_population_slope_without_pace_variety() -> None:
    history = make_history(run_days(8), lambda _d, _v: 170.0, lambda _d: 3.0)
    assert cadence_speed_slope(history).spm_per_mps == POPULATION_SLOPE_SPM_PER_MPS


def long_run(activity_id: int, days_before: int, first: tuple[float, float],
             last: tuple[float, float], minutes: float = 75.0) -> ActivityPoint:
    day = AS_OF - timedelta(days=days_before)
    return ActivityPoint(activity_id, day, datetime(day.year, day.month, day.day, 8, tzinfo=UTC),
                         15.0, True, moving_min=minutes, steady_cadence_spm=168.0,
                         steady_speed_mps=3.0, cadence_first_fifth_spm=first[0],
                         speed_first_fifth_mps=first[1], cadence_last_fifth_spm=last[0],
                         speed_last_fifth_mps=last[1])


def test_cadence_drift_at_matched_speed_median_of_the_last_three_long_runs() -> None:
    runs = (
        long_run(1, 20, (170.0, 3.0), (163.2, 3.0)),  # -4.0 %
        long_run(2, 13, (170.0, 3.0), (163.2, 2.8)),  # slower at the end: 163.2 + 5.6 × 0.2
        long_run(3, 6, (170.0, 3.0), (166.6, 3.0)),  # -2.0 %
        long_run(4, 2, (170.0, 3.0), (150.0, 3.0), minutes=40.0),  # not a long run
    )
    result = compute_all(History(AS_OF, runs))["cadence_drift_pct"]
    assert result.value == pytest.approx((163.2 + 5.6 * 0.2) / 170 * 100 - 100, abs=0.01)
    assert result.value == pytest.approx(-3.34, abs=0.01)
    assert set(result.activity_ids) == {1, 2, 3}
    assert compute_all(History(AS_OF, runs[1:]))["cadence_drift_pct"].value is None
