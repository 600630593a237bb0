"""Engine and sessions for SQLite (WAL, foreign keys) and PostgreSQL; migrations on open."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _newest_revision() -> str:
    """The newest migration's revision id, read from the file names (`NNNN_what.py`, revision
    "NNNN") without importing Alembic; a test checks it against Alembic's own head."""
    return max(path.name[:4] for path in (MIGRATIONS_DIR / "versions").glob("[0-9]" * 4 + "_*.py"))


SCHEMA_HEAD = _newest_revision()
SQLITE_BUSY_TIMEOUT_S = 30
# libpq's connect_timeout (psycopg), unless the URL sets its own: a database host that does
# not answer fails a job (and /readyz) in seconds instead of hanging it for minutes
POSTGRES_CONNECT_TIMEOUT_S = 10


DATABASE_PROBLEM_MAX_CHARS = 300
# PostgreSQL quotes the statement under its message ("LINE 1: SELECT ...", then a caret under
# the spot): an operator needs the message, and the statement may hold the data
_STATEMENT_QUOTE = re.compile(r"^(LINE \d+:.*|\^\s*)$")


def describe_database_failure(exc: BaseException, password: str | None = None,
                              max_chars: int = DATABASE_PROBLEM_MAX_CHARS) -> str:
    """A database error in one line for an operator (`/readyz`, a command's exit message): the
    driver's own words, never SQLAlchemy's wrapper with the statement and its parameters, nor
    PostgreSQL's quote of the statement, nor `password` (which a driver may repeat, in a
    database or file name that holds it); at most `max_chars`."""
    orig = getattr(exc, "orig", None)
    if isinstance(exc, DBAPIError) and orig is not None:
        detail = str(orig)
    else:
        detail = f"{type(exc).__name__}: {exc}"
    lines = [" ".join(line.split()) for line in detail.splitlines()]
    kept = [line for line in lines if line and not _STATEMENT_QUOTE.match(line)]
    line = "; ".join(kept) or type(exc).__name__
    if password:
        line = line.replace(password, "***")
    return line if len(line) <= max_chars else line[:max_chars - 1] + "…"


@dataclass
class Store:
    """An engine plus a session factory; `session()` is one transaction, committed on success."""

    engine: Engine
    session_factory: sessionmaker[Session]

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.session_factory.begin() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


INGEST_LOCK_KEY = 0x53474944  # "SGID": the advisory lock of ingest writes on PostgreSQL


def serialize_ingest_writes(session: Session) -> None:
    """Let one process at a time look up and write a file's rows, so two ingests of the same
    file (or the same activity) never both insert. SQLite's BEGIN IMMEDIATE already does it;
    on PostgreSQL a transaction-level advisory lock does (released at commit or rollback, and
    with the connection if the process dies)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": INGEST_LOCK_KEY})


def _enable_sqlite_pragmas(engine: Engine) -> None:
    """WAL + foreign keys, and real BEGINs so SQLite transactions hold what the code assumes."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's implicit transaction handling would skip BEGIN before SELECTs
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_store_engine(database_url: str) -> Engine:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
        _enable_sqlite_pragmas(engine)
        return engine
    connect_args: dict[str, Any] = {}
    if url.get_driver_name() in ("psycopg", "psycopg2") and "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = POSTGRES_CONNECT_TIMEOUT_S
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args)


def schema_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at; None for a database never migrated."""
    with engine.connect() as connection:
        try:
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except DBAPIError:  # no alembic_version table yet
            return None


MIGRATION_LOCK_KEY = 0x53474D49  # "SGMI": the advisory lock migrations run under


# Alembic's `context` is one per process: threads of one process migrate one at a time
_migrating = threading.Lock()


def _revision_in(connection: Connection) -> str | None:
    """The revision as this connection sees it now, without failing the transaction when
    there is no alembic_version table yet (PostgreSQL aborts a transaction on any error)."""
    if connection.execute(text("SELECT to_regclass('alembic_version')")).scalar() is None:
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (idempotent).

    On PostgreSQL the upgrade runs under a transaction-level advisory lock, taken first in the
    very transaction Alembic then uses: processes that start together on a fresh database
    (`docker compose up --scale app=3`) migrate once, the others wait for the lock and find the
    schema at the head (read after the lock, so they see what the first one committed). The
    lock goes with the transaction, or with the connection if the process dies. SQLite needs
    none: BEGIN IMMEDIATE serialises the writers.
    """
    from alembic import command  # only here: alembic costs a tenth of a second to import
    from alembic.config import Config as AlembicConfig

    alembic_config = AlembicConfig()
    alembic_config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with _migrating, engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                               {"key": MIGRATION_LOCK_KEY})
            if _revision_in(connection) == SCHEMA_HEAD:
                return  # another process migrated while this one waited
        alembic_config.attributes["connection"] = connection
        command.upgrade(alembic_config, "head")


def open_store(database_url: str) -> Store:
    """The store at `database_url`, migrated to SCHEMA_HEAD first if it is behind.

    Another process may be migrating the same PostgreSQL database at the same moment: `migrate`
    waits for it under its lock. A database already at the head skips even loading Alembic.
    """
    engine = create_store_engine(database_url)
    if schema_revision(engine) != SCHEMA_HEAD:
        migrate(engine)
    return Store(engine, sessionmaker(engine, expire_on_commit=False))
