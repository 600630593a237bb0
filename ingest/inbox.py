"""The inbox walk: which files are ours, whose they are, and where they go when done."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ingest.containers import READ_SUFFIXES, is_journal_name

DEFAULT_ATHLETE = "default"
IGNORED_SUFFIXES = (".tmp", ".part", ".crdownload")
_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True)
class InboxFile:
    path: Path
    athlete_id: str

    @property
    def name(self) -> str:
        return self.path.name


def is_ignored(path: Path) -> bool:
    """Hidden, temporary and partial files are someone else's work in progress."""
    name = path.name
    return name.startswith((".", "~")) or name.lower().endswith(IGNORED_SUFFIXES)


def is_inbox_name(path: Path) -> bool:
    """A file StrideGuard reads: `.fit`/`.FIT`, `.fit.gz` or a `.zip` export holding FIT files,
    or a runner's `journal.csv`."""
    name = path.name.lower()
    return (name.endswith(READ_SUFFIXES) or is_journal_name(name)) and not is_ignored(path)


def athlete_for(path: Path, inbox: Path) -> str:
    """The first-level subfolder is the athlete id; files at the root belong to `default`."""
    relative = path.relative_to(inbox)
    return relative.parts[0] if len(relative.parts) > 1 else DEFAULT_ATHLETE


def scan_inbox(inbox: Path, exclude: tuple[Path, ...] = ()) -> Iterator[InboxFile]:
    """Every FIT (and journal) file under the inbox, oldest first; other files are left alone.

    `exclude` holds folders never to read (archive and quarantine, should they sit inside).
    """
    if not inbox.is_dir():
        return
    excluded = {path.resolve() for path in exclude}
    found: list[tuple[float, Path]] = []
    for directory, subdirs, files in os.walk(inbox):
        subdirs[:] = sorted(
            d for d in subdirs
            if not d.startswith(".") and (Path(directory) / d).resolve() not in excluded)
        for file_name in files:
            path = Path(directory) / file_name
            if is_inbox_name(path) and path.is_file():
                try:
                    found.append((path.stat().st_mtime, path))
                except FileNotFoundError:  # moved away while we looked
                    continue
    for _mtime, path in sorted(found):
        yield InboxFile(path, athlete_for(path, inbox))


def items_from_paths(paths: Sequence[Path], inbox: Path,
                     athlete_id: str | None = None) -> list[InboxFile]:
    """The files `strideguard ingest PATH...` takes: each named file, and the FIT and journal
    files under each named folder. The owner is `athlete_id` if given, else as if in the inbox
    (a file outside it belongs to `default`). Paths that do not exist are left out."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and is_inbox_name(p)))
        elif path.is_file():
            files.append(path)
    inbox = inbox.resolve()
    items = []
    for file in files:
        resolved = file.resolve()
        if athlete_id:
            owner = athlete_id
        elif resolved.is_relative_to(inbox):
            owner = athlete_for(resolved, inbox)
        else:
            owner = DEFAULT_ATHLETE
        items.append(InboxFile(resolved, owner))
    return items


def free_destination(folder: Path, name: str, tag: str) -> Path:
    """A path in `folder` for `name` that overwrites nothing (adds the tag, then a counter)."""
    safe_name = _UNSAFE_NAME_CHARS.sub("_", name) or "unnamed.fit"
    candidate = folder / safe_name
    if not candidate.exists():
        return candidate
    stem, dot, suffix = safe_name.partition(".")
    for counter in range(0, 10_000):
        extra = f"{tag}" if counter == 0 else f"{tag}-{counter}"
        candidate = folder / f"{stem}.{extra}{dot}{suffix}"
        if not candidate.exists():
            return candidate
    raise FileExistsError(f"no free name for {name} in {folder}")


def move_file(source: Path, destination: Path) -> Path:
    """Move without ever losing or overwriting a file: same-disk rename, else copy to a
    temporary name, fsync, rename into place, then unlink the source. Returns where it went."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    if destination.exists():  # never replace another file; take the next free name
        destination = free_destination(destination.parent, destination.name, "moved")
    try:
        os.rename(source, destination)
    except OSError:
        partial = destination.with_name(f".{destination.name}.part")
        shutil.copy2(source, partial)
        with open(partial, "rb") as copied:
            os.fsync(copied.fileno())
        os.rename(partial, destination)
        source.unlink()
    return destination
