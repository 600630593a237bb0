"""Plain series made safe to draw (NaN for gaps), and numbers and days written for people."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date

_LARGEST = 1e12


def finite(values: Sequence[float | None] | None, length: int) -> list[float]:
    """`values` as floats of exactly `length`, NaN for None, non-numbers and infinities.

    NaN is matplotlib's gap: a line breaks there and a bar of NaN is not drawn. Magnitudes
    over 1e12 are no measurement of ours either, and would overflow the axis arithmetic.
    """
    out: list[float] = []
    for value in list(values or [])[:length]:
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            number = math.nan
        out.append(number if abs(number) <= _LARGEST else math.nan)
    return out + [math.nan] * (length - len(out))


def amounts(values: Sequence[float | None] | None, length: int) -> list[float]:
    """Like `finite`, for what cannot be negative (km, km/day, steps/min): below 0 is a gap.

    Charts of amounts start their y axis at 0; a negative value is an upstream error, and a
    label drawn far below the axes would not render.
    """
    return [value if value >= 0 else math.nan for value in finite(values, length)]


def present(values: Sequence[float]) -> list[float]:
    return [value for value in values if not math.isnan(value)]


def top_of(values: Sequence[float], floor: float = 1.0) -> float:
    """An upper y limit with 10 % headroom above the largest value (at least `floor`)."""
    return max(max(present(values), default=0.0) * 1.1, floor)


def fmt(value: float, digits: int = 1) -> str:
    """A number for people: `31.2`, `-0.4`, never `-0.0`."""
    text = f"{value:.{digits}f}"
    return text.lstrip("-") if float(text) == 0 else text


def day_label(day: date) -> str:
    return f"{day.day} {day:%b}"


def km_label(label: str, km: float) -> str:
    """A reference line's direct label: "1.1x longest = 16.5 km"."""
    return f"{label} = {fmt(km)} km" if label else f"{fmt(km)} km"


def count(number: int, noun: str) -> str:
    """A count with its noun: "1 run", "12 runs"."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


def span(labels: Sequence[str]) -> str:
    """The first and last of `labels`: "W36 to W47", or "W47" alone."""
    return labels[0] if len(labels) == 1 else f"{labels[0]} to {labels[-1]}"
