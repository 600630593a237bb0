"""What `/readyz` and the outbox gauges of `/metrics` ask the database, bounded in time.

They go through an engine of their own, one connection per question: the store's engine
starts every SQLite transaction with BEGIN IMMEDIATE (a health check would queue behind an
ingest's write for up to its 30 s busy timeout), and a PostgreSQL connection that hangs must
not hang a scrape. Here SQLite opens the file read-only (a probe never creates a database
file where there is none, nor takes the write lock) and gives up after PROBE_TIMEOUT_S;
PostgreSQL connects within PROBE_TIMEOUT_S and runs each statement under a statement_timeout
of as long.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import URL, Connection, Engine, case, create_engine, func, or_, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from notify.outbox import OutboxStatus
from store import OutboxMessage, utc_now
from store.db import SCHEMA_HEAD, describe_database_failure

PROBE_TIMEOUT_S = 3.0
WAITING = (OutboxStatus.PENDING.value, OutboxStatus.SENDING.value, OutboxStatus.RETRY.value)


def _read_only_sqlite(url: URL, timeout_s: float) -> Callable[[], sqlite3.Connection] | None:
    """A connect function opening the URL's SQLite file read-only (`mode=ro`): a missing file
    is "unable to open database file", never an empty database made on the spot (which the
    store, seeing no tables, would then migrate as a new one). None for `:memory:`."""
    database = url.database
    if not database or database == ":memory:":
        return None
    uri = f"{Path(database).absolute().as_uri()}?mode=ro"

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(uri, uri=True, timeout=timeout_s, check_same_thread=False)

    return connect


def _revision(connection: Connection) -> str | None:
    """The Alembic revision of the database, None when it has no alembic_version table (never
    migrated); asked first, so that a query of a missing table never is the answer."""
    if connection.dialect.name == "postgresql":
        exists = connection.execute(text("SELECT to_regclass('alembic_version')")).scalar()
    else:
        exists = connection.execute(text(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
        )).scalar()
    if exists is None:
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


@dataclass(frozen=True)
class OutboxSnapshot:
    """The outbox as a scrape sees it."""

    waiting: int  # pending, being sent, or waiting to retry
    dead: int
    oldest_waiting_age_s: float  # since the oldest waiting row was queued; 0 when none
    oldest_due_age_s: float  # how long the longest-due row has been due; 0 when none


class DatabaseProbe:
    """Short, bounded questions to the store's database from the HTTP threads."""

    def __init__(self, database_url: str, timeout_s: float = PROBE_TIMEOUT_S) -> None:
        url = make_url(database_url)
        self._password = url.password
        self._postgres = url.get_backend_name() == "postgresql"
        self._timeout_s = timeout_s
        if self._postgres:
            connect_args: dict[str, object] = {"connect_timeout": max(1, round(timeout_s))}
            self.engine: Engine = create_engine(url, poolclass=NullPool,
                                                connect_args=connect_args)
            return
        # SQLite: not the store's engine, so no BEGIN IMMEDIATE; read-only where it is a file
        creator = _read_only_sqlite(url, timeout_s)
        if creator is None:
            self.engine = create_engine(url, poolclass=NullPool,
                                        connect_args={"timeout": timeout_s})
        else:
            self.engine = create_engine(url, poolclass=NullPool, creator=creator)

    def _bounded(self, connection: Connection) -> None:
        if self._postgres:
            timeout_ms = int(self._timeout_s * 1000)
            connection.execute(text(f"SET LOCAL statement_timeout = {timeout_ms}"))

    def describe(self, exc: BaseException) -> str:
        return describe_database_failure(exc, self._password)

    def schema_problem(self) -> str | None:
        """Why the database is not ready (unreachable, or not migrated to this code's schema
        head), or None."""
        try:
            with self.engine.begin() as connection:
                self._bounded(connection)
                revision = _revision(connection)
        except Exception as exc:  # whatever it is, the answer is "not ready, because ..."
            return f"database: {self.describe(exc)}"
        if revision is None:
            return (f"database: not migrated: no schema yet (this version needs revision "
                    f"{SCHEMA_HEAD}; `strideguard run` migrates it when it starts)")
        if revision != SCHEMA_HEAD:
            return (f"database: not migrated: schema at revision {revision}, this version "
                    f"needs {SCHEMA_HEAD} (migrations not applied yet)")
        return None

    def outbox(self, now: datetime | None = None) -> OutboxSnapshot:
        """Counts and ages from one grouped query (the status index); raises on failure."""
        moment = now or utc_now()
        # a pending row is due at once, a retry from its next attempt; a row being sent is
        # due again (from its attempt's time, as `strideguard status` counts it) only once
        # its lease ran out: its sender died, and the next claim takes it
        due_at = case((or_(OutboxMessage.status != OutboxStatus.SENDING.value,
                           OutboxMessage.lease_until < moment), OutboxMessage.next_attempt_at))
        query = (select(OutboxMessage.status, func.count(), func.min(OutboxMessage.created_at),
                        func.min(due_at))
                 .where(OutboxMessage.status.in_([*WAITING, OutboxStatus.DEAD.value]))
                 .group_by(OutboxMessage.status))
        with self.engine.begin() as connection:
            self._bounded(connection)
            rows = connection.execute(query).all()
        waiting = dead = 0
        oldest_queued: datetime | None = None
        oldest_due: datetime | None = None
        for status, count, created_at, due in rows:
            if status == OutboxStatus.DEAD.value:
                dead = count
                continue
            waiting += count
            if created_at is not None and (oldest_queued is None or created_at < oldest_queued):
                oldest_queued = created_at
            if due is not None and due <= moment and (oldest_due is None or due < oldest_due):
                oldest_due = due
        return OutboxSnapshot(
            waiting, dead,
            max(0.0, (moment - oldest_queued).total_seconds()) if oldest_queued else 0.0,
            max(0.0, (moment - oldest_due).total_seconds()) if oldest_due else 0.0)

    def dispose(self) -> None:
        self.engine.dispose()


def inbox_problem(inbox: Path) -> str | None:
    """Why the inbox cannot be read (missing, not a folder, no permission), or None."""
    if not inbox.is_dir():
        return f"inbox: {inbox} is not a folder (missing, or unmounted?)"
    if not os.access(inbox, os.R_OK | os.X_OK):
        return f"inbox: {inbox} is not readable by this process"
    try:
        with os.scandir(inbox) as entries:
            next(entries, None)
    except OSError as exc:
        return f"inbox: {inbox} cannot be listed ({exc.strerror or exc})"
    return None


@dataclass
class Readiness:
    """`/readyz`: every reason this process is not ready to do its work; none when it is."""

    probe: DatabaseProbe
    inbox: Path
    scheduler_running: Callable[[], bool]
    # what the last scan could not list below the inbox (a folder of the wrong owner: the
    # inbox itself is looked at now, by inbox_problem)
    scan_problems: Callable[[], list[str]] = field(default=lambda: [])

    def problems(self) -> list[str]:
        found = []
        if not self.scheduler_running():
            found.append("scheduler: not running (starting or stopping)")
        if (problem := inbox_problem(self.inbox)) is not None:
            found.append(problem)
        found.extend(self.scan_problems())
        if (problem := self.probe.schema_problem()) is not None:
            found.append(problem)
        return found
