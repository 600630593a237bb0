"""Metric values worked by hand on small histories: empty history, a single run, rest weeks,
zero denominators, local midnight, DST weeks and --as-of in the past."""

from __future__ import annotations

import math
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from metrics import CATALOGUE, MetricResult, compute_all, load_history
from metrics.daily import ewma
from metrics.history import ActivityPoint, History, local_date_of, points_from_rows
from metrics.load import (
    acwr_ewma,
    acwr_uncoupled,
    atl,
    consecutive_run_days,
    ctl,
    days_since_strength,
    distance_7d_km,
    distance_change_7d_pct,
    distance_prev_7d_km,
    longest_run_km,
    longest_run_ratio_30d,
    monotony_7d,
    rest_days_7d,
    strain_7d,
    strength_sessions_7d,
    strength_sessions_14d,
    tsb,
)
from store import Activity, Athlete, SourceFile, Store

AS_OF = date(2026, 11, 21)


def run(days_before: int, km: float, activity_id: int = 0, *, minutes: float = 0.0,
        rpe: float | None = None) -> ActivityPoint:
    day = AS_OF - timedelta(days=days_before)
    return ActivityPoint(activity_id or 1000 + days_before, day,
                         datetime(day.year, day.month, day.day, 7, tzinfo=UTC), km, True,
                         moving_min=minutes or km * 6.0, steady_cadence_spm=170.0, rpe=rpe)


def strength(days_before: int) -> ActivityPoint:
    day = AS_OF - timedelta(days=days_before)
    return ActivityPoint(2000 + days_before, day,
                         datetime(day.year, day.month, day.day, 18, tzinfo=UTC), 0.0, False,
                         is_strength=True, moving_min=40.0)


def history(*points: ActivityPoint) -> History:
    return History(AS_OF, points)


def daily_runs(km_by_days_before: dict[int, float]) -> History:
    return history(*(run(d, km) for d, km in km_by_days_before.items() if km > 0))


def test_empty_history_gives_null_everywhere() -> None:
    values = {name: result.value for name, result in compute_all(history()).items()}
    assert set(values) == set(CATALOGUE)
    assert set(values.values()) == {None}


def test_a_single_run_today() -> None:
    values = {name: result.value for name, result in compute_all(history(run(0, 8))).items()}
    assert values["distance_7d_km"] == 8 and values["longest_run_km"] == 8
    assert values["consecutive_run_days"] == 1 and values["cadence_spm"] == 170
    assert values["strength_sessions_7d"] == 0
    for name in ("distance_prev_7d_km", "distance_change_7d_pct", "longest_run_ratio_30d",
                 "acwr_uncoupled", "acwr_ewma", "monotony_7d", "strain_7d", "ctl", "atl",
                 "tsb", "rest_days_7d", "cadence_trend_spm_per_week", "days_since_strength"):
        assert values[name] is None, name


def test_weekly_sums_and_progression() -> None:
    # this week (D-6..D): 5 + 7 + 12 = 24 km; previous week (D-13..D-7): 6 + 6 + 8 = 20 km
    h = history(run(0, 12), run(3, 7), run(6, 5), run(7, 8), run(10, 6), run(13, 6), run(14, 50))
    assert distance_7d_km(h).value == 24
    assert distance_prev_7d_km(h).value == 20
    assert distance_change_7d_pct(h).value == pytest.approx(20.0)
    assert longest_run_km(h).value == 12


def test_progression_is_null_below_10_km_previous_week_and_after_a_rest_week() -> None:
    h = history(run(0, 12), run(8, 9.9))
    assert distance_prev_7d_km(h).value == pytest.approx(9.9)
    assert distance_change_7d_pct(h).value is None
    rest_week = history(run(0, 12), run(20, 10))  # nothing in D-13..D-7: a zero denominator
    assert distance_prev_7d_km(rest_week).value == 0
    assert distance_change_7d_pct(rest_week).value is None


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
    # D-3: 11 km vs 10 km before (1.1); D: 9 km vs 11 km (0.82); same-day runs don't count;
    # the strength session 40 days ago puts both runs' months on record
    h = history(run(3, 11, 1), run(3, 2, 2), run(0, 9, 3), run(10, 10, 4), strength(40))
    assert longest_run_ratio_30d(h).value == pytest.approx(1.1)


def test_spike_ratio_is_null_without_an_earlier_run() -> None:
    assert longest_run_ratio_30d(history(run(0, 10), run(40, 5))).value is None


def test_spike_ratio_waits_until_a_runs_month_is_on_record() -> None:
    # a new user's first days: 5, 6 and 10 km; the month before the 10 km run is not recorded
    first_days = (run(4, 5), run(2, 6), run(0, 10))
    assert longest_run_ratio_30d(history(*first_days)).value is None
    # on record from D-30 on: the 10 km run counts; the 6 km run's month (from D-32) does not
    found = longest_run_ratio_30d(history(*first_days, strength(30)))
    assert found.value == pytest.approx(10 / 6, abs=1e-3) and found.activity_ids == (1000,)


def test_acwr_uncoupled_by_hand() -> None:
    # chronic D-27..D-7: 9 runs of 10 km = 90 km = 30 km a week; acute D-6..D: 45 km -> 1.5
    chronic = {d: 10.0 for d in (27, 24, 21, 20, 17, 14, 13, 10, 7)}
    h = daily_runs(chronic | {6: 15.0, 3: 15.0, 0: 15.0})
    assert acwr_uncoupled(h).value == pytest.approx(1.5)
    assert acwr_uncoupled(h).detail == {"acute_7d": 45.0, "chronic_per_week": 30.0}
    younger = daily_runs({26: 10.0, 0: 10.0})  # 27 days of history: warming up
    assert acwr_uncoupled(younger).value is None and acwr_ewma(younger).value is None
    no_chronic = history(strength(30), run(2, 10), run(0, 10))  # zero denominator: blank
    assert acwr_uncoupled(no_chronic).value is None
    assert acwr_ewma(no_chronic).value is not None  # its chronic EWMA includes this week
    no_running = history(strength(30), strength(0))
    assert acwr_uncoupled(no_running).value is None and acwr_ewma(no_running).value is None


def test_ewma_steps_once_a_day_from_zero() -> None:
    assert ewma(np.array([10.0, 0.0, 4.0]), 0.25).tolist() == pytest.approx([2.5, 1.875, 2.40625])


def test_acwr_ewma_by_hand_on_a_constant_load() -> None:
    # 5 km every day for 28 days: EWMA_n = 5 (1 - (1 - λ)^n), so the 5 km cancel
    h = daily_runs({d: 5.0 for d in range(28)})
    expected = (1 - 0.75 ** 28) / (1 - (27 / 29) ** 28)
    assert acwr_ewma(h).value == pytest.approx(expected, abs=1e-3)
    assert expected == pytest.approx(1.156, abs=1e-3)


def test_monotony_and_strain_by_hand() -> None:
    alternate = daily_runs({6: 10.0, 4: 10.0, 2: 10.0, 0: 10.0})  # 10,0,10,0,10,0,10
    mean = 40 / 7
    sd = math.sqrt(4 * (10 - mean) ** 2 / 7 + 3 * mean ** 2 / 7)
    assert monotony_7d(alternate).value == pytest.approx(mean / sd, abs=1e-3)
    assert monotony_7d(alternate).value == pytest.approx(1.155, abs=1e-3)
    assert strain_7d(alternate).value == pytest.approx(40 * mean / sd, abs=1e-2)
    same_every_day = daily_runs({d: 5.0 for d in range(7)})  # SD 0: the cap
    assert monotony_7d(same_every_day).value == 10
    assert strain_7d(same_every_day).value == 350
    rest_week = daily_runs({9: 10.0})  # a week of history, no load in it
    assert monotony_7d(rest_week).value is None and strain_7d(rest_week).value is None
    assert monotony_7d(daily_runs({5: 10.0, 0: 10.0})).value is None  # six days of history


def test_ctl_atl_tsb_by_hand_on_a_constant_load() -> None:
    # 10 km every day for 42 days: x_n = 10 (1 - e^(-n/N)) with k = 1 - e^(-1/N)
    h = daily_runs({d: 10.0 for d in range(42)})
    assert ctl(h).value == pytest.approx(10 * (1 - math.exp(-1)), abs=1e-3)
    assert atl(h).value == pytest.approx(10 * (1 - math.exp(-6)), abs=1e-3)
    assert tsb(h).value == pytest.approx(10 * (math.exp(-6) - math.exp(-1)), abs=2e-3)
    younger = daily_runs({d: 10.0 for d in range(41)})
    assert ctl(younger).value is None and tsb(younger).value is None
    assert atl(younger).value is not None


def test_load_can_be_moving_time_or_session_rpe() -> None:
    chronic = {d: 10.0 for d in (27, 24, 21, 20, 17, 14, 13, 10, 7)}
    by_time = history(*(run(d, km, minutes=60.0, rpe=4) for d, km in chronic.items()),
                      run(0, 20.0, minutes=90.0, rpe=6))
    # minutes: 90 / (540 / 3) = 0.5; session-RPE: 540 AU / (2160 / 3) = 0.75
    assert acwr_uncoupled(by_time, "time").value == pytest.approx(0.5)
    assert acwr_uncoupled(by_time, "srpe").value == pytest.approx(0.75)
    assert acwr_uncoupled(by_time).value == pytest.approx(20 / 30, abs=1e-3)
    missing_rpe = history(*by_time.points, run(1, 5.0, minutes=30.0))
    assert acwr_uncoupled(missing_rpe, "srpe").value is None  # unknown load, not zero
    assert acwr_uncoupled(missing_rpe, "time").value is not None


def test_streaks_and_rest_days() -> None:
    h = history(run(0, 5), run(1, 5), run(2, 5), run(4, 5), run(8, 5))
    assert consecutive_run_days(h).value == 3
    assert rest_days_7d(h).value == 3  # D-3, D-5, D-6
    assert consecutive_run_days(history(run(1, 5), run(8, 5))).value == 0
    assert consecutive_run_days(daily_runs({d: 5.0 for d in range(9)})).value == 9
    assert rest_days_7d(history(run(0, 5))).value is None


def test_strength_counts_and_days_since() -> None:
    h = history(run(0, 5), strength(2), strength(5), strength(9))
    assert strength_sessions_7d(h).value == 2
    assert strength_sessions_14d(h).value == 3
    assert days_since_strength(h).value == 2
    assert days_since_strength(history(run(0, 5))).value is None
    assert strength_sessions_7d(history(run(0, 5))).value == 0


def test_bands_name_where_a_value_falls() -> None:
    assert CATALOGUE["longest_run_ratio_30d"].band(1.1).startswith("within 10 %")
    assert CATALOGUE["longest_run_ratio_30d"].band(2.01).startswith("big spike")
    assert CATALOGUE["monotony_7d"].band(2.5).startswith("very monotonous")
    assert CATALOGUE["gct_balance_left_pct"].band(50.0).startswith("good")
    assert CATALOGUE["gct_balance_left_pct"].band(53.0).startswith("poor")
    assert CATALOGUE["distance_7d_km"].band(30.0) == ""
    assert CATALOGUE["monotony_7d"].band(None) == ""


def test_every_catalogue_entry_computes_its_own_metric() -> None:
    """Each name's function is found (the catalogue names them lazily) and answers for a run."""
    week = daily_runs({0: 10.0, 2: 6.0, 4: 8.0, 9: 7.0, 16: 5.0, 23: 9.0, 30: 6.0})
    for name, spec in CATALOGUE.items():
        result = spec.value(week, "distance")
        assert isinstance(result, MetricResult), name
    assert CATALOGUE["distance_7d_km"].value(week).value == pytest.approx(24.0)
    strain_km, strain_min = (CATALOGUE["strain_7d"].value(week, load).value
                             for load in ("distance", "time"))
    assert strain_km and strain_min and strain_min > strain_km  # minutes, not km


def test_the_catalogue_loads_without_the_maths() -> None:
    """`check-config` validates rules against the catalogue: that must not import numpy/scipy,
    nor the database layer (they load with the first computed value)."""
    probe = ("import sys, metrics; metrics.CATALOGUE['ctl'].band(1.0); "
             "print(sorted({'numpy', 'scipy', 'sqlalchemy'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True, cwd=Path(__file__).resolve().parents[1])
    assert result.stdout.strip() == "[]"


# --- the local calendar ---------------------------------------------------------------------


def _row(activity_id: int, start_utc: datetime, km: float) -> tuple[object, ...]:
    return (activity_id, start_utc, km * 1000, True, False, km * 360, *([None] * 8), "running")


def test_a_run_at_2330_local_belongs_to_that_local_day() -> None:
    late_run_utc = datetime(2026, 11, 21, 22, 30, tzinfo=UTC)  # 23:30 in Berlin (UTC+1)
    assert local_date_of(late_run_utc, "Europe/Berlin") == date(2026, 11, 21)
    assert local_date_of(late_run_utc, "Asia/Tokyo") == date(2026, 11, 22)


def test_a_run_after_local_midnight_counts_on_the_next_local_day() -> None:
    # 00:30 in Berlin on D+1 is 23:30 UTC on D: not in a history as of D
    rows = [_row(1, datetime(2026, 11, 21, 22, 30, tzinfo=UTC), 10),
            _row(2, datetime(2026, 11, 21, 23, 30, tzinfo=UTC), 7)]
    berlin = History(AS_OF, points_from_rows(rows, "Europe/Berlin", AS_OF))
    assert [p.activity_id for p in berlin.points] == [1]
    assert distance_7d_km(berlin).value == 10
    in_utc = History(AS_OF, points_from_rows(rows, "UTC", AS_OF))
    assert distance_7d_km(in_utc).value == 17


@pytest.mark.parametrize("as_of", [date(2026, 3, 29), date(2026, 10, 25)],
                         ids=["spring-forward", "fall-back"])
def test_a_dst_week_has_seven_local_days(as_of: date) -> None:
    # a run at 07:00 Berlin time every day of the week ending on the day the clocks change,
    # plus one at 00:30 local on that day: seven run days, no rest day, eight runs
    rows = []
    for days_before in range(7):
        day = as_of - timedelta(days=days_before)
        start_local = datetime(day.year, day.month, day.day, 7)
        rows.append(_row(days_before + 1, _berlin_to_utc(start_local), 5))
    rows.append(_row(99, _berlin_to_utc(datetime(as_of.year, as_of.month, as_of.day, 0, 30)), 3))
    rows.append(_row(100, _berlin_to_utc(datetime(as_of.year, as_of.month, as_of.day) -
                                         timedelta(days=6, hours=1)), 9))  # D-7 at 23:00
    h = History(as_of, points_from_rows(rows, "Europe/Berlin", as_of))
    assert distance_7d_km(h).value == 38
    assert rest_days_7d(h).value == 0
    assert consecutive_run_days(h).value == 8
    assert h.daily is not None and h.daily.days == 8  # D-7 .. D


def _berlin_to_utc(local: datetime) -> datetime:
    from zoneinfo import ZoneInfo

    return local.replace(tzinfo=ZoneInfo("Europe/Berlin")).astimezone(UTC)


def test_as_of_in_the_past_ignores_later_activities(store: Store) -> None:
    with store.session() as session:
        session.add(Athlete(id="ana"))
        source = SourceFile(sha256="0" * 64, athlete_id="ana", original_name="x.fit",
                            size_bytes=1, status="ingested")
        session.add(source)
        for day, km in ((1, 8.0), (6, 10.0), (12, 30.0)):
            session.add(Activity(athlete_id="ana", source_file=source, session_index=day,
                                 sport="running", is_run=True, distance_m=km * 1000,
                                 timer_s=km * 360,
                                 start_utc=datetime(2026, 11, day, 7, tzinfo=UTC)))
    with store.session() as session:
        past = load_history(session, "ana", "UTC", date(2026, 11, 7))
        today = load_history(session, "ana", "UTC", date(2026, 11, 12))
        assert session.scalars(select(Activity.id)).all()
    assert [p.distance_km for p in past.points] == [8.0, 10.0]
    assert distance_7d_km(past).value == 18
    assert distance_7d_km(today).value == 40
