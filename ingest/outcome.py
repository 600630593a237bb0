"""What became of each FIT (or journal) file of a batch, and what a batch asks of the service
next."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


def printable(text: str) -> str:
    """A file name (or path) as it may be written to a reason file, the log or the database:
    the bytes of a name that are not UTF-8 (os.fsdecode's surrogates) shown as `\\xff`."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


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
    decode_s: float | None = None  # how long decoding its bytes took; None when not decoded

    @property
    def label(self) -> str:
        name = printable(self.path.name)  # it goes to the database (`status` counts)
        return f"{name}:{self.member}" if self.member else name

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


# Why a file was quarantined, skipped or failed, in a few fixed classes: a metric label must not
# take as many values as there are reasons. Matched on phrases of the reasons ingest writes
# (tests/test_telemetry.py holds one of each), first class first; a reason none names is
# "other". A phrase is specific on purpose: "more than" alone would take "the file chains 2
# more copies" or a decoder's "more than one session" for a size limit.
PROBLEM_CLASSES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("symlink", ("a symbolic link",)),
    # an OSError's words ("[Errno 13] Permission denied: ..."): the inbox's owner or mode
    # (the container's PUID) is wrong, not the file
    ("permission", ("permission denied", "operation not permitted", "read-only file system")),
    ("too_large", ("far more than any activity file", "more than strideguard reads",
                   "too large for a journal")),
    # ingest.pool.KILLED_TWICE: the decoder died under the file alone, twice
    ("decoder_killed", ("decoding process was killed",)),
    ("unsupported", ("is not supported", "not expand them", "not a regular file")),
    ("database", ("the database refused",)),
    ("not_an_activity_file", ("no fit header", "the file is empty", "shorter than a fit header",
                              "holds only its", "not a tcx file", "not a gpx file",
                              "a tcx course", "no timed track points", "no <activity>",
                              "no session summary:", "no session message and",
                              "not an activity", "holds no", "no row could be stored",
                              "finds no session")),
    ("damaged", ("crc mismatch", "not a complete gzip stream", "cannot be unpacked",
                 "not a readable", "not readable as fit", "not well-formed", "cut short",
                 "header declares", "are not a fit file", "no session summary could be read",
                 "stopped after", "expected utf-8 text", "expected csv text",
                 "expected the header", "columns (")),
)
OTHER_PROBLEM = "other"


def problem_class(reason: str) -> str:
    """The class of a quarantine (or error) reason: one of PROBLEM_CLASSES' names, or other."""
    text = reason.lower()
    for name, words in PROBLEM_CLASSES:
        if any(word in text for word in words):
            return name
    return OTHER_PROBLEM
