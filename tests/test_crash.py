"""Crash safety: `kill -9` at any moment of an ingest, then start again, until it finishes.

Every file must end up archived exactly once, stored exactly once, and nothing may be lost,
on SQLite and on PostgreSQL, with the decoding process pool in use.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from helpers import STRIDEGUARD
from sqlalchemy import func, select

from fitwriter.encode import encode_run
from store import Activity, ActivitySeries, SourceFile, open_store

FILES = 24
MAX_ROUNDS = 40
# how long after the archive last grew each kill comes: early, mid-file, during a commit...
KILL_DELAYS_S = (0.0, 0.05, 0.11, 0.17, 0.23, 0.31, 0.02, 0.37, 0.08, 0.5)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _archived(archive: Path) -> list[Path]:
    return sorted(p for p in archive.rglob("*.fit") if p.is_file()) if archive.exists() else []


def _write_history(inbox: Path) -> dict[str, str]:
    """FILES runs with 1 s records (a quarter of a second of decoding each); sha256 -> name."""
    inbox.mkdir(parents=True)
    start = datetime(2026, 9, 1, 6, 30, tzinfo=UTC)
    written = {}
    for day in range(FILES):
        data = encode_run(start + timedelta(days=day), 8000 + 100 * day, 2400 + 20 * day,
                          interval_s=1.0, serial_number=77, stance_time_balance_left_pct=50.2)
        path = inbox / f"run-{day:02d}.fit"
        path.write_bytes(data)
        written[hashlib.sha256(data).hexdigest()] = path.name
    return written


def _run_until_killed(command: list[str], archive: Path, delay_s: float) -> int | None:
    """Start an ingest, kill its whole process group (pool workers too) with SIGKILL shortly
    after it archives a file; None when it was killed, else its exit code."""
    process = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    archived_before = len(_archived(archive))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if len(_archived(archive)) > archived_before:
            time.sleep(delay_s)
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
            return None if process.returncode == -signal.SIGKILL else process.returncode
        time.sleep(0.01)
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        raise AssertionError("an ingest round made no progress in 60 s")
    _out, err = process.communicate()
    assert process.returncode == 0, err.decode(errors="replace")
    return process.returncode


@pytest.mark.slow
def test_kill_9_at_any_moment_then_restart_ingests_each_file_exactly_once(
        tmp_path: Path, database_url: str) -> None:
    inbox, archive = tmp_path / "inbox", tmp_path / "archive"
    written = _write_history(inbox / "ana")
    config = tmp_path / "strideguard.yaml"
    config.write_text(f"database: '{database_url}'\ninbox: inbox\narchive: archive\n"
                      "quarantine: quarantine\nmail_dir: mail\n"
                      "ingest:\n  stability: 0s\n  workers: 2\n", encoding="utf-8")
    command = [*STRIDEGUARD, "--config", str(config), "ingest", str(inbox)]

    kills = 0
    for round_index in range(MAX_ROUNDS):
        if not any(inbox.rglob("*.fit")):
            break
        result = _run_until_killed(command, archive,
                                   KILL_DELAYS_S[round_index % len(KILL_DELAYS_S)])
        kills += result is None
    assert not any(inbox.rglob("*.fit")), f"files still in the inbox after {MAX_ROUNDS} rounds"
    assert kills >= 3, "the test never interrupted an ingest; it proves nothing"
    # one clean run afterwards finds nothing left to do
    assert _run_until_killed(command, archive, 0.0) == 0

    archived = _archived(archive)
    assert sorted(_sha256(p) for p in archived) == sorted(written), "lost or doubled files"
    assert not (tmp_path / "quarantine").exists() or not any(
        (tmp_path / "quarantine").rglob("*.fit"))
    store = open_store(database_url)
    try:
        with store.session() as session:
            sources = session.scalars(select(SourceFile)).all()
            assert sorted(s.sha256 for s in sources) == sorted(written)
            assert {s.status for s in sources} == {"ingested"}
            # the database points at the file that is really there
            assert sorted(Path(s.stored_path or "") for s in sources) == archived
            assert session.scalar(select(func.count()).select_from(Activity)) == FILES
            assert session.scalar(select(func.count()).select_from(ActivitySeries)) == FILES
    finally:
        store.dispose()


def test_two_ingests_at_once_store_each_file_and_each_activity_once(
        tmp_path: Path, database_url: str) -> None:
    """The service and a backfill (or two services) on one inbox: they race for every file.

    Each run is there twice, as the same bytes under a second name and as a re-export with
    other bytes (same device and creation time), so both kinds of dedupe race too.
    """
    inbox = tmp_path / "inbox" / "ana"
    inbox.mkdir(parents=True)
    start = datetime(2026, 9, 1, 6, 30, tzinfo=UTC)
    for day in range(12):
        data = encode_run(start + timedelta(days=day), 8000 + 100 * day, 2400, serial_number=5)
        (inbox / f"run-{day:02d}.fit").write_bytes(data)
        (inbox / f"copy-{day:02d}.fit").write_bytes(data)
        (inbox / f"export-{day:02d}.fit").write_bytes(encode_run(
            start + timedelta(days=day), 8000 + 100 * day, 2400, serial_number=5,
            cadence_spm=171))
    config = tmp_path / "strideguard.yaml"
    config.write_text(f"database: '{database_url}'\ninbox: inbox\narchive: archive\n"
                      "quarantine: quarantine\ningest:\n  stability: 0s\n  workers: 1\n",
                      encoding="utf-8")
    open_store(database_url).dispose()  # migrate once, before the race
    command = [*STRIDEGUARD, "--config", str(config), "run", "--once"]
    racers = [subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True) for _ in range(2)]
    errors = [racer.communicate(timeout=120)[1] for racer in racers]
    assert [racer.returncode for racer in racers] == [0, 0], errors
    assert not any("Traceback" in err or "IntegrityError" in err for err in errors), errors
    assert not list(inbox.glob("*.fit"))  # every file was taken by one of them
    store = open_store(database_url)
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(Activity)) == 12
        statuses = session.execute(select(SourceFile.status, func.count())
                                   .group_by(SourceFile.status)).all()
    store.dispose()
    counts = dict(statuses)
    assert counts.get("ingested") == 12 and "quarantined" not in counts
    assert counts.get("duplicate", 0) <= 12  # re-exports; same-byte copies need no row
