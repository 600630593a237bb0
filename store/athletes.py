"""Athlete rows: created the first time anything of an athlete's is stored or evaluated."""

from __future__ import annotations

from sqlalchemy.orm import Session

from store.models import Athlete


def ensure_athlete(session: Session, athlete_id: str) -> None:
    """Add the athlete's row unless it exists, flushed so rows referring to it can follow."""
    if session.get(Athlete, athlete_id) is None:
        session.add(Athlete(id=athlete_id))
        session.flush()
