"""Ingest one FIT file: check, decode, dedupe, store in one transaction, then archive it."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ingest.decode import DecoderName, FitDecodeError, check_fit_complete, decode_fit
from ingest.inbox import InboxFile, free_destination, move_file, scan_inbox
from ingest.normalise import FileSummary, summarise
from store import Activity, Athlete, SourceFile, Store

log = logging.getLogger("strideguard.ingest")


@dataclass(frozen=True)
class IngestSettings:
    inbox: Path
    archive: Path
    quarantine: Path
    decoder: DecoderName = "fitparse"
    stability_s: float = 5.0


@dataclass
class IngestOutcome:
    """What became of one file: ingested, skipped, duplicate, quarantined or waiting."""

    path: Path
    athlete_id: str
    status: str
    reason: str = ""
    activity_ids: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    stored_at: Path | None = None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _ensure_athlete(session: Session, athlete_id: str) -> None:
    if session.get(Athlete, athlete_id) is None:
        session.add(Athlete(id=athlete_id))
        session.flush()


def _wait_reason(data: bytes, age_s: float, stability_s: float) -> str | None:
    """A file that is not yet whole and was touched recently is probably still being copied."""
    completeness = check_fit_complete(data)
    if completeness.state in ("complete", "bad_crc"):
        return None
    if age_s < stability_s:
        return f"waiting for the file to be complete ({completeness.detail})"
    return None


def _quarantine_reason(data: bytes) -> str | None:
    """Files no decoder should even try: empty, not FIT, header without data."""
    completeness = check_fit_complete(data)
    if completeness.state == "not_fit":
        return completeness.detail
    if completeness.state == "incomplete" and "no data" in completeness.detail:
        return completeness.detail
    return None


def _natural_key_duplicate(session: Session, summary: FileSummary) -> SourceFile | None:
    """The same activity exported again: same (manufacturer, serial, time_created)."""
    if summary.serial_number is None or summary.time_created is None:
        return None
    return session.scalars(
        select(SourceFile).where(
            SourceFile.fit_manufacturer == summary.manufacturer,
            SourceFile.fit_serial_number == summary.serial_number,
            SourceFile.fit_time_created == summary.time_created,
            SourceFile.status == "ingested",
        )
    ).first()


def _archive_path(settings: IngestSettings, item: InboxFile, sha256: str,
                  start: datetime | None) -> Path:
    month = (start or datetime.now(UTC)).strftime("%Y-%m")
    return free_destination(settings.archive / item.athlete_id / month, item.name, sha256[:8])


def _store_activities(session: Session, source: SourceFile, summary: FileSummary,
                      athlete_id: str, file_warnings: list[str]) -> list[int]:
    activity_ids: list[int] = []
    for s in summary.sessions:
        activity = Activity(
            athlete_id=athlete_id, source_file=source, session_index=s.index, sport=s.sport,
            sub_sport=s.sub_sport, is_run=s.is_run, is_strength=s.is_strength,
            start_utc=s.start_utc, distance_m=s.distance_m, timer_s=s.timer_s,
            elapsed_s=s.elapsed_s, avg_speed_mps=s.avg_speed_mps,
            avg_heart_rate_bpm=s.avg_heart_rate_bpm, avg_cadence_spm=s.avg_cadence_spm,
            steady_cadence_spm=s.steady_cadence_spm, steady_speed_mps=s.steady_speed_mps,
            cadence_first_fifth_spm=s.cadence_first_fifth_spm,
            cadence_last_fifth_spm=s.cadence_last_fifth_spm,
            gct_balance_left_pct=s.gct_balance_left_pct, vertical_ratio_pct=s.vertical_ratio_pct,
            step_length_m=s.step_length_m, ground_contact_ms=s.ground_contact_ms,
            warnings=file_warnings + s.warnings,
        )
        session.add(activity)
        session.flush()
        activity_ids.append(activity.id)
    return activity_ids


def _quarantine(store: Store, settings: IngestSettings, item: InboxFile, data: bytes,
                sha256: str, reason: str) -> IngestOutcome:
    destination = free_destination(settings.quarantine / item.athlete_id, item.name, sha256[:8])
    with store.session() as session:
        _ensure_athlete(session, item.athlete_id)
        source = session.scalars(select(SourceFile).where(SourceFile.sha256 == sha256)).first()
        if source is None:
            source = SourceFile(sha256=sha256, athlete_id=item.athlete_id,
                                original_name=item.name, size_bytes=len(data),
                                status="quarantined")
            session.add(source)
        source.status, source.reason, source.stored_path = "quarantined", reason, str(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    reason_file = destination.with_name(destination.name + ".reason.txt")
    reason_file.write_text(
        f"{item.name} could not be ingested.\n\nReason: {reason}\n\n"
        f"Athlete: {item.athlete_id}\nSize: {len(data)} bytes\nSHA-256: {sha256}\n"
        f"Quarantined at: {datetime.now(UTC).isoformat(timespec='seconds')}\n"
        "Fix or replace the file and drop it into the inbox again to retry.\n",
        encoding="utf-8",
    )
    move_file(item.path, destination)
    log.warning("quarantined %s: %s", item.path, reason)
    return IngestOutcome(item.path, item.athlete_id, "quarantined", reason, stored_at=destination)


def _archive_known(store: Store, settings: IngestSettings, item: InboxFile, sha256: str,
                   existing: SourceFile) -> IngestOutcome:
    """The same bytes again (or a file whose commit landed before a crash): archive, count once."""
    destination = _archive_path(settings, item, sha256, existing.fit_time_created)
    move_file(item.path, destination)
    reason = f"same file as source #{existing.id} ({existing.original_name}, {existing.status})"
    log.info("duplicate %s: %s", item.path, reason)
    return IngestOutcome(item.path, item.athlete_id, "duplicate", reason, stored_at=destination)


def ingest_file(store: Store, settings: IngestSettings, item: InboxFile,
                now_s: float | None = None) -> IngestOutcome:
    """Run one file through the checks; the original moves only after its data is committed."""
    data = item.path.read_bytes()
    age_s = (now_s if now_s is not None else time.time()) - item.path.stat().st_mtime
    wait = _wait_reason(data, age_s, settings.stability_s)
    if wait:
        return IngestOutcome(item.path, item.athlete_id, "waiting", wait)

    sha256 = _sha256(data)
    with store.session() as session:
        existing = session.scalars(select(SourceFile).where(SourceFile.sha256 == sha256)).first()
    if existing is not None and existing.status != "quarantined":
        return _archive_known(store, settings, item, sha256, existing)

    bad_input = _quarantine_reason(data)
    if bad_input:
        return _quarantine(store, settings, item, data, sha256, bad_input)
    try:
        decoded = decode_fit(data, settings.decoder)
    except FitDecodeError as exc:
        return _quarantine(store, settings, item, data, sha256, f"not readable as FIT: {exc}")
    completeness = check_fit_complete(data)
    if completeness.state != "complete":
        decoded.warnings.insert(0, completeness.detail)
    summary = summarise(decoded.messages)

    status, reason = "ingested", ""
    if summary.file_type != "activity":
        status, reason = "skipped", f"not an activity (FIT file type {summary.file_type!r})"
    elif not summary.sessions:
        damage = "; ".join(decoded.warnings) or "the file has no session message"
        return _quarantine(
            store, settings, item, data, sha256,
            f"no session summary could be read ({summary.record_count} records before the "
            f"damage, sport unknown): {damage}",
        )
    first_start = summary.sessions[0].start_utc if summary.sessions else summary.time_created
    destination = _archive_path(settings, item, sha256, first_start)

    with store.session() as session:
        _ensure_athlete(session, item.athlete_id)
        duplicate_of = _natural_key_duplicate(session, summary) if status == "ingested" else None
        source = existing and session.get(SourceFile, existing.id)
        if source is None:
            source = SourceFile(sha256=sha256, athlete_id=item.athlete_id,
                                original_name=item.name, size_bytes=len(data), status=status)
            session.add(source)
        if duplicate_of is not None:
            status = "duplicate"
            reason = (f"same activity as source #{duplicate_of.id} ({duplicate_of.original_name}):"
                      f" same device serial and creation time")
            source.duplicate_of_id = duplicate_of.id
        source.status, source.reason, source.warnings = status, reason or None, decoded.warnings
        source.fit_file_type, source.fit_manufacturer = summary.file_type, summary.manufacturer
        source.fit_serial_number, source.fit_time_created = (summary.serial_number,
                                                             summary.time_created)
        source.decoder, source.stored_path = decoded.decoder, str(destination)
        session.flush()
        activity_ids = (_store_activities(session, source, summary, item.athlete_id,
                                          decoded.warnings) if status == "ingested" else [])
    move_file(item.path, destination)
    log.info("%s %s -> %s %s", status, item.path, destination, reason)
    return IngestOutcome(item.path, item.athlete_id, status, reason, activity_ids,
                         decoded.warnings, destination)


def ingest_inbox(store: Store, settings: IngestSettings,
                 on_outcome: Callable[[IngestOutcome], None] | None = None,
                 items: Iterable[InboxFile] | None = None,
                 should_continue: Callable[[], bool] = lambda: True) -> list[IngestOutcome]:
    """Ingest every file in the inbox (or the given items); one bad file never stops the rest.

    `should_continue` is asked between files, so a shutdown finishes the current file only.
    """
    outcomes: list[IngestOutcome] = []
    if items is None:
        items = scan_inbox(settings.inbox, exclude=(settings.archive, settings.quarantine))
    for item in items:
        if not should_continue():
            break
        try:
            outcome = ingest_file(store, settings, item)
        except FileNotFoundError:
            continue  # taken by another worker or removed by the user meanwhile
        except OSError as exc:
            outcome = IngestOutcome(item.path, item.athlete_id, "error", f"{exc}")
            log.error("could not ingest %s: %s", item.path, exc)
        outcomes.append(outcome)
        if on_outcome:
            on_outcome(outcome)
    return outcomes
