"""FIT field values read as SI numbers and names: what a zero, a bool or a raw code means."""

from __future__ import annotations

from statistics import median
from typing import Any


def fit_number(value: Any) -> float | None:
    """A usable measurement, or None; FIT writes 0 where a sensor had no data."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if value != 0 else None


def steps_per_min(strides_per_min: Any, fraction: Any) -> float | None:
    """steps/min = 2 × (cadence + fractional_cadence) for running (FIT cadence is strides/min)."""
    whole = fit_number(strides_per_min)
    if whole is None:
        return None
    frac = fraction if isinstance(fraction, int | float) else 0.0
    return 2.0 * (whole + frac)


def enum_name(value: Any) -> str | None:
    """An enum name as text; an unknown code stays as its raw number (e.g. '54')."""
    return None if value is None else str(value)


def median_present(values: Any) -> float | None:
    """The median of the values that are there (None and 0, FIT's "no data", left out)."""
    present = [v for v in values if v]
    return median(present) if present else None
