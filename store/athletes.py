"""Athlete rows: created the first time anything of an athlete's is stored or evaluated."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from store.models import Athlete, utc_now


def ensure_athlete(session: Session, athlete_id: str) -> None:
    """Add the athlete's row unless it exists, at once, so rows referring to it can follow.

    INSERT .. ON CONFLICT DO NOTHING: another process adding the same athlete at the same
    moment (an ingest here, an evaluation there, on a new PostgreSQL database) is waited for,
    not a unique violation."""
    if session.get(Athlete, athlete_id) is None:
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        session.execute(dialect.insert(Athlete).on_conflict_do_nothing(),
                        [{"id": athlete_id, "created_at": utc_now()}])
