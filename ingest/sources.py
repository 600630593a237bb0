"""Source folders other tools own (`sources:`) and `strideguard ingest --copy`: files read where
they lie, copied into the archive once their data is committed, and remembered (path, size,
mtime and SHA-256 of the bytes read) so each is read once, and again only when its bytes change.

Nothing in such a folder is ever moved, renamed, deleted or touched: the files are only
listed, stat'ed and read. Symbolic links in it are not followed (ingest.links): each is reported
once, and left as it is; the configured folder itself may be a link (it is resolved). A folder
that goes away (a watch unplugged, a share unmounted) is one warning, its return one info line,
and its files are read when it is back.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from config.schema import ATHLETE_ID_RE
from ingest.copy_checks import holds_activity, ingest_batch, quarantine_stands
from ingest.inbox import InboxFile, athlete_for, files_below
from ingest.links import folder_link_reason, link_reason, open_unfollowed
from ingest.outcome import IngestOutcome, IngestStatus
from ingest.record import AthleteRegistry
from ingest.settings import IngestSettings, SourceFolder
from store import Store
from store.source_folders import (
    FileRead,
    RememberedFile,
    file_claims,
    remember_reads,
    remembered_files,
    restat_remembered,
)

log = logging.getLogger("strideguard.ingest")

# a file's outcomes (one per FIT file of a zip), best first: its row keeps the worst
STATUS_ORDER = (IngestStatus.INGESTED, IngestStatus.DUPLICATE, IngestStatus.SKIPPED,
                IngestStatus.QUARANTINED)
# not read to the end: tried again at the next scan, so never remembered
UNFINISHED = (IngestStatus.WAITING, IngestStatus.ERROR)
# files claimed, read and remembered together: a crash in a long backfill re-reads no more,
# and no more claims (PostgreSQL locks, a shared server-wide table) are held at once
REMEMBER_EVERY = 200
NOTHING_TO_READ = "holds no .fit, .tcx or .gpx file (plain or gzipped): not read, not copied"
_ATHLETE_ID = re.compile(ATHLETE_ID_RE)


@dataclass(frozen=True)
class _Seen:
    """A file to read: as it was when hashed (the row keeps these if it is read to the end)."""

    item: InboxFile
    size_bytes: int
    mtime_ns: int

    @property
    def key(self) -> str:
        return str(self.item.path)

    @property
    def sha256(self) -> str:
        return self.item.sha256 or ""

    def same_as(self, row: RememberedFile | None) -> bool:
        return row is not None and (row.sha256 == self.sha256 or (
            row.size_bytes, row.mtime_ns) == (self.size_bytes, self.mtime_ns))


@dataclass
class CopyRead:
    """What reading someone else's files did: an outcome per file read (per FIT file of a zip),
    and counts of the files not read."""

    outcomes: list[IngestOutcome] = field(default_factory=list)
    unchanged: int = 0  # read before, and their bytes have not changed since
    remembered: int = 0  # read to the end now, and remembered
    left_to_others: int = 0  # another process is reading them


def own_folder_conflict(folder: Path, settings: IngestSettings) -> str | None:
    """Why StrideGuard may not read `folder` as someone else's ("it holds StrideGuard's archive
    ..."), or None: it lies in one of StrideGuard's own folders (the inbox scan would empty
    it, the archive be read back), or holds one (StrideGuard would write into a folder another
    tool owns). The message ends with what to do."""
    resolved = folder.expanduser().resolve()
    for what, own in (("inbox", settings.inbox), ("archive", settings.archive),
                      ("quarantine", settings.quarantine)):
        own = own.resolve()
        if resolved == own or resolved.is_relative_to(own):
            where = f"it is inside StrideGuard's {what} {own}"
        elif own.is_relative_to(resolved):
            where = f"it holds StrideGuard's {what} {own}"
        else:
            continue
        return (f"{where}; StrideGuard files things into and out of its own folders and never "
                "changes a folder another tool owns: give them paths apart")
    return None


def _sha256_of(path: Path) -> str:
    with open_unfollowed(path) as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def _warn_once(warned: set[str], message: str) -> None:
    """A problem that would repeat at every scan (an unreadable file) is logged once."""
    if message not in warned:
        warned.add(message)
        log.warning("%s", message)


def _link_not_followed(warned: set[str], path: Path) -> None:
    """A link in a folder someone else owns: reported once, never followed, never changed."""
    reason = folder_link_reason(path) if path.is_dir() else link_reason(path)
    _warn_once(warned, f"{path} is {reason}; it is left as it is")


def _look(items: Sequence[InboxFile], store: Store, warned: set[str], result: CopyRead,
          should_continue: Callable[[], bool]) -> list[_Seen]:
    """The files to read: new ones, and remembered ones whose bytes changed. A remembered file
    whose size and mtime are unchanged is not opened; one whose size or mtime changed is hashed,
    and if its bytes are the same only its row is updated. None on shutdown."""
    with store.session() as session:
        known = remembered_files(session, (str(item.path) for item in items))
    to_read: list[_Seen] = []
    restat: list[tuple[str, int, int]] = []
    looked_at: set[str] = set()
    for item in items:
        path = str(item.path)
        if path in looked_at:
            continue  # named twice (`ingest --copy DIR DIR/run.fit`): read once
        looked_at.add(path)
        try:
            status = item.path.lstat()  # a link's own: what it points to is never looked at
            if stat.S_ISLNK(status.st_mode):
                _link_not_followed(warned, item.path)
                continue
            if not stat.S_ISREG(status.st_mode):
                continue  # a folder, a pipe or a device with a FIT name: nothing to read
            row = known.get(path)
            size_bytes, mtime_ns = status.st_size, status.st_mtime_ns
            if row is not None and (row.size_bytes, row.mtime_ns) == (size_bytes, mtime_ns):
                result.unchanged += 1
                continue
            if not should_continue():  # hashing a backfill takes a while: a stop comes first
                return []
            sha256 = _sha256_of(item.path)
        except FileNotFoundError:
            continue  # removed by its owner meanwhile
        except OSError as exc:
            _warn_once(warned, f"cannot read {path}: {exc.strerror or exc}; it is left alone")
            continue
        if row is not None and row.sha256 == sha256:
            restat.append((path, size_bytes, mtime_ns))
            result.unchanged += 1
            continue
        to_read.append(_Seen(replace(item, copy=True, sha256=sha256), size_bytes, mtime_ns))
    if restat:
        with store.session() as session:
            for path, size_bytes, mtime_ns in restat:
                restat_remembered(session, path, size_bytes, mtime_ns)
    return sorted(to_read, key=lambda seen: (seen.mtime_ns, seen.key))  # oldest first


def _reads(to_read: Sequence[_Seen], outcomes: Sequence[IngestOutcome]) -> list[FileRead]:
    """The rows to keep: files read to the end (every FIT file in them stored, skipped,
    duplicate or quarantined, the copy made) and unchanged since they were hashed. A zip
    quarantined whole after a read error is not kept unless it is broken indeed."""
    by_path: dict[Path, list[IngestOutcome]] = {}
    for outcome in outcomes:
        by_path.setdefault(outcome.path, []).append(outcome)
    reads = []
    for seen in to_read:
        mine = by_path.get(seen.item.path, [])
        done = [o for o in mine if o.completes_file]
        if not done or any(o.status in UNFINISHED for o in mine):
            continue
        try:
            now = seen.item.path.stat()
        except OSError:
            continue  # gone: read again should it come back
        if (now.st_size, now.st_mtime_ns) != (seen.size_bytes, seen.mtime_ns):
            log.info("%s changed while it was read; it is read again at the next scan",
                     seen.item.path)
            continue
        if any(o.status == IngestStatus.QUARANTINED and o.member is None for o in mine) and (
                not quarantine_stands(seen.item)):
            continue
        worst = max((o.status for o in mine), key=STATUS_ORDER.index)
        stored_at = done[-1].stored_at
        reads.append(FileRead(seen.key, seen.item.athlete_id, seen.size_bytes, seen.mtime_ns,
                              seen.sha256, str(worst), str(stored_at) if stored_at else None))
    return reads


def _claimed(store: Store, claimed: set[str], batch: Sequence[_Seen], result: CopyRead
             ) -> list[_Seen]:
    """The files of a batch this process claimed and nobody read since it looked at them."""
    result.left_to_others += sum(seen.key not in claimed for seen in batch)
    mine = [seen for seen in batch if seen.key in claimed]
    if not mine:
        return []
    with store.session() as session:  # another process may have read some meanwhile
        known = remembered_files(session, (seen.key for seen in mine))
    result.unchanged += sum(seen.same_as(known.get(seen.key)) for seen in mine)
    return [seen for seen in mine if not seen.same_as(known.get(seen.key))]


def _read_batch(store: Store, settings: IngestSettings, batch: Sequence[_Seen],
                on_outcome: Callable[[IngestOutcome], None] | None,
                should_continue: Callable[[], bool]) -> list[IngestOutcome]:
    """One batch through the pipeline in copy mode. A zip holding no activity file (a photo
    backup in a synced folder) is skipped, not copied, and remembered as such."""
    outcomes: list[IngestOutcome] = []
    to_ingest: list[InboxFile] = []
    athletes = AthleteRegistry(store)  # the pipeline registers the rest
    for seen in batch:
        if holds_activity(seen.item) is False:
            athletes.register(seen.item.athlete_id)  # its row refers to the athlete's
            log.info("%s %s", seen.item.path, NOTHING_TO_READ)
            outcome = IngestOutcome(seen.item.path, seen.item.athlete_id, IngestStatus.SKIPPED,
                                    NOTHING_TO_READ)
            outcomes.append(outcome)
            if on_outcome is not None:
                on_outcome(outcome)
        else:
            to_ingest.append(seen.item)
    return outcomes + ingest_batch(store, settings, to_ingest, on_outcome, should_continue)


def read_copies(store: Store, settings: IngestSettings, items: Sequence[InboxFile], *,
                on_outcome: Callable[[IngestOutcome], None] | None = None,
                on_planned: Callable[[int], None] | None = None,
                should_continue: Callable[[], bool] = lambda: True,
                warned: set[str] | None = None) -> CopyRead:
    """Read the given files of someone else's through the normal pipeline in copy mode (the
    originals stay as they are, copies go to the archive or quarantine) and remember each one
    read to the end. `on_planned` hears how many files will be read (again, lower, when some
    turn out to be read by another process); `warned` keeps the problems already logged
    (between scans of one process).

    A row is written only after the file's data is committed and its copy made: a crash in
    between reads the file again, and the content hash makes that a duplicate. WAITING and
    ERROR files are not remembered (tried again next time); quarantined ones are (tried again
    when their bytes change). Two processes on one PostgreSQL database claim each batch of
    files first (store.source_folders.FileClaims), so one reads a file and the other leaves
    it; a batch's claims are released once it is remembered.
    """
    result = CopyRead()
    to_read = _look(items, store, set() if warned is None else warned, result, should_continue)
    planned = len(to_read)
    if on_planned is not None:
        on_planned(planned)
    for start in range(0, len(to_read), REMEMBER_EVERY):
        if not should_continue():
            break
        batch = to_read[start:start + REMEMBER_EVERY]
        with file_claims(store.engine) as claims:
            mine = _claimed(store, claims.claim([seen.key for seen in batch]), batch, result)
            if len(mine) < len(batch) and on_planned is not None:
                planned -= len(batch) - len(mine)
                on_planned(planned)
            outcomes = _read_batch(store, settings, mine, on_outcome, should_continue)
            reads = _reads(mine, outcomes)
            with store.session() as session:
                remember_reads(session, reads)
        result.outcomes += outcomes
        result.remembered += len(reads)
    return result


class SourceFolders:
    """The configured source folders of one process, scanned by `scan()`; what it saw of each
    folder is kept between scans, so a folder that went away is reported once.

    `on_back(folder)` hears of a folder that came back (or was replaced: another mount at the
    same path), e.g. to watch it again for file events.
    """

    def __init__(self, store: Store, settings: IngestSettings,
                 on_back: Callable[[SourceFolder], None] | None = None) -> None:
        self._store = store
        self._settings = settings
        self._on_back = on_back
        self._own = frozenset(p.resolve() for p in (settings.inbox, settings.archive,
                                                     settings.quarantine))
        self._identity: dict[Path, tuple[int, int] | None] = {}  # (st_dev, st_ino); None: away
        self._warned: set[str] = set()
        self._failure: str | None = None  # the error that ended the last scan, if one did
        self.sources = tuple(s for s in settings.sources if self._usable(s))

    def _usable(self, source: SourceFolder) -> bool:
        """A source inside StrideGuard's own folders would be emptied by the inbox scan or read
        back from the archive, and one holding them would have StrideGuard write into another
        tool's folder: either is refused with an error."""
        conflict = own_folder_conflict(source.path, self._settings)
        if conflict is not None:
            log.error("source folder %s is not read: %s", source.path, conflict)
        return conflict is None

    def _reachable(self, source: SourceFolder) -> Path | None:
        """The folder, resolved, if it is there (a warning when it goes away, an info line when
        it comes back), else None."""
        seen_before = source.path in self._identity
        was = self._identity.get(source.path)
        try:
            root = source.path.resolve(strict=True)
            status = root.stat()
            if not stat.S_ISDIR(status.st_mode):
                raise NotADirectoryError(0, "not a folder")
            os.scandir(root).close()  # can it be listed?
        except OSError as exc:
            if was is not None or not seen_before:
                log.warning("source folder %s is not there (%s): a watch unplugged or a share "
                            "unmounted? Its files are read when it comes back", source.path,
                            exc.strerror or exc)
            self._identity[source.path] = None
            return None
        identity = (status.st_dev, status.st_ino)
        self._identity[source.path] = identity
        if seen_before and was is None:
            log.info("source folder %s is back; reading what is new in it", source.path)
        if seen_before and was != identity and self._on_back is not None:
            self._on_back(source)
        return root

    def _owner(self, source: SourceFolder, root: Path, path: Path) -> str | None:
        """Whose file it is: the source's athlete, or (per_subfolder) its first-level subfolder
        when that names an athlete id as the config allows (warned of once, else)."""
        if source.athlete_id:
            return source.athlete_id
        owner = athlete_for(path, root)
        if _ATHLETE_ID.fullmatch(owner):
            return owner
        _warn_once(self._warned, f"subfolder {owner!r} of source folder {source.path} does not "
                   "name an athlete id (letters, digits, '_', '.' and '-', starting with a "
                   "letter or digit, at most 64 characters): its files are not read")
        return None

    def _files_in(self, source: SourceFolder, root: Path,
                  should_continue: Callable[[], bool]) -> list[InboxFile]:
        """The files StrideGuard reads below `root` (hidden folders and its own left out)."""
        def unreadable(exc: OSError) -> None:
            _warn_once(self._warned, f"cannot list {exc.filename}: {exc.strerror or exc}")

        def folder_link(path: Path) -> None:
            _link_not_followed(self._warned, path)

        found = []
        for path in files_below(root, self._own, on_error=unreadable,
                                should_continue=should_continue, on_folder_link=folder_link):
            owner = self._owner(source, root, path)  # a link among them: reported by _look
            if owner is not None:
                found.append(InboxFile(path, owner, copy=True))
        return found

    def scan(self, should_continue: Callable[[], bool] = lambda: True) -> CopyRead:
        """Read what is new or changed in every source folder that is there."""
        items: list[InboxFile] = []
        for source in self.sources:
            if not should_continue():
                return CopyRead()
            root = self._reachable(source)
            if root is not None:
                items.extend(self._files_in(source, root, should_continue))
        if not items or not should_continue():
            return self._scanned(CopyRead())
        read = read_copies(self._store, self._settings, items, should_continue=should_continue,
                           warned=self._warned)
        if read.outcomes or read.left_to_others:
            log.info("source folders: %d files read and remembered%s", read.remembered,
                     f", {read.left_to_others} being read by another process"
                     if read.left_to_others else "")
        return self._scanned(read)

    def _scanned(self, read: CopyRead) -> CopyRead:
        if self._failure is not None:
            self._failure = None
            log.info("source folders are read again")
        return read

    def failed(self, exc: Exception) -> None:
        """A scan ended with an error (the database refusing a query, say): logged with its
        traceback once while it lasts, not at every scan; the next scan tries again."""
        failure = f"{type(exc).__name__}: {exc}"
        if failure == self._failure:
            log.debug("the source folders still cannot be read: %s", failure)
            return
        self._failure = failure
        log.error("reading the source folders failed; the next scan tries again",
                  exc_info=exc)
