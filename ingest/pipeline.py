"""Ingest inbox files: check, decode (in worker processes), dedupe, store one transaction per
FIT file, and only then archive the original. Nothing is deleted; a crash re-ingests nothing twice.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from ingest.containers import ContainerError, Payload, is_container_name, payloads
from ingest.decode import DecoderName, check_fit_complete
from ingest.inbox import InboxFile, free_destination, move_file, scan_inbox
from ingest.normalise import SERIES_INTERVAL_S, FileSummary, SessionSummary
from ingest.parse import ParsedFit, parse_fit_safely
from store import (
    Activity,
    ActivitySeries,
    Athlete,
    SourceFile,
    Store,
    serialize_ingest_writes,
    utc_now,
)

log = logging.getLogger("strideguard.ingest")

# parsed files waiting to be stored, per worker: keeps memory flat however many files there are
IN_FLIGHT_PER_WORKER = 3
_JobT = TypeVar("_JobT")


@dataclass(frozen=True)
class IngestSettings:
    inbox: Path
    archive: Path
    quarantine: Path
    decoder: DecoderName = "fitparse"
    stability_s: float = 5.0
    workers: int = 1  # decoding processes; 0 = one per usable CPU core
    default_timezone: str = "UTC"
    athlete_timezones: Mapping[str, str] = field(default_factory=dict)

    def timezone_for(self, athlete_id: str) -> str:
        return self.athlete_timezones.get(athlete_id, self.default_timezone)


@dataclass
class IngestOutcome:
    """What became of one FIT file: ingested, skipped, duplicate, quarantined, waiting or error.

    For a zip export there is one outcome per FIT file inside it (`member`).
    """

    path: Path
    athlete_id: str
    status: str
    reason: str = ""
    activity_ids: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    stored_at: Path | None = None
    member: str | None = None
    record_count: int = 0
    completes_file: bool = True  # False for a zip member that is not the zip's last


    @property
    def label(self) -> str:
        return f"{self.path.name}:{self.member}" if self.member else self.path.name


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def worker_count(requested: int) -> int:
    return requested if requested > 0 else usable_cores()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _ensure_athlete(session: Session, athlete_id: str) -> None:
    if session.get(Athlete, athlete_id) is None:
        session.add(Athlete(id=athlete_id))
        session.flush()


def _register_athletes(store: Store, athlete_ids: set[str]) -> Callable[[str], None]:
    """Commit each athlete's row the first time a batch meets them, not in every file's
    transaction (athletes are never deleted, so once committed it stays true)."""

    def register(athlete_id: str) -> None:
        if athlete_id not in athlete_ids:
            with store.session() as session:
                serialize_ingest_writes(session)
                _ensure_athlete(session, athlete_id)
            athlete_ids.add(athlete_id)

    return register


# --- parsing, inline or in a process pool -------------------------------------------------------


class _Parser:
    """Runs parse jobs inline (one worker) or in a process pool started on the second job."""

    def __init__(self, settings: IngestSettings, workers: int) -> None:
        self.settings = settings
        self.workers = workers
        self._pool: Executor | None = None
        self._jobs = 0

    @property
    def in_flight_limit(self) -> int:
        return 1 if self.workers == 1 else self.workers * IN_FLIGHT_PER_WORKER

    def submit(self, data: bytes, athlete_id: str) -> Future[ParsedFit]:
        self._jobs += 1
        timezone_name = self.settings.timezone_for(athlete_id)
        if self.workers == 1 or (self._jobs == 1 and self._pool is None):
            done: Future[ParsedFit] = Future()
            done.set_result(parse_fit_safely(data, self.settings.decoder, timezone_name))
            return done
        if self._pool is None:
            # forkserver: workers never inherit the scheduler's or the database pool's threads
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["ingest.parse"])
            self._pool = ProcessPoolExecutor(self.workers, mp_context=context)
        return self._pool.submit(parse_fit_safely, data, self.settings.decoder, timezone_name)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


# --- one inbox file and the FIT payloads it holds ----------------------------------------------


@dataclass
class _Container:
    """An inbox file being ingested: where it goes once all its payloads are stored."""

    item: InboxFile
    archive_to: Path | None = None  # chosen when its first payload is stored

    @property
    def is_zip(self) -> bool:
        return is_container_name(self.item.name)


@dataclass
class _Job:
    """One FIT payload on its way through: parsed (future) or already known by its hash."""

    container: _Container
    payload: Payload
    sha256: str
    known: SourceFile | None
    parsed: Future[ParsedFit] | None
    last: bool  # the last payload of its container
    container_problem: str | None = None  # set on a last job: the container itself is broken


def _wait_reason(item: InboxFile, data: bytes | None, error: str | None, age_s: float,
                 stability_s: float) -> str | None:
    """A file that is not whole yet and was touched recently is probably still being copied."""
    if age_s >= stability_s:
        return None
    if error is not None or data == b"":
        return f"waiting for the file to be complete ({error or 'it is empty'})"
    if data is not None and not item.name.lower().endswith((".gz", ".zip")):
        completeness = check_fit_complete(data)
        if completeness.state not in ("complete", "bad_crc", "not_fit"):
            return f"waiting for the file to be complete ({completeness.detail})"
    return None


def _with_last(values: Iterator[Payload]) -> Iterator[tuple[Payload, bool]]:
    previous: Payload | None = None
    for value in values:
        if previous is not None:
            yield previous, False
        previous = value
    if previous is not None:
        yield previous, True


def _known_source(store: Store, sha256: str) -> SourceFile | None:
    with store.session() as session:
        return session.scalars(select(SourceFile).where(SourceFile.sha256 == sha256)).first()


def _jobs_for(store: Store, settings: IngestSettings, item: InboxFile, parser: _Parser,
              now_s: float, batch_hashes: set[str]) -> Iterator[_Job | IngestOutcome]:
    """The payloads of one inbox file as jobs, or one outcome when the file must wait.

    `batch_hashes` holds the payloads already on their way in this batch: the same bytes
    twice are decoded once, and the second is looked up when its turn comes.
    """
    age_s = now_s - item.path.stat().st_mtime
    container = _Container(item)
    data = None if container.is_zip else item.path.read_bytes()
    try:
        first = True
        for payload, last in _with_last(payloads(item.path, data)):
            if first:
                wait = _wait_reason(item, payload.data if payload.member is None else None, None,
                                    age_s, settings.stability_s)
                if wait:
                    yield IngestOutcome(item.path, item.athlete_id, "waiting", wait)
                    return
                first = False
            sha256 = _sha256(payload.data)
            known, parsed = None, None
            if sha256 not in batch_hashes:
                batch_hashes.add(sha256)
                known = _known_source(store, sha256)
                if known is None or known.status == "quarantined":  # quarantined: try again
                    known, parsed = None, parser.submit(payload.data, item.athlete_id)
            if payload.member is None:
                payload = Payload(b"", None)  # the file itself is moved; drop the bytes early
            yield _Job(container, payload, sha256, known, parsed, last)
        if first:  # a zip with no FIT file in it
            yield _Job(container, Payload(b""), "", None, None, True,
                       "the zip file holds no .fit or .fit.gz file")
    except ContainerError as exc:
        wait = _wait_reason(item, None, str(exc), age_s, settings.stability_s)
        if wait and first:
            yield IngestOutcome(item.path, item.athlete_id, "waiting", wait)
            return
        problem = str(exc) if first else f"{exc}; the FIT files before it were read and stored"
        yield _Job(container, Payload(b""), "", None, None, True, problem)


# --- storing --------------------------------------------------------------------------------------


def _same_activity(summary: FileSummary) -> ColumnElement[bool] | None:
    """The same activity exported again: same (manufacturer, serial, time_created), ingested."""
    if summary.serial_number is None or summary.time_created is None:
        return None
    return and_(
        SourceFile.fit_manufacturer == summary.manufacturer,
        SourceFile.fit_serial_number == summary.serial_number,
        SourceFile.fit_time_created == summary.time_created,
        SourceFile.status == "ingested",
    )


def _natural_key_duplicate(session: Session, summary: FileSummary) -> SourceFile | None:
    same_activity = _same_activity(summary)
    if same_activity is None:
        return None
    return session.scalars(select(SourceFile).where(same_activity)).first()


def _source_and_duplicate(session: Session, sha256: str, summary: FileSummary | None
                          ) -> tuple[SourceFile | None, SourceFile | None]:
    """In one query: the row of these very bytes (a retry after quarantine or a crash), and an
    ingested row of the same activity from another file, when `summary` is given."""
    same_bytes = SourceFile.sha256 == sha256
    same_activity = _same_activity(summary) if summary is not None else None
    condition = same_bytes if same_activity is None else or_(same_bytes, same_activity)
    rows = session.scalars(select(SourceFile).where(condition).order_by(SourceFile.id)).all()
    source = next((row for row in rows if row.sha256 == sha256), None)
    duplicate_of = next((row for row in rows if row.sha256 != sha256 and row.status == "ingested"),
                        None)
    return source, duplicate_of


def _archive_folder(settings: IngestSettings, athlete_id: str, start: datetime | None) -> Path:
    month = (start or datetime.now(UTC)).strftime("%Y-%m")
    return settings.archive / athlete_id / month


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
        speed_last_fifth_mps=s.speed_last_fifth_mps, rpe=s.rpe,
        gct_balance_left_pct=s.gct_balance_left_pct, vertical_ratio_pct=s.vertical_ratio_pct,
        step_length_m=s.step_length_m, ground_contact_ms=s.ground_contact_ms,
    )


def store_activities(session: Session, source: SourceFile, parsed: ParsedFit) -> list[int]:
    """Create or update (same source file and session index) one activity per session.

    Used by ingest and by reprocess: an activity keeps its id, so nothing is duplicated.
    """
    assert parsed.summary is not None
    existing = {a.session_index: a for a in source.activities}
    activities: list[Activity] = []
    for s in parsed.summary.sessions:
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
    for gone in existing.values():  # a session a better parser no longer sees
        session.delete(gone)
    session.flush()  # one flush for the file: the source row, then its activities, get their ids
    return [activity.id for activity in activities]


def _quarantine_destination(settings: IngestSettings, job: _Job) -> Path:
    item = job.container.item
    folder = settings.quarantine / item.athlete_id
    if job.payload.member is None:
        return free_destination(folder, item.name, job.sha256[:8] or "file")
    flat_member = job.payload.member.replace("/", "__")
    return free_destination(folder, f"{Path(item.name).stem}__{flat_member}", job.sha256[:8])


def _write_reason(destination: Path, label: str, athlete_id: str, size_bytes: int, sha256: str,
                  reason: str) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    reason_file = destination.with_name(destination.name + ".reason.txt")
    reason_file.write_text(
        f"{label} could not be ingested.\n\nReason: {reason}\n\n"
        f"Athlete: {athlete_id}\nSize: {size_bytes} bytes\n"
        + (f"SHA-256: {sha256}\n" if sha256 else "")
        + f"Quarantined at: {datetime.now(UTC).isoformat(timespec='seconds')}\n"
        "Fix or replace the file and drop it into the inbox again to retry.\n",
        encoding="utf-8",
    )


def _quarantine_payload(store: Store, settings: IngestSettings, job: _Job,
                        reason: str) -> IngestOutcome:
    """Record why a FIT payload is unreadable and put it in quarantine with a reason file.

    A plain file moves there itself (after the commit); a zip member is written out beside its
    reason, and the zip goes on to the archive with the rest of its files.
    """
    item, member = job.container.item, job.payload.member
    destination = _quarantine_destination(settings, job)
    size_bytes = len(job.payload.data) if member else item.path.stat().st_size
    label = f"{item.name}:{member}" if member else item.name
    if member is not None:
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(job.payload.data)
    with store.session() as session:
        serialize_ingest_writes(session)
        source, _ = _source_and_duplicate(session, job.sha256, None)
        if source is None:
            source = SourceFile(sha256=job.sha256, athlete_id=item.athlete_id,
                                original_name=item.name, size_bytes=size_bytes,
                                container_member=member, status="quarantined")
            session.add(source)
        source.status, source.reason, source.stored_path = "quarantined", reason, str(destination)
    _write_reason(destination, label, item.athlete_id, size_bytes, job.sha256, reason)
    if member is None:
        moved_to = move_file(item.path, destination)
        if moved_to != destination:
            _write_reason(moved_to, label, item.athlete_id, size_bytes, job.sha256, reason)
    log.warning("quarantined %s: %s", label, reason)
    return IngestOutcome(item.path, item.athlete_id, "quarantined", reason, stored_at=destination,
                         member=member)


def _quarantine_container(store: Store, settings: IngestSettings, container: _Container,
                          reason: str) -> IngestOutcome:
    """A zip or gzip that cannot be (fully) opened: the whole file goes to quarantine, and
    FIT files already stored from it point there."""
    item = container.item
    destination = free_destination(settings.quarantine / item.athlete_id, item.name, "container")
    _write_reason(destination, item.name, item.athlete_id, item.path.stat().st_size, "", reason)
    if container.archive_to is not None:
        with store.session() as session:
            for source in session.scalars(select(SourceFile).where(
                    SourceFile.stored_path == str(container.archive_to))):
                source.stored_path = str(destination)
    moved_to = move_file(item.path, destination)
    log.warning("quarantined %s: %s", item.path, reason)
    return IngestOutcome(item.path, item.athlete_id, "quarantined", reason, stored_at=moved_to)


def _container_destination(settings: IngestSettings, job: _Job, start: datetime | None,
                           recorded: str | None = None) -> Path:
    """Where the inbox file will be archived, fixed once per file (zip members share it).

    A path recorded by an earlier, interrupted run is reused, so the database stays right.
    """
    container = job.container
    if container.archive_to is None:
        item = container.item
        if recorded and not Path(recorded).exists() and Path(recorded).is_relative_to(
                settings.archive):
            container.archive_to = Path(recorded)
        else:
            month_start = None if container.is_zip else start
            container.archive_to = free_destination(
                _archive_folder(settings, item.athlete_id, month_start), item.name,
                job.sha256[:8] or "file")
    return container.archive_to


def _store_parsed(store: Store, settings: IngestSettings, job: _Job,
                  parsed: ParsedFit) -> IngestOutcome:
    """One FIT payload into the store in one transaction: an activity per session, or a skip."""
    item, member = job.container.item, job.payload.member
    if parsed.problem is not None or parsed.summary is None:
        return _quarantine_payload(store, settings, job, parsed.problem or "nothing readable")
    summary = parsed.summary
    status, reason = "ingested", ""
    if summary.file_type != "activity":
        status, reason = "skipped", f"not an activity (FIT file type {summary.file_type!r})"
    elif not summary.sessions:
        if parsed.warnings:
            reason = (f"no session summary could be read ({summary.record_count} timestamped "
                      f"records before the damage): {'; '.join(parsed.warnings)}")
            if summary.no_session_reason:
                reason += f"; {summary.no_session_reason}"
        else:
            reason = f"no session summary: {summary.no_session_reason or 'no session message'}"
        return _quarantine_payload(store, settings, job, reason)
    first_start = summary.sessions[0].start_utc if summary.sessions else summary.time_created
    destination = _container_destination(settings, job, first_start)
    size_bytes = len(job.payload.data) if member else item.path.stat().st_size

    activity_ids: list[int] = []
    with store.session() as session:
        serialize_ingest_writes(session)  # the lookups below then hold until the commit
        source, duplicate_of = _source_and_duplicate(
            session, job.sha256, summary if status == "ingested" else None)
        if source is not None and source.status != "quarantined":
            # stored by another process since our lookup: counted once, its row left as it is
            job.known = source
            return _known_outcome(settings, job)
        if source is None:
            source = SourceFile(sha256=job.sha256, athlete_id=item.athlete_id,
                                original_name=item.name, size_bytes=size_bytes, status=status)
            session.add(source)
        if duplicate_of is not None:
            status = "duplicate"
            reason = (f"same activity as source #{duplicate_of.id} ({duplicate_of.original_name}):"
                      f" same device serial and creation time")
            source.duplicate_of_id = duplicate_of.id
        source.status, source.reason, source.warnings = status, reason or None, parsed.warnings
        source.container_member = member
        source.fit_file_type, source.fit_manufacturer = summary.file_type, summary.manufacturer
        source.fit_serial_number, source.fit_time_created = (summary.serial_number,
                                                             summary.time_created)
        source.decoder, source.stored_path = parsed.decoder, str(destination)
        if status == "ingested":
            activity_ids = store_activities(session, source, parsed)
    log.info("%s %s%s%s%s", status, item.path, f":{member}" if member else "",
             f": {reason}" if reason else "",
             f" (warnings: {'; '.join(parsed.warnings)})" if parsed.warnings else "")
    return IngestOutcome(item.path, item.athlete_id, status, reason, activity_ids,
                         parsed.warnings, destination, member, summary.record_count)


def _known_outcome(settings: IngestSettings, job: _Job) -> IngestOutcome:
    """The same bytes again (or a file whose commit landed before a crash): counted once."""
    known = job.known
    if known is None:
        raise FileNotFoundError(f"{job.container.item.path}: its twin in this batch left no row")
    item = job.container.item
    destination = _container_destination(settings, job, known.fit_time_created,
                                         known.stored_path)
    reason = f"same file as source #{known.id} ({known.original_name}, {known.status})"
    log.info("duplicate %s: %s", item.path, reason)
    return IngestOutcome(item.path, item.athlete_id, "duplicate", reason, stored_at=destination,
                         member=job.payload.member)


def _finish(store: Store, settings: IngestSettings, job: _Job) -> IngestOutcome | None:
    """Store one payload, then move its inbox file once its last payload is stored."""
    container = job.container
    if job.container_problem is not None:
        return _quarantine_container(store, settings, container, job.container_problem)
    if job.parsed is None:
        if job.known is None:  # the same bytes came earlier in this batch, stored by now
            job.known = _known_source(store, job.sha256)
        outcome = _known_outcome(settings, job)
    else:
        outcome = _store_parsed(store, settings, job, job.parsed.result())
    if not job.last:
        outcome.completes_file = False
        return outcome
    item = container.item
    if outcome.status == "quarantined" and not container.is_zip:
        return outcome  # already moved to quarantine with its reason
    destination = container.archive_to or _container_destination(settings, job, None)
    moved_to = move_file(item.path, destination)
    if moved_to != destination:
        log.warning("%s was archived as %s (the planned name was taken)", item.path, moved_to)
    outcome.stored_at = moved_to
    return outcome


def _in_order(jobs: Iterable[_JobT], finish: Callable[[_JobT], None], limit: int) -> None:
    """Feed jobs (whose parsing has started) and finish them oldest first, keeping at most
    `limit` waiting: storing follows the input order while the workers run ahead."""
    in_flight: deque[_JobT] = deque()
    for job in jobs:
        in_flight.append(job)
        while len(in_flight) > limit:
            finish(in_flight.popleft())
    while in_flight:
        finish(in_flight.popleft())


def _reporter(outcomes: list[IngestOutcome], on_outcome: Callable[[IngestOutcome], None] | None
              ) -> Callable[[IngestOutcome | None], None]:
    def report(outcome: IngestOutcome | None) -> None:
        if outcome is not None:
            outcomes.append(outcome)
            if on_outcome:
                on_outcome(outcome)
    return report


def ingest_inbox(store: Store, settings: IngestSettings,
                 on_outcome: Callable[[IngestOutcome], None] | None = None,
                 items: Iterable[InboxFile] | None = None,
                 should_continue: Callable[[], bool] = lambda: True) -> list[IngestOutcome]:
    """Ingest every file in the inbox (or the given items); one bad file never stops the rest.

    Files are decoded by `settings.workers` processes while this process stores the results in
    order, one transaction per FIT file, and moves each inbox file after its last commit.
    `should_continue` is asked between files; on shutdown the files already being decoded are
    finished and stored, nothing else is started.
    """
    outcomes: list[IngestOutcome] = []
    report = _reporter(outcomes, on_outcome)
    if items is None:
        items = scan_inbox(settings.inbox, exclude=(settings.archive, settings.quarantine))
    parser = _Parser(settings, worker_count(settings.workers))
    batch_hashes: set[str] = set()
    register_athlete = _register_athletes(store, set())

    def jobs() -> Iterator[_Job]:
        for item in items:
            if not should_continue():
                return
            try:
                for job in _jobs_for(store, settings, item, parser, time.time(), batch_hashes):
                    if isinstance(job, IngestOutcome):
                        report(job)
                    else:
                        register_athlete(item.athlete_id)  # before any of its files is stored
                        yield job
            except FileNotFoundError:
                continue
            except OSError as exc:
                log.error("could not read %s: %s", item.path, exc)
                report(IngestOutcome(item.path, item.athlete_id, "error", f"{exc}"))

    def finish(job: _Job) -> None:
        try:
            report(_finish(store, settings, job))
        except FileNotFoundError:
            pass  # taken by another worker or removed by the user meanwhile
        except OSError as exc:
            item = job.container.item
            log.error("could not ingest %s: %s", item.path, exc)
            report(IngestOutcome(item.path, item.athlete_id, "error", f"{exc}",
                                 member=job.payload.member, completes_file=job.last))

    try:
        _in_order(jobs(), finish, parser.in_flight_limit)
    finally:
        parser.close()
    return outcomes


# --- reprocess: read archived originals again -----------------------------------------------


@dataclass
class _Reread:
    """An archived source file being read again."""

    source_id: int
    path: Path
    athlete_id: str
    member: str | None
    parsed: Future[ParsedFit] | None
    problem: str | None = None


def _archived_payload(path: Path, member: str | None, sha256: str) -> bytes:
    """The bytes of an archived FIT payload, checked against the hash recorded at ingest."""
    for payload in payloads(path):
        if payload.member == member:
            if _sha256(payload.data) != sha256:
                raise ContainerError("the archived file changed since it was ingested "
                                     "(its SHA-256 differs)")
            return payload.data
    raise ContainerError(f"{member or path.name} is not in the archived file any more")


def _store_reread(store: Store, job: _Reread, parsed: ParsedFit) -> IngestOutcome:
    """Update a source file and its activities in place from a fresh parse."""
    outcome = IngestOutcome(job.path, job.athlete_id, "reprocessed", member=job.member)
    if parsed.problem is not None or parsed.summary is None:
        outcome.status, outcome.reason = "error", f"kept the stored data: {parsed.problem}"
        return outcome
    summary = parsed.summary
    with store.session() as session:
        source = session.get(SourceFile, job.source_id)
        assert source is not None
        source.decoder, source.warnings = parsed.decoder, parsed.warnings
        source.fit_file_type, source.fit_manufacturer = summary.file_type, summary.manufacturer
        source.fit_serial_number, source.fit_time_created = (summary.serial_number,
                                                             summary.time_created)
        if summary.file_type == "activity" and summary.sessions:
            duplicate_of = (_natural_key_duplicate(session, summary)
                            if source.status != "ingested" else None)
            if duplicate_of is not None and duplicate_of.id != source.id:
                outcome.status = "duplicate"
                outcome.reason = f"now read as the same activity as source #{duplicate_of.id}"
            else:
                source.status, source.reason = "ingested", None
                outcome.activity_ids = store_activities(session, source, parsed)
        elif source.status == "ingested":
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
    report = _reporter(outcomes, on_outcome)
    query = select(SourceFile.id, SourceFile.stored_path, SourceFile.athlete_id,
                   SourceFile.container_member, SourceFile.sha256).where(
        SourceFile.status.in_(("ingested", "skipped"))).order_by(SourceFile.id)
    if athlete_id is not None:
        query = query.where(SourceFile.athlete_id == athlete_id)
    with store.session() as session:
        rows = session.execute(query).all()
    parser = _Parser(settings, worker_count(settings.workers))

    def jobs() -> Iterator[_Reread]:
        for source_id, stored_path, owner, member, sha256 in rows:
            path = Path(stored_path or "")
            job = _Reread(source_id, path, owner, member, None)
            try:
                data = _archived_payload(path, member, sha256)
            except (OSError, ContainerError) as exc:
                job.problem = f"cannot read the archived original {path}: {exc}"
            else:
                job.parsed = parser.submit(data, owner)
            yield job

    def finish(job: _Reread) -> None:
        if job.parsed is None:
            log.error("%s", job.problem)
            report(IngestOutcome(job.path, job.athlete_id, "error", job.problem or "",
                                 member=job.member))
            return
        report(_store_reread(store, job, job.parsed.result()))

    try:
        _in_order(jobs(), finish, parser.in_flight_limit)
    finally:
        parser.close()
    return outcomes
