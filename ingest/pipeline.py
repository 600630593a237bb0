"""Ingest inbox files: check, decode (in worker processes), dedupe, store one transaction per
activity file (FIT, TCX, GPX; or journal.csv), and only then archive the original. Nothing is
deleted; a crash re-ingests nothing twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.exc import DataError, IntegrityError

from ingest.checks import Arrival, NothingInZip, first_stop
from ingest.containers import (
    MAX_PAYLOAD_BYTES,
    ContainerError,
    Payload,
    is_journal_name,
    payload_format,
    payloads,
)
from ingest.filing import (
    Container,
    Part,
    archive,
    archive_destination,
    quarantine_container,
    quarantine_payload,
    refuse_link,
)
from ingest.inbox import InboxFile, scan_inbox
from ingest.journal import ingest_journal, journal_waiting
from ingest.links import LinkRefused, NotAsScanned, is_link
from ingest.outcome import IngestOutcome, IngestStatus, printable
from ingest.parse import ParsedFile
from ingest.pool import ParsePool, in_order
from ingest.record import (
    AthleteRegistry,
    record_parsed,
    settled_source,
    sha256_hex,
    source_by_hash,
)
from ingest.settings import IngestSettings
from ingest.tally import OutcomeTally
from store import SourceFile, Store

log = logging.getLogger("strideguard.ingest")
NOT_READ = "; the zip is kept whole in quarantine: its other activity files were read and stored"
# the payload bytes jobs waiting to be stored may hold together (beyond the newest one): real
# files are far smaller, but a zip of many payloads near MAX_PAYLOAD_BYTES must not be held at
# once (in this process and, pickled, on their way to the workers)
IN_FLIGHT_MAX_BYTES = MAX_PAYLOAD_BYTES

# --- what is to be done with one payload (or with its broken container) ----------------------


@dataclass(frozen=True)
class Decode:
    """New bytes, being decoded."""

    part: Part
    parsed: Future[ParsedFile]


@dataclass(frozen=True)
class Known:
    """The same bytes are stored already: counted once, and the file archived."""

    part: Part
    source: SourceFile


@dataclass(frozen=True)
class Twin:
    """The same bytes came earlier in this batch: looked up once those are stored."""

    part: Part


@dataclass(frozen=True)
class Broken:
    """The container cannot be read (any further): it goes to quarantine whole."""

    reason: str


@dataclass(frozen=True)
class Journal:
    """A journal.csv: read and stored in this process when its turn comes (nothing to decode)."""


@dataclass(frozen=True)
class Job:
    container: Container
    work: Decode | Known | Twin | Broken | Journal
    last: bool  # the last job of its container: the inbox file moves after it
    size_bytes: int = 0  # the payload bytes it holds until finished (IN_FLIGHT_MAX_BYTES)


def _arrive(item: InboxFile, now_s: float) -> tuple[Arrival, Iterator[Payload]]:
    """Open an inbox file as far as its checks need (its first payload) and the payloads still
    to come. Read a chunk at a time and never through a link (LinkRefused, should one have
    taken the file's place since the scan), and only the file the scan found (NotAsScanned)."""
    age_s = now_s - item.path.lstat().st_mtime
    pieces = payloads(item.path, item.identity)
    try:
        first = next(pieces, None)
    except ContainerError as exc:
        return Arrival(item, age_s, exc), iter(())
    if first is None:
        return Arrival(item, age_s, NothingInZip()), iter(())
    return Arrival(item, age_s, first), _then([first], pieces)


def _then(first: list[Payload], rest: Iterator[Payload]) -> Iterator[Payload]:
    """The first payload again, then the rest; unlike itertools.chain, holding on to none of
    them once handed out (a payload may be tens of MB)."""
    yield first.pop()
    yield from rest


class _Planner:
    """Decides each payload's work: the last check, by the hash of its bytes, then decoding.

    The same bytes twice in one batch are decoded once; the second is looked up in its turn.
    """

    def __init__(self, store: Store, pool: ParsePool) -> None:
        self._store = store
        self._pool = pool
        self._batch_hashes: set[str] = set()

    def work_for(self, item: InboxFile, payload: Payload) -> Decode | Known | Twin:
        sha256 = sha256_hex(payload.data)
        # the file itself moves; a zip member's bytes are kept in case it is quarantined
        part = Part(sha256, zip_member=payload if payload.member is not None else None)
        if sha256 in self._batch_hashes:
            return Twin(part)
        self._batch_hashes.add(sha256)
        known = settled_source(self._store, sha256)
        if known is not None:
            return Known(part, known)
        name = payload.member or item.name
        return Decode(part, self._pool.submit(
            payload.data, item.athlete_id, payload_format(name, payload.data),
            name=name, sport_hint=payload.sport_hint))


def _jobs_for(container: Container, pieces: Iterator[Payload], planner: _Planner
              ) -> Iterator[Job]:
    """The payloads of an inbox file that passed its checks, as jobs; a container that breaks
    after its first payload ends with a Broken job, as does a zip with refused members (too
    large, encrypted, an unusual method), named in the reason, once the others are read."""
    refused: list[str] = []
    try:
        for payload in pieces:
            if payload.refused is not None:
                log.warning("%s:%s not read: %s", container.item.path, payload.member,
                            payload.refused)
                refused.append(payload.refused)
            else:
                yield Job(container, planner.work_for(container.item, payload),
                          payload.last and not refused, len(payload.data))
            if payload.last and refused:
                yield Job(container, Broken("; ".join(refused) + NOT_READ), last=True)
    except ContainerError as exc:
        reason = f"{exc}; the activity files before it were read and stored"
        if refused:
            reason += f"; not read: {'; '.join(refused)}"
        yield Job(container, Broken(reason), last=True)


# --- finishing a job in the main process, in input order ----------------------------------------


def _unstorable_reason(parsed: ParsedFile) -> str | None:
    """Why a parsed payload goes to quarantine rather than into the store, if it does."""
    if parsed.problem is not None or parsed.summary is None:
        return parsed.problem or "nothing readable"
    summary = parsed.summary
    if summary.file_type != "activity" or summary.sessions:
        return None
    if parsed.format != "fit":
        return "; ".join([summary.no_session_reason or "no activity could be read",
                          *parsed.warnings])
    if not parsed.warnings:
        return f"no session summary: {summary.no_session_reason or 'no session message'}"
    reason = (f"no session summary could be read ({summary.record_count} timestamped "
              f"records before the damage): {'; '.join(parsed.warnings)}")
    if summary.no_session_reason:
        reason += f"; {summary.no_session_reason}"
    return reason


def _store_parsed(store: Store, settings: IngestSettings, container: Container, part: Part,
                  parsed: ParsedFile, batch_activities: dict[int, IngestOutcome]
                  ) -> IngestOutcome:
    """One payload into the store in one transaction: an activity per session, or a skip.

    `batch_activities` maps the activities stored so far in this batch to their file's
    outcome: one a later file replaces (a FIT after its GPX) is taken off that outcome."""
    item = container.item
    problem = _unstorable_reason(parsed)
    if problem is not None or parsed.summary is None:
        return quarantine_payload(store, settings, item, part, problem or "nothing readable")
    summary = parsed.summary
    status, reason = IngestStatus.INGESTED, ""
    if summary.file_type != "activity":
        status = IngestStatus.SKIPPED
        reason = (f"not an activity (FIT file type {summary.file_type!r})"
                  if parsed.format == "fit" else f"not an activity: {summary.no_session_reason}")
    first_start = summary.sessions[0].start_utc if summary.sessions else summary.time_created
    destination = archive_destination(settings, container, part.sha256[:8], start=first_start)
    recorded = record_parsed(store, part.new_source(item), parsed, status, reason, destination)
    if recorded.already_stored is not None:  # stored by another process since our lookup
        return _known_outcome(settings, container, part, recorded.already_stored)
    for activity_id, why in recorded.replaced.items():  # an earlier file of this batch's?
        replaced_in_batch = batch_activities.pop(activity_id, None)
        if replaced_in_batch is not None:
            replaced_in_batch.lose_activity(activity_id, why)
    log.info("%s %s%s%s%s", recorded.status, item.path, f":{part.member}" if part.member else "",
             f": {recorded.reason}" if recorded.reason else "",
             f" (warnings: {'; '.join(parsed.warnings)})" if parsed.warnings else "",
             extra={"athlete": item.athlete_id, "file": item.label})
    outcome = IngestOutcome(item.path, item.athlete_id, recorded.status, recorded.reason,
                            activity_ids=recorded.activity_ids, warnings=parsed.warnings,
                            stored_at=destination, member=part.member,
                            record_count=summary.record_count)
    batch_activities.update(dict.fromkeys(recorded.activity_ids, outcome))
    return outcome


def _known_outcome(settings: IngestSettings, container: Container, part: Part,
                   known: SourceFile) -> IngestOutcome:
    """The same bytes again (or a file whose commit landed before a crash): counted once."""
    item = container.item
    destination = archive_destination(settings, container, part.sha256[:8],
                                      start=known.fit_time_created, recorded=known.stored_path)
    reason = f"same file as source #{known.id} ({known.original_name}, {known.status})"
    log.info("duplicate %s: %s", item.path, reason,
             extra={"athlete": item.athlete_id, "file": item.label})
    return IngestOutcome(item.path, item.athlete_id, IngestStatus.DUPLICATE, reason,
                         stored_at=destination, member=part.member)


def _finish(store: Store, settings: IngestSettings, pool: ParsePool, job: Job,
            batch_activities: dict[int, IngestOutcome], *,
            leave_in_place: bool = False) -> IngestOutcome:
    """Store one payload, then move its inbox file once its last payload is stored (unless
    `leave_in_place`: a zip one of whose members could not be stored is read again later)."""
    container, work = job.container, job.work
    if isinstance(work, Broken):
        return quarantine_container(store, settings, container, work.reason)
    if isinstance(work, Journal):
        return ingest_journal(store, settings, container)  # archived or quarantined by then
    part = work.part
    if isinstance(work, Decode):
        parsed = pool.result(work.parsed)
        outcome = _store_parsed(store, settings, container, part, parsed, batch_activities)
        outcome.decode_s = parsed.decode_s
    else:
        # known bytes; a twin's first copy in this batch is stored by now
        known = work.source if isinstance(work, Known) else source_by_hash(store, part.sha256)
        if known is None:
            raise FileNotFoundError(f"{container.item.path}: its twin in this batch left no row")
        outcome = _known_outcome(settings, container, part, known)
    if not job.last:
        outcome.completes_file = False
        return outcome
    if leave_in_place:
        return outcome
    if outcome.status == IngestStatus.QUARANTINED and not container.is_zip:
        return outcome  # already moved to quarantine with its reason
    # not fixed yet only for a zip whose last members were quarantined: filed by today's month
    destination = container.archive_to or archive_destination(settings, container,
                                                              part.sha256[:8])
    outcome.stored_at = archive(container, destination)
    return outcome


def refused_reason(exc: DataError | IntegrityError, what: str) -> str:
    """Why the database refused one file's rows, in a line: the driver's first line names the
    value's problem ('value too long for type character varying(64)'); the statement and its
    parameters are left out (they can be long, and hold the file's data)."""
    detail = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
    return (f"the database refused it ({detail}) when storing {what}; nothing of the file was "
            "stored, and it is left in place to be read again")


def ingest_inbox(store: Store, settings: IngestSettings,
                 on_outcome: Callable[[IngestOutcome], None] | None = None,
                 items: Iterable[InboxFile] | None = None,
                 should_continue: Callable[[], bool] = lambda: True) -> list[IngestOutcome]:
    """Ingest every file in the inbox (or the given items); one bad file never stops the rest.

    Files are decoded by `settings.workers` processes while this process stores the results in
    order, one transaction per activity file, and moves each inbox file after its last commit.
    `should_continue` is asked between files; on shutdown the files already being decoded are
    finished and stored, nothing else is started.
    """
    outcomes: list[IngestOutcome] = []
    tally = OutcomeTally(store)

    def report(outcome: IngestOutcome) -> None:
        outcomes.append(outcome)
        tally.add(outcome)
        if on_outcome:
            on_outcome(outcome)

    if items is None:
        items = scan_inbox(settings.inbox, exclude=(settings.archive, settings.quarantine))
    pool = ParsePool(settings)
    planner = _Planner(store, pool)
    athletes = AthleteRegistry(store)
    batch_activities: dict[int, IngestOutcome] = {}
    failed_containers: set[Path] = set()  # a member could not be stored: the zip stays put

    def report_refused_link(item: InboxFile) -> None:
        refused = refuse_link(settings, item)
        if refused is not None:
            report(refused)

    def jobs() -> Iterator[Job]:
        for item in items:
            if not should_continue():
                return
            try:
                if is_link(item.path):  # never followed: the link is filed, never read
                    report_refused_link(item)
                    continue
                if is_journal_name(item.name):
                    waiting = journal_waiting(item, time.time(), settings.stability_s)
                    if waiting is not None:
                        report(IngestOutcome(item.path, item.athlete_id, IngestStatus.WAITING,
                                             waiting))
                    else:
                        athletes.register(item.athlete_id)
                        yield Job(Container(item), Journal(), last=True)
                    continue
                arrival, pieces = _arrive(item, time.time())
                stop = first_stop(arrival, settings.stability_s)
                del arrival  # its first payload is in `pieces`: not held past its job
                if stop is not None and stop.status == IngestStatus.WAITING:
                    report(IngestOutcome(item.path, item.athlete_id, stop.status, stop.reason))
                    continue
                athletes.register(item.athlete_id)  # before any of its files is stored
                container = Container(item)
                if stop is not None:
                    yield Job(container, Broken(stop.reason), last=True)
                else:
                    yield from _jobs_for(container, pieces, planner)
            except FileNotFoundError:
                continue
            except NotAsScanned as exc:  # a folder on its path (or the file) was swapped
                log.warning("%s: %s", item.path, exc)
                report(IngestOutcome(item.path, item.athlete_id, IngestStatus.ERROR, str(exc)))
            except LinkRefused:  # a link took the file's place after the scan looked
                report_refused_link(item)
            except (OSError, UnicodeError) as exc:  # UnicodeError: an odd name, this file only
                log.error("could not read %s: %s", printable(str(item.path)), exc)
                report(IngestOutcome(item.path, item.athlete_id, IngestStatus.ERROR, f"{exc}"))
            except (DataError, IntegrityError) as exc:  # its athlete's row: see refused_reason
                reason = refused_reason(exc, f"the row of athlete {item.athlete_id!r}")
                log.error("could not ingest %s: %s", item.path, reason)
                report(IngestOutcome(item.path, item.athlete_id, IngestStatus.ERROR, reason))

    def finish(job: Job) -> None:
        item = job.container.item
        member = None if isinstance(job.work, Broken | Journal) else job.work.part.member
        try:
            report(_finish(store, settings, pool, job, batch_activities,
                           leave_in_place=item.path in failed_containers))
        except FileNotFoundError:
            pass  # taken by another worker or removed by the user meanwhile
        # NotAsScanned: stored, but its path leads elsewhere now; nothing is moved.
        # UnicodeError: a name no reason file or row could hold: this file only
        except (OSError, UnicodeError) as exc:
            log.error("could not ingest %s: %s", printable(str(item.path)), exc)
            report(IngestOutcome(item.path, item.athlete_id, IngestStatus.ERROR, f"{exc}",
                                 member=member, completes_file=job.last))
        except (DataError, IntegrityError) as exc:
            # rolled back, the file left where it is; a database that is down (OperationalError)
            # still stops the batch: every file after it would fail the same way
            reason = refused_reason(exc, "its data")
            log.error("could not ingest %s%s: %s", item.path, f":{member}" if member else "",
                      reason)
            report(IngestOutcome(item.path, item.athlete_id, IngestStatus.ERROR, reason,
                                 member=member, completes_file=job.last))
            failed_containers.add(item.path)

    try:
        in_order(jobs(), finish, pool.in_flight_limit, size_of=lambda job: job.size_bytes,
                 max_bytes=IN_FLIGHT_MAX_BYTES)
    finally:
        pool.close()
        tally.flush()
    return outcomes
