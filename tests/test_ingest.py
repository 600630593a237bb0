"""Ingest: real device files, dedupe, damaged files, and where every input file ends up."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import fitparse
import pytest
from helpers import files_under
from sqlalchemy import select

import ingest
from config.schema import ServiceConfig
from fitwriter.encode import encode_file_id_only, encode_run
from ingest import (
    IngestOutcome,
    IngestSettings,
    IngestStatus,
    batch_needs_evaluation,
    ingest_inbox,
    items_from_paths,
    rescan_delay_s,
    settings_from_config,
)
from ingest.decode import check_fit_complete
from store import Activity, SourceFile, Store

START = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path: Path) -> IngestSettings:
    return IngestSettings(inbox=tmp_path / "inbox", archive=tmp_path / "archive",
                          quarantine=tmp_path / "quarantine", stability_s=0.0)


def drop(settings: IngestSettings, name: str, data: bytes, athlete: str | None = "ana") -> Path:
    folder = settings.inbox / athlete if athlete else settings.inbox
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return path


def session_values(path: Path) -> dict:
    """What the file's own session message says, read directly with fitparse."""
    fit_file = fitparse.FitFile(str(path))
    return next(m.get_values() for m in fit_file.get_messages("session"))


def names_under(folder: Path) -> list[str]:
    return [path.name for path in files_under(folder)]


@pytest.mark.parametrize("name", ["activity-small-fenix2-run.fit", "2013-02-06-12-11-14.fit",
                                  "garmin-fenix-5-run.fit"])
def test_real_runs_keep_their_session_numbers(store: Store, settings: IngestSettings,
                                              fit_samples: Path, name: str) -> None:
    source = fit_samples / name
    drop(settings, name, source.read_bytes())
    [outcome] = ingest_inbox(store, settings)
    assert outcome.status == "ingested", outcome.reason
    expected = session_values(source)
    with store.session() as session:
        [activity] = session.scalars(select(Activity)).all()
        assert activity.sport == "running" and activity.is_run
        assert activity.athlete_id == "ana"
        assert activity.distance_m == pytest.approx(expected["total_distance"])
        assert activity.timer_s == pytest.approx(expected["total_timer_time"])
        assert activity.start_utc == expected["start_time"].replace(tzinfo=UTC)
        strides = expected.get("avg_running_cadence")
        if strides is None:  # the FR110 records no cadence at all
            assert activity.avg_cadence_spm is None and activity.steady_cadence_spm is None
        else:
            fraction = expected.get("avg_fractional_cadence") or 0.0
            assert activity.avg_cadence_spm == pytest.approx(2 * (strides + fraction))
            assert activity.steady_cadence_spm is not None
    assert names_under(settings.archive) == [name]
    assert not any(settings.inbox.rglob("*.fit"))


def test_fenix2_steady_cadence_and_dynamics(store: Store, settings: IngestSettings,
                                            fit_samples: Path) -> None:
    drop(settings, "fenix2.fit", (fit_samples / "activity-small-fenix2-run.fit").read_bytes())
    ingest_inbox(store, settings)
    with store.session() as session:
        activity = session.scalars(select(Activity)).one()
        assert activity.distance_m == pytest.approx(9008.22)
        assert 158 <= activity.steady_cadence_spm <= 168  # ~163 spm on this run
        assert activity.ground_contact_ms is not None
        assert activity.cadence_first_fifth_spm and activity.cadence_last_fifth_spm


def test_same_file_twice_and_same_activity_renamed_count_once(store: Store,
                                                             settings: IngestSettings) -> None:
    data = encode_run(START, 10_000, 3300, serial_number=42)
    drop(settings, "run.fit", data)
    drop(settings, "run-copy.fit", data)
    # the same activity re-exported: other bytes, same (manufacturer, serial, time_created)
    drop(settings, "run-export.fit", encode_run(START, 10_000, 3300, serial_number=42,
                                                cadence_spm=171))
    outcomes = ingest_inbox(store, settings)
    assert sorted(o.status for o in outcomes) == ["duplicate", "duplicate", "ingested"]
    with store.session() as session:
        assert len(session.scalars(select(Activity)).all()) == 1
    assert len(files_under(settings.archive)) == 3  # nothing deleted, duplicates archived
    drop(settings, "run-again.fit", data)
    [again] = ingest_inbox(store, settings)
    assert again.status == "duplicate"


def test_damaged_files_are_quarantined_with_reasons_and_valid_neighbours_ingested(
        store: Store, settings: IngestSettings) -> None:
    good = encode_run(START, 8000, 2600, serial_number=7)
    drop(settings, "a-good.fit", good)
    drop(settings, "empty.fit", b"")
    drop(settings, "random.fit", bytes(range(256)) * 7)
    drop(settings, "header-only.fit", good[:14])
    truncated = encode_run(START.replace(day=18), 8000, 2600, serial_number=7)
    drop(settings, "truncated.fit", truncated[: len(truncated) // 2])
    bad_crc = bytearray(encode_run(START.replace(day=16), 9000, 2900, serial_number=7))
    bad_crc[-1] ^= 0xFF
    drop(settings, "bad-crc.fit", bytes(bad_crc))
    drop(settings, "z-good.fit", encode_run(START.replace(day=14), 5000, 1600, serial_number=7))
    drop(settings, "notes.txt", b"not a fit file, left alone")

    outcomes = {o.path.name: o for o in ingest_inbox(store, settings)}

    assert outcomes["a-good.fit"].status == outcomes["z-good.fit"].status == "ingested"
    assert outcomes["bad-crc.fit"].status == "ingested"  # salvaged, with a warning kept
    assert any("CRC" in w for w in outcomes["bad-crc.fit"].warnings)
    for name in ("empty.fit", "random.fit", "header-only.fit", "truncated.fit"):
        assert outcomes[name].status == "quarantined", name
        reason_file = settings.quarantine / "ana" / f"{name}.reason.txt"
        assert reason_file.is_file()
        assert outcomes[name].reason in reason_file.read_text()
    assert "empty" in outcomes["empty.fit"].reason
    assert "FIT header" in outcomes["random.fit"].reason
    assert "no data" in outcomes["header-only.fit"].reason
    assert "session" in outcomes["truncated.fit"].reason
    with store.session() as session:
        crc_activity = session.scalars(select(Activity).where(Activity.distance_m == 9000)).one()
        assert any("CRC" in w for w in crc_activity.warnings)
        statuses = {s.original_name: s.status for s in session.scalars(select(SourceFile))}
    assert statuses["empty.fit"] == "quarantined"
    # every FIT file left the inbox for archive/ or quarantine/; the text file stayed
    assert [p.name for p in settings.inbox.rglob("*") if p.is_file()] == ["notes.txt"]
    assert len(files_under(settings.archive)) == 3


def test_non_activity_files_are_recorded_as_skipped(store: Store, settings: IngestSettings,
                                                     fit_samples: Path) -> None:
    drop(settings, "settings.fit", encode_file_id_only("settings", serial_number=9))
    drop(settings, "Settings.fit", (fit_samples / "Settings.fit").read_bytes(), athlete=None)
    outcomes = ingest_inbox(store, settings)
    assert {o.status for o in outcomes} == {"skipped"}
    assert {o.athlete_id for o in outcomes} == {"ana", "default"}
    with store.session() as session:
        assert session.scalars(select(Activity)).all() == []
        assert {s.status for s in session.scalars(select(SourceFile))} == {"skipped"}


def test_file_still_being_written_waits(store: Store, settings: IngestSettings) -> None:
    data = encode_run(START, 8000, 2600)
    patient = IngestSettings(settings.inbox, settings.archive, settings.quarantine,
                             stability_s=3600)
    path = drop(settings, "copying.fit", data[:100])
    [outcome] = ingest_inbox(store, patient)
    assert outcome.status == "waiting" and path.exists()
    path.write_bytes(data)
    [outcome] = ingest_inbox(store, patient)
    assert outcome.status == "ingested"


def test_completeness_check_on_real_corrupt_samples(fit_samples: Path) -> None:
    def state(name: str) -> str:
        return check_fit_complete((fit_samples / name).read_bytes()).state

    assert state("activity-small-fenix2-run.fit") == "complete"
    assert state("activity-filecrc.fit") == "bad_crc"
    assert state("activity-unexpected-eof.fit") == "incomplete"


def test_real_bad_crc_and_truncated_samples_never_vanish(store: Store, settings: IngestSettings,
                                                         fit_samples: Path) -> None:
    for name in ("activity-filecrc.fit", "activity-unexpected-eof.fit"):
        shutil.copyfile(fit_samples / name, drop(settings, name, b""))
    outcomes = ingest_inbox(store, settings)
    # both hold the same activity (same file_id), so the second one read is a duplicate
    assert {o.status for o in outcomes} <= {"ingested", "quarantined", "duplicate"}
    assert outcomes[0].status == "ingested" and any("CRC" in w for w in outcomes[0].warnings)
    assert all(o.reason or o.warnings for o in outcomes)
    assert len(files_under(settings.archive)) + len(
        [n for n in names_under(settings.quarantine) if n.endswith(".fit")]) == 2


def test_archive_inside_the_inbox_is_never_read_again(store: Store, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    nested = IngestSettings(inbox=inbox, archive=inbox / "archive",
                            quarantine=inbox / "quarantine", stability_s=0.0)
    drop(nested, "run.fit", encode_run(START, 8000, 2600))
    drop(nested, "junk.fit", b"junk")
    assert {o.status for o in ingest_inbox(store, nested)} == {"ingested", "quarantined"}
    assert ingest_inbox(store, nested) == []


def test_perceived_effort_and_the_speed_of_a_runs_fifths_are_stored(
        store: Store, settings: IngestSettings) -> None:
    # 10 km in 50 min (3.33 m/s) with RPE 6; a file without RPE stores none
    drop(settings, "rated.fit", encode_run(START, 10_000, 3000, rpe=6, interval_s=5.0))
    drop(settings, "unrated.fit", encode_run(START.replace(day=21), 8000, 2700, serial_number=9))
    outcomes = ingest_inbox(store, settings)
    assert [o.status for o in outcomes] == ["ingested", "ingested"]
    with store.session() as session:
        rated, unrated = session.scalars(select(Activity).order_by(Activity.start_utc)).all()
        assert rated.rpe == 6.0 and unrated.rpe is None
        assert rated.speed_first_fifth_mps == pytest.approx(10_000 / 3000, abs=0.01)
        assert rated.speed_last_fifth_mps == pytest.approx(10_000 / 3000, abs=0.01)
        assert rated.cadence_first_fifth_spm == pytest.approx(170, abs=0.5)


def test_the_settings_a_service_config_describes(tmp_path: Path) -> None:
    config = ServiceConfig.model_validate({
        "inbox": tmp_path / "in", "archive": tmp_path / "ar", "quarantine": tmp_path / "qu",
        "timezone": "Europe/Berlin",
        "athletes": [{"id": "ana", "timezone": "Europe/Lisbon"}, {"id": "bob"}],
        "ingest": {"decoder": "fitdecode", "stability": "7s", "workers": 2}})
    settings = settings_from_config(config)
    assert (settings.inbox, settings.archive, settings.quarantine) == (
        tmp_path / "in", tmp_path / "ar", tmp_path / "qu")
    assert (settings.decoder, settings.stability_s, settings.workers) == ("fitdecode", 7.0, 2)
    assert settings.timezone_for("ana") == "Europe/Lisbon"
    assert settings.timezone_for("bob") == settings.timezone_for("carl") == "Europe/Berlin"


def test_what_a_batch_asks_of_the_service_next() -> None:
    def batch(*statuses: IngestStatus) -> list[IngestOutcome]:
        return [IngestOutcome(Path("run.fit"), "ana", status) for status in statuses]

    others = [s for s in IngestStatus if s != IngestStatus.INGESTED]
    assert batch_needs_evaluation(batch(IngestStatus.DUPLICATE, IngestStatus.INGESTED))
    assert not batch_needs_evaluation(batch(*others))
    waiting = batch(IngestStatus.INGESTED, IngestStatus.WAITING)
    assert rescan_delay_s(waiting, stability_s=5.0, debounce_s=1.0) == 5.0
    assert rescan_delay_s(waiting, stability_s=0.0, debounce_s=1.0) == 1.0
    assert rescan_delay_s(batch(IngestStatus.INGESTED), stability_s=5.0, debounce_s=1.0) is None
    assert IngestStatus.INGESTED == "ingested" and f"{IngestStatus.WAITING}" == "waiting"


def test_the_files_a_command_line_names(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    export = tmp_path / "export"
    for path in (inbox / "ana" / "run.fit", inbox / "root.fit", export / "2026" / "b.fit.gz",
                 export / "a.zip", export / "notes.txt", export / ".hidden.fit",
                 export / "c.fit.part", tmp_path / "named.bin"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    paths = [inbox / "ana" / "run.fit", inbox / "root.fit", export, tmp_path / "named.bin",
             tmp_path / "missing.fit"]
    assert [(i.path.relative_to(tmp_path).as_posix(), i.athlete_id)
            for i in items_from_paths(paths, inbox)] == [
        ("inbox/ana/run.fit", "ana"), ("inbox/root.fit", "default"),
        ("export/2026/b.fit.gz", "default"), ("export/a.zip", "default"),
        ("named.bin", "default")]  # a file named outright is taken whatever its name
    assert {i.athlete_id for i in items_from_paths(paths, inbox, "bob")} == {"bob"}


def test_the_package_exports_load_on_use_and_workers_stay_light() -> None:
    for name in ingest.__all__:
        assert getattr(ingest, name).__module__.startswith("ingest.")
    with pytest.raises(AttributeError):
        _ = ingest.no_such_name
    # the decoding pool preloads ingest.parse: it must not drag the store or the watcher along
    code = ("import sys, ingest.parse; print(sorted({m.split('.')[0] for m in sys.modules}"
            " & {'alembic', 'sqlalchemy', 'store', 'watchdog', 'pydantic'}))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert loaded.stdout.strip() == "[]"


def test_an_inbox_folder_that_names_no_athlete_id_is_left_alone_with_one_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A folder name the store cannot take as an athlete id (here 70 characters; PostgreSQL's
    column holds 64) is not read: its files stay, one warning says why, the rest is read."""
    from ingest.inbox import scan_inbox

    inbox = tmp_path / "inbox"
    bad = inbox / ("x" * 70)
    bad.mkdir(parents=True)
    (bad / "run.fit").write_bytes(b"not read")
    (inbox / "ana").mkdir()
    (inbox / "ana" / "run.fit").write_bytes(b"read")
    with caplog.at_level(logging.WARNING, logger="strideguard.ingest"):
        first = [item.athlete_id for item in scan_inbox(inbox)]
        second = [item.athlete_id for item in scan_inbox(inbox)]
    assert first == second == ["ana"]
    warnings = [r.getMessage() for r in caplog.records if "does not name an athlete id" in
                r.getMessage()]
    assert len(warnings) == 1 and "x" * 70 in warnings[0]
    assert (bad / "run.fit").read_bytes() == b"not read"
