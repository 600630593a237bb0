"""The tally of what became of input files (`file_outcomes`), written by ingest as it goes and
read by `strideguard status`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from store.models import FileOutcome

FILE_OUTCOME_DAYS = 90  # long enough for a season's questions, short enough to stay small


@dataclass(frozen=True)
class FileOutcomeRow:
    at: datetime
    athlete_id: str
    status: str
    problem: str | None
    file_name: str


def record_file_outcomes(session: Session, rows: Sequence[FileOutcomeRow]) -> None:
    """Append the rows (one INSERT), and drop those older than FILE_OUTCOME_DAYS."""
    if not rows:
        return
    session.execute(insert(FileOutcome), [
        {"at": row.at, "athlete_id": row.athlete_id[:64], "status": row.status,
         "problem": row.problem, "file_name": row.file_name[:500]} for row in rows])
    oldest_kept = min(row.at for row in rows) - timedelta(days=FILE_OUTCOME_DAYS)
    session.execute(delete(FileOutcome).where(FileOutcome.at < oldest_kept))


def file_outcomes_between(session: Session, start: datetime, end: datetime) -> dict[str, int]:
    """How many file outcomes of each status were recorded in [start, end)."""
    query = (select(FileOutcome.status, func.count())
             .where(FileOutcome.at >= start, FileOutcome.at < end)
             .group_by(FileOutcome.status))
    return {status: count for status, count in session.execute(query).all()}
