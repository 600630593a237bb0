"""A journal.csv from an athlete's inbox folder into the store: its good rows as journal entries,
its bad rows named by line (warnings on its source row and in the log), then the file archived
like a FIT file (copied, when it is someone else's: filing's `archive` and `quarantine_payload`
decide); the same bytes again are a duplicate, and a file without one good row goes to
quarantine with the lines that were wrong."""

from __future__ import annotations

import logging
import os
from datetime import datetime
from zoneinfo import ZoneInfo

from ingest.filing import (
    Container,
    Part,
    archive,
    archive_destination,
    quarantine_container,
    quarantine_payload,
)
from ingest.inbox import InboxFile
from ingest.journal_csv import read_journal
from ingest.links import open_unfollowed
from ingest.outcome import IngestOutcome, IngestStatus
from ingest.record import NewSource, record_journal, settled_source, sha256_hex
from ingest.settings import IngestSettings
from store import SourceFile, Store

log = logging.getLogger("strideguard.ingest")
PROBLEMS_IN_REASON = 20  # a reason file names this many bad lines, then counts the rest
# a journal larger than this is refused unread: a line a day for ten years is about 400 kB
MAX_JOURNAL_BYTES = 4 * 1024 * 1024


class JournalTooLarge(Exception):
    """A journal past MAX_JOURNAL_BYTES: quarantined whole, unread."""


def journal_waiting(item: InboxFile, now_s: float, stability_s: float) -> str | None:
    """Why to leave a journal in the inbox for now: a CSV declares no length and has no CRC, so
    one changed within `stability_s` may still be being written."""
    age_s = now_s - item.path.lstat().st_mtime  # a link's own: the caller refuses links
    if age_s >= stability_s:
        return None
    return (f"waiting for the file to be complete (changed {age_s:.0f} s ago; a journal is "
            f"read once unchanged for {stability_s:g} s)")


def _journal_bytes(item: InboxFile) -> bytes:
    """The journal's bytes, read as the inbox reads (never through a link, nor from anything
    but the regular file the scan found: a FIFO put in its place never blocks the scan), and
    never more than MAX_JOURNAL_BYTES of them (JournalTooLarge)."""
    with open_unfollowed(item.path, item.identity) as stream:
        size_bytes = os.fstat(stream.fileno()).st_size
        data = stream.read(MAX_JOURNAL_BYTES + 1) if size_bytes <= MAX_JOURNAL_BYTES else b""
    if size_bytes > MAX_JOURNAL_BYTES or len(data) > MAX_JOURNAL_BYTES:
        raise JournalTooLarge(
            f"{item.name} is larger than {MAX_JOURNAL_BYTES // 2**20} MB (a line a day for ten "
            "years is 400 kB): refused unread")
    return data


def _no_rows_reason(name: str, problems: list[str]) -> str:
    if not problems:
        return f"{name} holds no rows below its header"
    shown = "; ".join(problems[:PROBLEMS_IN_REASON])
    more = len(problems) - PROBLEMS_IN_REASON
    return f"no row could be stored: {shown}" + (f"; and {more} more bad rows" if more > 0 else "")


def _duplicate(settings: IngestSettings, container: Container, known: SourceFile
               ) -> IngestOutcome:
    """The same bytes again (or a journal whose commit landed before a crash): archived, and
    nothing stored twice."""
    item = container.item
    destination = archive_destination(settings, container, known.sha256[:8],
                                      recorded=known.stored_path)
    reason = f"same file as source #{known.id} ({known.original_name}, {known.status})"
    log.info("duplicate %s: %s", item.path, reason)
    return IngestOutcome(item.path, item.athlete_id, IngestStatus.DUPLICATE, reason,
                         stored_at=archive(container, destination))


def ingest_journal(store: Store, settings: IngestSettings, container: Container
                   ) -> IngestOutcome:
    """Store a journal's good rows in one transaction, then archive it (nothing moves before
    the commit, so a crash re-reads it and the sha256 makes the second reading a duplicate).

    Dates are checked against the athlete's local today: an entry cannot be about tomorrow.
    """
    item = container.item
    try:
        data = _journal_bytes(item)
    except JournalTooLarge as exc:
        return quarantine_container(store, settings, container, str(exc))
    part = Part(sha256_hex(data))
    known = settled_source(store, part.sha256)
    if known is not None:
        return _duplicate(settings, container, known)
    today = datetime.now(ZoneInfo(settings.timezone_for(item.athlete_id))).date()
    read = read_journal(data, item.name, today)
    for problem in read.problems:
        log.warning("bad row in %s: %s", item.path, problem)
    if read.unreadable is not None or not read.rows:
        reason = read.unreadable or _no_rows_reason(item.name, read.problems)
        return quarantine_payload(store, settings, item, part, reason)
    destination = archive_destination(settings, container, part.sha256[:8])
    new = NewSource(part.sha256, item.athlete_id, item.label, member=None, size_bytes=len(data))
    recorded = record_journal(store, new, read.rows, read.problems, destination)
    if recorded.already_stored is not None:  # stored by another process since our lookup
        return _duplicate(settings, container, recorded.already_stored)
    log.info("%s %s: %d journal entries stored, %d rows stored before, %d bad rows",
             recorded.status, item.path, len(recorded.entry_ids), recorded.repeated_rows,
             len(read.problems))
    return IngestOutcome(item.path, item.athlete_id, recorded.status, recorded.reason,
                         journal_entry_ids=recorded.entry_ids, warnings=read.problems,
                         stored_at=archive(container, destination))
