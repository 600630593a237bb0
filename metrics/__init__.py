"""Load, form, pain and return-after-a-break metrics per athlete, local calendar (DESIGN §4, §8).

The catalogue (names, units, meanings, bands) imports in milliseconds; the maths (numpy, scipy)
and the history query (SQLAlchemy) load on first use of the names below that need them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from metrics.catalogue import CATALOGUE, Band, LoadKind, MetricSpec
from metrics.result import MetricResult

if TYPE_CHECKING:
    from metrics.compute import athlete_metrics, compute_all
    from metrics.daily import DailySeries, daily_series
    from metrics.history import ActivityPoint, History, JournalPoint, load_history, local_date_of

# name -> the module that defines it, imported when the name is first asked for (PEP 562)
_LAZY = {
    "athlete_metrics": "metrics.compute",
    "compute_all": "metrics.compute",
    "DailySeries": "metrics.daily",
    "daily_series": "metrics.daily",
    "ActivityPoint": "metrics.history",
    "History": "metrics.history",
    "JournalPoint": "metrics.history",
    "load_history": "metrics.history",
    "local_date_of": "metrics.history",
}


def __getattr__(name: str) -> Any:
    home = _LAZY.get(name)
    if home is None:
        raise AttributeError(f"module 'metrics' has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value  # once loaded, a plain module attribute
    return value


__all__ = [
    "CATALOGUE",
    "ActivityPoint",
    "Band",
    "DailySeries",
    "History",
    "JournalPoint",
    "LoadKind",
    "MetricResult",
    "MetricSpec",
    "athlete_metrics",
    "compute_all",
    "daily_series",
    "load_history",
    "local_date_of",
]
