"""An alert's chart: its payload's plain-data `chart`, drawn by the matching `charts` function."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from charts import Png

log = logging.getLogger(__name__)

# the charts an alert may ask for, and which of each one's arguments are dates or date lists
_DATE_KEYS: dict[str, tuple[str, ...]] = {
    "runs_against_longest": ("run_days", "first_day", "last_day"),
    "weekly_distance": (),
    "cadence_trend": ("run_days", "fit_days"),
    "metric_days": ("days",),
}
# arguments that are (label, value) pairs or a (low, high) band: JSON turned them into lists
_PAIR_LIST_KEYS = ("thresholds", "ratio_lines")
_PAIR_KEYS = ("band",)


class ChartSpecError(ValueError):
    """A chart payload that cannot be drawn; its message names keys, never values (the series
    are an athlete's data and do not belong in a log)."""


def chart_arguments(chart: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The charts function's name and its keyword arguments, dates and tuples restored.

    Dates arrive as "YYYY-MM-DD" strings, pairs and bands as lists. Raises ChartSpecError.
    """
    kind = chart.get("kind")
    if kind not in _DATE_KEYS:
        raise ChartSpecError("unknown chart kind")
    arguments = {key: value for key, value in chart.items() if key != "kind"}
    try:
        for key in _DATE_KEYS[kind]:
            if key in arguments:
                arguments[key] = _dates(arguments[key])
        for key in _PAIR_LIST_KEYS:
            if key in arguments:
                arguments[key] = tuple((str(label), value) for label, value in arguments[key])
        for key in _PAIR_KEYS:
            if arguments.get(key) is not None:
                low, high = arguments[key]
                arguments[key] = (low, high)
    except (TypeError, ValueError):
        raise ChartSpecError(f"{kind}: {key} is malformed") from None
    return kind, arguments


def _dates(value: Any) -> date | tuple[date, ...]:
    if isinstance(value, str):
        return date.fromisoformat(value)
    return tuple(date.fromisoformat(day) for day in value)


def draw_alert_chart(chart: Mapping[str, Any] | None) -> Png | None:
    """The alert's chart as a PNG, or None without one; never raises: a chart must not stop an
    alert, so any error is logged (naming no value of the series) and the alert goes without."""
    if chart is None:
        return None
    try:
        if not isinstance(chart, Mapping):
            raise ChartSpecError("the chart is not an object")
        name, arguments = chart_arguments(chart)
        import charts  # here: matplotlib loads only when an alert has a chart to draw

        draw: Callable[..., Png] = getattr(charts, name)
        return draw(**arguments)
    except ChartSpecError as exc:
        log.warning("the alert's chart cannot be drawn, sending it without: %s", exc)
    except Exception as exc:  # any failure, matplotlib's included; its text may quote the data
        log.warning("the alert's %s chart could not be drawn, sending it without: %s",
                    chart.get("kind"), type(exc).__name__)
    return None
