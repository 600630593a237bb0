"""Recording in the store: dedupe lookups, source-file rows, activities, journal entries, and
athletes' rows.

Every write takes the ingest lock first (`serialize_ingest_writes`), so two processes never
both insert the same file or the same activity.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from ingest.containers import PayloadFormat, is_journal_name, payload_format
from ingest.form import SERIES_INTERVAL_S
from ingest.identity import (
    Placement,
    Replaced,
    lend_sport,
    place_sessions,
    replace_readings,
)
from ingest.outcome import IngestStatus
from ingest.parse import ParsedFile
from ingest.summary import FileSummary, SessionSummary
from store import (
    Activity,
    ActivitySeries,
    SourceFile,
    Store,
    ensure_athlete,
    serialize_ingest_writes,
    utc_now,
)
from store.journal import JournalValues, add_journal_entry, stored_csv_keys

JOURNAL_READER = "csv"  # a journal's source row names this as its decoder and its format


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class AthleteRegistry:
    """Commits each athlete's row the first time a batch meets them, not in every file's
    transaction (athletes are never deleted, so once committed it stays true)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._known: set[str] = set()

    def register(self, athlete_id: str) -> None:
        if athlete_id not in self._known:
            with self._store.session() as session:
                serialize_ingest_writes(session)
                ensure_athlete(session, athlete_id)
            self._known.add(athlete_id)


# --- dedupe ---------------------------------------------------------------------------------


def _source_row(session: Session, sha256: str) -> SourceFile | None:
    return session.scalars(select(SourceFile).where(SourceFile.sha256 == sha256)).first()


def source_by_hash(store: Store, sha256: str) -> SourceFile | None:
    """The row of these very bytes, whatever became of them."""
    with store.session() as session:
        return _source_row(session, sha256)


def settled_source(store: Store, sha256: str) -> SourceFile | None:
    """The row of these very bytes unless they were quarantined (those are tried again: a
    newer decoder may read them)."""
    source = source_by_hash(store, sha256)
    return None if source is None or source.status == IngestStatus.QUARANTINED else source


def _same_activity(summary: FileSummary) -> ColumnElement[bool] | None:
    """The same activity exported again: same (manufacturer, serial, time_created), ingested."""
    if summary.serial_number is None or summary.time_created is None:
        return None
    return and_(
        SourceFile.fit_manufacturer == summary.manufacturer,
        SourceFile.fit_serial_number == summary.serial_number,
        SourceFile.fit_time_created == summary.time_created,
        SourceFile.status == IngestStatus.INGESTED,
    )


def natural_key_duplicate(session: Session, summary: FileSummary) -> SourceFile | None:
    same_activity = _same_activity(summary)
    if same_activity is None:
        return None
    return session.scalars(select(SourceFile).where(same_activity)).first()


def _source_and_duplicate(session: Session, sha256: str, summary: FileSummary
                          ) -> tuple[SourceFile | None, SourceFile | None]:
    """In one query: the row of these very bytes (a retry after quarantine or a crash), and an
    ingested row of the same activity from another file."""
    same_bytes = SourceFile.sha256 == sha256
    same_activity = _same_activity(summary)
    condition = same_bytes if same_activity is None else or_(same_bytes, same_activity)
    rows = session.scalars(select(SourceFile).where(condition).order_by(SourceFile.id)).all()
    source = next((row for row in rows if row.sha256 == sha256), None)
    duplicate_of = next((row for row in rows if row.sha256 != sha256
                         and row.status == IngestStatus.INGESTED), None)
    return source, duplicate_of


# --- rows -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewSource:
    """A payload (FIT, TCX, GPX) or a journal about to get its source-file row."""

    sha256: str
    athlete_id: str
    original_name: str  # the inbox file's name (the zip's, for a member)
    member: str | None  # its path inside a zip
    size_bytes: int

    @property
    def format(self) -> PayloadFormat | str:
        """fit | tcx | gpx, by the payload's name, or csv for a journal."""
        if self.member is None and is_journal_name(self.original_name):
            return JOURNAL_READER
        return payload_format(self.member or self.original_name)


@dataclass(frozen=True)
class Recorded:
    """What recording a parsed payload did: its status (ingested, skipped or duplicate), or,
    when another process stored these bytes since they were looked up, that row
    (`already_stored`; nothing was written then, and the status is duplicate)."""

    status: IngestStatus
    reason: str = ""
    activity_ids: list[int] = field(default_factory=list)
    already_stored: SourceFile | None = None
    # stored readings (of other files) this one replaced: activity id -> why it was removed
    replaced: dict[int, str] = field(default_factory=dict)


def _natural_key_reason(duplicate_of: SourceFile) -> str:
    return (f"same activity as source #{duplicate_of.id} ({duplicate_of.original_name}): same "
            "device serial and creation time")


def _sessions_by_index(summary: FileSummary) -> dict[int, SessionSummary]:
    return {s.index: s for s in summary.sessions}


def record_parsed(store: Store, new: NewSource, parsed: ParsedFile, status: IngestStatus,
                  reason: str, stored_path: Path) -> Recorded:
    """One parsed payload (FIT, TCX or GPX) into the store in one transaction: its source-file
    row and, when ingested, an activity per session.

    A re-export of a stored FIT activity (same device serial and creation time) is a duplicate;
    so is a file whose every session is an activity stored from a file that takes precedence
    (ingest/identity.py: a better format, or the same format stored first). A file that takes
    precedence over stored readings replaces them: theirs are removed, and a file left with
    no activity becomes a duplicate of this one.

    Bytes another process stored since they were looked up count once: their row stays as it
    is, and comes back as `Recorded.already_stored`.
    """
    summary = parsed.summary
    assert summary is not None
    activity_ids: list[int] = []
    replaced: list[Replaced] = []
    with store.session() as session:
        serialize_ingest_writes(session)  # the lookups below then hold until the commit
        if status == IngestStatus.INGESTED:  # only an activity can be a re-export of one
            source, duplicate_of = _source_and_duplicate(session, new.sha256, summary)
        else:
            source, duplicate_of = _source_row(session, new.sha256), None
        if source is not None and source.status != IngestStatus.QUARANTINED:
            return Recorded(IngestStatus.DUPLICATE, already_stored=source)
        if source is None:
            source = SourceFile(sha256=new.sha256, athlete_id=new.athlete_id,
                                original_name=new.original_name, size_bytes=new.size_bytes,
                                status=status)
            session.add(source)
        placement, lent = Placement(), []
        if duplicate_of is not None:
            status, reason = IngestStatus.DUPLICATE, _natural_key_reason(duplicate_of)
            source.duplicate_of_id = duplicate_of.id
        elif status == IngestStatus.INGESTED:
            readings = _sessions_by_index(summary)
            placement = place_sessions(session, new.athlete_id, parsed.format, None, readings)
            lent = lend_sport(session, placement, readings)
            if placement.covers_all(len(summary.sessions)):
                match = placement.first_cover()
                status, reason = IngestStatus.DUPLICATE, "; ".join([match.describe(), *lent])
                source.duplicate_of_id = match.source_id
        source.status, source.reason, source.warnings = status, reason or None, parsed.warnings
        source.container_member, source.format = new.member, parsed.format
        source.decoder, source.stored_path = parsed.decoder, str(stored_path)
        set_fit_identity(source, summary)
        if status == IngestStatus.INGESTED:
            stored = store_activities(session, source, parsed, skip=set(placement.covered))
            notes = [f"session {i}: {m.describe()}" for i, m in placement.covered.items()]
            replaced = replace_readings(session, source, parsed.format, placement, stored)
            activity_ids = list(stored.values())
            reason = "; ".join([*notes, *lent, *(r.note for r in replaced)])
            source.reason = reason or None  # its own row says what it replaced, too
    return Recorded(status, reason, activity_ids,
                    replaced={r.activity_id: r.reason for r in replaced})


@dataclass(frozen=True)
class JournalRecorded:
    """What recording a journal.csv did: ingested (with the new entries' ids), or duplicate
    when every row was stored before, or `already_stored` as in Recorded."""

    status: IngestStatus
    reason: str = ""
    entry_ids: list[int] = field(default_factory=list)
    repeated_rows: int = 0  # rows an earlier journal.csv (or an earlier line) already holds
    already_stored: SourceFile | None = None


def record_journal(store: Store, new: NewSource, rows: Sequence[tuple[int, JournalValues]],
                   warnings: list[str], stored_path: Path) -> JournalRecorded:
    """A journal.csv's good rows into the store in one transaction, with its source-file row
    (its bad rows as warnings). A row equal to one an earlier journal.csv of the athlete stored
    (same day, area, pain and note) is not stored again: a re-export repeats old rows."""
    with store.session() as session:
        serialize_ingest_writes(session)
        source = _source_row(session, new.sha256)
        if source is not None and source.status != IngestStatus.QUARANTINED:
            return JournalRecorded(IngestStatus.DUPLICATE, already_stored=source)
        if source is None:
            source = SourceFile(sha256=new.sha256, athlete_id=new.athlete_id,
                                original_name=new.original_name, size_bytes=new.size_bytes,
                                status=IngestStatus.INGESTED)
            session.add(source)
            session.flush()
        known = stored_csv_keys(session, new.athlete_id)
        entries = []
        for line, values in rows:
            if values.key not in known:
                known.add(values.key)
                entries.append(add_journal_entry(session, new.athlete_id, values, "csv",
                                                 source_file_id=source.id, line=line))
        status, reason = IngestStatus.INGESTED, ""
        if not entries:
            status = IngestStatus.DUPLICATE
            reason = "every row is stored already (an earlier journal.csv holds them)"
        source.status, source.reason, source.warnings = status, reason or None, warnings
        source.decoder, source.stored_path = JOURNAL_READER, str(stored_path)
        source.format = JOURNAL_READER
        session.flush()
        return JournalRecorded(status, reason, [entry.id for entry in entries],
                               repeated_rows=len(rows) - len(entries))


def record_quarantined(store: Store, new: NewSource, reason: str, stored_path: Path) -> None:
    """The row of an unreadable payload, with why; a retry of the same bytes updates it."""
    with store.session() as session:
        serialize_ingest_writes(session)
        source = _source_row(session, new.sha256)
        if source is None:
            source = SourceFile(sha256=new.sha256, athlete_id=new.athlete_id,
                                original_name=new.original_name, size_bytes=new.size_bytes,
                                container_member=new.member, status=IngestStatus.QUARANTINED,
                                format=new.format)
            session.add(source)
        source.status, source.reason = IngestStatus.QUARANTINED, reason
        source.stored_path = str(stored_path)


def repoint_stored_path(store: Store, old: Path, new: Path) -> None:
    """Rows whose original was to be archived at `old` now point at `new`."""
    with store.session() as session:
        for source in session.scalars(select(SourceFile).where(
                SourceFile.stored_path == str(old))):
            source.stored_path = str(new)


def set_fit_identity(source: SourceFile, summary: FileSummary) -> None:
    """The file_id fields the natural-key dedupe compares."""
    source.fit_file_type, source.fit_manufacturer = summary.file_type, summary.manufacturer
    source.fit_serial_number, source.fit_time_created = (summary.serial_number,
                                                         summary.time_created)


def _activity_fields(s: SessionSummary) -> dict[str, object]:
    return dict(
        session_index=s.index, sport=s.sport, sub_sport=s.sub_sport, is_run=s.is_run,
        is_strength=s.is_strength, start_utc=s.start_utc, distance_m=s.distance_m,
        timer_s=s.timer_s, elapsed_s=s.elapsed_s, avg_speed_mps=s.avg_speed_mps,
        avg_heart_rate_bpm=s.avg_heart_rate_bpm, avg_cadence_spm=s.avg_cadence_spm,
        steady_cadence_spm=s.steady_cadence_spm, steady_speed_mps=s.steady_speed_mps,
        cadence_first_fifth_spm=s.cadence_first_fifth_spm,
        cadence_last_fifth_spm=s.cadence_last_fifth_spm,
        speed_first_fifth_mps=s.speed_first_fifth_mps,
        speed_last_fifth_mps=s.speed_last_fifth_mps, rpe=s.rpe, feel=s.feel,
        gct_balance_left_pct=s.gct_balance_left_pct, vertical_ratio_pct=s.vertical_ratio_pct,
        step_length_m=s.step_length_m, ground_contact_ms=s.ground_contact_ms,
    )


def store_activities(session: Session, source: SourceFile, parsed: ParsedFile,
                     skip: set[int] | frozenset[int] = frozenset()) -> dict[int, int]:
    """Create or update (same source file and session index) one activity per session, but
    for the sessions in `skip` (stored from another file: their activity here is removed).

    Used by ingest and by reprocess: an activity keeps its id, so nothing is duplicated.
    Returns the activity id of each session stored, by session index.
    """
    assert parsed.summary is not None
    existing = {a.session_index: a for a in source.activities}
    activities: list[Activity] = []
    for s in parsed.summary.sessions:
        if s.index in skip:
            continue
        activity = existing.pop(s.index, None)
        if activity is None:
            activity = Activity(athlete_id=source.athlete_id, source_file=source)
            session.add(activity)
        else:
            activity.updated_at = utc_now()
        for name, value in _activity_fields(s).items():
            setattr(activity, name, value)
        activity.warnings = parsed.warnings + s.warnings
        activity.decoder = parsed.decoder
        if s.series:
            if activity.series is None:
                activity.series = ActivitySeries(interval_s=SERIES_INTERVAL_S, columns=s.series)
            else:
                activity.series.interval_s, activity.series.columns = SERIES_INTERVAL_S, s.series
        elif activity.series is not None:
            activity.series = None
        activities.append(activity)
    for gone in existing.values():  # a session a better parser (or a better file) took over
        session.delete(gone)
    session.flush()  # one flush for the file: the source row, then its activities, get their ids
    return {activity.session_index: activity.id for activity in activities}
