"""Metric values worked by hand on small histories, incl. empty history and local midnight."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from metrics import compute_all
from metrics.catalogue import (
    days_since_strength,
    distance_7d_km,
    distance_change_7d_pct,
    distance_prev_7d_km,
    longest_run_km,
    longest_run_ratio_30d,
    strength_sessions_7d,
)
from metrics.history import ActivityPoint, History, local_date_of

AS_OF = date(2026, 11, 21)


def run(days_before: int, km: float, activity_id: int = 0) -> ActivityPoint:
    day = AS_OF - timedelta(days=days_before)
    return ActivityPoint(activity_id or 1000 + days_before, day,
                         datetime(day.year, day.month, day.day, 7, tzinfo=UTC), km, True, False,
                         170.0, None)


def strength(days_before: int) -> ActivityPoint:
    day = AS_OF - timedelta(days=days_before)
    return ActivityPoint(2000 + days_before, day,
                         datetime(day.year, day.month, day.day, 18, tzinfo=UTC), 0.0, False,
                         True, None, None)


def history(*points: ActivityPoint) -> History:
    return History(AS_OF, tuple(sorted(points, key=lambda p: p.start_utc)))


def test_empty_history_gives_null_everywhere() -> None:
    values = {name: result.value for name, result in compute_all(history()).items()}
    assert set(values.values()) == {None}


def test_weekly_sums_and_progression() -> None:
    # this week (D-6..D): 5 + 7 + 12 = 24 km; previous week (D-13..D-7): 6 + 6 + 8 = 20 km
    h = history(run(0, 12), run(3, 7), run(6, 5), run(7, 8), run(10, 6), run(13, 6), run(14, 50))
    assert distance_7d_km(h).value == 24
    assert distance_prev_7d_km(h).value == 20
    assert distance_change_7d_pct(h).value == pytest.approx(20.0)
    assert longest_run_km(h).value == 12


def test_progression_is_null_below_10_km_previous_week() -> None:
    h = history(run(0, 12), run(8, 9.9))
    assert distance_prev_7d_km(h).value == pytest.approx(9.9)
    assert distance_change_7d_pct(h).value is None


def test_previous_week_is_null_when_history_is_younger() -> None:
    assert distance_prev_7d_km(history(run(0, 12), run(6, 5))).value is None
    assert distance_7d_km(history(run(20, 5))).value == 0


def test_single_run_spike_ratio_against_30_days_before_the_run() -> None:
    # the 16 km run today against the longest of the 30 days before (8 km); the 40 km run
    # 31 days ago is outside the window
    h = history(run(0, 16), run(7, 8), run(14, 6), run(29, 7.5), run(31, 40))
    result = longest_run_ratio_30d(h)
    assert result.value == pytest.approx(2.0)
    assert result.activity_ids == (run(0, 16).activity_id,)
    assert result.detail["longest_prior_30d_km"] == 8


def test_spike_ratio_takes_the_worst_run_of_the_week_and_ignores_same_day_runs() -> None:
    # D-3: 11 km vs 10 km before (1.1); D: 9 km vs 11 km (0.82); same-day runs don't count
    h = history(run(3, 11, 1), run(3, 2, 2), run(0, 9, 3), run(10, 10, 4))
    assert longest_run_ratio_30d(h).value == pytest.approx(1.1)


def test_spike_ratio_is_null_without_an_earlier_run() -> None:
    assert longest_run_ratio_30d(history(run(0, 10), run(40, 5))).value is None


def test_strength_counts_and_days_since() -> None:
    h = history(run(0, 5), strength(2), strength(5), strength(9))
    assert strength_sessions_7d(h).value == 2
    assert days_since_strength(h).value == 2
    assert days_since_strength(history(run(0, 5))).value is None
    assert strength_sessions_7d(history(run(0, 5))).value == 0


def test_a_run_at_2330_local_belongs_to_that_local_day() -> None:
    late_run_utc = datetime(2026, 11, 21, 22, 30, tzinfo=UTC)  # 23:30 in Berlin (UTC+1)
    assert local_date_of(late_run_utc, "Europe/Berlin") == date(2026, 11, 21)
    assert local_date_of(late_run_utc, "Asia/Tokyo") == date(2026, 11, 22)
