"""Per-run form statistics (DESIGN §3): steady cadence and speed, first and last fifth, running
dynamics medians, and the compact series kept to recompute them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from statistics import fmean, median
from typing import Any

from ingest.fit_values import fit_number, median_present, steps_per_min
from ingest.summary import SessionSummary, Timeline

WARMUP_S = 300.0  # form summaries skip the first 5 minutes (DESIGN §3)
WALKING_BELOW_SPM = 140.0
MOVING_ABOVE_MPS = 1.0
SERIES_INTERVAL_S = 10.0  # one compact-series row per 10 s of a run
SERIES_COLUMNS = ("distance_m", "speed_mps", "heart_rate_bpm", "cadence_spm",
                  "gct_balance_left_pct", "vertical_ratio_pct", "step_length_m",
                  "ground_contact_ms")


@dataclass(frozen=True)
class RunRecord:
    """One record of a run in SI units, timed from the session's start."""

    elapsed_s: float
    cadence_spm: float | None
    speed_mps: float | None
    heart_rate_bpm: float | None
    distance_m: float | None
    gct_balance_left_pct: float | None
    vertical_ratio_pct: float | None
    step_length_mm: float | None
    ground_contact_ms: float | None


def records_in(records: Timeline, start: datetime, end: datetime) -> list[RunRecord]:
    """Records carry no sport: a session takes those in its time window (research/fit.md §4.2)."""
    picked: list[RunRecord] = []
    for timestamp, values in records:
        if start <= timestamp <= end:
            speed = values.get("enhanced_speed", values.get("speed"))
            distance = values.get("distance")
            picked.append(RunRecord(
                elapsed_s=(timestamp - start).total_seconds(),
                cadence_spm=steps_per_min(values.get("cadence"), values.get("fractional_cadence")),
                speed_mps=speed if isinstance(speed, int | float) else None,
                heart_rate_bpm=fit_number(values.get("heart_rate")),
                distance_m=distance if isinstance(distance, int | float) else None,
                gct_balance_left_pct=fit_number(values.get("stance_time_balance")),
                vertical_ratio_pct=fit_number(values.get("vertical_ratio")),
                step_length_mm=fit_number(values.get("step_length")),
                ground_contact_ms=fit_number(values.get("stance_time")),
            ))
    return picked


def _steady_records(records: list[RunRecord]) -> list[RunRecord]:
    """Running, not walking or standing, after the first 5 minutes (all of a shorter run)."""
    running = [
        r for r in records
        if r.cadence_spm is not None and r.cadence_spm >= WALKING_BELOW_SPM
        and (r.speed_mps is None or r.speed_mps >= MOVING_ABOVE_MPS)
    ]
    after_warmup = [r for r in running if r.elapsed_s >= WARMUP_S]
    return after_warmup or running


def fill_form(summary: SessionSummary, records: list[RunRecord], session: dict[str, Any]) -> None:
    """Per-run form numbers: steady cadence and speed, first/last fifth, dynamics medians."""
    steady = _steady_records(records)
    if steady:
        summary.steady_cadence_spm = median_present(r.cadence_spm for r in steady)
        summary.steady_speed_mps = median_present(r.speed_mps for r in steady)
        span_s = steady[-1].elapsed_s - steady[0].elapsed_s
        if span_s > 0:
            fifth_s = span_s / 5
            first = [r for r in steady if r.elapsed_s <= steady[0].elapsed_s + fifth_s]
            last = [r for r in steady if r.elapsed_s >= steady[-1].elapsed_s - fifth_s]
            summary.cadence_first_fifth_spm = median_present(r.cadence_spm for r in first)
            summary.cadence_last_fifth_spm = median_present(r.cadence_spm for r in last)
            # the drift metric compares the fifths at matched speed, so keep their speeds
            summary.speed_first_fifth_mps = median_present(r.speed_mps for r in first)
            summary.speed_last_fifth_mps = median_present(r.speed_mps for r in last)
    # the records' medians, else the session's own averages
    source = steady or records
    summary.gct_balance_left_pct = (median_present(r.gct_balance_left_pct for r in source)
                                    or fit_number(session.get("avg_stance_time_balance")))
    summary.vertical_ratio_pct = (median_present(r.vertical_ratio_pct for r in source)
                                  or fit_number(session.get("avg_vertical_ratio")))
    step_length_mm = (median_present(r.step_length_mm for r in source)
                      or fit_number(session.get("avg_step_length")))
    summary.step_length_m = step_length_mm / 1000.0 if step_length_mm else None
    summary.ground_contact_ms = (median_present(r.ground_contact_ms for r in source)
                                 or fit_number(session.get("avg_stance_time")))


def _median_of_present(values: list[float | None]) -> float | None:
    present = [v for v in values if v]
    if len(present) == 1:  # the common bucket at 1 s records is small, at sparse ones single
        return present[0]
    return median(present) if present else None


def _last_distance(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(present[-1], 1) if present else None


def _mean_speed(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(fmean(present), 3) if present else None


def _step_length(values: list[float | None]) -> float | None:
    value_mm = _median_of_present(values)
    return round(value_mm / 1000.0, 3) if value_mm else None


def _median_2dp(values: list[float | None]) -> float | None:
    value = _median_of_present(values)
    return round(value, 2) if value else None


# series column -> (RunRecord attribute, one value per bucket): the last cumulative distance,
# the mean speed (distance over time), medians of the rest (robust to a sensor's spikes)
_SERIES_AGGREGATES: dict[str, tuple[str, Callable[[list[float | None]], float | None]]] = {
    "distance_m": ("distance_m", _last_distance),
    "speed_mps": ("speed_mps", _mean_speed),
    "step_length_m": ("step_length_mm", _step_length),
}


def compact_series(records: Iterable[RunRecord],
                   interval_s: float = SERIES_INTERVAL_S) -> dict[str, list[float | None]]:
    """The run downsampled to one row per `interval_s` of elapsed time (empty buckets skipped).

    `elapsed_s` holds each bucket's start; columns that are empty for the whole run are left out.
    """
    buckets: dict[int, list[RunRecord]] = {}
    for record in records:
        buckets.setdefault(int(record.elapsed_s // interval_s), []).append(record)
    keys = sorted(buckets)
    ordered = [buckets[k] for k in keys]
    series: dict[str, list[float | None]] = {"elapsed_s": [k * interval_s for k in keys]}
    for column in SERIES_COLUMNS:
        attribute, aggregate = _SERIES_AGGREGATES.get(column, (column, _median_2dp))
        values = [aggregate([getattr(r, attribute) for r in bucket]) for bucket in ordered]
        if any(v is not None for v in values):
            series[column] = values
    return series
