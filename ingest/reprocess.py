"""Reprocessing: archived FIT originals read again after a decoder or algorithm upgrade, their
source rows and activities updated in place (same ids, no duplicates). Journal files are not
read again: their entries are stored as they were written."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from ingest.containers import JOURNAL_SUFFIX, ContainerError, payloads
from ingest.outcome import IngestOutcome, IngestStatus
from ingest.parse import ParsedFit
from ingest.pool import ParsePool, in_order
from ingest.record import natural_key_duplicate, set_fit_identity, sha256_hex, store_activities
from ingest.settings import IngestSettings
from store import SourceFile, Store

log = logging.getLogger("strideguard.ingest")
REREAD_STATUSES = (IngestStatus.INGESTED, IngestStatus.SKIPPED)


@dataclass(frozen=True)
class _Reread:
    """An archived source file being read again, or why its original cannot be read."""

    source_id: int
    path: Path
    athlete_id: str
    member: str | None
    reading: Future[ParsedFit] | ContainerError | OSError


def _rereadable(athlete_id: str | None) -> ColumnElement[bool]:
    """The source files reprocess reads again: ingested and skipped FIT files (of one athlete);
    a journal is known by its name, as the inbox walk knows it."""
    is_journal = func.lower(SourceFile.original_name).like(f"%{JOURNAL_SUFFIX}")
    condition = SourceFile.status.in_(REREAD_STATUSES) & ~is_journal
    if athlete_id is not None:
        condition = condition & (SourceFile.athlete_id == athlete_id)
    return condition


def count_reprocessable(session: Session, athlete_id: str | None = None) -> int:
    """How many archived files `reprocess_archive` will read again (for a progress bar)."""
    query = select(func.count()).select_from(SourceFile).where(_rereadable(athlete_id))
    return session.scalar(query) or 0


def _archived_payload(path: Path, member: str | None, sha256: str) -> bytes:
    """The bytes of an archived FIT payload, checked against the hash recorded at ingest."""
    for payload in payloads(path):
        if payload.member == member:
            if sha256_hex(payload.data) != sha256:
                raise ContainerError("the archived file changed since it was ingested "
                                     "(its SHA-256 differs)")
            return payload.data
    raise ContainerError(f"{member or path.name} is not in the archived file any more")


def _store_reread(store: Store, job: _Reread, parsed: ParsedFit) -> IngestOutcome:
    """Update a source file and its activities in place from a fresh parse."""
    outcome = IngestOutcome(job.path, job.athlete_id, IngestStatus.REPROCESSED,
                            member=job.member)
    if parsed.problem is not None or parsed.summary is None:
        outcome.status, outcome.reason = IngestStatus.ERROR, (
            f"kept the stored data: {parsed.problem}")
        return outcome
    summary = parsed.summary
    with store.session() as session:
        source = session.get(SourceFile, job.source_id)
        assert source is not None
        source.decoder, source.warnings = parsed.decoder, parsed.warnings
        set_fit_identity(source, summary)
        if summary.file_type == "activity" and summary.sessions:
            duplicate_of = (natural_key_duplicate(session, summary)
                            if source.status != IngestStatus.INGESTED else None)
            if duplicate_of is not None and duplicate_of.id != source.id:
                outcome.status = IngestStatus.DUPLICATE
                outcome.reason = f"now read as the same activity as source #{duplicate_of.id}"
            else:
                source.status, source.reason = IngestStatus.INGESTED, None
                outcome.activity_ids = store_activities(session, source, parsed)
        elif source.status == IngestStatus.INGESTED:
            outcome.reason = "the new reading finds no session; the stored activities were kept"
    outcome.warnings, outcome.record_count = parsed.warnings, summary.record_count
    return outcome


def reprocess_archive(store: Store, settings: IngestSettings, athlete_id: str | None = None,
                      on_outcome: Callable[[IngestOutcome], None] | None = None
                      ) -> list[IngestOutcome]:
    """Re-read the archived originals of ingested and skipped files (after a parser or
    algorithm upgrade) and update their activities in place: same ids, no duplicates.

    Nothing is evaluated here, so old data raises no alert; alerts follow from the next
    evaluation as of today, like any other.
    """
    outcomes: list[IngestOutcome] = []
    query = select(SourceFile.id, SourceFile.stored_path, SourceFile.athlete_id,
                   SourceFile.container_member, SourceFile.sha256).where(
        _rereadable(athlete_id)).order_by(SourceFile.id)
    with store.session() as session:
        rows = session.execute(query).all()
    pool = ParsePool(settings)

    def jobs() -> Iterator[_Reread]:
        for source_id, stored_path, owner, member, sha256 in rows:
            path = Path(stored_path or "")
            reading: Future[ParsedFit] | ContainerError | OSError
            try:
                data = _archived_payload(path, member, sha256)
            except (OSError, ContainerError) as exc:
                reading = exc
            else:
                reading = pool.submit(data, owner)
            yield _Reread(source_id, path, owner, member, reading)

    def finish(job: _Reread) -> None:
        if isinstance(job.reading, Future):
            outcome = _store_reread(store, job, job.reading.result())
        else:
            problem = f"cannot read the archived original {job.path}: {job.reading}"
            log.error("%s", problem)
            outcome = IngestOutcome(job.path, job.athlete_id, IngestStatus.ERROR, problem,
                                    member=job.member)
        outcomes.append(outcome)
        if on_outcome:
            on_outcome(outcome)

    try:
        in_order(jobs(), finish, pool.in_flight_limit)
    finally:
        pool.close()
    return outcomes
