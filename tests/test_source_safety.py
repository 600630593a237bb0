"""Source folders when things go wrong: a file rewritten while it is read, a read error in a zip,
a subfolder name no athlete id can be, a value the database refuses, a shutdown mid-backfill,
claims on a shared PostgreSQL server, and the temporary files of a shared archive. Real files
and a real store (SQLite and PostgreSQL); the few failures no test can cause for real (a disk's
read error, a file system without hard links) are injected at the one call that meets them."""

from __future__ import annotations

import errno
import logging
import os
import zipfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from helpers import files_under, inbox_settings, zip_bytes
from sqlalchemy import Engine, delete, select, text
from sqlalchemy.exc import DBAPIError
from test_sources import (
    activity_count,
    rows,
    run_bytes,
    sha256,
    snapshot,
    write_config,
)

import ingest.sources
from cli import main
from fitwriter.synthetic import weekly_plan, write_plan
from ingest import IngestSettings, SourceFolder, SourceFolders, read_copies
from ingest.inbox import InboxFile, copy_file, files_below, items_from_paths
from ingest.pool import ParsePool
from store import SourceFile, SourceFolderFile, Store, open_store, source_folders
from store.source_folders import SOURCE_CLAIM_SPACE, _claim_key, file_claims


@pytest.fixture
def watch_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "Dropbox" / "Apps" / "WahooFitness"
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def settings(tmp_path: Path, watch_folder: Path) -> IngestSettings:
    return replace(inbox_settings(tmp_path), sources=(SourceFolder(watch_folder, "ana"),))


def archive_matches_the_store(store: Store, archive: Path) -> None:
    """Every archived file holds the bytes of the source row that points at it."""
    with store.session() as session:
        by_path = {row.stored_path: row for row in session.scalars(select(SourceFile))}
    for path in files_under(archive):
        row = by_path.get(str(path))
        assert row is not None, f"{path} is archived but no source row points at it"
        if row.container_member is None and not path.name.endswith(".gz"):
            assert sha256(path.read_bytes()) == row.sha256, f"{path} holds other bytes"


# --- the copy holds the bytes that were read ----------------------------------------------------


def test_a_file_rewritten_between_decoding_and_copying_is_not_archived_as_read(
        store: Store, settings: IngestSettings, watch_folder: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    run = watch_folder / "run.fit"
    first, second = run_bytes(0), run_bytes(30, distance_m=8000.0)
    run.write_bytes(first)
    real = ParsePool.submit

    def owner_rewrites_after_decoding(pool: ParsePool, data: bytes, *args: Any,
                                      **kwargs: Any) -> Any:
        parsed = real(pool, data, *args, **kwargs)  # one worker: decoded by now
        if data == first:
            run.write_bytes(second)  # Syncthing brings a new version in between
        return parsed

    monkeypatch.setattr(ParsePool, "submit", owner_rewrites_after_decoding)
    sources = SourceFolders(store, settings)
    [outcome] = sources.scan().outcomes
    assert outcome.status == "error" and "changed while it was read" in outcome.reason
    assert rows(store) == {}  # not remembered: read again with its new bytes
    assert not any(p.read_bytes() == second for p in files_under(settings.archive))
    archive_matches_the_store(store, settings.archive)
    assert not any(p.name.startswith(".") for p in files_under(settings.archive))
    assert files_under(settings.quarantine) == []

    monkeypatch.setattr(ParsePool, "submit", real)
    [again] = sources.scan().outcomes
    assert again.status == "ingested" and again.stored_at is not None
    assert again.stored_at.read_bytes() == second
    assert rows(store)[str(run)].sha256 == sha256(second)
    archive_matches_the_store(store, settings.archive)
    assert run.read_bytes() == second


def test_a_zip_read_again_after_a_crash_is_not_copied_twice(
        store: Store, settings: IngestSettings, watch_folder: Path) -> None:
    (watch_folder / "export.zip").write_bytes(zip_bytes({"a.fit": run_bytes(0),
                                                      "b.fit": run_bytes(20)}))
    SourceFolders(store, settings).scan()
    with store.session() as session:  # as if the process died after the copy, before the row
        session.execute(delete(SourceFolderFile))
    again = SourceFolders(store, settings).scan().outcomes
    assert [o.status for o in again] == ["duplicate", "duplicate"]
    assert [p.name for p in files_under(settings.archive)] == ["export.zip"]
    assert rows(store)[str(watch_folder / "export.zip")].stored_path == str(
        files_under(settings.archive)[0])


# --- a read error is no broken file, a zip of photos no mistake ---------------------------------


def test_a_zip_that_hits_a_read_error_is_read_again_and_a_broken_one_is_not(
        store: Store, settings: IngestSettings, watch_folder: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    export = watch_folder / "export.zip"
    export.write_bytes(zip_bytes({f"{i}.fit": run_bytes(24 * i) for i in range(3)}))
    broken = bytearray(zip_bytes({"x.fit": run_bytes(100) * 4}))
    broken[60:90] = b"\xff" * 30  # damaged in the middle of the compressed data
    (watch_folder / "broken.zip").write_bytes(bytes(broken))
    real_open = zipfile.ZipFile.open
    failures: list[str] = []

    def eio_once(archive: zipfile.ZipFile, member: Any, *args: Any, **kwargs: Any) -> Any:
        name = member.filename if isinstance(member, zipfile.ZipInfo) else member
        if name == "1.fit" and not failures:  # the share drops out once, mid-read
            failures.append(name)
            raise OSError(errno.EIO, "Input/output error")
        return real_open(archive, member, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", eio_once)
    sources = SourceFolders(store, settings)
    first = sources.scan().outcomes
    assert failures == ["1.fit"]
    # a read error is an error to retry, not a reason to quarantine; damaged data is
    assert sorted((o.path.name, o.status) for o in first if o.status == "quarantined") == [
        ("broken.zip", "quarantined")]
    assert ("export.zip", "error") in {(o.path.name, o.status) for o in first}
    remembered = rows(store)
    assert str(export) not in remembered  # a read error: read again at the next scan
    assert remembered[str(watch_folder / "broken.zip")].status == "quarantined"

    second = sources.scan().outcomes
    assert {o.path.name for o in second} == {"export.zip"}  # the broken one stays remembered
    assert "quarantined" not in {o.status for o in second}
    assert activity_count(store) == 3
    assert rows(store)[str(export)].status in ("ingested", "duplicate")
    assert sources.scan().outcomes == []


def test_a_zip_with_no_activity_in_a_source_folder_is_skipped_not_quarantined(
        store: Store, settings: IngestSettings, watch_folder: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="strideguard.ingest")
    photos = watch_folder / "Camera Uploads 2026.zip"
    photos.write_bytes(zip_bytes({"IMG_0001.jpg": b"\xff\xd8 not a run " * 100,
                               "notes.txt": b"holiday"}))
    before = snapshot(watch_folder)
    sources = SourceFolders(store, settings)
    [outcome] = sources.scan().outcomes
    assert outcome.status == "skipped" and "holds no .fit, .tcx or .gpx file" in outcome.reason
    assert files_under(settings.quarantine) == [] and files_under(settings.archive) == []
    row = rows(store)[str(photos)]
    assert row.status == "skipped" and row.stored_path is None
    assert f"{photos} holds no .fit" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    read = sources.scan()
    assert read.outcomes == [] and read.unchanged == 1
    assert snapshot(watch_folder) == before


# --- athlete ids, database refusals and the inbox's evaluation ---------------------------------


def test_a_subfolder_that_names_no_athlete_id_is_warned_of_once_and_the_rest_is_read(
        store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    shared = tmp_path / "Sync"
    bad_names = ["A" * 70, "two words", "-dash"]
    for hour, name in enumerate([*bad_names, "ana", "zoe"]):
        (shared / name).mkdir(parents=True)
        (shared / name / f"run-{hour}.fit").write_bytes(run_bytes(hour))
    settings = IngestSettings(inbox=tmp_path / "inbox", archive=tmp_path / "archive",
                              quarantine=tmp_path / "quarantine", stability_s=0.0,
                              sources=(SourceFolder(shared),))
    sources = SourceFolders(store, settings)
    for _scan in range(2):
        read = sources.scan()
    assert read.outcomes == [] and read.unchanged == 2
    assert sorted(row.athlete_id for row in rows(store).values()) == ["ana", "zoe"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    for name in bad_names:
        assert sum(repr(name) in w and "does not name an athlete id" in w
                   for w in warnings) == 1, warnings


def refuse_athlete(engine: Engine, athlete_id: str) -> None:
    """A database that refuses one athlete's row (as PostgreSQL refuses a value too long for
    its column): a trigger, so the refusal is the database's own."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text(
                "CREATE FUNCTION refuse_athlete() RETURNS trigger AS $$ BEGIN "
                f"IF NEW.id = '{athlete_id}' THEN RAISE EXCEPTION 'athlete refused' "
                "USING ERRCODE = 'check_violation'; END IF; RETURN NEW; END $$ "
                "LANGUAGE plpgsql"))
            connection.execute(text("CREATE TRIGGER refuse_athlete BEFORE INSERT ON athletes "
                                    "FOR EACH ROW EXECUTE FUNCTION refuse_athlete()"))
        else:
            connection.execute(text(
                "CREATE TRIGGER refuse_athlete BEFORE INSERT ON athletes "
                f"WHEN NEW.id = '{athlete_id}' BEGIN SELECT RAISE(ABORT, 'athlete refused'); "
                "END"))


def test_a_file_the_database_refuses_is_an_error_and_the_scan_goes_on(
        store: Store, tmp_path: Path) -> None:
    shared = tmp_path / "Sync"
    for hour, name in enumerate(["ana", "boom", "cleo"]):
        (shared / name).mkdir(parents=True)
        (shared / name / f"{name}.fit").write_bytes(run_bytes(hour))
    refuse_athlete(store.engine, "boom")
    settings = IngestSettings(inbox=tmp_path / "inbox", archive=tmp_path / "archive",
                              quarantine=tmp_path / "quarantine", stability_s=0.0,
                              sources=(SourceFolder(shared),))
    sources = SourceFolders(store, settings)
    read = sources.scan()
    assert sorted((o.path.name, o.status) for o in read.outcomes) == [
        ("ana.fit", "ingested"), ("boom.fit", "error"), ("cleo.fit", "ingested")]
    [refused] = [o for o in read.outcomes if o.status == "error"]
    assert "the database refused it" in refused.reason and "athlete refused" in refused.reason
    assert sorted(Path(p).name for p in rows(store)) == ["ana.fit", "cleo.fit"]
    [again] = sources.scan().outcomes  # not remembered: tried again
    assert (again.path.name, again.status) == ("boom.fit", "error")


def test_run_once_evaluates_the_inbox_when_the_source_scan_fails(
        tmp_path: Path, database_url: str, capfd: pytest.CaptureFixture[str]) -> None:
    watch = tmp_path / "Garmin"
    watch.mkdir()
    (watch / "a.fit").write_bytes(run_bytes(0))
    config = write_config(tmp_path, database_url, f"sources:\n  - path: {watch}\n"
                                                  "    athlete: ana\n")
    migrated = open_store(database_url)  # the store as the service opens it, then damaged
    try:
        with migrated.engine.begin() as connection:
            connection.execute(text("DROP TABLE source_folder_files"))
    finally:
        migrated.dispose()
    # the inbox's last run is a 2x spike: the rules fire if the inbox was evaluated
    write_plan(weekly_plan(datetime.now(UTC).date(), 5, [5.0, 6.0, 8.0], final_run_km=17.0),
               tmp_path / "data" / "inbox" / "ana")
    assert main(["--config", str(config), "run", "--once"]) == 0
    assert any((tmp_path / "data" / "mail").glob("*.eml"))
    log = capfd.readouterr().err
    assert log.count("ERROR strideguard.ingest: reading the source folders failed") == 1, log
    assert "source_folder_files" in log  # its cause is in the log, not swallowed
    assert (watch / "a.fit").is_file()


def test_a_failing_source_scan_is_logged_once_while_it_lasts(
        store: Store, settings: IngestSettings, watch_folder: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    from wiring import scan_sources

    caplog.set_level(logging.INFO, logger="strideguard.ingest")
    (watch_folder / "a.fit").write_bytes(run_bytes(0))
    sources = SourceFolders(store, settings)
    with store.engine.begin() as connection:
        connection.execute(text("ALTER TABLE source_folder_files RENAME TO away"))
    for _scan in range(3):
        assert scan_sources(sources) == []
    assert caplog.text.count("reading the source folders failed") == 1
    with store.engine.begin() as connection:
        connection.execute(text("ALTER TABLE away RENAME TO source_folder_files"))
    assert [o.status for o in scan_sources(sources)] == ["ingested"]
    assert "source folders are read again" in caplog.text


# --- a shutdown mid-backfill --------------------------------------------------------------------


def test_a_shutdown_stops_the_hashing_of_a_backfill(
        store: Store, settings: IngestSettings, watch_folder: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    for hour in range(20):
        (watch_folder / f"run-{hour:02d}.fit").write_bytes(run_bytes(hour))
    hashed: list[Path] = []
    real = ingest.sources._sha256_of

    def counting(path: Path) -> str:
        hashed.append(path)
        return real(path)

    monkeypatch.setattr(ingest.sources, "_sha256_of", counting)
    read = SourceFolders(store, settings).scan(should_continue=lambda: len(hashed) < 3)
    assert len(hashed) == 3 and read.outcomes == [] and rows(store) == {}


def test_a_shutdown_stops_the_walk(tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
        (tmp_path / name / f"{name}.fit").write_bytes(b"x")
    (tmp_path / "top.fit").write_bytes(b"x")
    asked: list[int] = []

    def until_the_second_folder() -> bool:
        asked.append(1)
        return len(asked) < 3

    walked = list(files_below(tmp_path, should_continue=until_the_second_folder))
    assert [p.relative_to(tmp_path).as_posix() for p in walked] == ["top.fit", "a/a.fit"]


# --- `ingest --copy` ----------------------------------------------------------------------------


def test_ingest_copy_refuses_a_folder_holding_strideguards_own(
        tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, database_url)
    (tmp_path / "run.fit").write_bytes(run_bytes(0))
    (tmp_path / "data" / "archive").mkdir(parents=True)
    assert main(["--config", str(config), "ingest", "--copy", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path} is not read: it holds StrideGuard's inbox" in err
    assert files_under(tmp_path / "data" / "archive") == []
    inside = tmp_path / "data" / "archive" / "ana"
    inside.mkdir()
    assert main(["--config", str(config), "ingest", "--copy", str(inside)]) == 1
    assert "is inside StrideGuard's archive" in capsys.readouterr().err


def test_the_files_a_folder_named_to_ingest_holds_leave_hidden_and_own_folders_out(
        tmp_path: Path) -> None:
    export = tmp_path / "Sync"
    for relative in ("a.fit", "2026/b.fit", ".stversions/a~old.fit", "2026/.trash/c.fit",
                     "archive/ana/2026-03/d.fit", "quarantine/e.fit"):
        (export / relative).parent.mkdir(parents=True, exist_ok=True)
        (export / relative).write_bytes(b"x")
    items = items_from_paths([export], tmp_path / "inbox", "ana", copy=True,
                             exclude=(export / "archive", export / "quarantine"))
    assert [i.path.relative_to(export).as_posix() for i in items] == ["2026/b.fit", "a.fit"]
    named = items_from_paths([export / ".stversions"], tmp_path / "inbox")  # named outright
    assert [i.path.name for i in named] == ["a~old.fit"]


# --- the copies themselves ----------------------------------------------------------------------


def test_a_copy_never_uses_or_removes_another_writers_temporary_file(tmp_path: Path) -> None:
    original = tmp_path / "a.fit"
    original.write_bytes(b"mine")
    folder = tmp_path / "archive"
    folder.mkdir()
    # another container on the shared archive, also PID 1 or not, writing the same name
    theirs = folder / f".a.fit.{os.getpid()}.part"
    theirs.write_bytes(b"theirs, half written")
    copied_to = copy_file(original, folder / "a.fit", sha256=sha256(b"mine"))
    assert copied_to.read_bytes() == b"mine"
    assert theirs.read_bytes() == b"theirs, half written"
    assert sorted(p.name for p in folder.iterdir()) == sorted([theirs.name, "a.fit"])


def test_a_copy_without_hard_links_never_replaces_a_file_that_appeared_meanwhile(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = tmp_path / "a.fit"
    original.write_bytes(b"mine")
    destination = tmp_path / "archive" / "a.fit"
    calls: list[Path] = []

    def no_hard_links(_source: Any, target: Any, *args: Any, **kwargs: Any) -> None:
        calls.append(Path(target))
        if len(calls) == 1:  # another process takes the name just as we put ours in place
            Path(target).write_bytes(b"theirs")
        raise PermissionError(errno.EPERM, "Operation not permitted")  # as on FAT

    monkeypatch.setattr(os, "link", no_hard_links)
    copied_to = copy_file(original, destination)
    assert destination.read_bytes() == b"theirs"
    assert copied_to != destination and copied_to.read_bytes() == b"mine"
    assert sorted(p.name for p in destination.parent.iterdir()) == sorted(
        ["a.fit", copied_to.name])


# --- claims on a shared PostgreSQL server -------------------------------------------------------


def claims_held(engine: Engine, paths: list[str]) -> int:
    """How many of these paths' claims (advisory locks) any session of the server holds."""
    keys = [_claim_key(path) & 0xFFFFFFFF for path in paths]
    with engine.connect() as connection:
        return connection.execute(text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 "
            "AND classid::bigint = :space AND objid::bigint = ANY(:keys)"),
            {"space": SOURCE_CLAIM_SPACE, "keys": keys}).scalar_one()


@pytest.fixture
def postgres_store(store: Store) -> Store:
    if store.engine.dialect.name != "postgresql":
        pytest.skip("advisory-lock claims are PostgreSQL's")
    return store


def test_a_claim_that_fails_part_way_leaves_no_lock_held(
        postgres_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = [str(tmp_path / f"run-{i}.fit") for i in range(50)]
    # the same claim, failing after it took its locks (as a statement timeout, a cancel or
    # "out of shared memory" would)
    monkeypatch.setattr(source_folders, "CLAIM_SQL",
                        "SELECT 1 / (count(*) - count(*)) AS key FROM ("
                        f"{source_folders.CLAIM_SQL} OFFSET 0) AS taken")
    with pytest.raises(DBAPIError, match="division by zero"), \
            file_claims(postgres_store.engine) as claims:
        claims.claim(paths)
    assert claims_held(postgres_store.engine, paths) == 0
    monkeypatch.undo()
    with file_claims(postgres_store.engine) as claims:
        assert claims.claim(paths) == set(paths)
        assert claims_held(postgres_store.engine, paths) == 50
    assert claims_held(postgres_store.engine, paths) == 0


def test_a_backfill_larger_than_a_batch_never_claims_more_than_a_batch(
        postgres_store: Store, settings: IngestSettings, watch_folder: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingest.sources, "REMEMBER_EVERY", 2)
    for hour in range(5):
        (watch_folder / f"run-{hour}.fit").write_bytes(run_bytes(hour))
    items = [InboxFile(path, "ana") for path in sorted(watch_folder.iterdir())]
    paths = [str(item.path) for item in items]
    held: list[int] = []
    read = read_copies(postgres_store, settings, items,
                       on_outcome=lambda _o: held.append(claims_held(postgres_store.engine,
                                                                     paths)))
    assert read.remembered == 5 and len(held) == 5
    assert max(held) == 2  # a batch's claims, never the backfill's
    assert claims_held(postgres_store.engine, paths) == 0
