"""Running-form statistics: the runner's own cadence–speed slope, the speed-adjusted cadence trend
and the within-run cadence drift (research/science.md §3.4–3.5)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from statistics import median

import numpy as np

from metrics.history import ActivityPoint, History
from metrics.result import NO_DATA, MetricResult

# Burns, Zendler & Zernicke 2019 (J Appl Physiol 126:462): cadence rose 5.6 spm per m/s of speed
POPULATION_SLOPE_SPM_PER_MPS = 5.6
SLOPE_FIT_DAYS = 182  # the runner's own slope from about six months of runs
SLOPE_PAIR_MAX_DAYS = 7  # pairs of runs close in time, so a slow cadence trend cannot pose as speed
SLOPE_PAIR_MIN_SPEED_MPS = 0.25  # ~20 s/km apart at 5:00/km: smaller gaps only amplify noise
SLOPE_MIN_PAIRS = 10
SLOPE_RANGE_SPM_PER_MPS = (0.0, 15.0)  # cadence does not fall with speed; > 15 is noise

TREND_WEEKS = 8
TREND_DAYS = 7 * TREND_WEEKS
TREND_MIN_RUNS = 10
TREND_MIN_WEEKS = 4  # runs in at least four of the eight 7-day blocks
TREND_CONFIDENCE = 0.95

LONG_RUN_MIN_MIN = 60.0  # a long run for drift: an hour or more of moving time
DRIFT_RUNS = 3

# "the last N runs" look back eight weeks at most: a run from 2017 dropped in today says
# nothing about today's form
RECENT_RUNS_DAYS = TREND_DAYS
GCT_RUNS = 5
GCT_MIN_RUNS = 3  # a median of one or two runs is a single reading, not a pattern


@dataclass(frozen=True)
class CadenceSpeedSlope:
    """spm per m/s, and where it came from: the runner's own runs or the population value."""

    spm_per_mps: float
    source: str
    pairs: int


def _with_cadence_and_speed(runs: list[ActivityPoint]) -> list[ActivityPoint]:
    return [r for r in runs if r.steady_cadence_spm and r.steady_speed_mps]


def cadence_speed_slope(history: History) -> CadenceSpeedSlope:
    """The runner's cadence–speed slope: Theil–Sen (median of pairwise slopes; Sen 1968) over
    pairs of runs at most 7 days apart and at least 0.25 m/s apart in steady speed, from the
    last ~6 months; clamped to 0–15 spm per m/s. With fewer than 10 such pairs (every run at
    one pace) the population slope of Burns et al. 2019, 5.6 spm per m/s, is used.
    """
    runs = _with_cadence_and_speed(history.runs_between(
        history.as_of - timedelta(days=SLOPE_FIT_DAYS - 1), history.as_of))
    if len(runs) >= 2:
        day = np.array([r.local_date.toordinal() for r in runs], dtype=np.float64)
        cadence = np.array([r.steady_cadence_spm for r in runs], dtype=np.float64)
        speed = np.array([r.steady_speed_mps for r in runs], dtype=np.float64)
        first, second = np.triu_indices(len(runs), k=1)
        speed_gap = speed[second] - speed[first]
        close = ((np.abs(day[second] - day[first]) <= SLOPE_PAIR_MAX_DAYS)
                 & (np.abs(speed_gap) >= SLOPE_PAIR_MIN_SPEED_MPS))
        pairs = int(close.sum())
        if pairs >= SLOPE_MIN_PAIRS:
            slopes = (cadence[second] - cadence[first])[close] / speed_gap[close]
            low, high = SLOPE_RANGE_SPM_PER_MPS
            own = float(np.clip(np.median(slopes), low, high))
            return CadenceSpeedSlope(own, f"your runs ({pairs} pairs)", pairs)
    return CadenceSpeedSlope(POPULATION_SLOPE_SPM_PER_MPS, "population (Burns 2019)", 0)


@dataclass(frozen=True)
class CadenceTrend:
    """Theil–Sen slope of speed-adjusted cadence over eight weeks, with its 95 % CI."""

    spm_per_week: float
    low_spm_per_week: float
    high_spm_per_week: float
    runs: tuple[ActivityPoint, ...]
    reference_speed_mps: float
    slope: CadenceSpeedSlope

    def change_8w(self) -> tuple[float, float, float]:
        """The slope over the eight-week window, and its CI: spm per week × 8."""
        return (self.spm_per_week * TREND_WEEKS, self.low_spm_per_week * TREND_WEEKS,
                self.high_spm_per_week * TREND_WEEKS)


def adjusted_cadence_spm(cadence_spm: float, speed_mps: float, reference_speed_mps: float,
                         slope: CadenceSpeedSlope) -> float:
    """Cadence at the reference speed: spm − b · (speed − v_ref) (Burns 2019 speed dependence)."""
    return cadence_spm - slope.spm_per_mps * (speed_mps - reference_speed_mps)


def cadence_trend(history: History) -> CadenceTrend | None:
    """Theil–Sen slope (spm/week) of per-run steady cadence, adjusted to the window's median
    steady speed with the runner's cadence–speed slope, over the eight weeks D-55..D.

    CI: scipy.stats.theilslopes(alpha=0.95) (Sen 1968). Null with fewer than 10 runs having
    cadence and speed, or runs in fewer than 4 of the 8 weeks (research/science.md §3.4).
    """
    from scipy.stats import theilslopes  # 0.6 s to import: only where a trend is fitted

    runs = _with_cadence_and_speed(history.runs_between(
        history.days_back(TREND_DAYS), history.as_of))
    weeks_with_runs = {(history.as_of - r.local_date).days // 7 for r in runs}
    if len(runs) < TREND_MIN_RUNS or len(weeks_with_runs) < TREND_MIN_WEEKS:
        return None
    slope = history.memo("cadence_speed_slope", cadence_speed_slope)
    reference_speed_mps = median(r.steady_speed_mps for r in runs if r.steady_speed_mps)
    weeks_before = np.array([(r.local_date - history.as_of).days / 7.0 for r in runs])
    adjusted = np.array([
        adjusted_cadence_spm(r.steady_cadence_spm or 0.0, r.steady_speed_mps or 0.0,
                             reference_speed_mps, slope) for r in runs])
    fit = theilslopes(adjusted, weeks_before, alpha=TREND_CONFIDENCE)
    return CadenceTrend(float(fit.slope), float(fit.low_slope), float(fit.high_slope),
                        tuple(runs), reference_speed_mps, slope)


@dataclass(frozen=True)
class TrendPicture:
    """A cadence trend as plain series for a chart: each run's speed-adjusted cadence, the
    Theil–Sen line over the window and its 95 % interval."""

    run_days: tuple[date, ...]
    adjusted_spm: tuple[float, ...]
    fit_days: tuple[date, date]  # the window's first run and the as-of day
    fit_spm: tuple[float, float]
    low_spm: tuple[float, float]
    high_spm: tuple[float, float]


def trend_picture(trend: CadenceTrend, as_of: date) -> TrendPicture:
    """The trend's points and lines. Theil–Sen's line passes through the medians: y = ỹ +
    b · (x − x̃) (Sen 1968; scipy's intercept is median(y) − b · median(x)); the interval lines
    use the low and high slopes through the same point, so the band is narrowest mid-window."""
    days = tuple(r.local_date for r in trend.runs)
    adjusted = tuple(adjusted_cadence_spm(r.steady_cadence_spm or 0.0, r.steady_speed_mps or 0.0,
                                          trend.reference_speed_mps, trend.slope)
                     for r in trend.runs)
    weeks = [(day - as_of).days / 7.0 for day in days]
    mid_weeks, mid_spm = median(weeks), median(adjusted)
    ends = (days[0], as_of)
    end_weeks = ((ends[0] - as_of).days / 7.0, 0.0)

    def line(slope: float) -> tuple[float, float]:
        first, last = (mid_spm + slope * (w - mid_weeks) for w in end_weeks)
        return round(first, 1), round(last, 1)

    return TrendPicture(days, tuple(round(a, 1) for a in adjusted), ends,
                        line(trend.spm_per_week), line(trend.low_spm_per_week),
                        line(trend.high_spm_per_week))


def run_drift_pct(run: ActivityPoint, slope: CadenceSpeedSlope) -> float | None:
    """Last-fifth vs first-fifth steady cadence at matched speed, in %:
    (c_last − b · (v_last − v_first)) / c_first − 1 (Hanley & Mohan 2014; speed via Burns 2019).
    """
    if not (run.cadence_first_fifth_spm and run.cadence_last_fifth_spm
            and run.speed_first_fifth_mps and run.speed_last_fifth_mps):
        return None
    last_at_first_speed = adjusted_cadence_spm(run.cadence_last_fifth_spm,
                                               run.speed_last_fifth_mps,
                                               run.speed_first_fifth_mps, slope)
    return (last_at_first_speed / run.cadence_first_fifth_spm - 1.0) * 100.0


def long_run_drifts(history: History) -> list[tuple[ActivityPoint, float]]:
    """The last three long runs (≥ 60 min moving) of the eight weeks with their drift."""
    slope = history.memo("cadence_speed_slope", cadence_speed_slope)
    drifts = []
    for run in reversed(history.runs_between(history.days_back(RECENT_RUNS_DAYS),
                                             history.as_of)):
        if run.moving_min >= LONG_RUN_MIN_MIN and (drift := run_drift_pct(run, slope)) is not None:
            drifts.append((run, drift))
            if len(drifts) == DRIFT_RUNS:
                break
    return drifts


# --- the catalogue's form metrics -------------------------------------------------------------


def _trend(history: History) -> CadenceTrend | None:
    return history.memo("cadence_trend", cadence_trend)


def _trend_detail(trend: CadenceTrend) -> dict[str, object]:
    change, low, high = trend.change_8w()
    return {
        "runs": len(trend.runs), "weeks": TREND_WEEKS,
        "first_run_date": trend.runs[0].local_date.isoformat(),
        "spm_per_week": round(trend.spm_per_week, 2),
        "change_spm_8w": round(change, 1), "change_low_spm_8w": round(low, 1),
        "change_high_spm_8w": round(high, 1),
        "reference_speed_mps": round(trend.reference_speed_mps, 2),
        "cadence_speed_slope_spm_per_mps": round(trend.slope.spm_per_mps, 2),
        "cadence_speed_slope_from": trend.slope.source,
    }


def _trend_result(history: History, value_of: Callable[[CadenceTrend], float],
                  digits: int) -> MetricResult:
    trend = _trend(history)
    if trend is None:
        return NO_DATA
    return MetricResult(round(value_of(trend), digits), tuple(r.activity_id for r in trend.runs),
                        _trend_detail(trend))


def cadence_spm(history: History) -> MetricResult:
    """Median steady cadence (steps/min) of runs in D-6..D; null without cadence data."""
    week = [p for p in history.runs_between(history.days_back(7), history.as_of)
            if p.steady_cadence_spm]
    if not week:
        return NO_DATA
    return MetricResult(round(median(p.steady_cadence_spm or 0.0 for p in week), 1),
                        tuple(p.activity_id for p in week))


def cadence_trend_spm_per_week(history: History) -> MetricResult:
    """Theil–Sen slope of speed-adjusted per-run cadence over 8 weeks, spm per week
    (Sen 1968; speed adjustment after Burns 2019). Null under 10 runs / 4 weeks."""
    return _trend_result(history, lambda t: t.spm_per_week, 2)


def cadence_change_spm_8w(history: History) -> MetricResult:
    """The 8-week cadence change at the trend's slope: slope × 8 weeks."""
    return _trend_result(history, lambda t: t.change_8w()[0], 1)


def cadence_change_spm_8w_low(history: History) -> MetricResult:
    """Lower bound of the 95 % CI of cadence_change_spm_8w (theilslopes CI × 8 weeks)."""
    return _trend_result(history, lambda t: t.change_8w()[1], 1)


def cadence_change_spm_8w_high(history: History) -> MetricResult:
    """Upper bound of the 95 % CI of cadence_change_spm_8w; below 0 means a real fall."""
    return _trend_result(history, lambda t: t.change_8w()[2], 1)


def cadence_drift_pct(history: History) -> MetricResult:
    """Within-run cadence drift: last fifth vs first fifth at matched speed, median of the
    last 3 long runs (≥ 60 min) of the 8 weeks D-55..D, in %. Hanley & Mohan 2014 (JSCR);
    Burns 2019 found no drift after speed adjustment in elites. Null with fewer than 3 such
    runs in those 8 weeks; the detail lists the runs used."""
    drifts = history.memo("long_run_drifts", long_run_drifts)
    if len(drifts) < DRIFT_RUNS:
        return NO_DATA
    return MetricResult(round(median(d for _, d in drifts), 2),
                        tuple(run.activity_id for run, _ in drifts),
                        {"runs_used": len(drifts), "weeks": TREND_WEEKS,
                         "runs": [{"date": run.local_date.isoformat(), "drift_pct": round(d, 2)}
                                  for run, d in drifts]})


def gct_balance_left_pct(history: History) -> MetricResult:
    """Median stance-time balance (% left) of the last 5 runs that have it within the 8 weeks
    D-55..D; null with fewer than 3 such runs. The detail says how many runs were used and
    from when.

    Garmin rates balance outside 47.8-52.2 % as 'poor'; not shown to predict injury
    (Malisoux 2024), so it is a prompt for strength work, not a diagnosis.
    """
    recent = history.runs_between(history.days_back(RECENT_RUNS_DAYS), history.as_of)
    with_balance = [p for p in recent if p.gct_balance_left_pct][-GCT_RUNS:]
    if len(with_balance) < GCT_MIN_RUNS:
        return NO_DATA
    return MetricResult(round(median(p.gct_balance_left_pct or 0.0 for p in with_balance), 2),
                        tuple(p.activity_id for p in with_balance),
                        {"runs": len(with_balance), "weeks": TREND_WEEKS,
                         "first_run_date": with_balance[0].local_date.isoformat(),
                         "last_run_date": with_balance[-1].local_date.isoformat()})
