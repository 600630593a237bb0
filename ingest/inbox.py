"""The inbox walk: which files are ours, whose they are, and where they go when done (moved from
the inbox, or copied from a folder another tool owns)."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import stat
import tempfile
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from config.schema import ATHLETE_ID_RE
from ingest.containers import READ_SUFFIXES, is_journal_name

log = logging.getLogger("strideguard.ingest")

DEFAULT_ATHLETE = "default"
_ATHLETE_ID = re.compile(ATHLETE_ID_RE)
# inbox folders already warned of in this process: a warning each scan would drown the log
_WARNED_FOLDERS: set[str] = set()
IGNORED_SUFFIXES = (".tmp", ".part", ".crdownload")
COPY_CHUNK_BYTES = 1024 * 1024
_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True)
class InboxFile:
    """A file to ingest and its owner. `copy`: the file is someone else's (a source folder,
    `ingest --copy`): it is copied to the archive or quarantine and never moved or changed."""

    path: Path
    athlete_id: str
    copy: bool = False
    # copy mode: the SHA-256 of the bytes read, when the scan hashed them; the copy made must
    # hold the same bytes (a file its owner rewrote in between is not archived as these)
    sha256: str | None = None

    @property
    def name(self) -> str:
        return self.path.name


class ChangedWhileRead(OSError):
    """A file someone else owns changed between being read and being copied: the copy is not
    made (the bytes read are gone); an OSError, so ingest reports the file as an ERROR and it
    is read again, with its new bytes."""


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


def files_below(folder: Path, exclude: Collection[Path] = (), *,
                on_error: Callable[[OSError], None] | None = None,
                should_continue: Callable[[], bool] = lambda: True) -> Iterator[Path]:
    """Every file below `folder` StrideGuard reads (`is_inbox_name`), folder by folder in name
    order. Hidden folders (Syncthing's `.stversions`, `.Trash-1000`) and the `exclude` folders
    (StrideGuard's own, resolved) are not walked; `on_error` hears of a folder that cannot be
    listed; the walk stops when `should_continue()` says so."""
    for directory, subdirs, files in os.walk(folder, onerror=on_error):
        if not should_continue():
            return
        subdirs[:] = sorted(
            d for d in subdirs
            if not d.startswith(".") and (Path(directory) / d).resolve() not in exclude)
        for file_name in sorted(files):
            path = Path(directory) / file_name
            if is_inbox_name(path):
                yield path


def scan_inbox(inbox: Path, exclude: tuple[Path, ...] = ()) -> Iterator[InboxFile]:
    """Every FIT (and journal) file under the inbox, oldest first; other files are left alone.

    `exclude` holds folders never to read (archive and quarantine, should they sit inside).
    """
    if not inbox.is_dir():
        return
    found: list[tuple[float, Path]] = []
    for path in files_below(inbox, {path.resolve() for path in exclude}):
        try:
            status = path.stat()
        except FileNotFoundError:  # moved away while we looked
            continue
        if stat.S_ISREG(status.st_mode):
            found.append((status.st_mtime, path))
    for _mtime, path in sorted(found):
        owner = athlete_for(path, inbox)
        if is_athlete_id(owner):
            yield InboxFile(path, owner)
        elif owner not in _WARNED_FOLDERS:
            _WARNED_FOLDERS.add(owner)
            log.warning("inbox folder %r does not name an athlete id (letters, digits, '_', "
                        "'.' and '-', starting with a letter or digit, at most 64 characters): "
                        "its files are left where they are; rename the folder to read them",
                        owner)


def is_athlete_id(name: str) -> bool:
    """Whether a folder name can be an athlete id (config.schema ATHLETE_ID_RE)."""
    return _ATHLETE_ID.fullmatch(name) is not None


def items_from_paths(paths: Sequence[Path], inbox: Path, athlete_id: str | None = None, *,
                     copy: bool = False, exclude: Sequence[Path] = ()) -> list[InboxFile]:
    """The files `strideguard ingest PATH...` takes: each named file, and the FIT and journal
    files under each named folder (its hidden folders and the `exclude` ones, StrideGuard's
    archive and quarantine, left out, as the inbox scan leaves them). The owner is
    `athlete_id` if given, else as if in the inbox (a file outside it belongs to `default`).
    Paths that do not exist are left out. `copy` (`ingest --copy`) leaves the originals where
    they are."""
    excluded = {path.resolve() for path in exclude}
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in files_below(path, excluded) if p.is_file()))
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
            if not is_athlete_id(owner):
                log.warning("%s: inbox folder %r does not name an athlete id; give --athlete "
                            "ID to read it", file, owner)
                continue
        else:
            owner = DEFAULT_ATHLETE
        items.append(InboxFile(resolved, owner, copy))
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
    """Move without ever losing or overwriting a file: same-disk rename, else a copy put in
    place as copy_file puts it, then the source unlinked. Returns where it went."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    if destination.exists():  # never replace another file; take the next free name
        destination = free_destination(destination.parent, destination.name, "moved")
    try:
        os.rename(source, destination)
    except OSError:
        destination = copy_file(source, destination)
        source.unlink()
    return destination


def _write_copy(source: Path, partial: int, partial_path: Path) -> str:
    """Copy the source's bytes into the open temporary file (with the source's mode and mtime,
    as shutil.copy2 would), sync them to disk, and return their SHA-256."""
    digest = hashlib.sha256()
    with os.fdopen(partial, "wb") as writer, source.open("rb") as reader:
        while chunk := reader.read(COPY_CHUNK_BYTES):
            digest.update(chunk)
            writer.write(chunk)
        writer.flush()
        status = os.fstat(reader.fileno())
        os.fsync(writer.fileno())
    with contextlib.suppress(OSError):  # a share that keeps no modes: the copy is what counts
        os.chmod(partial_path, stat.S_IMODE(status.st_mode))
    os.utime(partial_path, ns=(status.st_atime_ns, status.st_mtime_ns))
    return digest.hexdigest()


def _put_in_place(partial: Path, destination: Path) -> Path:
    """Give the finished temporary file a name nothing holds (the next free one if it is
    taken, even meanwhile): a hard link fails on a taken name; where the file system has no
    hard links (FAT, some shares), a rename under a name looked at just before."""
    for _attempt in range(100):
        if destination.exists():
            destination = free_destination(destination.parent, destination.name, "copied")
        try:
            os.link(partial, destination)
            return destination
        except FileExistsError:
            continue  # another process took the name between our look and the link
        except OSError:  # no hard links here: a rename would replace a file, so look again
            if destination.exists():
                continue
            os.rename(partial, destination)
            return destination
    raise FileExistsError(f"no free name for {destination.name} in {destination.parent}")


def copy_file(source: Path, destination: Path, *, sha256: str | None = None) -> Path:
    """Copy without changing the source (nor its mtime) or overwriting anything: to a hidden
    temporary file of its own beside the destination (unique across processes and machines
    sharing the folder), synced, then into place under a name nothing holds. With `sha256`
    (the hash of the bytes read before) the copy must hold those very bytes, else no copy is
    made and ChangedWhileRead is raised. Returns where the copy went."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".part",
                                    dir=destination.parent)
    partial = Path(name)
    try:
        copied_sha256 = _write_copy(source, handle, partial)
        if sha256 is not None and copied_sha256 != sha256:
            raise ChangedWhileRead(
                f"{source} changed while it was read (its bytes are not the ones read), so it "
                "was not copied; it is read again at the next scan")
        return _put_in_place(partial, destination)
    finally:
        partial.unlink(missing_ok=True)
