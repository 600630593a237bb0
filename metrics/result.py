"""What a metric function returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class MetricResult:
    """A metric's value (None where the data cannot say), the activities behind it, and details
    an alert can quote (the window, the reference run, the fit behind a trend)."""

    value: float | None
    activity_ids: tuple[int, ...] = ()
    detail: dict[str, Any] = field(default_factory=dict)


NO_DATA = MetricResult(None)


def rounded(value: float | None, digits: int = 3) -> float | None:
    """Round for display and storage; NaN (an unknown load in the window) becomes None."""
    if value is None or value != value:
        return None
    return round(float(value), digits)
