"""Every catalogue metric over one athlete's history: the entry point rules and reports call."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.orm import Session

from config.schema import ServiceConfig
from metrics.catalogue import CATALOGUE, LoadKind
from metrics.history import History, load_history, local_date_of
from metrics.result import MetricResult
from store import Store
from store.queries import athlete_ids


@dataclass(frozen=True)
class AthleteMetrics:
    """Every catalogue metric's value (None: not enough data) for one athlete on a local day."""

    athlete_id: str
    as_of: date
    values: dict[str, float | None]


def compute_all(history: History, load: LoadKind = "distance") -> dict[str, MetricResult]:
    """Every catalogue metric for one athlete as of history.as_of (load metrics on `load`)."""
    return {name: spec.value(history, load) for name, spec in CATALOGUE.items()}


def athlete_metrics(session: Session, athlete_id: str, timezone_name: str,
                    as_of: date) -> tuple[History, dict[str, MetricResult]]:
    """The athlete's history as of a local date and every catalogue metric over it."""
    history = load_history(session, athlete_id, timezone_name, as_of)
    return history, compute_all(history)


def metrics_report(store: Store, config: ServiceConfig, *, athlete_id: str | None = None,
                   as_of: date | None = None, now: datetime | None = None) -> list[AthleteMetrics]:
    """Every metric of each athlete the store or the config knows (or of one), as of a local
    day: `as_of`, else each athlete's own today in their time zone."""
    return metrics_by_day(store, config, days=1, athlete_id=athlete_id, as_of=as_of, now=now)


def metrics_by_day(store: Store, config: ServiceConfig, *, days: int,
                   athlete_id: str | None = None, as_of: date | None = None,
                   now: datetime | None = None) -> list[AthleteMetrics]:
    """Every metric of each athlete (or of one) on each of the `days` local days ending on
    `as_of` (else each athlete's own today), athlete by athlete, oldest day first.

    One history load per athlete, cut back to each day (`History.up_to`): each day's values are
    what an evaluation on that day saw, so the last day equals `metrics_report`.
    """
    if days < 1:
        raise ValueError(f"days must be 1 or more, got {days}")
    moment = now or datetime.now(UTC)
    rows: list[AthleteMetrics] = []
    with store.session() as session:
        ids = [athlete_id] if athlete_id else athlete_ids(session, (a.id for a in config.athletes))
        for one_id in ids:
            timezone_name = config.timezone_for(one_id)
            last_day = as_of or local_date_of(moment, timezone_name)
            first_day = last_day - timedelta(days=days - 1)
            full = load_history(session, one_id, timezone_name, last_day,
                                journal_until=first_day)
            for offset in range(days):
                day = first_day + timedelta(days=offset)
                results = compute_all(full.up_to(day))
                rows.append(AthleteMetrics(one_id, day,
                                           {name: r.value for name, r in results.items()}))
    return rows
