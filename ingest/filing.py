"""Filing: where an inbox file is archived, and quarantine moves with their reason files.

A file that is someone else's (`InboxFile.copy`: a source folder, `ingest --copy`) is copied
instead of moved, the same way, and its original is left as it was.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ingest.containers import Payload, is_container_name
from ingest.inbox import (
    ChangedWhileRead,
    InboxFile,
    copy_file,
    ensure_as_scanned,
    free_destination,
    move_file,
)
from ingest.links import folder_link_reason, is_link, link_reason
from ingest.outcome import IngestOutcome, IngestStatus
from ingest.record import NewSource, record_quarantined, repoint_stored_path
from ingest.settings import IngestSettings
from store import Store

log = logging.getLogger("strideguard.ingest")


@dataclass
class Container:
    """An inbox file being ingested, and where it goes once all its payloads are stored."""

    item: InboxFile
    archive_to: Path | None = None  # fixed when its first payload is stored
    # copy mode: `archive_to` already holds a copy of these bytes (a file read again after a
    # crash between its copy and its being remembered, or the same file in two folders)
    in_archive: bool = False

    @property
    def is_zip(self) -> bool:
        return is_container_name(self.item.name)


@dataclass(frozen=True)
class Part:
    """One FIT payload of an inbox file, known by its hash. A zip member keeps its name and
    bytes (written out should it be quarantined); a plain file's bytes are not kept, the file
    itself moves."""

    sha256: str
    zip_member: Payload | None = field(default=None, kw_only=True)

    @property
    def member(self) -> str | None:
        return self.zip_member.member if self.zip_member is not None else None

    def size_bytes(self, item: InboxFile) -> int:
        if self.zip_member is not None:
            return len(self.zip_member.data)
        return item.path.lstat().st_size

    def new_source(self, item: InboxFile) -> NewSource:
        return NewSource(self.sha256, item.athlete_id, item.label, member=self.member,
                         size_bytes=self.size_bytes(item))


def archive_destination(settings: IngestSettings, container: Container, tag: str, *,
                        start: datetime | None = None, recorded: str | None = None) -> Path:
    """Where the inbox file will be archived (`archive/<athlete>/<YYYY-MM>/`), fixed once per
    file: zip members share it. A plain file goes under the month of its activity's `start`
    (when known), a zip under the month it is ingested in.

    A path `recorded` by an earlier, interrupted run is reused, so the database stays right. In
    copy mode, a file (a zip too) whose very bytes are archived at `recorded` already is not
    copied again (read again after a crash between its copy and its being remembered).
    """
    item = container.item
    earlier = Path(recorded) if recorded else None
    if container.archive_to is None and earlier is not None and earlier.is_relative_to(
            settings.archive):
        if not earlier.exists():  # the place an interrupted run planned
            container.archive_to = earlier
        elif item.copy and _archived_already(earlier, container):  # its copy is there
            container.archive_to, container.in_archive = earlier, True
    if container.archive_to is None:
        month = (None if container.is_zip else start) or datetime.now(UTC)
        folder = settings.archive / item.athlete_id / month.strftime("%Y-%m")
        container.archive_to = free_destination(folder, item.name, tag)
    return container.archive_to


def _archived_already(archived: Path, container: Container) -> bool:
    """Does `archived` hold the very bytes of the file being read? Known by the hash the scan
    took; without one, a plain file's one payload is its bytes, a zip's are not."""
    if container.item.sha256 is None:
        return not container.is_zip
    try:
        with archived.open("rb") as stream:
            return hashlib.file_digest(stream, "sha256").hexdigest() == container.item.sha256
    except OSError:
        return False


def file_away(item: InboxFile, destination: Path) -> Path:
    """Move the inbox file to `destination`, or copy it there when it is someone else's (the
    next free name if it was taken); returns where it went. A copy must hold the bytes the scan
    hashed (ChangedWhileRead if its owner rewrote it meanwhile: nothing is copied)."""
    if item.copy:
        return copy_file(item.path, destination, sha256=item.sha256)
    ensure_as_scanned(item)  # a folder on its path swapped for a link: another's file
    return move_file(item.path, destination)


def _reason_file(destination: Path) -> Path:
    return destination.with_name(destination.name + ".reason.txt")


def archive(container: Container, destination: Path) -> Path:
    """Move (or copy) the inbox file to its archive destination (the next free name if it was
    taken); a copy of the same bytes there already is kept as the file's copy."""
    if container.in_archive and destination == container.archive_to:
        return destination
    filed_to = file_away(container.item, destination)
    if filed_to != destination:
        log.warning("%s was archived as %s (the planned name was taken)", container.item.path,
                    filed_to)
    return filed_to


RETRY_FROM_INBOX = "Fix or replace the file and drop it into the inbox again to retry.\n"
# a copy's original stays in the folder it came from (a source folder, `ingest --copy`)
RETRY_WHERE_IT_IS = ("This is a copy: the original was left where it is, and is read again "
                     "once its bytes change (or run `strideguard ingest --copy` on a fixed "
                     "file).\n")


def write_reason(destination: Path, label: str, athlete_id: str, size_bytes: int | None,
                 reason: str, *, sha256: str | None, copy: bool = False) -> None:
    """NAME.reason.txt beside a quarantined file: what it was, why, and how to retry (no size
    for a link: it holds no bytes of its own)."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    _reason_file(destination).write_text(
        f"{label} could not be ingested.\n\nReason: {reason}\n\n"
        f"Athlete: {athlete_id}\n"
        + (f"Size: {size_bytes} bytes\n" if size_bytes is not None else "")
        + (f"SHA-256: {sha256}\n" if sha256 else "")
        + f"Quarantined at: {datetime.now(UTC).isoformat(timespec='seconds')}\n"
        + (RETRY_WHERE_IT_IS if copy else RETRY_FROM_INBOX),
        encoding="utf-8", errors="backslashreplace",  # a reason naming an odd name's path
    )


def _quarantine_destination(settings: IngestSettings, item: InboxFile, part: Part) -> Path:
    folder = settings.quarantine / item.athlete_id
    if part.member is None:
        return free_destination(folder, item.name, part.sha256[:8])
    flat_member = part.member.replace("/", "__")
    return free_destination(folder, f"{Path(item.name).stem}__{flat_member}", part.sha256[:8])


def quarantine_payload(store: Store, settings: IngestSettings, item: InboxFile, part: Part,
                       reason: str) -> IngestOutcome:
    """Record why a FIT payload is unreadable and put it in quarantine with a reason file.

    A plain file moves (or, when someone else's, is copied) there itself (after the commit); a
    zip member is written out beside its reason, and the zip goes on to the archive with the
    rest of its files.
    """
    destination = _quarantine_destination(settings, item, part)
    new = part.new_source(item)
    label = f"{item.label}:{part.member}" if part.member else item.label
    if part.zip_member is not None:
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(part.zip_member.data)
    record_quarantined(store, new, reason, destination)
    write_reason(destination, label, item.athlete_id, new.size_bytes, reason, sha256=part.sha256,
                 copy=item.copy)
    if part.zip_member is None:
        try:
            moved_to = file_away(item, destination)
        except ChangedWhileRead:  # no copy: no reason file for it either
            _reason_file(destination).unlink(missing_ok=True)
            raise
        if moved_to != destination:
            write_reason(moved_to, label, item.athlete_id, new.size_bytes, reason,
                         sha256=part.sha256, copy=item.copy)
    log.warning("quarantined %s: %s", label, reason,
                extra={"athlete": item.athlete_id, "file": label})
    return IngestOutcome(item.path, item.athlete_id, IngestStatus.QUARANTINED, reason,
                         stored_at=destination, member=part.member)


def quarantine_container(store: Store, settings: IngestSettings, container: Container,
                         reason: str) -> IngestOutcome:
    """A zip or gzip that cannot be (fully) opened: the whole file goes (or a copy of it, when
    it is someone else's) to quarantine, and FIT files already stored from it point there."""
    item = container.item
    destination = free_destination(settings.quarantine / item.athlete_id, item.name, "container")
    write_reason(destination, item.label, item.athlete_id, item.path.lstat().st_size, reason,
                 sha256=None, copy=item.copy)
    if container.archive_to is not None:
        repoint_stored_path(store, container.archive_to, destination)
    try:
        moved_to = file_away(item, destination)
    except ChangedWhileRead:  # no copy: no reason file for it either
        _reason_file(destination).unlink(missing_ok=True)
        raise
    log.warning("quarantined %s: %s", item.path, reason,
                extra={"athlete": item.athlete_id, "file": item.label})
    return IngestOutcome(item.path, item.athlete_id, IngestStatus.QUARANTINED, reason,
                         stored_at=moved_to)


def refuse_link(settings: IngestSettings, item: InboxFile) -> IngestOutcome | None:
    """A symbolic link met where StrideGuard reads on its own (ingest.links): nothing is read
    through it. A link to a file (or to nothing) in the inbox moves to quarantine itself, with
    its reason file; one to a folder stays (it is only reported: it holds no file to file),
    and so does any link of someone else's (copy mode: never changed). No source row is
    written: a row is known by the SHA-256 of the bytes read, and none were. None when the
    link went away meanwhile (another process filed it)."""
    path = item.path
    if not is_link(path):  # not a link, yet not a regular file either (a pipe, a device)
        if not os.path.lexists(path):
            return None
        reason = "not a regular file (a pipe or a device?): not read"
        log.warning("%s: %s", path, reason)
        return IngestOutcome(path, item.athlete_id, IngestStatus.ERROR, reason)
    extra = {"athlete": item.athlete_id, "file": str(path)}
    if os.path.isdir(path) or item.copy:
        reason = folder_link_reason(path) if os.path.isdir(path) else link_reason(path)
        log.warning("%s is %s", path, reason, extra=extra)
        return IngestOutcome(path, item.athlete_id, IngestStatus.SKIPPED, reason)
    reason = link_reason(path)
    destination = free_destination(settings.quarantine / item.athlete_id, item.name, "link")
    write_reason(destination, item.label, item.athlete_id, None, reason, sha256=None)
    try:
        ensure_as_scanned(item)
        moved_to = move_file(path, destination)  # the link itself, as a link
    except OSError as exc:
        _reason_file(destination).unlink(missing_ok=True)
        if isinstance(exc, FileNotFoundError):
            return None
        log.error("could not move the link %s to quarantine: %s", path, exc, extra=extra)
        return IngestOutcome(path, item.athlete_id, IngestStatus.ERROR,
                             f"{reason}; moving it to quarantine failed ({exc})")
    if moved_to != destination:
        _reason_file(destination).rename(_reason_file(moved_to))
    log.warning("quarantined %s: %s", path, reason, extra=extra)
    return IngestOutcome(path, item.athlete_id, IngestStatus.QUARANTINED, reason,
                         stored_at=moved_to)
