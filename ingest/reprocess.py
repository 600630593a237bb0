"""Reprocessing: archived originals (FIT, TCX, GPX) read again after a decoder or algorithm
upgrade, their source rows and activities updated in place (same ids, no duplicates), with the
same activity-identity rules as ingest. Journal files are not read again: their entries are
stored as they were written."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, cast

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from ingest.containers import JOURNAL_SUFFIX, ContainerError, Payload, PayloadFormat, payloads
from ingest.identity import place_sessions, replace_readings
from ingest.outcome import IngestOutcome, IngestStatus
from ingest.parse import ParsedFile
from ingest.pool import ParsePool, in_order
from ingest.record import (
    JOURNAL_READER,
    natural_key_duplicate,
    set_fit_identity,
    sha256_hex,
    store_activities,
)
from ingest.settings import IngestSettings
from ingest.xmlread import GENERIC as GENERIC_SPORT
from store import Activity, SourceFile, Store, serialize_ingest_writes

log = logging.getLogger("strideguard.ingest")
REREAD_STATUSES = (IngestStatus.INGESTED, IngestStatus.SKIPPED)


@dataclass(frozen=True)
class _Reread:
    """An archived source file being read again, or why its original cannot be read."""

    source_id: int
    path: Path
    athlete_id: str
    member: str | None
    reading: Future[ParsedFile] | ContainerError | OSError


def _rereadable(athlete_id: str | None) -> ColumnElement[bool]:
    """The source files reprocess reads again: ingested and skipped activity files (of one
    athlete); a journal is known by its format, or by its name as the inbox walk knows it."""
    is_journal = (func.lower(SourceFile.original_name).like(f"%{JOURNAL_SUFFIX}")
                  | (SourceFile.format == JOURNAL_READER))
    condition = SourceFile.status.in_(REREAD_STATUSES) & ~is_journal
    if athlete_id is not None:
        condition = condition & (SourceFile.athlete_id == athlete_id)
    return condition


def count_reprocessable(session: Session, athlete_id: str | None = None) -> int:
    """How many archived files `reprocess_archive` will read again (for a progress bar)."""
    query = select(func.count()).select_from(SourceFile).where(_rereadable(athlete_id))
    return session.scalar(query) or 0


class _Row(NamedTuple):
    """A source file to read again, as the query gives it."""

    source_id: int
    stored_path: str | None
    athlete_id: str
    member: str | None
    sha256: str
    format: str


def _archived_payloads(path: Path, rows: list[_Row]
                       ) -> Iterator[tuple[_Row, Payload | ContainerError | OSError]]:
    """The archived payloads of the rows stored at `path` (each with the sport hint its export
    gives it, as at ingest), their bytes checked against the hashes recorded at ingest, or why
    one cannot be read. A zip is opened and read once for all of its rows, in member order:
    reading it again from the start for each of them made an export of N runs cost N^2."""
    wanted: dict[str | None, list[_Row]] = {}
    for row in rows:
        wanted.setdefault(row.member, []).append(row)
    try:
        for payload in payloads(path):
            for row in wanted.pop(payload.member, []):
                if sha256_hex(payload.data) != row.sha256:
                    yield row, ContainerError("the archived file changed since it was ingested "
                                              "(its SHA-256 differs)")
                else:
                    yield row, payload
            if not wanted:
                return  # the rest of the zip holds nothing to read again
    except (OSError, ContainerError) as exc:
        for left in wanted.values():
            for row in left:
                yield row, exc
        return
    for member, left in wanted.items():
        for row in left:
            yield row, ContainerError(f"{member or path.name} is not in the archived file any "
                                      "more")


def _store_activity(session: Session, source: SourceFile, parsed: ParsedFile,
                    outcome: IngestOutcome) -> None:
    """An activity file read again: stored in place, unless another file holds every one of
    its sessions and takes precedence (then it becomes that file's duplicate); readings it
    takes precedence over are removed (ingest/identity.py)."""
    assert parsed.summary is not None
    sessions = {s.index: s for s in parsed.summary.sessions}
    placement = place_sessions(session, source.athlete_id, parsed.format, source.id, sessions)
    if placement.covers_all(len(sessions)):
        match = placement.first_cover()
        store_activities(session, source, parsed, skip=set(sessions))  # removes its own
        source.status, source.reason = IngestStatus.DUPLICATE, match.describe()
        source.duplicate_of_id = match.source_id
        outcome.status = IngestStatus.DUPLICATE
        outcome.reason = f"now read as the {match.describe()}"
        return
    source.status, source.reason, source.duplicate_of_id = IngestStatus.INGESTED, None, None
    stored = store_activities(session, source, parsed, skip=set(placement.covered))
    notes = [f"session {i}: {m.describe()}" for i, m in placement.covered.items()]
    notes += [r.note for r in replace_readings(session, source, parsed.format, placement,
                                               stored)]
    outcome.activity_ids, outcome.reason = list(stored.values()), "; ".join(notes)
    source.reason = outcome.reason or None


def _store_reread(store: Store, job: _Reread, parsed: ParsedFile) -> IngestOutcome:
    """Update a source file and its activities in place from a fresh parse."""
    outcome = IngestOutcome(job.path, job.athlete_id, IngestStatus.REPROCESSED,
                            member=job.member)
    if parsed.problem is not None or parsed.summary is None:
        outcome.status, outcome.reason = IngestStatus.ERROR, (
            f"kept the stored data: {parsed.problem}")
        return outcome
    summary = parsed.summary
    with store.session() as session:
        serialize_ingest_writes(session)  # identity lookups and removals, as ingest does
        source = session.get(SourceFile, job.source_id)
        assert source is not None
        source.decoder, source.warnings = parsed.decoder, parsed.warnings
        source.format = parsed.format
        set_fit_identity(source, summary)
        if summary.file_type == "activity" and summary.sessions:
            duplicate_of = (natural_key_duplicate(session, summary)
                            if source.status != IngestStatus.INGESTED else None)
            if duplicate_of is not None and duplicate_of.id != source.id:
                outcome.status = IngestStatus.DUPLICATE
                outcome.reason = f"now read as the same activity as source #{duplicate_of.id}"
            else:
                _store_activity(session, source, parsed, outcome)
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
                   SourceFile.container_member, SourceFile.sha256, SourceFile.format).where(
        _rereadable(athlete_id)).order_by(SourceFile.id)
    with store.session() as session:
        by_file: dict[str, list[_Row]] = {}  # in the order of each file's first row
        for row in session.execute(query).all():
            by_file.setdefault(row.stored_path or "", []).append(_Row(*row))
        # a TCX or GPX naming no sport was given one when first read (an unpacked export's
        # index, no longer beside its archived copy): the new reading keeps it
        sport_given = dict(session.execute(
            select(Activity.source_file_id, Activity.sport)
            .where(Activity.sport != GENERIC_SPORT)).all())
    pool = ParsePool(settings)

    def jobs() -> Iterator[_Reread]:
        for stored_path, rows in by_file.items():
            path = Path(stored_path)
            for row, found in _archived_payloads(path, rows):
                reading: Future[ParsedFile] | ContainerError | OSError = (
                    found if not isinstance(found, Payload) else pool.submit(
                        found.data, row.athlete_id, cast(PayloadFormat, row.format),
                        name=row.member or path.name,
                        sport_hint=found.sport_hint or sport_given.get(row.source_id)))
                yield _Reread(row.source_id, path, row.athlete_id, row.member, reading)

    def finish(job: _Reread) -> None:
        if isinstance(job.reading, Future):
            outcome = _store_reread(store, job, pool.result(job.reading))
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
