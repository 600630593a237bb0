"""Source folders other tools own (`sources:`) and `ingest --copy`: read where the files lie,
never changed (the same names, bytes and mtimes after), copied into the archive, each file read
once and again only when its bytes change; a folder that goes away is one warning, no
traceback. Real files, a real store (SQLite and PostgreSQL), the real CLI and service."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import FIT_SAMPLES
from helpers import HTTP_ANY_PORT, files_under, inbox_settings, running_service, wait_for
from sqlalchemy import delete, func, select

import ingest.sources
from cli import main
from fitwriter.encode import encode_run
from fitwriter.synthetic import weekly_plan, write_plan
from ingest import IngestSettings, SourceFolder, SourceFolders, read_copies
from ingest.inbox import InboxFile, copy_file
from ingest.pool import ParsePool
from store import Activity, JournalEntry, SourceFolderFile, Store, ensure_athlete, open_store
from store.source_folders import FileRead, file_claims, remember_reads

START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
REAL_RUN = FIT_SAMPLES / "python-fitparse" / "activity-small-fenix2-run.fit"
# (bytes, st_mtime_ns) of every entry below a folder, by relative path (folders: None bytes)
Snapshot = dict[str, tuple[bytes | None, int]]


def snapshot(folder: Path) -> Snapshot:
    """Everything below `folder` as a tool that owns it would check it: names, bytes, mtimes."""
    return {str(path.relative_to(folder)): (path.read_bytes() if path.is_file() else None,
                                            path.stat().st_mtime_ns)
            for path in sorted(folder.rglob("*"))}


def run_bytes(hour: int, distance_m: float = 5000.0) -> bytes:
    return encode_run(START + timedelta(hours=hour), distance_m, distance_m * 0.33,
                      interval_s=10)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts every payload handed to the decoders (a counting wrapper around the real pool's
    one entry point; the decoding itself is real)."""
    calls: list[int] = []
    real = ParsePool.submit

    def counting(pool: ParsePool, data: bytes, *args: Any, **kwargs: Any) -> Any:
        calls.append(len(data))
        return real(pool, data, *args, **kwargs)

    monkeypatch.setattr(ParsePool, "submit", counting)
    return calls


@pytest.fixture
def watch_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "GARMIN" / "Activity"
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def settings(tmp_path: Path, watch_folder: Path) -> IngestSettings:
    return replace(inbox_settings(tmp_path), sources=(SourceFolder(watch_folder, "ana"),))


def rows(store: Store) -> dict[str, SourceFolderFile]:
    with store.session() as session:
        return {row.path: row for row in session.scalars(select(SourceFolderFile))}


def activity_count(store: Store) -> int:
    with store.session() as session:
        return session.scalar(select(func.count()).select_from(Activity)) or 0


def test_a_source_folder_is_read_without_being_changed_and_copied_into_the_archive(
        store: Store, settings: IngestSettings, watch_folder: Path, decodes: list[int]) -> None:
    for hour in range(3):
        (watch_folder / f"run-{hour}.fit").write_bytes(run_bytes(hour))
    (watch_folder / "2026").mkdir()
    (watch_folder / "2026" / "nested.fit").write_bytes(run_bytes(5))
    (watch_folder / "notes.txt").write_text("not ours", encoding="utf-8")
    if REAL_RUN.is_file():  # a real watch's file too, when the samples are here
        (watch_folder / "fenix2.FIT").write_bytes(REAL_RUN.read_bytes())
    os.utime(watch_folder / "run-0.fit", ns=(1_600_000_000_123_456_789,) * 2)
    before = snapshot(watch_folder)
    fit_names = sorted(name for name in before if name.lower().endswith(".fit"))

    read = SourceFolders(store, settings).scan()

    assert snapshot(watch_folder) == before  # the same names, bytes and mtimes
    assert sorted(o.status for o in read.outcomes) == ["ingested"] * len(fit_names)
    assert activity_count(store) == len(fit_names)
    archived = {sha256(p.read_bytes()) for p in files_under(settings.archive)}
    assert archived == {sha256(before[name][0] or b"") for name in fit_names}
    assert not any(p.name.startswith(".") for p in files_under(settings.archive))
    remembered = rows(store)
    assert sorted(remembered) == sorted(str(watch_folder / name) for name in fit_names)
    for name in fit_names:
        row, (data, mtime_ns) = remembered[str(watch_folder / name)], before[name]
        assert (row.sha256, row.size_bytes, row.mtime_ns) == (sha256(data or b""), len(data or b""),
                                                              mtime_ns)
        assert row.status == "ingested" and row.athlete_id == "ana"
        assert Path(row.stored_path or "").read_bytes() == data
    decoded = len(decodes)

    again = SourceFolders(store, settings).scan()  # a new process: the memory is the database's
    assert again.outcomes == [] and again.unchanged == len(fit_names)
    assert len(decodes) == decoded  # nothing decoded at all
    assert snapshot(watch_folder) == before


def test_a_new_file_is_read_once_a_touched_one_not_again_a_changed_one_again(
        store: Store, settings: IngestSettings, watch_folder: Path, decodes: list[int]) -> None:
    sources = SourceFolders(store, settings)
    (watch_folder / "old.fit").write_bytes(run_bytes(0))
    sources.scan()

    (watch_folder / "new.fit").write_bytes(run_bytes(1))
    decoded = len(decodes)
    [outcome] = sources.scan().outcomes
    assert (outcome.path.name, outcome.status) == ("new.fit", "ingested")
    assert len(decodes) == decoded + 1
    assert outcome.stored_at and outcome.stored_at.read_bytes() == run_bytes(1)
    assert sources.scan().outcomes == [] and len(decodes) == decoded + 1
    assert activity_count(store) == 2

    # copied again by its tool: a new mtime, the same bytes -> hashed, never decoded
    touched = watch_folder / "old.fit"
    os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 10**9))
    read = sources.scan()
    assert read.outcomes == [] and read.unchanged == 2 and len(decodes) == decoded + 1
    assert rows(store)[str(touched)].mtime_ns == touched.stat().st_mtime_ns

    # new bytes under the old name (another run): read again
    touched.write_bytes(run_bytes(7, distance_m=12_000.0))
    [changed] = sources.scan().outcomes
    assert changed.status == "ingested" and len(decodes) == decoded + 2
    assert rows(store)[str(touched)].sha256 == sha256(run_bytes(7, distance_m=12_000.0))
    assert len(files_under(settings.archive)) == 3  # both versions of old.fit, and new.fit
    assert sources.scan().outcomes == []


def test_waiting_files_are_tried_again_and_quarantined_ones_only_when_their_bytes_change(
        store: Store, tmp_path: Path, watch_folder: Path, decodes: list[int]) -> None:
    settings = IngestSettings(inbox=tmp_path / "inbox", archive=tmp_path / "archive",
                              quarantine=tmp_path / "quarantine", stability_s=3600.0,
                              sources=(SourceFolder(watch_folder, "ana"),))
    sources = SourceFolders(store, settings)
    whole = run_bytes(0)
    arriving = watch_folder / "arriving.fit"
    arriving.write_bytes(whole[:len(whole) // 2])  # still being copied off the watch
    broken = watch_folder / "broken.fit"
    broken.write_bytes(b"this is no FIT file at all")
    old = time.time() - 7200  # settled long ago: read now, whatever its content
    os.utime(broken, (old, old))

    read = sources.scan()
    assert sorted((o.path.name, o.status) for o in read.outcomes) == [
        ("arriving.fit", "waiting"), ("broken.fit", "quarantined")]
    remembered = rows(store)
    assert str(arriving) not in remembered  # tried again at the next scan
    assert remembered[str(broken)].status == "quarantined"
    assert broken.read_bytes() == b"this is no FIT file at all"  # the original stays
    [copy] = [p for p in files_under(settings.quarantine) if p.name.endswith(".fit")]
    assert copy.read_bytes() == broken.read_bytes()
    reason_text = (copy.parent / f"{copy.name}.reason.txt").read_text(encoding="utf-8")
    assert "the original was left where it is" in reason_text and "inbox" not in reason_text

    arriving.write_bytes(whole)  # the copy finished: a whole FIT file is read at once
    decoded = len(decodes)
    [done] = sources.scan().outcomes
    assert (done.path.name, done.status) == ("arriving.fit", "ingested")
    assert len(decodes) == decoded + 1 and sources.scan().outcomes == []

    broken.write_bytes(run_bytes(3))  # fixed by its owner
    os.utime(broken, (old + 60, old + 60))
    [fixed] = sources.scan().outcomes
    assert (fixed.path.name, fixed.status) == ("broken.fit", "ingested")
    assert rows(store)[str(broken)].status == "ingested"


def test_a_folder_that_goes_away_is_one_warning_and_is_read_when_it_comes_back(
        store: Store, settings: IngestSettings, watch_folder: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="strideguard")
    never_there = watch_folder.parent / "Dropbox" / "Apps" / "WahooFitness"
    settings = IngestSettings(inbox=settings.inbox, archive=settings.archive,
                              quarantine=settings.quarantine, stability_s=0.0,
                              sources=(*settings.sources, SourceFolder(never_there, "ana")))
    sources = SourceFolders(store, settings)
    (watch_folder / "a.fit").write_bytes(run_bytes(0))
    assert len(sources.scan().outcomes) == 1

    unplugged = watch_folder.with_name("unplugged")
    watch_folder.rename(unplugged)  # the watch is unplugged (as the test, not StrideGuard)
    for _scan in range(3):
        assert sources.scan().outcomes == []
    (unplugged / "b.fit").write_bytes(run_bytes(1))  # recorded while away
    unplugged.rename(watch_folder)
    [back] = sources.scan().outcomes
    assert (back.path.name, back.status) == ("b.fit", "ingested")

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sum(str(watch_folder) in w and "is not there" in w for w in warnings) == 1
    assert sum(str(never_there) in w and "is not there" in w for w in warnings) == 1
    assert f"source folder {watch_folder} is back" in caplog.text
    assert not any(r.exc_info for r in caplog.records) and "Traceback" not in caplog.text


def test_a_zip_export_and_a_journal_in_a_source_folder_are_copied_not_moved(
        store: Store, settings: IngestSettings, watch_folder: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as export:
        export.writestr("activities/1.fit", run_bytes(0))
        export.writestr("activities/2.fit", run_bytes(1))
    (watch_folder / "export.zip").write_bytes(buffer.getvalue())
    (watch_folder / "journal.csv").write_text(
        "date,area,pain,note\n2026-03-01,knee,3,after the long run\n", encoding="utf-8")
    os.utime(watch_folder / "journal.csv", (time.time() - 60,) * 2)
    before = snapshot(watch_folder)

    read = SourceFolders(store, settings).scan()
    assert sorted(o.status for o in read.outcomes) == ["ingested"] * 3
    assert snapshot(watch_folder) == before
    assert sorted(p.name for p in files_under(settings.archive)) == ["export.zip", "journal.csv"]
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(JournalEntry)) == 1
    assert {row.status for row in rows(store).values()} == {"ingested"}
    assert activity_count(store) == 2


def test_per_subfolder_names_the_athlete_and_hidden_folders_are_never_read(
        store: Store, tmp_path: Path) -> None:
    shared = tmp_path / "Sync"
    for athlete, hour in (("ana", 0), ("bob", 1)):
        (shared / athlete / "2026").mkdir(parents=True)
        (shared / athlete / "2026" / f"{athlete}.fit").write_bytes(run_bytes(hour))
    (shared / "loose.fit").write_bytes(run_bytes(2))
    (shared / "ana" / ".stversions").mkdir()  # Syncthing's old versions: not the runner's runs
    (shared / "ana" / ".stversions" / "ana~20260301.fit").write_bytes(run_bytes(3))
    settings = IngestSettings(inbox=tmp_path / "inbox", archive=tmp_path / "archive",
                              quarantine=tmp_path / "quarantine", stability_s=0.0,
                              sources=(SourceFolder(shared),))
    sources = SourceFolders(store, settings)
    read = sources.scan()
    assert sorted((o.path.name, o.athlete_id) for o in read.outcomes) == [
        ("ana.fit", "ana"), ("bob.fit", "bob"), ("loose.fit", "default")]
    assert len(files_under(settings.archive)) == 3
    assert sources.scan().outcomes == []
    assert len(rows(store)) == 3


def test_a_source_overlapping_strideguards_own_folders_is_refused_both_ways(
        store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    shared = tmp_path / "Sync"
    (shared / "ana").mkdir(parents=True)
    (shared / "ana" / "ana.fit").write_bytes(run_bytes(0))
    inbox = tmp_path / "inbox"
    (inbox / "x").mkdir(parents=True)
    before = snapshot(shared)
    # the archive inside a source: StrideGuard would write into a folder another tool owns
    settings = IngestSettings(inbox=inbox, archive=shared / "strideguard-archive",
                              quarantine=tmp_path / "quarantine", stability_s=0.0,
                              sources=(SourceFolder(shared), SourceFolder(inbox / "x", "x")))
    sources = SourceFolders(store, settings)
    assert sources.sources == ()
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any(f"source folder {shared} is not read: it holds StrideGuard's archive" in e
               for e in errors), errors
    assert any(f"source folder {inbox / 'x'} is not read: it is inside StrideGuard's inbox"
               in e for e in errors), errors
    assert sources.scan().outcomes == [] and rows(store) == {}
    assert snapshot(shared) == before  # nothing written into it, no archive made there


def test_a_file_read_again_after_a_crash_is_a_duplicate_and_not_copied_twice(
        store: Store, settings: IngestSettings, watch_folder: Path) -> None:
    (watch_folder / "a.fit").write_bytes(run_bytes(0))
    SourceFolders(store, settings).scan()
    with store.session() as session:  # as if the process died after the copy, before the row
        session.execute(delete(SourceFolderFile))
    [again] = SourceFolders(store, settings).scan().outcomes
    assert again.status == "duplicate"
    assert len(files_under(settings.archive)) == 1 and activity_count(store) == 1
    assert rows(store)[str(watch_folder / "a.fit")].status == "duplicate"


def test_copy_file_never_overwrites_and_leaves_the_original_as_it_was(tmp_path: Path) -> None:
    original = tmp_path / "a.fit"
    original.write_bytes(b"new bytes")
    os.utime(original, ns=(1_600_000_000_000_000_001,) * 2)
    taken = tmp_path / "archive" / "a.fit"
    taken.parent.mkdir()
    taken.write_bytes(b"old bytes")
    copied_to = copy_file(original, taken)
    assert copied_to != taken and taken.read_bytes() == b"old bytes"
    assert copied_to.read_bytes() == b"new bytes"
    assert original.read_bytes() == b"new bytes"
    assert original.stat().st_mtime_ns == 1_600_000_000_000_000_001
    assert sorted(p.name for p in taken.parent.iterdir()) == sorted([taken.name, copied_to.name])


def test_a_long_backfill_is_remembered_as_it_goes(
        store: Store, settings: IngestSettings, watch_folder: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingest.sources, "REMEMBER_EVERY", 2)
    for hour in range(5):
        (watch_folder / f"run-{hour}.fit").write_bytes(run_bytes(hour))
    remembered_when_read: list[int] = []
    items = [InboxFile(path, "ana") for path in sorted(watch_folder.iterdir())]
    read = read_copies(store, settings, items,
                       on_outcome=lambda _outcome: remembered_when_read.append(len(rows(store))))
    assert remembered_when_read == [0, 0, 2, 2, 4]  # rows written after each batch of two
    assert read.remembered == 5 and len(rows(store)) == 5


# --- two processes on one database -------------------------------------------------------------


def test_a_file_another_process_is_reading_is_left_to_it(
        database_url: str, settings: IngestSettings, watch_folder: Path) -> None:
    path = watch_folder / "a.fit"
    path.write_bytes(run_bytes(0))
    mine, other = open_store(database_url), open_store(database_url)
    try:
        with file_claims(other.engine) as claims:
            assert claims.claim([str(path)]) == {str(path)}
            read = SourceFolders(mine, settings).scan()
        if mine.engine.dialect.name == "postgresql":
            assert read.outcomes == [] and read.left_to_others == 1
            assert rows(mine) == {}
            read = SourceFolders(mine, settings).scan()  # released: read now
        # on SQLite (one machine) claims always succeed; a second reader finds a duplicate
        assert [o.status for o in read.outcomes] == ["ingested"]
    finally:
        mine.dispose()
        other.dispose()


def test_two_processes_remembering_the_same_file_never_fail(store: Store) -> None:
    with store.session() as session:
        ensure_athlete(session, "ana")
    first = FileRead("/x/a.fit", "ana", 10, 1, "a" * 64, "ingested", "/archive/a.fit")
    second = FileRead("/x/a.fit", "ana", 10, 1, "a" * 64, "duplicate", "/archive/a.fit")
    with store.session() as session:
        remember_reads(session, [first])
    with store.session() as session:
        remember_reads(session, [second])  # the other process wrote it meanwhile
    [row] = rows(store).values()
    assert row.status == "duplicate" and row.first_seen_at <= row.read_at


def test_two_processes_scanning_one_folder_store_every_run_once(
        database_url: str, settings: IngestSettings, watch_folder: Path) -> None:
    for hour in range(12):
        (watch_folder / f"run-{hour:02d}.fit").write_bytes(run_bytes(hour))
    stores = [open_store(database_url), open_store(database_url)]
    errors: list[BaseException] = []

    def scan(store: Store) -> None:
        try:
            SourceFolders(store, settings).scan()
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    try:
        threads = [threading.Thread(target=scan, args=(s,)) for s in stores]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert errors == []
        SourceFolders(stores[0], settings).scan()  # whatever one left to the other
        assert activity_count(stores[0]) == 12
        assert len(rows(stores[0])) == 12
        if stores[0].engine.dialect.name == "postgresql":  # claimed: each copied once
            assert len(files_under(settings.archive)) == 12
    finally:
        for store in stores:
            store.dispose()


def test_read_copies_takes_items_as_ingest_copy_does(
        store: Store, settings: IngestSettings, watch_folder: Path) -> None:
    (watch_folder / "a.fit").write_bytes(run_bytes(0))
    planned: list[int] = []
    item = InboxFile(watch_folder / "a.fit", "bob")  # made copy mode whatever it says
    read = read_copies(store, settings, [item, item], on_planned=planned.append)  # named twice
    assert planned == [1] and [o.status for o in read.outcomes] == ["ingested"]
    assert (watch_folder / "a.fit").is_file()
    assert read_copies(store, settings, [item], on_planned=planned.append).unchanged == 1
    assert planned == [1, 0]


# --- the command line and the service ----------------------------------------------------------


def write_config(folder: Path, database_url: str, extra: str = "") -> Path:
    config = folder / "strideguard.yaml"
    config.write_text(f"database: \"{database_url}\"\nschedule:\n  scan_interval: 1s\n"
                      "  dispatch_interval: 1s\ningest:\n  stability: 0s\n  workers: 1\n"
                      + HTTP_ANY_PORT + extra, encoding="utf-8")
    return config


def activities_json(config: Path, capsys: pytest.CaptureFixture[str]) -> list[dict]:
    capsys.readouterr()
    assert main(["--config", str(config), "activities", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_ingest_copy_leaves_the_originals_and_reads_nothing_the_second_time(
        tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, database_url)
    export = tmp_path / "HealthData" / "FitFiles" / "Activities"
    write_plan(weekly_plan(datetime.now(UTC).date(), 1, [5.0, 10.0]), export)
    before = snapshot(export)
    args = ["--config", str(config), "ingest", "--copy", str(export), "--athlete", "bob"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "read 4 of 4 files" in out
    assert snapshot(export) == before
    archived = files_under(tmp_path / "data" / "archive" / "bob")
    assert sorted(p.read_bytes() for p in archived) == sorted(
        data for data, _mtime in before.values() if data is not None)
    listed = activities_json(config, capsys)
    assert len(listed) == 4 and {r["athlete"] for r in listed} == {"bob"}

    assert main(args) == 0
    out = capsys.readouterr().out
    assert "ingested" not in out and "read 0" not in out
    assert "4 files were read before and are unchanged: not read again" in out
    assert len(activities_json(config, capsys)) == 4
    assert snapshot(export) == before
    assert len(files_under(tmp_path / "data" / "archive")) == 4


def test_run_once_reads_the_source_folders_and_evaluates(
        tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    watch = tmp_path / "Garmin" / "Activities"
    config = write_config(tmp_path, database_url, f"sources:\n  - path: {watch}\n"
                                                  "    athlete: ana\n")
    # the last run is a 2x spike: the rules fire, so evaluation ran after the batch
    write_plan(weekly_plan(datetime.now(UTC).date(), 5, [5.0, 6.0, 8.0], final_run_km=17.0),
               watch)
    before = snapshot(watch)
    assert main(["--config", str(config), "run", "--once"]) == 0
    assert snapshot(watch) == before
    assert len(activities_json(config, capsys)) == len(before)
    assert any((tmp_path / "data" / "mail").glob("*.eml"))
    assert len(files_under(tmp_path / "data" / "archive")) == len(before)

    assert main(["--config", str(config), "run", "--once"]) == 0  # nothing new: nothing read
    assert len(files_under(tmp_path / "data" / "archive")) == len(before)
    assert snapshot(watch) == before


def test_the_service_reads_a_source_folder_that_is_unplugged_and_plugged_back(
        tmp_path: Path, database_url: str) -> None:
    watch = tmp_path / "media" / "GARMIN" / "GARMIN" / "Activity"
    watch.mkdir(parents=True)
    (watch / "first.fit").write_bytes(run_bytes(0))
    config = write_config(tmp_path, database_url,
                          f"sources:\n  - path: {watch}\n    athlete: ana\n    watch: auto\n")
    archive = tmp_path / "data" / "archive"

    def archived(name: str) -> Callable[[], bool]:
        return lambda: any(p.name == name for p in files_under(archive))

    with running_service(config) as service:
        assert wait_for(archived("first.fit"), 60, service.process), service.log()
        unplugged = watch.with_name("away")
        watch.rename(unplugged)
        assert service.wait_for_log("is not there"), service.log()
        time.sleep(3.5)  # a few 1 s scans while it is away: still one warning
        (unplugged / "second.fit").write_bytes(run_bytes(1))
        unplugged.rename(watch)
        assert wait_for(archived("second.fit"), 60, service.process), service.log()
        log = service.stop()
    assert service.process.returncode == 0, log
    assert log.count("is not there") == 1, log
    assert f"source folder {watch} is back" in log
    assert "Traceback" not in log
    assert sorted(p.name for p in watch.iterdir()) == ["first.fit", "second.fit"]


@pytest.fixture
def native_events() -> Iterator[None]:
    from ingest.watch import InboxWatcher, WatchError

    probe = InboxWatcher(Path(__file__).parent, lambda: None, "events")
    try:
        probe.start()
    except WatchError as exc:
        pytest.skip(str(exc))
    finally:
        probe.stop()
    yield


def test_a_source_folder_with_file_events_is_read_without_waiting_for_the_interval(
        tmp_path: Path, native_events: None) -> None:
    watch = tmp_path / "Syncthing" / "Gadgetbridge"
    watch.mkdir(parents=True)
    config = tmp_path / "strideguard.yaml"
    config.write_text("schedule:\n  scan_interval: 1h\ningest:\n  stability: 0s\n  workers: 1\n"
                      f"sources:\n  - path: {watch}\n    athlete: ana\n    watch: events\n"
                      + HTTP_ANY_PORT, encoding="utf-8")
    with running_service(config) as service:
        (watch / "synced.fit").write_bytes(run_bytes(0))
        archive = tmp_path / "data" / "archive"
        assert wait_for(lambda: any(p.name == "synced.fit" for p in files_under(archive)), 60,
                        service.process), service.log()
        log = service.stop()
    assert "also on file events" in log and "Traceback" not in log
    assert (watch / "synced.fit").is_file()
