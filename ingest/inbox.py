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
from typing import Any

from config.schema import ATHLETE_ID_RE
from ingest.containers import READ_SUFFIXES, is_journal_name
from ingest.links import NotAsScanned, is_link, open_unfollowed
from ingest.outcome import printable

log = logging.getLogger("strideguard.ingest")

DEFAULT_ATHLETE = "default"
_ATHLETE_ID = re.compile(ATHLETE_ID_RE)
# inbox folders already warned of in this process: a warning each scan would drown the log
_WARNED_FOLDERS: set[str] = set()
# pipes, sockets and devices with a name StrideGuard reads, already warned of by this process
_WARNED_SPECIAL: set[Path] = set()
# links to folders in the inbox already reported by this process (never followed)
_REPORTED_FOLDER_LINKS: set[Path] = set()
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
    # what the scan found: the file's (st_dev, st_ino), and the real folder it lay in. A file
    # is read and moved only while its path still leads to that very file in that folder
    # (ensure_as_scanned): a folder on the path swapped for a link would lead elsewhere
    identity: tuple[int, int] | None = None
    folder: Path | None = None

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def label(self) -> str:
        """The name as it may be written to a reason file, the log or the database: one that is
        not valid UTF-8 (os.fsdecode's surrogates) shows its odd bytes as `\\xff`."""
        return printable(self.name)


def as_scanned(path: Path, owner: str, status: os.stat_result, real_folder: Path,
               **fields: Any) -> InboxFile:
    """An item found by a scan, with what it saw of the file (its identity, its real folder)."""
    return InboxFile(path, owner, identity=(status.st_dev, status.st_ino), folder=real_folder,
                     **fields)


def ensure_as_scanned(item: InboxFile) -> None:
    """NotAsScanned unless the item's path still leads to the file the scan found, in the
    folder it found it in; checked right before the file is moved (a rename follows a folder
    link on the way, and would move another athlete's file)."""
    if item.identity is None:
        return
    status = item.path.lstat()
    if ((status.st_dev, status.st_ino) != item.identity or (
            item.folder is not None and Path(os.path.realpath(item.path.parent)) != item.folder)):
        raise NotAsScanned(item.path)


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
                should_continue: Callable[[], bool] = lambda: True,
                on_folder_link: Callable[[Path], None] | None = None) -> Iterator[Path]:
    """Every file below `folder` StrideGuard reads (`is_inbox_name`), folder by folder in name
    order, links among them (as links: the caller refuses them, see ingest.links). Hidden
    folders (Syncthing's `.stversions`, `.Trash-1000`) and the `exclude` folders (StrideGuard's
    own, resolved) are not walked; nor is a link to a folder (`on_folder_link` hears of it);
    `on_error` hears of a folder that cannot be listed; the walk stops when
    `should_continue()` says so."""
    for directory, subdirs, files in os.walk(folder, onerror=on_error, followlinks=False):
        if not should_continue():
            return
        walked = []
        for name in sorted(d for d in subdirs if not d.startswith(".")):
            path = Path(directory) / name
            if is_link(path):
                if on_folder_link is not None:
                    on_folder_link(path)
            elif path.resolve() not in exclude:
                walked.append(name)
        subdirs[:] = walked
        for file_name in sorted(files):
            path = Path(directory) / file_name
            if is_inbox_name(path):
                yield path


def readable_or_link(path: Path) -> os.stat_result | None:
    """The path's own status (a link's, not its target's) when it is a regular file or a
    link (which ingest refuses, with a reason), else None: a pipe, a device, or gone."""
    try:
        status = path.lstat()
    except OSError:  # moved away while we looked
        return None
    if stat.S_ISREG(status.st_mode) or stat.S_ISLNK(status.st_mode):
        return status
    if path not in _WARNED_SPECIAL:  # once per process: it stays, and is met at every scan
        _WARNED_SPECIAL.add(path)
        log.warning("%s is not a regular file (a pipe, a socket or a device): not read, left "
                    "where it is", printable(str(path)))
    return None


def scan_inbox(inbox: Path, exclude: tuple[Path, ...] = (), *,
               on_error: Callable[[OSError], None] | None = None) -> Iterator[InboxFile]:
    """Every FIT (and journal) file under the inbox, oldest first; other files are left alone.

    `exclude` holds folders never to read (archive and quarantine, should they sit inside).
    Links are never followed: a link to a file comes as an item (ingest quarantines the link),
    a link to a folder too, the first time this process sees it (ingest reports it).
    `on_error` hears of each folder that cannot be listed, the inbox itself included (missing,
    not a folder, no permission: its OSError names it in `filename`); without it they are
    passed over in silence.
    """
    found: list[tuple[float, Path]] = []
    folder_links: list[Path] = []

    def folder_link(path: Path) -> None:
        if path not in _REPORTED_FOLDER_LINKS:
            _REPORTED_FOLDER_LINKS.add(path)
            folder_links.append(path)

    for path in files_below(inbox, {path.resolve() for path in exclude}, on_error=on_error,
                            on_folder_link=folder_link):
        status = readable_or_link(path)
        if status is not None:
            found.append((status.st_mtime, path, status))
    real_inbox = inbox.resolve()
    for _mtime, path, status in [*((0.0, link, None) for link in folder_links),
                                 *sorted(found, key=lambda seen: seen[:2])]:
        # a link to a folder at the top is an athlete's folder: named by the link itself
        owner = athlete_for(path, inbox) if status is not None else path.relative_to(
            inbox).parts[0]
        if is_athlete_id(owner) and status is not None:
            # the walk follows no link: the file's real folder is its place below the inbox's
            yield as_scanned(path, owner, status, real_inbox / path.parent.relative_to(inbox))
        elif is_athlete_id(owner):
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
    they are.

    Links are never moved through. A link named in the inbox is the inbox's case (filed in
    quarantine as a link, never followed); one named elsewhere is read as a copy of its target
    (the target is never moved), owned by where the link lies (or `athlete_id`); so is a file
    reached through a linked folder. Nothing lying in the `exclude` folders is read, however it
    is named. Links found below a named folder are not followed: they come as items of their
    own, for ingest to refuse with a reason.
    """
    excluded = {path.resolve() for path in exclude}
    real_inbox = inbox.resolve()
    found: list[tuple[Path, bool]] = []  # (file, read as a copy)
    for path in paths:
        if path.is_dir():
            folder = path.resolve()
            if _refused_as_own(path, folder, excluded):
                continue
            below = files_below(folder, excluded,
                                on_folder_link=lambda link: found.append((link, copy)))
            found.extend((p, copy) for p in sorted(below) if readable_or_link(p) is not None)
        elif is_link(path):
            at = path.parent.resolve() / path.name  # the link itself, its folders resolved
            if at.is_relative_to(real_inbox):
                found.append((at, copy))  # the inbox's rule: quarantined as a link
            elif path.is_file() and not _refused_as_own(path, path.resolve(), excluded):
                found.append((path.resolve(), True))
        elif path.is_file():
            real = path.resolve()
            if not _refused_as_own(path, real, excluded):
                # reached through a linked folder: read where it lies, never moved from there
                found.append((real, copy or _through_a_link(path, real, inbox, real_inbox)))
    items = []
    for file, as_copy in found:
        owner = athlete_id or _owner_in(file, real_inbox)
        if owner is None:
            continue
        status = readable_or_link(file)
        if status is None:
            items.append(InboxFile(file, owner, as_copy))  # a folder link: reported
        else:
            items.append(as_scanned(file, owner, status, file.parent, copy=as_copy))
    return items


def _through_a_link(path: Path, real: Path, inbox: Path, real_inbox: Path) -> bool:
    """Is a folder on the named path a link (the inbox itself may be one)?"""
    lexical, lexical_inbox = Path(os.path.abspath(path)), Path(os.path.abspath(inbox))
    if lexical.is_relative_to(lexical_inbox):
        return real != real_inbox / lexical.relative_to(lexical_inbox)
    return real != lexical


def _owner_in(file: Path, real_inbox: Path) -> str | None:
    """The athlete of a file named to `ingest` without --athlete: as in the inbox, `default`
    outside it; None (with a warning) for an inbox folder that names no athlete."""
    if not file.is_relative_to(real_inbox):
        return DEFAULT_ATHLETE
    owner = athlete_for(file, real_inbox)
    if is_athlete_id(owner):
        return owner
    log.warning("%s: inbox folder %r does not name an athlete id; give --athlete ID to read it",
                file, owner)
    return None


def _refused_as_own(named: Path, real: Path, excluded: Collection[Path]) -> bool:
    """Is a named path (resolved: `real`) in StrideGuard's archive or quarantine? Those files
    are filed already (another athlete's, perhaps): never read, nor moved, from there."""
    if not any(real == own or real.is_relative_to(own) for own in excluded):
        return False
    log.warning("%s is not read: it lies in StrideGuard's archive or quarantine (%s), whose "
                "files are filed already", named, real)
    return True


def free_destination(folder: Path, name: str, tag: str) -> Path:
    """A path in `folder` for `name` that overwrites nothing (adds the tag, then a counter)."""
    safe_name = _UNSAFE_NAME_CHARS.sub("_", name) or "unnamed.fit"
    candidate = folder / safe_name
    if not os.path.lexists(candidate):  # a quarantined link is taken, even one leading nowhere
        return candidate
    stem, dot, suffix = safe_name.partition(".")
    for counter in range(0, 10_000):
        extra = f"{tag}" if counter == 0 else f"{tag}-{counter}"
        candidate = folder / f"{stem}.{extra}{dot}{suffix}"
        if not os.path.lexists(candidate):
            return candidate
    raise FileExistsError(f"no free name for {name} in {folder}")


def move_file(source: Path, destination: Path) -> Path:
    """Move without ever losing or overwriting a file: same-disk rename, else a copy put in
    place as copy_file puts it, then the source unlinked. A symbolic link is moved as a link
    (never copied through). Returns where it went."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    if os.path.lexists(destination):  # never replace another file; take the next free name
        destination = free_destination(destination.parent, destination.name, "moved")
    try:
        os.rename(source, destination)  # renames a link itself, not what it points to
    except OSError:
        if is_link(source):
            return _move_link(source, destination)
        destination = copy_file(source, destination)
        source.unlink()
    return destination


def _move_link(source: Path, destination: Path) -> Path:
    """A link moved to another file system: made anew there (pointing where it pointed), then
    the original link removed; nothing is read through it."""
    target = os.readlink(source)
    for _attempt in range(100):
        try:
            os.symlink(target, destination)
            break
        except FileExistsError:  # taken meanwhile: the next free name
            destination = free_destination(destination.parent, destination.name, "moved")
    else:
        raise FileExistsError(f"no free name for {destination.name} in {destination.parent}")
    source.unlink()
    return destination


def _write_copy(source: Path, partial: int, partial_path: Path) -> str:
    """Copy the source's bytes into the open temporary file (with the source's mode and mtime,
    as shutil.copy2 would), sync them to disk, and return their SHA-256."""
    digest = hashlib.sha256()
    with os.fdopen(partial, "wb") as writer, open_unfollowed(source) as reader:
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
        if os.path.lexists(destination):
            destination = free_destination(destination.parent, destination.name, "copied")
        try:
            os.link(partial, destination)
            return destination
        except FileExistsError:
            continue  # another process took the name between our look and the link
        except OSError:  # no hard links here: a rename would replace a file, so look again
            if os.path.lexists(destination):
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
