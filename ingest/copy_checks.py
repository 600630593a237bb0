"""The checks reading someone else's files adds to the pipeline's (ingest/sources.py): a zip
holding no activity file is no one's mistake, a zip quarantined for a read error is not broken,
and a value the database refuses is one file's error, not the end of a scan."""

from __future__ import annotations

import gzip
import logging
from collections.abc import Callable, Sequence
from contextlib import closing

from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
    SQLAlchemyError,
    StatementError,
)

from ingest.containers import ContainerError, is_container_name, payloads
from ingest.inbox import InboxFile
from ingest.outcome import IngestOutcome, IngestStatus
from ingest.pipeline import ingest_inbox
from ingest.settings import IngestSettings
from store import Store

log = logging.getLogger("strideguard.ingest")


def holds_activity(item: InboxFile) -> bool | None:
    """Does a zip hold an activity file (Strava's and the pipeline's rules, as it reads them)?
    None when the file is no zip or cannot be opened: the pipeline judges it (a zip still
    being written waits, a broken one goes to quarantine)."""
    if not is_container_name(item.name):
        return None
    try:
        with closing(payloads(item.path)) as found:
            return next(found, None) is not None
    except (ContainerError, OSError):
        return None


def _read_error(exc: ContainerError) -> bool:
    """Did reading the file fail (an I/O error), rather than its bytes being wrong?"""
    cause = exc.__cause__
    return isinstance(cause, OSError) and not isinstance(cause, gzip.BadGzipFile)


def quarantine_stands(item: InboxFile) -> bool:
    """Is a file quarantined whole (its container unreadable) broken indeed? A zip is read
    again as ingest reads it: one that reads through now was quarantined for a passing read
    error (a share, a watch unplugged mid-read), one that still cannot be read may be too;
    neither is remembered as broken, so the next scan reads it again. A plain or gzipped file
    was read whole before it was judged: its quarantine stands."""
    if not is_container_name(item.name):
        return True
    read_any = False
    try:
        for payload in payloads(item.path):
            if payload.refused is not None:  # a member refused by what it is: that stands
                return True
            read_any = True
    except ContainerError as exc:
        if not _read_error(exc):
            return True
        log.warning("%s cannot be read now (%s); it is read again at the next scan",
                    item.path, exc)
        return False
    except OSError as exc:
        log.warning("%s cannot be read now (%s); it is read again at the next scan",
                    item.path, exc.strerror or exc)
        return False
    if read_any:
        log.info("%s was quarantined after a read error but reads whole now; it is read again "
                 "at the next scan", item.path)
    return not read_any  # nothing to read in it: that stands


def _refused(exc: SQLAlchemyError) -> bool:
    """An error about one file's values (too long for a column, out of range, against a
    constraint), not about the database (unreachable, locked, a table missing): the first is
    that file's ERROR, the second ends the scan (its files are read again at the next)."""
    return isinstance(exc, DataError | IntegrityError) or (
        isinstance(exc, StatementError) and not isinstance(exc, DBAPIError))


def _first_line(exc: SQLAlchemyError) -> str:
    cause = exc.orig if isinstance(exc, DBAPIError) else exc
    return (str(cause).strip().splitlines() or [type(cause).__name__])[0]


def ingest_batch(store: Store, settings: IngestSettings, items: Sequence[InboxFile],
                 on_outcome: Callable[[IngestOutcome], None] | None,
                 should_continue: Callable[[], bool]) -> list[IngestOutcome]:
    """The pipeline over a batch, with a database refusal (ingest_inbox lets it through) made
    the ERROR of the file it concerns: the files the batch had not finished are then read one
    at a time, and the one refused is reported, not remembered, and read again next scan."""
    outcomes: list[IngestOutcome] = []

    def report(outcome: IngestOutcome) -> None:
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)

    try:
        ingest_inbox(store, settings, report, items=items, should_continue=should_continue)
        return outcomes
    except SQLAlchemyError as exc:
        if not _refused(exc):
            raise
    finished = {outcome.path for outcome in outcomes if outcome.completes_file}
    for item in items:
        if item.path in finished:
            continue
        if not should_continue():
            break
        try:
            ingest_inbox(store, settings, report, items=[item], should_continue=should_continue)
        except SQLAlchemyError as exc:
            if not _refused(exc):
                raise
            reason = f"the database refused it ({_first_line(exc)})"
            log.error("could not store %s: %s; it is read again at the next scan", item.path,
                      reason)
            report(IngestOutcome(item.path, item.athlete_id, IngestStatus.ERROR, reason))
    return outcomes
