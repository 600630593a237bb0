"""The per-athlete daily series every load metric is computed from (numpy, one pass per history).

Day i is local day `first_day + i`; the last element is the as-of day. Days without an activity
hold zero load (DESIGN §4); days before the athlete's first activity are not in the series, so
a metric can tell "rested" from "not yet using StrideGuard".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
from numpy.typing import NDArray

from metrics.catalogue import LoadKind
from metrics.history import History

Floats = NDArray[np.float64]


@dataclass(frozen=True)
class DailySeries:
    """Running load and counts per local day, first activity's day .. as_of."""

    first_day: date
    run_km: Floats
    run_moving_min: Floats
    # RPE × minutes; NaN on a day with a run that has no RPE: an unknown load, not a zero. A
    # window holding such a day gives null, and so does every later day of an exponentially
    # weighted metric: session-RPE metrics need RPE on every run.
    run_srpe: Floats
    run_count: NDArray[np.int64]
    strength_count: NDArray[np.int64]

    @property
    def days(self) -> int:
        return len(self.run_km)

    def load(self, kind: LoadKind = "distance") -> Floats:
        """Daily running load: km (default), moving minutes, or session-RPE (Foster 2001)."""
        if kind == "distance":
            return self.run_km
        if kind == "time":
            return self.run_moving_min
        return self.run_srpe


def daily_series(history: History) -> DailySeries | None:
    """Sum each local day's runs; None for an empty history."""
    if history.first_date is None:
        return None
    days = history.days_of_history
    run_km, run_min, run_srpe = np.zeros(days), np.zeros(days), np.zeros(days)
    run_count = np.zeros(days, dtype=np.int64)
    strength_count = np.zeros(days, dtype=np.int64)
    first_day = history.first_date
    for point in history.points:
        index = (point.local_date - first_day).days
        if point.is_strength:
            strength_count[index] += 1
        if not point.is_run:
            continue
        run_count[index] += 1
        run_km[index] += point.distance_km
        run_min[index] += point.moving_min
        # a run without RPE makes the day's sRPE unknown, not zero
        run_srpe[index] += np.nan if point.rpe is None else point.rpe * point.moving_min
    return DailySeries(first_day, run_km, run_min, run_srpe, run_count, strength_count)


def ewma(load: Floats, alpha: float) -> Floats:
    """x_t = alpha · load_t + (1 − alpha) · x_(t−1), x_(−1) = 0: one step per local day.

    Starts from 0 on the first day of history (DESIGN §4). Williams et al. 2017 (BJSM 51:209)
    use alpha = 2 / (N + 1); the Banister/GoldenCheetah PMC uses alpha = 1 − e^(−1/N).
    """
    from scipy.signal import lfilter  # a C recursive filter; imported here, not at start-up

    return np.asarray(lfilter([alpha], [1.0, alpha - 1.0], load), dtype=np.float64)
