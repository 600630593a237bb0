"""Filing: where an inbox file is archived, and quarantine moves with their reason files."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ingest.containers import Payload, is_container_name
from ingest.inbox import InboxFile, free_destination, move_file
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
        return item.path.stat().st_size

    def new_source(self, item: InboxFile) -> NewSource:
        return NewSource(self.sha256, item.athlete_id, item.name, member=self.member,
                         size_bytes=self.size_bytes(item))


def archive_destination(settings: IngestSettings, container: Container, tag: str, *,
                        start: datetime | None = None, recorded: str | None = None) -> Path:
    """Where the inbox file will be archived (`archive/<athlete>/<YYYY-MM>/`), fixed once per
    file: zip members share it. A plain file goes under the month of its activity's `start`
    (when known), a zip under the month it is ingested in.

    A path `recorded` by an earlier, interrupted run is reused, so the database stays right.
    """
    if container.archive_to is None:
        item = container.item
        if recorded and not Path(recorded).exists() and Path(recorded).is_relative_to(
                settings.archive):
            container.archive_to = Path(recorded)
        else:
            month = (None if container.is_zip else start) or datetime.now(UTC)
            folder = settings.archive / item.athlete_id / month.strftime("%Y-%m")
            container.archive_to = free_destination(folder, item.name, tag)
    return container.archive_to


def archive(container: Container, destination: Path) -> Path:
    """Move the inbox file to its archive destination (the next free name if it was taken)."""
    moved_to = move_file(container.item.path, destination)
    if moved_to != destination:
        log.warning("%s was archived as %s (the planned name was taken)", container.item.path,
                    moved_to)
    return moved_to


def write_reason(destination: Path, label: str, athlete_id: str, size_bytes: int,
                 reason: str, *, sha256: str | None) -> None:
    """NAME.reason.txt beside a quarantined file: what it was, why, and how to retry."""
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


def _quarantine_destination(settings: IngestSettings, item: InboxFile, part: Part) -> Path:
    folder = settings.quarantine / item.athlete_id
    if part.member is None:
        return free_destination(folder, item.name, part.sha256[:8])
    flat_member = part.member.replace("/", "__")
    return free_destination(folder, f"{Path(item.name).stem}__{flat_member}", part.sha256[:8])


def quarantine_payload(store: Store, settings: IngestSettings, item: InboxFile, part: Part,
                       reason: str) -> IngestOutcome:
    """Record why a FIT payload is unreadable and put it in quarantine with a reason file.

    A plain file moves there itself (after the commit); a zip member is written out beside its
    reason, and the zip goes on to the archive with the rest of its files.
    """
    destination = _quarantine_destination(settings, item, part)
    new = part.new_source(item)
    label = f"{item.name}:{part.member}" if part.member else item.name
    if part.zip_member is not None:
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(part.zip_member.data)
    record_quarantined(store, new, reason, destination)
    write_reason(destination, label, item.athlete_id, new.size_bytes, reason, sha256=part.sha256)
    if part.zip_member is None:
        moved_to = move_file(item.path, destination)
        if moved_to != destination:
            write_reason(moved_to, label, item.athlete_id, new.size_bytes, reason,
                         sha256=part.sha256)
    log.warning("quarantined %s: %s", label, reason)
    return IngestOutcome(item.path, item.athlete_id, IngestStatus.QUARANTINED, reason,
                         stored_at=destination, member=part.member)


def quarantine_container(store: Store, settings: IngestSettings, container: Container,
                         reason: str) -> IngestOutcome:
    """A zip or gzip that cannot be (fully) opened: the whole file goes to quarantine, and
    FIT files already stored from it point there."""
    item = container.item
    destination = free_destination(settings.quarantine / item.athlete_id, item.name, "container")
    write_reason(destination, item.name, item.athlete_id, item.path.stat().st_size, reason,
                 sha256=None)
    if container.archive_to is not None:
        repoint_stored_path(store, container.archive_to, destination)
    moved_to = move_file(item.path, destination)
    log.warning("quarantined %s: %s", item.path, reason)
    return IngestOutcome(item.path, item.athlete_id, IngestStatus.QUARANTINED, reason,
                         stored_at=moved_to)
