"""Issue 13, acceptance 2: a Strava-style bulk export (`.fit.gz`, `.gpx` and `.tcx.gz` versions
of the same runs, some runs only in GPX, some only in TCX and GPX) is stored one activity per run,
with cadence from the TCX where there is no FIT, and `strideguard report --json` is the FIT-only
store's for the weeks the FIT files cover; whatever order the files arrive in, in one zip or in
two batches; on SQLite and PostgreSQL. Two `strideguard ingest` processes at once, one with the
GPX and one with the FIT of the same runs, store each run once too."""

from __future__ import annotations

import json
import random
import subprocess
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from exportwriter import ExportedActivity, Run, exported, gpx_run, strava_export_zip, tcx_run
from helpers import REPO, STRIDEGUARD
from sqlalchemy import select

from fitwriter.synthetic import PlannedSession, encode_session, weekly_plan
from store import Activity, SourceFile, open_store

OVERLAP_END = date(2026, 10, 25)  # the last day of the weeks the watch's FIT files cover
OVERLAP_WEEKS = 6
LATER_END = OVERLAP_END + timedelta(days=14)  # two more weeks: runs only in GPX, or TCX+GPX
TCX_CADENCE_SPM = 176.0  # the later runs' cadence, which only their TCX holds
AS_OF_DATES = (OVERLAP_END - timedelta(days=10), OVERLAP_END)


def run_of(session: PlannedSession, cadence_spm: float | None = None) -> Run:
    start = datetime.combine(session.day, session.start_local, tzinfo=UTC)
    return Run(start, session.distance_km * 1000.0, session.distance_km * session.pace_s_per_km,
               cadence_spm=cadence_spm or session.cadence_spm)


@dataclass
class Export:
    """The synthetic history: what the watch recorded, and each file Strava exports of it."""

    overlap: list[PlannedSession]
    later_gpx_only: list[PlannedSession]
    later_tcx_and_gpx: list[PlannedSession]
    fit: list[ExportedActivity]
    tcx: list[ExportedActivity]
    gpx: list[ExportedActivity]

    @property
    def overlap_runs(self) -> list[PlannedSession]:
        return [s for s in self.overlap if s.kind == "run"]


def make_export() -> Export:
    """Six weeks in every format (strength in FIT only), then two weeks whose runs Strava has
    only as GPX (a phone: no cadence, no <type>; activities.csv says Run) or as TCX and GPX.
    Activity ids are shuffled, so inside one zip the formats of a run come in any order."""
    overlap = weekly_plan(OVERLAP_END, OVERLAP_WEEKS, [6.0, 8.0, 6.0, 12.0])
    later = [s for s in weekly_plan(LATER_END, 2, [5.0, 10.0, 7.0], strength_per_week=0)]
    ids = iter(random.Random(13).sample(range(10_000, 99_999), 200))
    export = Export(overlap, later[0::2], later[1::2], [], [], [])
    legacy_types = iter(["running", "9", None] * 20)  # None: no <type>, activities.csv's "Run"
    for number, session in enumerate(overlap):
        start = datetime.combine(session.day, session.start_local, tzinfo=UTC)
        fit = encode_session(session, "UTC")[1]
        kind = "Run" if session.kind == "run" else "Weight Training"
        export.fit.append(exported(next(ids), kind, start, ".fit.gz", fit))
        if session.kind != "run":
            continue
        run = run_of(session)
        export.tcx.append(exported(next(ids), kind, start, ".tcx.gz", tcx_run(run, "strava")))
        # the phone's own recording: a few seconds off, a little shorter, as real ones are
        gpx = gpx_run(run, sport_type=next(legacy_types), start_offset_s=number % 7,
                      distance_scale=0.994)
        export.gpx.append(exported(next(ids), kind, start, ".gpx", gpx))
    for session in export.later_gpx_only:
        gpx = gpx_run(run_of(session), sport_type=None, cadence=False)
        export.gpx.append(exported(next(ids), "Run", run_of(session).start, ".gpx", gpx))
    for session in export.later_tcx_and_gpx:
        run = run_of(session, TCX_CADENCE_SPM)
        export.tcx.append(exported(next(ids), "Run", run.start, ".tcx.gz", tcx_run(run, "strava")))
        export.gpx.append(exported(next(ids), "Run", run.start, ".gpx",
                                   gpx_run(run, cadence=False, start_offset_s=2)))
    return export


EXPORT = make_export()


def write_config(folder: Path, database_url: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "strideguard.yaml"
    config.write_text(f"database: {database_url}\ntimezone: UTC\nathletes:\n  - id: ana\n"
                      "ingest:\n  stability: 0s\n  workers: 2\n", encoding="utf-8")
    return config


def strideguard(config: Path, *args: str) -> str:
    result = subprocess.run([*STRIDEGUARD, "--config", str(config), *args], cwd=REPO,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
    return result.stdout


def ingest_zip(config: Path, name: str, activities: list[ExportedActivity]) -> None:
    """A Strava export holding these activities, ingested as `strideguard ingest` does it."""
    path = config.parent / "downloads" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(strava_export_zip(activities))
    strideguard(config, "ingest", "--athlete", "ana", str(path))


def reports(config: Path) -> dict[str, dict]:
    return {day.isoformat(): json.loads(strideguard(config, "report", "--json", "--as-of",
                                                    day.isoformat()))
            for day in AS_OF_DATES}


@pytest.fixture(scope="module")
def fit_only_reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """The reference: the watch's FIT files of the six weeks alone, in a store of their own."""
    folder = tmp_path_factory.mktemp("fit-only")
    config = write_config(folder, f"sqlite:///{folder / 'fit-only.db'}")
    ingest_zip(config, "fit-only.zip", EXPORT.fit)
    return reports(config)


ARRIVALS = {
    "one zip": [EXPORT.fit + EXPORT.tcx + EXPORT.gpx],
    "gpx first, then fit and tcx": [EXPORT.gpx, EXPORT.fit + EXPORT.tcx],
    "fit first, then gpx and tcx": [EXPORT.fit, EXPORT.gpx + EXPORT.tcx],
}


@pytest.mark.parametrize("arrival", list(ARRIVALS))
def test_a_strava_export_stores_each_run_once_and_reports_as_the_fit_files_do(
        tmp_path: Path, database_url: str, fit_only_reports: dict[str, dict],
        arrival: str) -> None:
    config = write_config(tmp_path, database_url)
    for batch, activities in enumerate(ARRIVALS[arrival]):
        ingest_zip(config, f"export_{batch}.zip", activities)

    assert reports(config) == fit_only_reports

    store = open_store(database_url)
    try:
        with store.session() as session:
            stored = session.scalars(select(Activity).order_by(Activity.start_utc)).all()
            sources = session.scalars(select(SourceFile)).all()
            by_day = {a.start_utc.date(): a for a in stored}
            decoders = {a.start_utc.date(): a.decoder.split()[0] for a in stored}
            starts = [a.start_utc for a in stored]
            planned = (len(EXPORT.overlap) + len(EXPORT.later_gpx_only)
                       + len(EXPORT.later_tcx_and_gpx))
            assert len(stored) == planned  # every run (and strength session) once
            assert all((b - a) > timedelta(minutes=1) for a, b in zip(starts, starts[1:],
                                                                       strict=False))
            for session_ in EXPORT.overlap:
                assert decoders[session_.day] == "fitparse", session_
            for session_ in EXPORT.later_tcx_and_gpx:
                assert decoders[session_.day] == "lxml"
                assert by_day[session_.day].steady_cadence_spm == TCX_CADENCE_SPM
            for session_ in EXPORT.later_gpx_only:
                activity = by_day[session_.day]
                assert decoders[session_.day] == "gpxpy"
                assert activity.is_run  # the GPX names no sport; activities.csv says "Run"
                assert activity.steady_cadence_spm is None
                assert activity.distance_m == pytest.approx(session_.distance_km * 1000, abs=1)
            statuses = sorted((s.format, s.status) for s in sources)
            runs = len(EXPORT.overlap_runs)
            assert statuses.count(("gpx", "duplicate")) == runs + len(EXPORT.later_tcx_and_gpx)
            assert statuses.count(("tcx", "duplicate")) == runs
            assert statuses.count(("fit", "duplicate")) == 0
            assert all(s.duplicate_of_id is not None for s in sources if s.status == "duplicate")
    finally:
        store.dispose()

    if arrival == "one zip":  # read again from the archive: the same store, the same report
        strideguard(config, "reprocess")
        assert reports(config) == fit_only_reports

    later = json.loads(strideguard(config, "report", "--json", "--as-of", LATER_END.isoformat()))
    [ana] = later["athletes"]
    last_week = [s for s in EXPORT.later_gpx_only + EXPORT.later_tcx_and_gpx
                 if s.day > LATER_END - timedelta(days=7)]
    assert ana["metrics"]["distance_7d_km"] == pytest.approx(
        sum(s.distance_km for s in last_week), abs=0.01)
    assert ana["metrics"]["cadence_spm"] == TCX_CADENCE_SPM  # only the TCX runs have one


def test_two_processes_at_once_store_each_run_once(tmp_path: Path, database_url: str) -> None:
    """The GPX export in one `strideguard ingest`, the FIT files in another, at the same time:
    the ingest lock orders their writes, and each run ends up once, from its FIT file."""
    config = write_config(tmp_path, database_url)
    open_store(database_url).dispose()  # migrated first: two first starts would both migrate
    days = {s.day for s in EXPORT.overlap_runs[:8]}
    batches = {"gpx.zip": [a for a in EXPORT.gpx if a.start.date() in days],
               "fit.zip": [a for a in EXPORT.fit if a.start.date() in days]}
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    processes = []
    for name, activities in batches.items():
        (downloads / name).write_bytes(strava_export_zip(activities))
        processes.append(subprocess.Popen(
            [*STRIDEGUARD, "--config", str(config), "ingest", "--athlete", "ana",
             str(downloads / name)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    for process in processes:
        output, _ = process.communicate(timeout=300)
        assert process.returncode == 0, output.decode()
    store = open_store(database_url)
    try:
        with store.session() as session:
            stored = session.scalars(select(Activity)).all()
            assert sorted(a.start_utc.date() for a in stored) == sorted(days)
            assert {a.decoder.split()[0] for a in stored} == {"fitparse"}
    finally:
        store.dispose()


def test_the_export_is_what_the_test_says() -> None:
    """The fixture itself: runs at 07:00 UTC, every run of the six weeks in three formats."""
    assert all(s.start_local == time(7, 0) for s in EXPORT.overlap_runs)
    assert len(EXPORT.fit) == len(EXPORT.overlap)
    assert len(EXPORT.tcx) == len(EXPORT.overlap_runs) + len(EXPORT.later_tcx_and_gpx)
    assert len(EXPORT.gpx) == (len(EXPORT.overlap_runs) + len(EXPORT.later_gpx_only)
                               + len(EXPORT.later_tcx_and_gpx))
    assert EXPORT.later_gpx_only and EXPORT.later_tcx_and_gpx


def test_an_unpacked_export_gives_its_gpx_files_the_sport_of_its_index_also_on_reprocess(
        tmp_path: Path) -> None:
    """The README offers the unpacked export's folder as well as the zip: a GPX naming no sport
    takes its type from `activities.csv` beside `activities/` just as in the zip, and keeps it
    when `reprocess` reads the archived copy (no index beside it any more)."""
    start = datetime(2026, 11, 3, 7, 0, tzinfo=UTC)
    export = tmp_path / "export_12345"
    (export / "activities").mkdir(parents=True)
    phone_run = exported(77, "Run", start, ".gpx",
                         gpx_run(Run(start, 8000.0, 2800.0), sport_type=None, cadence=False))
    (export / phone_run.filename).write_bytes(phone_run.data)
    from exportwriter import activities_csv
    (export / "activities.csv").write_bytes(activities_csv([phone_run]))
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'sg.db'}")
    strideguard(config, "ingest", "--copy", "--athlete", "ana", str(export))
    for _ in range(2):  # as ingested, then as re-read from the archive
        [activity] = json.loads(strideguard(config, "activities", "--json"))
        assert (activity["sport"], activity["distance_m"] > 7900) == ("running", True)
        strideguard(config, "reprocess")
    assert (export / phone_run.filename).read_bytes() == phone_run.data  # a copy was taken
