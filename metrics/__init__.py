"""Load and form metrics per athlete on the local calendar (DESIGN §4)."""

from datetime import date

from sqlalchemy.orm import Session

from metrics.catalogue import CATALOGUE, Band, MetricSpec, compute_all
from metrics.daily import DailySeries, LoadKind, daily_series
from metrics.history import ActivityPoint, History, load_history, local_date_of
from metrics.result import MetricResult


def athlete_metrics(session: Session, athlete_id: str, timezone_name: str,
                    as_of: date) -> tuple[History, dict[str, MetricResult]]:
    """The athlete's history as of a local date and every catalogue metric over it."""
    history = load_history(session, athlete_id, timezone_name, as_of)
    return history, compute_all(history)


__all__ = [
    "CATALOGUE",
    "ActivityPoint",
    "Band",
    "DailySeries",
    "History",
    "LoadKind",
    "MetricResult",
    "MetricSpec",
    "athlete_metrics",
    "compute_all",
    "daily_series",
    "load_history",
    "local_date_of",
]
