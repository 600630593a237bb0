"""Load, strength and rest metrics of DESIGN §4, each a pure function of a History.

Windows are local days: "D-6..D" is the as-of day and the six before it. Load is running
distance unless `load=` says moving time or session-RPE (DailySeries.load).
"""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np

from metrics.catalogue import LoadKind
from metrics.daily import DailySeries, ewma
from metrics.history import History
from metrics.result import NO_DATA, MetricResult, rounded

PROGRESSION_MIN_PREV_KM = 10.0
SPIKE_LOOKBACK_DAYS = 30
ACWR_MIN_DAYS = 28
ACUTE_DAYS, CHRONIC_DAYS = 7, 28
MONOTONY_DAYS = 7
MONOTONY_CAP = 10.0
CTL_DAYS, ATL_DAYS = 42, 7


# --- distance ---------------------------------------------------------------------------------


def distance_7d_km(history: History) -> MetricResult:
    """Running km in D-6..D (Σ distance of runs). Null before the athlete's first activity."""
    if history.first_date is None:
        return NO_DATA
    week = history.runs_between(history.days_back(7), history.as_of)
    return MetricResult(round(sum(p.distance_km for p in week), 3),
                        tuple(p.activity_id for p in week))


def distance_prev_7d_km(history: History) -> MetricResult:
    """Running km in D-13..D-7. Null when history starts after D-7 (the week is not covered)."""
    if history.first_date is None or history.first_date > history.as_of - timedelta(days=7):
        return NO_DATA
    week = history.runs_between(history.as_of - timedelta(days=13),
                                history.as_of - timedelta(days=7))
    return MetricResult(round(sum(p.distance_km for p in week), 3),
                        tuple(p.activity_id for p in week))


def distance_change_7d_pct(history: History) -> MetricResult:
    """Week-over-week progression (7d / prev 7d − 1) × 100; null if prev 7d < 10 km.

    Nielsen et al. 2014, JOSPT 44(10): novices progressing > 30 % over two weeks seemed more
    vulnerable to distance-related injuries; Buist et al. 2008 found the 10 % rule no help.
    """
    current = distance_7d_km(history)
    previous = distance_prev_7d_km(history).value
    if current.value is None or previous is None or previous < PROGRESSION_MIN_PREV_KM:
        return NO_DATA
    change_pct = (current.value / previous - 1.0) * 100.0
    return MetricResult(round(change_pct, 2), current.activity_ids,
                        {"distance_7d_km": current.value, "distance_prev_7d_km": previous})


def longest_run_km(history: History) -> MetricResult:
    """Longest single run in D-6..D; null with no run in that window."""
    week = history.runs_between(history.days_back(7), history.as_of)
    if not week:
        return NO_DATA
    longest = max(week, key=lambda p: p.distance_km)
    return MetricResult(round(longest.distance_km, 3), (longest.activity_id,))


def longest_run_ratio_30d(history: History) -> MetricResult:
    """max over runs r in D-6..D of distance(r) ÷ longest single run in the 30 days before r's day.

    Frandsen et al. 2025, BJSM 59(17):1203-1210: a session > 10 % longer than the longest run of
    the past 30 days raised the injury rate (HR 1.64); > 100 % longer, HR 2.28. A run whose 30
    days before reach back before the athlete's first recorded day is left out: that month is
    not on record (a new user's first month would compare a 10 km run with a 6 km one of five
    days before). Null when no run in the window has a recorded month with a run in it.
    """
    best: MetricResult = NO_DATA
    for run in history.runs_between(history.days_back(7), history.as_of):
        month_starts = run.local_date - timedelta(days=SPIKE_LOOKBACK_DAYS)
        if history.first_date is None or month_starts < history.first_date:
            continue
        prior = history.runs_between(month_starts, run.local_date - timedelta(days=1))
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


# --- acute:chronic, monotony, strain, PMC -----------------------------------------------------


def _load(history: History, load: LoadKind) -> tuple[DailySeries, np.ndarray] | None:
    series = history.daily
    return None if series is None else (series, series.load(load))


def acwr_uncoupled(history: History, load: LoadKind = "distance") -> MetricResult:
    """Acute:chronic workload ratio, uncoupled: Σ load D-6..D ÷ (Σ load D-27..D-7 / 3).

    Windt & Gabbett 2019 (BJSM 53:988): the chronic window excludes the acute week. Null under
    28 days of history or with no chronic load (blank, not ∞). A team-sport heuristic: for
    runners Frandsen 2025 found no useful dose-response, so it is reported, not alerted.
    """
    found = _load(history, load)
    if found is None or found[0].days < ACWR_MIN_DAYS:
        return NO_DATA
    daily = found[1]
    acute = float(daily[-ACUTE_DAYS:].sum())
    chronic_per_week = float(daily[-CHRONIC_DAYS:-ACUTE_DAYS].sum()) / 3.0
    if not chronic_per_week > 0:  # zero or NaN
        return NO_DATA
    return MetricResult(rounded(acute / chronic_per_week), detail={
        "acute_7d": rounded(acute), "chronic_per_week": rounded(chronic_per_week)})


def acwr_ewma(history: History, load: LoadKind = "distance") -> MetricResult:
    """EWMA acute:chronic ratio: EWMA(λ = 2/(7+1)) ÷ EWMA(λ = 2/(28+1)) of daily load on D.

    Williams et al. 2017 (BJSM 51:209); both start from 0 on the first day of history and step
    once per local day. Null under 28 days of history or with zero chronic load.
    """
    found = _load(history, load)
    if found is None or found[0].days < ACWR_MIN_DAYS:
        return NO_DATA
    daily = found[1]
    acute = float(ewma(daily, 2.0 / (ACUTE_DAYS + 1))[-1])
    chronic = float(ewma(daily, 2.0 / (CHRONIC_DAYS + 1))[-1])
    if not chronic > 0:
        return NO_DATA
    return MetricResult(rounded(acute / chronic), detail={
        "acute_ewma": rounded(acute), "chronic_ewma": rounded(chronic)})


def _week_monotony(history: History, load: LoadKind) -> tuple[float, float, float] | None:
    """(Σ load, SD, monotony) of D-6..D, unrounded; None without a week of history or load."""
    found = _load(history, load)
    if found is None or found[0].days < MONOTONY_DAYS:
        return None
    week = found[1][-MONOTONY_DAYS:]
    mean = float(week.mean())
    if not mean > 0:
        return None
    sd = float(week.std())  # population SD (ddof = 0), as Foster
    return float(week.sum()), sd, MONOTONY_CAP if sd == 0 else min(mean / sd, MONOTONY_CAP)


def monotony_7d(history: History, load: LoadKind = "distance") -> MetricResult:
    """Training monotony: mean ÷ population SD of daily load over D-6..D, capped at 10.

    Foster 1998 (Med Sci Sports Exerc 30:1164); cap as in Runalyze. A week of identical
    non-zero days gives the cap; a week without load, or under 7 days of history, gives null.
    """
    week = _week_monotony(history, load)
    if week is None:
        return NO_DATA
    total, sd, monotony = week
    return MetricResult(rounded(monotony), detail={
        "mean_daily": rounded(total / MONOTONY_DAYS), "sd_daily": rounded(sd)})


def strain_7d(history: History, load: LoadKind = "distance") -> MetricResult:
    """Training strain: Σ load D-6..D × monotony_7d (Foster 1998). Null where monotony is."""
    week = _week_monotony(history, load)
    if week is None:
        return NO_DATA
    total, _sd, monotony = week
    return MetricResult(rounded(total * monotony), detail={
        "load_7d": rounded(total), "monotony_7d": rounded(monotony)})


def pmc_series(daily_load: np.ndarray, days: int) -> np.ndarray:
    """Banister/GoldenCheetah PMC day by day: x_t = x_(t−1) + k (load_t − x_(t−1)),
    k = 1 − e^(−1/N), from 0 on the first day of history; NaN on the first N − 1 days, which
    are too few for the metric (and wherever the load is unknown)."""
    series = ewma(daily_load, 1.0 - math.exp(-1.0 / days))
    series[: days - 1] = np.nan
    return series


def _pmc(history: History, load: LoadKind, days: int) -> float | None:
    found = _load(history, load)
    if found is None:
        return None
    value = float(pmc_series(found[1], days)[-1])
    return None if math.isnan(value) else value


def ctl(history: History, load: LoadKind = "distance") -> MetricResult:
    """Chronic training load: 42-day exponentially weighted daily load, k = 1 − e^(−1/42)
    (Banister; GoldenCheetah PMCData.cpp). From 0 on the first day; null under 42 days."""
    if history.days_of_history < CTL_DAYS:
        return NO_DATA
    return MetricResult(rounded(_pmc(history, load, CTL_DAYS)))


def atl(history: History, load: LoadKind = "distance") -> MetricResult:
    """Acute training load: 7-day exponentially weighted daily load, k = 1 − e^(−1/7)
    (Banister; GoldenCheetah). Null under 7 days of history."""
    if history.days_of_history < ATL_DAYS:
        return NO_DATA
    return MetricResult(rounded(_pmc(history, load, ATL_DAYS)))


def tsb(history: History, load: LoadKind = "distance") -> MetricResult:
    """Training stress balance ("form"): ctl − atl on D (GoldenCheetah shows it for D+1).

    No threshold is universal (Runalyze #1287); intervals.icu calls −10..−30 'optimal'.
    Null under 42 days of history.
    """
    fitness, fatigue = ctl(history, load).value, atl(history, load).value
    if fitness is None or fatigue is None:
        return NO_DATA
    return MetricResult(rounded(fitness - fatigue), detail={"ctl": fitness, "atl": fatigue})


# --- streaks, rest, strength ------------------------------------------------------------------


def consecutive_run_days(history: History) -> MetricResult:
    """Local days with a run, counted back from D until a day without one (D itself included:
    0 when D has no run). Coaching heuristic; Foster's monotony is its quantitative twin."""
    series = history.daily
    if series is None:
        return NO_DATA
    rest_days = np.flatnonzero(series.run_count[::-1] == 0)
    streak = int(rest_days[0]) if rest_days.size else series.days
    return MetricResult(float(streak))


def rest_days_7d(history: History) -> MetricResult:
    """Days with no run in D-6..D; null until the athlete has a week of history."""
    series = history.daily
    if series is None or series.days < 7:
        return NO_DATA
    return MetricResult(float(int((series.run_count[-7:] == 0).sum())))


def _strength_in(history: History, days: int) -> MetricResult:
    window = history.between(history.days_back(days), history.as_of)
    if not window:  # nothing recorded at all: the watch was off, not "no strength work"
        return NO_DATA
    sessions = [p for p in window if p.is_strength]
    return MetricResult(float(len(sessions)), tuple(p.activity_id for p in sessions))


def strength_sessions_7d(history: History) -> MetricResult:
    """Strength sessions in D-6..D; null when no activity at all was recorded in the window.
    WHO 2020 (Bull et al., BJSM 54:1451): muscle strengthening on ≥ 2 days a week."""
    return _strength_in(history, 7)


def strength_sessions_14d(history: History) -> MetricResult:
    """Strength sessions in D-13..D; null when nothing was recorded in the window.
    Blagrove et al. 2018 (Sports Med 48:1117): 2-3 sessions a week help runners."""
    return _strength_in(history, 14)


def days_since_strength(history: History) -> MetricResult:
    """Days from the last strength session's local day to D; null if there never was one."""
    last = next((p for p in reversed(history.points) if p.is_strength), None)
    if last is None:
        return NO_DATA
    return MetricResult(float((history.as_of - last.local_date).days), (last.activity_id,))
