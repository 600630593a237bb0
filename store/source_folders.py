"""Source-folder memory (`source_folder_files`): what became of each file read from a folder
another tool owns, by path, size, mtime and SHA-256, so a later scan reads only what changed;
and the per-file claims that keep two processes from reading the same new file at once."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from store.models import SourceFolderFile, utc_now

PATHS_PER_QUERY = 500  # an IN list this long stays well under every backend's parameter limit
# the first key of the two-key advisory locks that claim source files on PostgreSQL ("SGSF");
# the two-key space never meets the one-key ingest lock (store.db.INGEST_LOCK_KEY)
SOURCE_CLAIM_SPACE = 0x53475346
log = logging.getLogger("strideguard.store")


@dataclass(frozen=True)
class RememberedFile:
    """What a file was when it was read: its size, mtime and the SHA-256 of the bytes read."""

    size_bytes: int
    mtime_ns: int
    sha256: str


@dataclass(frozen=True)
class FileRead:
    """A source file read to the end (its data committed, its copy made): the row to keep."""

    path: str
    athlete_id: str
    size_bytes: int
    mtime_ns: int
    sha256: str
    status: str  # ingested | duplicate | skipped | quarantined
    stored_path: str | None


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), PATHS_PER_QUERY):
        yield values[start:start + PATHS_PER_QUERY]


def remembered_files(session: Session, paths: Iterable[str]) -> dict[str, RememberedFile]:
    """The rows of those paths that have one, by path."""
    found: dict[str, RememberedFile] = {}
    for chunk in _chunks(sorted(set(paths))):
        rows = session.execute(
            select(SourceFolderFile.path, SourceFolderFile.size_bytes,
                   SourceFolderFile.mtime_ns, SourceFolderFile.sha256)
            .where(SourceFolderFile.path.in_(chunk)))
        for path, size_bytes, mtime_ns, sha256 in rows:
            found[path] = RememberedFile(size_bytes, mtime_ns, sha256)
    return found


def restat_remembered(session: Session, path: str, size_bytes: int, mtime_ns: int) -> None:
    """A remembered file whose size or mtime changed but whose bytes did not (touched, copied
    again by its tool): its row takes the new values, so the next scan skips it unread."""
    session.execute(update(SourceFolderFile).where(SourceFolderFile.path == path)
                    .values(size_bytes=size_bytes, mtime_ns=mtime_ns))


def remember_reads(session: Session, reads: Sequence[FileRead],
                   now: datetime | None = None) -> None:
    """Insert or update each file's row in one statement per file. Another process may have
    written the same path meanwhile (two processes scanning one folder): the unique path then
    makes this an update of that row, never an error, and the last reader's values stay."""
    if not reads:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    moment = now or utc_now()
    for read in reads:
        values = dict(path=read.path, athlete_id=read.athlete_id, size_bytes=read.size_bytes,
                      mtime_ns=read.mtime_ns, sha256=read.sha256, status=read.status,
                      stored_path=read.stored_path, read_at=moment)
        statement = insert(SourceFolderFile).values(first_seen_at=moment, **values)
        session.execute(statement.on_conflict_do_update(
            index_elements=[SourceFolderFile.path],
            set_={name: value for name, value in values.items() if name != "path"}))


def _claim_key(path: str) -> int:
    """A path's second advisory-lock key: 32 bits of its SHA-256, signed as PostgreSQL's int4.
    Two paths sharing a key only take turns."""
    return int.from_bytes(hashlib.sha256(path.encode()).digest()[:4], "big", signed=True)


# claims the given keys of the source space, returning those taken (a key another session holds
# is not waited for); a module constant, so a test can make it fail part-way
CLAIM_SQL = ("SELECT key FROM unnest(CAST(:keys AS integer[])) AS key "
             "WHERE pg_try_advisory_lock(CAST(:space AS integer), key)")


class FileClaims:
    """Claims on source files being read, held until `release()`: on PostgreSQL a session-level
    advisory lock per file on one connection (released with the connection should the process
    die), so a file another process is reading is left to it; on SQLite (one machine, usually
    one process) every claim succeeds, and a second reader costs a duplicate outcome at most.

    Every lock takes a slot of the server's shared lock table (about max_locks_per_transaction x
    max_connections for the whole server), so callers claim one batch of files at a time and
    release it before the next (ingest.sources.REMEMBER_EVERY), never a whole backfill at once.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._connection: Connection | None = None

    def claim(self, paths: Sequence[str]) -> set[str]:
        """The paths this process may read now (all of them, unless another holds some)."""
        if self._engine.dialect.name != "postgresql" or not paths:
            return set(paths)
        if self._connection is None:
            self._connection = self._engine.connect()
        keys = {path: _claim_key(path) for path in paths}
        taken = set(self._connection.execute(
            text(CLAIM_SQL),
            {"keys": sorted(set(keys.values())), "space": SOURCE_CLAIM_SPACE}).scalars())
        self._connection.commit()  # the locks outlive the transaction; no idle transaction
        return {path for path, key in keys.items() if key in taken}

    def release(self) -> None:
        """Release every claim. Session-level locks outlive a rollback, so a claim that failed
        part-way may hold some: the failed transaction is rolled back first, then the locks
        released; should that fail too, the connection is invalidated (closed, not pooled), so
        the server ends its session and drops its locks. A connection holding locks never goes
        back to the pool."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            connection.rollback()
            connection.execute(text("SELECT pg_advisory_unlock_all()"))
            connection.commit()
        except SQLAlchemyError as exc:
            log.warning("could not release the claims on source files (%s); closing their "
                        "database connection, which releases them", type(exc).__name__)
            connection.invalidate()
        finally:
            connection.close()


@contextmanager
def file_claims(engine: Engine) -> Iterator[FileClaims]:
    """FileClaims released however the block ends."""
    claims = FileClaims(engine)
    try:
        yield claims
    finally:
        claims.release()
