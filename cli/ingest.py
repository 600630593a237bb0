"""`strideguard ingest [--copy] PATH...` and `reprocess`: a progress bar over the files, then a
summary."""

from __future__ import annotations

import argparse
import logging
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from ingest import (
    IngestOutcome,
    IngestSettings,
    IngestStatus,
    batch_needs_evaluation,
    count_reprocessable,
    ingest_inbox,
    items_from_paths,
    read_copies,
    reprocess_archive,
)
from ingest.containers import READ_SUFFIXES
from ingest.inbox import is_athlete_id
from ingest.sources import own_folder_conflict
from wiring import App, open_app

if TYPE_CHECKING:
    from ingest.inbox import InboxFile

PROBLEM_ROWS_SHOWN = 50


class _FilesPerSecond(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:.1f} files/s")


class _IngestProgress:
    """A progress bar over inbox files with running counts, then a summary of the outcomes."""

    def __init__(self, title: str, total: int) -> None:
        self.counts: Counter[str] = Counter()
        self.activities = 0
        self.progress = Progress(
            TextColumn(f"[bold]{title}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[counts]}"),
            _FilesPerSecond(),
            TimeElapsedColumn(), TimeRemainingColumn(),
            console=Console(stderr=True), transient=False)
        self.task = self.progress.add_task(title, total=total, counts="")
        self._ingest_level = logging.NOTSET  # restored on exit (a test runs many commands)

    def __enter__(self) -> _IngestProgress:
        ingest_log = logging.getLogger("strideguard.ingest")
        self._ingest_level = ingest_log.level
        if not logging.getLogger("strideguard").isEnabledFor(logging.DEBUG):
            # the bar and the summary say it per file
            ingest_log.setLevel(logging.WARNING)
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)  # type: ignore[arg-type]
        logging.getLogger("strideguard.ingest").setLevel(self._ingest_level)

    def set_total(self, total: int) -> None:
        self.progress.update(self.task, total=total)

    def on_outcome(self, outcome: IngestOutcome) -> None:
        self.counts[outcome.status] += 1
        self.activities += len(outcome.activity_ids)
        errors = self.counts[IngestStatus.QUARANTINED] + self.counts[IngestStatus.ERROR]
        shown = ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items())
                          if k not in (IngestStatus.QUARANTINED, IngestStatus.ERROR))
        self.progress.update(
            self.task, advance=1 if outcome.completes_file else 0,
            counts=f"{shown} | activities {self.activities} | errors {errors}")


def print_ingest_summary(outcomes: Sequence[IngestOutcome], title: str) -> None:
    """Counts per outcome, then every file that was not simply stored, with its reason."""
    console = Console()
    totals = Table(title=title)
    for column in ("outcome", "files", "activities", "records"):
        totals.add_column(column, justify="right" if column != "outcome" else "left")
    for status in sorted({o.status for o in outcomes}):
        rows = [o for o in outcomes if o.status == status]
        totals.add_row(status, str(len(rows)), str(sum(len(o.activity_ids) for o in rows)),
                       str(sum(o.record_count for o in rows)))
    console.print(totals)
    notable = [o for o in outcomes
               if o.status not in (IngestStatus.INGESTED, IngestStatus.REPROCESSED) or o.warnings]
    if not notable:
        return
    details = Table(title="files worth a look")
    for column in ("file", "athlete", "outcome", "reason or warning"):
        details.add_column(column)
    for outcome in notable[:PROBLEM_ROWS_SHOWN]:
        details.add_row(outcome.label, outcome.athlete_id, outcome.status,
                        outcome.reason or "; ".join(outcome.warnings))
    console.print(details)
    if len(notable) > PROBLEM_ROWS_SHOWN:
        console.print(f"... and {len(notable) - PROBLEM_ROWS_SHOWN} more "
                      "(see `strideguard activities` and the .reason.txt files)")


def cmd_ingest(args: argparse.Namespace) -> int:
    with open_app(args.config) as app:
        return _ingest(app, args)


def _ingest(app: App, args: argparse.Namespace) -> int:
    paths = [Path(p) for p in args.paths]
    missing = [p for p in paths if not p.exists()]
    for path in missing:
        print(f"strideguard ingest: {path}: no such file or folder", file=sys.stderr)
    settings = app.ingest_settings()
    if args.copy and _overlaps_own_folders(paths, settings):
        return 1
    if args.athlete and not is_athlete_id(args.athlete):
        raise ValueError(f"--athlete: {args.athlete!r} is not an athlete id (letters, digits, "
                         "'_', '.' and '-', starting with a letter or digit, at most 64)")
    items = items_from_paths(paths, app.config.inbox, args.athlete, copy=args.copy,
                             exclude=(settings.archive, settings.quarantine))
    if not items:
        suffixes = f"{', '.join(READ_SUFFIXES[:-1])} or {READ_SUFFIXES[-1]}"
        print(f"no {suffixes} files (or journal.csv) found in {', '.join(args.paths)}")
        return 1 if missing else 0
    # files named on the command line are taken now: no waiting for them to settle
    settings = replace(settings, stability_s=0.0)
    if args.copy:
        outcomes = _ingest_copies(app, settings, items)
    else:
        with _IngestProgress("ingest", len(items)) as progress:
            outcomes = ingest_inbox(app.store, settings, on_outcome=progress.on_outcome,
                                    items=items)
        print_ingest_summary(outcomes, f"ingested {len(items)} files")
    if batch_needs_evaluation(outcomes):
        app.evaluate()
        app.dispatch()
    return 1 if missing else 0


def _overlaps_own_folders(paths: Sequence[Path], settings: IngestSettings) -> bool:
    """`ingest --copy` reads folders other tools own: one inside StrideGuard's own folders, or
    holding one, is refused (with why), and then nothing is read."""
    refused = False
    for path in paths:
        conflict = own_folder_conflict(path, settings) if path.exists() else None
        if conflict is not None:
            print(f"strideguard ingest --copy: {path} is not read: {conflict}", file=sys.stderr)
            refused = True
    if refused:
        print("strideguard ingest --copy: nothing was read", file=sys.stderr)
    return refused


def _ingest_copies(app: App, settings: IngestSettings, items: list[InboxFile]
                   ) -> list[IngestOutcome]:
    """`ingest --copy`: the originals stay where they are, copies go to the archive, and each
    file is remembered, so a second run reads only what is new or changed."""
    with _IngestProgress("ingest --copy", len(items)) as progress:
        read = read_copies(app.store, settings, items, on_outcome=progress.on_outcome,
                           on_planned=progress.set_total)
    if read.outcomes:
        read_now = len({outcome.path for outcome in read.outcomes})
        print_ingest_summary(read.outcomes, f"read {read_now} of {len(items)} files")
    if read.unchanged:
        print(f"{read.unchanged} files were read before and are unchanged: not read again")
    if read.left_to_others:
        print(f"{read.left_to_others} files are being read by another StrideGuard process")
    return read.outcomes


def cmd_reprocess(args: argparse.Namespace) -> int:
    with open_app(args.config) as app:
        return _reprocess(app, args)


def _reprocess(app: App, args: argparse.Namespace) -> int:
    with app.store.session() as session:
        total = count_reprocessable(session, args.athlete)
    with _IngestProgress("reprocess", total) as progress:
        outcomes = reprocess_archive(app.store, app.ingest_settings(), args.athlete,
                                     on_outcome=progress.on_outcome)
    print_ingest_summary(outcomes, f"re-read {total} archived files")
    return 1 if any(o.status == IngestStatus.ERROR for o in outcomes) else 0
