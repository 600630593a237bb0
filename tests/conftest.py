"""Shared fixtures: a store on SQLite and (when configured) PostgreSQL, sample paths, configs."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from smtp_sink import Collector, LoopbackController, StartServer
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from store import Store, open_store

POSTGRES_ENV = "STRIDEGUARD_TEST_POSTGRES_URL"
SHARED = Path(__file__).resolve().parents[2] / "shared"
FIT_SAMPLES = SHARED / "fit-samples"


@pytest.fixture(autouse=True)
def _root_logging_restored() -> Iterator[None]:
    """`cli.main` configures logging on the stream pytest captures for that test; restore the
    root logger after each test so that later tests never log into a closed capture."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _postgres_schema_url(base_url: str) -> Iterator[str]:
    """A throwaway schema per test, so tests never see each other's rows."""
    schema = f"sg_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base_url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base_url else "?"
    try:
        yield f"{base_url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each store test runs on SQLite and, when STRIDEGUARD_TEST_POSTGRES_URL is set, PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'strideguard.db'}"
        return
    base_url = os.environ.get(POSTGRES_ENV)
    if not base_url:
        pytest.skip(f"{POSTGRES_ENV} is not set (e.g. "
                    "postgresql+psycopg://postgres@127.0.0.1:5432/test); PostgreSQL run skipped")
    yield from _postgres_schema_url(base_url)


@pytest.fixture
def throwaway_postgres_database() -> Iterator[tuple[str, str]]:
    """A new PostgreSQL database of its own, empty (not even Alembic's table): its URL and its
    name (to refuse its connections, say, without touching any other test's); dropped after
    the test, even one that left it refusing connections."""
    base_url = os.environ.get(POSTGRES_ENV)
    if not base_url:
        pytest.skip(f"{POSTGRES_ENV} is not set (e.g. "
                    "postgresql+psycopg://postgres@127.0.0.1:5432/test); PostgreSQL run skipped")
    name = f"sg_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base_url).set(database=name).render_as_string(hide_password=False), name
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true'))
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = open_store(database_url)
    yield opened
    opened.dispose()


@pytest.fixture
def fit_samples() -> Path:
    folder = FIT_SAMPLES / "python-fitparse"
    if not folder.is_dir():
        pytest.skip(f"real FIT samples not found at {folder}")
    return folder


@pytest.fixture
def smtp_server() -> Iterator[StartServer]:
    """aiosmtpd servers on 127.0.0.1 with the given options; all stopped at teardown."""
    started: list[LoopbackController] = []

    def start(handler: Collector, **options: Any) -> LoopbackController:
        controller = LoopbackController(handler, hostname="127.0.0.1", port=0, **options)
        controller.start()
        started.append(controller)
        return controller

    yield start
    for controller in started:
        controller.stop()
