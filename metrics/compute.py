"""Every catalogue metric over one athlete's history: the entry point rules and reports call."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from metrics.catalogue import CATALOGUE, LoadKind
from metrics.history import History, load_history
from metrics.result import MetricResult


def compute_all(history: History, load: LoadKind = "distance") -> dict[str, MetricResult]:
    """Every catalogue metric for one athlete as of history.as_of (load metrics on `load`)."""
    return {name: spec.value(history, load) for name, spec in CATALOGUE.items()}


def athlete_metrics(session: Session, athlete_id: str, timezone_name: str,
                    as_of: date) -> tuple[History, dict[str, MetricResult]]:
    """The athlete's history as of a local date and every catalogue metric over it."""
    history = load_history(session, athlete_id, timezone_name, as_of)
    return history, compute_all(history)
