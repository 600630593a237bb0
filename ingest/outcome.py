"""What became of each FIT (or journal) file of a batch, and what a batch asks of the service
next."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


class IngestStatus(StrEnum):
    """An outcome's status; a StrEnum, so it compares, prints and stores as its word."""

    INGESTED = "ingested"  # stored: an activity per session, or a journal's new entries
    SKIPPED = "skipped"  # a FIT file, but no activity (settings, workout, monitoring, ...)
    # the same bytes, or the same activity (or every row of a journal), is already stored
    DUPLICATE = "duplicate"
    # unreadable (a journal without one good row): moved to quarantine/ with a reason file
    QUARANTINED = "quarantined"
    WAITING = "waiting"  # still being copied: left in the inbox for the next scan
    ERROR = "error"  # reading or moving it failed (or reprocess could not read it): unchanged
    REPROCESSED = "reprocessed"  # an archived original read again


@dataclass
class IngestOutcome:
    """What became of one FIT file: one of IngestStatus, with the reason where there is one.

    For a zip export there is one outcome per FIT file inside it (`member`).
    """

    path: Path
    athlete_id: str
    status: IngestStatus
    reason: str = ""
    activity_ids: list[int] = field(default_factory=list)
    journal_entry_ids: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    stored_at: Path | None = None
    member: str | None = None
    record_count: int = 0
    completes_file: bool = True  # False for a zip member that is not the zip's last

    @property
    def label(self) -> str:
        return f"{self.path.name}:{self.member}" if self.member else self.path.name

    def lose_activity(self, activity_id: int, reason: str) -> None:
        """A later file of the batch replaced one of this file's activities (a FIT after its
        GPX): it no longer counts here, and a file left with none is a duplicate, as its
        source row says, so a batch's totals count each activity once."""
        if activity_id not in self.activity_ids:
            return
        self.activity_ids.remove(activity_id)
        if self.activity_ids:
            self.warnings = [*self.warnings, f"activity #{activity_id} was removed: {reason}"]
        else:
            self.status = IngestStatus.DUPLICATE
            self.reason = f"{reason}; its activity #{activity_id} was removed"


def batch_needs_evaluation(outcomes: Iterable[IngestOutcome]) -> bool:
    """New activities or journal entries can change what the rules say (a pain entry most of
    all): a batch that stored one is evaluated."""
    return any(o.status == IngestStatus.INGESTED for o in outcomes)


def rescan_delay_s(outcomes: Iterable[IngestOutcome], stability_s: float,
                   debounce_s: float) -> float | None:
    """In how many seconds to scan again for a file still being copied (once it may be
    stable, never sooner than the debounce), or None when nothing in the batch waits."""
    if any(o.status == IngestStatus.WAITING for o in outcomes):
        return max(stability_s, debounce_s)
    return None
