"""Backfills: zip exports and gzipped files, the process pool, and reprocessing the archive."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from helpers import count_rows, files_under, inbox_settings, zip_bytes
from sqlalchemy import select

from fitwriter.encode import encode_file_id_only, encode_run
from ingest import IngestSettings, count_reprocessable, ingest_inbox, reprocess_archive
from store import Activity, ActivitySeries, SourceFile, Store

START = datetime(2026, 10, 1, 7, 0, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path: Path) -> IngestSettings:
    return inbox_settings(tmp_path)


def run_bytes(day: int, distance_m: float = 8000.0, **options: float) -> bytes:
    return encode_run(START + timedelta(days=day), distance_m, distance_m * 0.33,
                      serial_number=901, **options)


def test_zip_export_with_nested_folders_gz_members_and_a_bad_file(
        store: Store, settings: IngestSettings) -> None:
    folder = settings.inbox / "ana"
    folder.mkdir(parents=True)
    export = zip_bytes({
        "export/2026/10/run-a.fit": run_bytes(0),
        "export/2026/10/run-b.FIT": run_bytes(1),
        "export/2026/11/run-c.fit.gz": gzip.compress(run_bytes(2)),
        "export/settings.fit": encode_file_id_only("settings"),
        "export/broken.fit": b"this is not a FIT file at all",
        "export/notes.txt": b"ignored",
        "__MACOSX/export/._run-a.fit": b"resource fork noise",
    })
    (folder / "garmin-export.zip").write_bytes(export)
    (folder / "single.fit.gz").write_bytes(gzip.compress(run_bytes(3)))

    outcomes = ingest_inbox(store, settings)

    by_member = {o.member or o.path.name: o.status for o in outcomes}
    assert by_member == {
        "export/2026/10/run-a.fit": "ingested", "export/2026/10/run-b.FIT": "ingested",
        "export/2026/11/run-c.fit.gz": "ingested", "export/settings.fit": "skipped",
        "export/broken.fit": "quarantined", "single.fit.gz": "ingested"}
    assert count_rows(store, Activity) == 4
    # the zip and the .gz are archived whole; the broken member is written out with a reason
    assert sorted(p.name for p in files_under(settings.archive)) == ["garmin-export.zip",
                                                                     "single.fit.gz"]
    quarantined = [p.name for p in files_under(settings.quarantine)]
    assert quarantined == ["garmin-export__export__broken.fit",
                           "garmin-export__export__broken.fit.reason.txt"]
    assert not files_under(settings.inbox)
    with store.session() as session:
        members = {s.container_member: s for s in session.scalars(select(SourceFile))}
        assert members["export/2026/10/run-a.fit"].original_name == "garmin-export.zip"
        assert Path(members["export/2026/10/run-a.fit"].stored_path or "").is_file()
        assert members[None].original_name == "single.fit.gz"

    # the same export again, and one of its runs as a plain file: nothing counts twice
    (folder / "garmin-export (1).zip").write_bytes(export)
    (folder / "run-a.fit").write_bytes(run_bytes(0))
    again = ingest_inbox(store, settings)
    # the unreadable member is tried again (a newer parser might read it), the rest is known
    assert sorted(o.status for o in again) == ["duplicate"] * 5 + ["quarantined"]
    assert count_rows(store, Activity) == 4


def test_unreadable_zip_and_cut_gzip_are_quarantined_whole(store: Store,
                                                          settings: IngestSettings) -> None:
    folder = settings.inbox / "ana"
    folder.mkdir(parents=True)
    (folder / "not-a.zip").write_bytes(b"PK but not really a zip")
    (folder / "cut.fit.gz").write_bytes(gzip.compress(run_bytes(0))[:200])
    (folder / "empty.zip").write_bytes(zip_bytes({"readme.txt": b"no FIT here"}))
    outcomes = {o.path.name: o for o in ingest_inbox(store, settings)}
    assert {name: o.status for name, o in outcomes.items()} == {
        "not-a.zip": "quarantined", "cut.fit.gz": "quarantined", "empty.zip": "quarantined"}
    assert "zip" in outcomes["not-a.zip"].reason
    assert "gzip" in outcomes["cut.fit.gz"].reason
    assert "no .fit" in outcomes["empty.zip"].reason
    for name in outcomes:
        assert (settings.quarantine / "ana" / f"{name}.reason.txt").is_file()


def test_a_zip_still_being_copied_waits(store: Store, settings: IngestSettings) -> None:
    folder = settings.inbox / "ana"
    folder.mkdir(parents=True)
    whole = zip_bytes({"run.fit": run_bytes(0)})
    (folder / "export.zip").write_bytes(whole[: len(whole) // 2])
    waiting = IngestSettings(settings.inbox, settings.archive, settings.quarantine,
                             stability_s=3600)
    [outcome] = ingest_inbox(store, waiting)
    assert outcome.status == "waiting"
    (folder / "export.zip").write_bytes(whole)
    [outcome] = ingest_inbox(store, waiting)
    assert outcome.status == "ingested"


def test_the_pool_stores_what_one_process_stores(tmp_path: Path, store: Store) -> None:
    def ingest_with(workers: int, folder: Path, target: Store) -> list[tuple]:
        settings = IngestSettings(folder / "inbox", folder / "archive", folder / "quarantine",
                                  stability_s=0.0, workers=workers)
        (settings.inbox / "ana").mkdir(parents=True)
        for day in range(12):
            (settings.inbox / "ana" / f"run-{day:02d}.fit").write_bytes(
                run_bytes(day, 6000 + 500 * day, interval_s=2.0))
        (settings.inbox / "ana" / "copy.fit").write_bytes(run_bytes(4, 8000, interval_s=2.0))
        outcomes = ingest_inbox(target, settings)
        assert [o.status for o in outcomes].count("ingested") == 12
        assert not files_under(settings.inbox)
        with target.session() as session:
            rows = session.execute(select(
                Activity.start_utc, Activity.distance_m, Activity.steady_cadence_spm,
                Activity.decoder).order_by(Activity.start_utc)).all()
        return [tuple(row) for row in rows] + [("outcomes", len(outcomes))]

    from store import open_store

    other = open_store(f"sqlite:///{tmp_path / 'single.db'}")
    try:
        assert ingest_with(2, tmp_path / "pool", store) == ingest_with(1, tmp_path / "one", other)
    finally:
        other.dispose()


def test_reprocess_updates_activities_in_place(store: Store, settings: IngestSettings) -> None:
    folder = settings.inbox / "ana"
    folder.mkdir(parents=True)
    for day in range(3):
        (folder / f"run-{day}.fit").write_bytes(run_bytes(day, cadence_spm=172))
    (folder / "settings.fit").write_bytes(encode_file_id_only("settings"))
    (folder / "export.zip").write_bytes(zip_bytes({"run.fit": run_bytes(5)}))
    ingest_inbox(store, settings)
    with store.session() as session:
        before = {a.id: a.steady_cadence_spm for a in session.scalars(select(Activity))}
        # what an older parser might have stored: wrong numbers, no series, no decoder
        for activity in session.scalars(select(Activity)):
            activity.steady_cadence_spm, activity.decoder, activity.series = 150.0, None, None
    assert count_rows(store, ActivitySeries) == 0
    with store.session() as session:  # what a progress bar counts on
        assert count_reprocessable(session) == 5
        assert count_reprocessable(session, "ana") == 5
        assert count_reprocessable(session, "someone-else") == 0

    outcomes = reprocess_archive(store, settings)

    assert sorted(o.status for o in outcomes) == ["reprocessed"] * 5  # 4 runs + the settings
    with store.session() as session:
        activities = session.scalars(select(Activity)).all()
        after = {a.id: a.steady_cadence_spm for a in activities}
        assert after == before  # same ids, numbers read again from the originals
        assert all(a.decoder and a.decoder.startswith("fitparse") for a in activities)
        assert all(a.updated_at is not None for a in activities)
    assert count_rows(store, ActivitySeries) == 4
    assert count_rows(store, Activity) == 4
    assert reprocess_archive(store, settings, athlete_id="someone-else") == []


def test_reprocess_reports_a_missing_original_and_keeps_the_data(
        store: Store, settings: IngestSettings) -> None:
    folder = settings.inbox / "ana"
    folder.mkdir(parents=True)
    (folder / "run.fit").write_bytes(run_bytes(0))
    [outcome] = ingest_inbox(store, settings)
    assert outcome.stored_at is not None
    outcome.stored_at.unlink()
    [again] = reprocess_archive(store, settings)
    assert again.status == "error" and "archived original" in again.reason
    assert count_rows(store, Activity) == 1
