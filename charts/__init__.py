"""Charts: pure functions from plain series to PNG bytes (matplotlib with Agg, DESIGN §1).

Importing this package is cheap: matplotlib loads on the first chart drawn, not here (PEP 562
lazy names), so `strideguard --help` stays fast. Nothing here imports another room of ours.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from charts.png import Png

if TYPE_CHECKING:
    from charts.form import cadence_trend, metric_days
    from charts.load import weekly_distance, weekly_load
    from charts.spike import runs_against_longest
    from charts.squad import squad_weekly_distance

# name -> the module that draws it, imported when the name is first asked for
_LAZY = {
    "weekly_load": "charts.load",
    "weekly_distance": "charts.load",
    "runs_against_longest": "charts.spike",
    "cadence_trend": "charts.form",
    "metric_days": "charts.form",
    "squad_weekly_distance": "charts.squad",
}


def __getattr__(name: str) -> Any:
    home = _LAZY.get(name)
    if home is None:
        raise AttributeError(f"module 'charts' has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value  # once loaded, a plain module attribute
    return value


__all__ = [
    "Png",
    "cadence_trend",
    "metric_days",
    "runs_against_longest",
    "squad_weekly_distance",
    "weekly_distance",
    "weekly_load",
]
