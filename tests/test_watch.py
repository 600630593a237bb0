"""The inbox watcher, as a user runs it: `strideguard run` picking up files by events or polling.

Real parts only: the service runs as a subprocess, the files are real FIT files, the store is
SQLite. In `events` mode the scan interval is an hour, so only the start scan (on an empty inbox)
and file events can pick the files up; in `polling` mode the 1 s scan does it alone.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.events import EVENT_JOB_MAX_INSTANCES
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from helpers import HTTP_ANY_PORT, ServiceProcess, files_under, running_service, wait_for
from sqlalchemy import func, select

import service
from fitwriter.encode import encode_run
from ingest.watch import InboxWatcher, WatchError
from store import Activity, SourceFile, open_store

FILES = 500
DEADLINE_S = 120.0
START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


def native_events_unavailable() -> str | None:
    """Why the native observer cannot run here, or None when it can."""
    probe = InboxWatcher(Path(__file__).parent, lambda: None, "events")
    try:
        probe.start()
    except WatchError as exc:
        return str(exc)
    finally:
        probe.stop()
    return None


def write_runs(folder: Path, count: int) -> list[str]:
    """`count` distinct 10-minute runs (one per hour, so distinct activities), outside the inbox."""
    folder.mkdir(parents=True)
    names = []
    for index in range(count):
        name = f"run-{index:04d}.fit"
        data = encode_run(START + timedelta(hours=index), 2000.0, 600.0, interval_s=10)
        (folder / name).write_bytes(data)
        names.append(name)
    return names


def fit_files(folder: Path) -> list[Path]:
    return [p for p in files_under(folder) if p.name.endswith(".fit")]


@contextmanager
def watching_service(tmp_path: Path, mode: str, scan_interval: str,
                     stability: str = "0s") -> Iterator[ServiceProcess]:
    """`strideguard run` on an empty inbox in the given watch mode, its first scan done."""
    config = tmp_path / "strideguard.yaml"
    config.write_text(
        "database: sqlite:///data/strideguard.db\ntimezone: UTC\n"
        f"schedule:\n  scan_interval: {scan_interval}\n  dispatch_interval: 1s\n"
        f"ingest:\n  stability: {stability}\n  watch: {mode}\n" + HTTP_ANY_PORT,
        encoding="utf-8")
    with running_service(config) as running:
        expected = "with native file events" if mode == "events" else "by polling only"
        assert expected in running.log(), running.log()
        yield running


def assert_each_file_stored_once(tmp_path: Path, names: list[str]) -> None:
    data = tmp_path / "data"
    assert not fit_files(data / "inbox")
    archived = fit_files(data / "archive")
    assert len(archived) == len(names)
    assert sorted(p.name for p in archived) == sorted(names)  # each once, none renamed
    assert not fit_files(data / "quarantine")
    store = open_store(f"sqlite:///{data / 'strideguard.db'}")
    try:
        with store.session() as session:
            sources = session.execute(select(SourceFile.original_name, SourceFile.status)).all()
            activities = session.scalar(select(func.count()).select_from(Activity))
            distinct_starts = session.scalar(
                select(func.count(func.distinct(Activity.start_utc))))
    finally:
        store.dispose()
    assert sorted(name for name, _status in sources) == sorted(names)
    assert {status for _name, status in sources} == {"ingested"}
    assert activities == distinct_starts == len(names)


def stop_cleanly(running: ServiceProcess) -> str:
    running.stop()
    assert running.process.returncode == 0, running.log()
    log_text = running.log()
    assert "stopped" in log_text
    assert "Traceback" not in log_text and " ERROR " not in log_text, log_text
    return log_text


WATCH_MODES = [
    pytest.param("events", "1h", id="events"),
    pytest.param("polling", "1s", id="polling"),
]


def skip_without_native_events(mode: str) -> None:
    if mode == "events" and (reason := native_events_unavailable()):
        pytest.skip(f"watchdog's native observer is unavailable here: {reason}")


@pytest.mark.slow
@pytest.mark.parametrize(("mode", "scan_interval"), WATCH_MODES)
def test_a_folder_of_500_files_moved_into_the_inbox_is_ingested_once_each(
        tmp_path: Path, mode: str, scan_interval: str) -> None:
    skip_without_native_events(mode)
    staged = tmp_path / "staging" / "ana"
    names = write_runs(staged, FILES)
    inbox = tmp_path / "data" / "inbox"
    with watching_service(tmp_path, mode, scan_interval) as running:
        started = time.monotonic()
        os.rename(staged, inbox / "ana")  # the whole folder appears at once
        assert wait_for(lambda: not fit_files(inbox), DEADLINE_S, running.process), (
            f"{len(fit_files(inbox))} files still in the inbox after {DEADLINE_S:g}s")
        drained_s = time.monotonic() - started
        stop_cleanly(running)
    assert_each_file_stored_once(tmp_path, names)
    print(f"{mode}: {FILES} files moved in as one folder, inbox drained in {drained_s:.1f}s")


@pytest.mark.slow
@pytest.mark.parametrize(("mode", "scan_interval"), WATCH_MODES)
def test_files_copied_in_one_by_one_are_ingested_once_each(
        tmp_path: Path, mode: str, scan_interval: str) -> None:
    skip_without_native_events(mode)
    export = tmp_path / "export"
    names = write_runs(export, FILES)
    inbox = tmp_path / "data" / "inbox"
    # a plain copy creates the file empty and fills it, so a scan can meet a file mid-copy:
    # the FIT completeness check (with the default stability) keeps it waiting, not quarantined
    with watching_service(tmp_path, mode, scan_interval, stability="5s") as running:
        started = time.monotonic()
        (inbox / "ana").mkdir()
        for index, name in enumerate(names):
            shutil.copy(export / name, inbox / "ana" / name)
            if index % 25 == 24:
                time.sleep(0.05)  # a trickle over a few scans, so files arrive while one runs
        assert wait_for(lambda: not fit_files(inbox), DEADLINE_S, running.process), (
            f"{len(fit_files(inbox))} files still in the inbox after {DEADLINE_S:g}s")
        drained_s = time.monotonic() - started
        stop_cleanly(running)
    assert_each_file_stored_once(tmp_path, names)
    print(f"{mode}: {FILES} files copied in one by one, inbox drained in {drained_s:.1f}s")


def test_events_mode_names_the_inbox_when_native_events_cannot_start(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    missing = tmp_path / "not-there"
    with pytest.raises(WatchError, match="not-there.*not a folder"):
        InboxWatcher(missing, lambda: None, "events").start()
    caplog.clear()
    assert not InboxWatcher(missing, lambda: None, "auto", poll_interval_s=30).start()
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert "not-there" in warnings[0] and "falling back to polling every 30s" in warnings[0]
    assert not InboxWatcher(tmp_path, lambda: None, "polling").start()


def test_scan_trigger_debounces_pokes_and_rescans_after_a_scan_that_saw_events() -> None:
    """The scheduling half alone, with a real scheduler: the interval is an hour throughout."""
    stopping = threading.Event()
    scheduler = BackgroundScheduler(timezone="UTC",
                                    job_defaults={"coalesce": True, "max_instances": 1})
    trigger = service.ScanTrigger(scheduler, "scan", 0.2, stopping)
    scans: list[float] = []

    def scan() -> float | None:
        scans.append(time.monotonic())
        if len(scans) == 1:  # the start scan: an event arrives while it runs
            time.sleep(0.2)
            trigger.poke()
            time.sleep(0.2)
        return 0.3 if len(scans) == 4 else None  # the 4th scan met a file still being copied

    scheduler.add_job(lambda: trigger.run(scan), IntervalTrigger(hours=1), id="scan",
                      next_run_time=datetime.now(UTC))
    scheduler.add_listener(trigger.skipped, EVENT_JOB_MAX_INSTANCES)
    scheduler.start()
    try:
        assert wait_for(lambda: len(scans) == 2, 5), "no follow-up after a scan that saw events"
        time.sleep(0.3)
        assert len(scans) == 2
        for _ in range(200):  # a burst of events: one scan, about a debounce later
            trigger.poke()
        assert wait_for(lambda: len(scans) == 3, 5), "a poke did not bring the scan forward"
        time.sleep(0.5)
        assert len(scans) == 3
        trigger.poke()
        # the 4th scan asks to look again in 0.3 s, the 5th does; then it is quiet
        assert wait_for(lambda: len(scans) == 5, 5)
        time.sleep(0.5)
        assert len(scans) == 5
        assert scans[4] - scans[3] >= 0.25
    finally:
        stopping.set()
        trigger.close()
        scheduler.shutdown(wait=True)
