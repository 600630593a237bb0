"""Activity identity across formats, beyond the issue's rule (start within a minute, distance
within 2 %): a reading that names its sport beats one that does not; one run recorded at the
same time by a watch and a phone (a GPX starting at the first GPS fix, a footpod's distance) is
one activity; a FIT replacing its GPX in the same batch counts once; reprocess reads a zip
export once."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from exportwriter import Run, exported, fit_of, gpx_run, strava_export_zip, tcx_run
from helpers import drop, inbox_settings
from sqlalchemy import select

from ingest import IngestSettings, ingest_inbox, reprocess_archive
from ingest.identity import same_activity
from store import Activity, SourceFile, Store

START = datetime(2026, 10, 5, 6, 30, tzinfo=UTC)
RUN = Run(START, 8000.0, 2640.0, cadence_spm=172.0, heart_rate_bpm=148)
# the phone's track of RUN: its first GPS fix 95 s after the watch started, 3.6 % shorter
AFTER_GPS_LOCK = Run(START + timedelta(seconds=95), 7712.0, 2545.0, cadence_spm=172.0)


@pytest.fixture
def settings(tmp_path: Path) -> IngestSettings:
    return inbox_settings(tmp_path)


def stored(store: Store) -> list[tuple[int, str, bool, str]]:
    """(source id, sport, is_run, decoder library) of every activity, by start."""
    with store.session() as session:
        return [(a.source_file_id, a.sport, a.is_run, (a.decoder or "").split()[0])
                for a in session.scalars(select(Activity).order_by(Activity.start_utc))]


def sources(store: Store) -> list[tuple[str, str, int | None, str | None]]:
    with store.session() as session:
        return [(s.original_name, s.status, s.duplicate_of_id, s.reason)
                for s in session.scalars(select(SourceFile).order_by(SourceFile.id))]


# --- the rule -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    sport: str = "running"
    start_utc: datetime = START
    distance_m: float | None = 10_000.0
    elapsed_s: float | None = 3000.0
    timer_s: float | None = 3000.0


LATE = START + timedelta(seconds=95)


@pytest.mark.parametrize(("other", "gaps"), [
    # a GPX from the first GPS fix: 95 s late, 3.6 % short, inside the watch's recording
    (Reading(start_utc=LATE, distance_m=9_640.0, elapsed_s=2905.0, timer_s=2905.0),
     "starts 95 s apart, distance 3.6 % apart, but at the same time for 100 % of the shorter one"),
    # a footpod's distance: the same time, 3.5 % apart
    (Reading(distance_m=10_350.0),
     "starts 0 s apart, distance 3.4 % apart, but at the same time for 100 % of the shorter one"),
    # the rule still decides first
    (Reading(start_utc=START + timedelta(seconds=30), distance_m=10_100.0),
     "starts 30 s apart, distance 1.0 % apart"),
    # at the same time only for 80 % of the shorter one: two activities
    (Reading(start_utc=START + timedelta(seconds=600), distance_m=9_000.0), None),
    # a reading naming no sport matches by start and distance only, never by time alone
    (Reading(sport="generic", start_utc=LATE, distance_m=9_640.0, elapsed_s=2905.0), None),
    (Reading(sport="cycling", start_utc=LATE, elapsed_s=2905.0), None),
    (Reading(start_utc=LATE, distance_m=9_640.0, elapsed_s=None, timer_s=None), None),
])
def test_one_athlete_cannot_run_two_runs_at_once(other: Reading, gaps: str | None) -> None:
    for a, b in ((Reading(), other), (other, Reading())):
        found = same_activity(a, b)
        assert (found.describe() if found else None) == gaps


def test_two_fit_recordings_are_one_only_by_start_and_distance() -> None:
    """The time rule is for exports (a track starting at the first GPS fix); two watch files
    that overlap but start minutes apart are not assumed to be one run."""
    late_start = Reading(start_utc=LATE, distance_m=9_640.0, elapsed_s=2905.0)
    assert same_activity(Reading(), late_start) is not None
    assert same_activity(Reading(), late_start, by_time=False) is None
    assert same_activity(Reading(), Reading(distance_m=10_100.0), by_time=False) is not None


def test_a_split_run_and_interval_repeats_stay_apart() -> None:
    """The watch split a run in two files (the first 40 s, then the rest 10 s later); repeats
    of 200 m recorded one by one: they follow each other, they do not overlap."""
    first_part = Reading(distance_m=120.0, elapsed_s=40.0, timer_s=40.0)
    rest = Reading(start_utc=START + timedelta(seconds=50), elapsed_s=3000.0, timer_s=3000.0)
    assert same_activity(first_part, rest) is None and same_activity(rest, first_part) is None
    for gap_s in (75, 90, 150):
        rep = Reading(distance_m=200.0, elapsed_s=70.0, timer_s=70.0)
        next_rep = Reading(start_utc=START + timedelta(seconds=gap_s), distance_m=200.0,
                           elapsed_s=70.0, timer_s=70.0)
        assert same_activity(rep, next_rep) is None, gap_s


# --- ingest -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("generic", "named"), [
    (("a-phone.gpx", gpx_run(RUN, sport_type=None, cadence=False)),
     ("b-strava.gpx", gpx_run(RUN, start_offset_s=2))),
    (("a-other.tcx", tcx_run(RUN, sport="Other")), ("b-running.tcx", tcx_run(RUN))),
])
@pytest.mark.parametrize("named_first", [False, True])
def test_a_reading_naming_the_sport_beats_one_of_its_format_that_does_not(
        store: Store, settings: IngestSettings, generic: tuple[str, bytes],
        named: tuple[str, bytes], named_first: bool) -> None:
    """Whichever arrives first, the run is stored once, as a run."""
    for name, data in (named, generic) if named_first else (generic, named):
        drop(settings, name, data)
        ingest_inbox(store, settings)
    [(source_id, sport, is_run, _)] = stored(store)
    assert (sport, is_run) == ("running", True)
    by_name = {row[0]: row for row in sources(store)}
    assert by_name[named[0]][1] == "ingested"
    assert by_name[generic[0]][1:3] == ("duplicate", source_id)


@pytest.mark.parametrize("gpx_first", [False, True])
def test_a_gpx_from_the_first_gps_fix_is_the_watch_s_run(
        store: Store, settings: IngestSettings, gpx_first: bool) -> None:
    files = [("watch.fit", fit_of(RUN)), ("phone.gpx", gpx_run(AFTER_GPS_LOCK))]
    for name, data in reversed(files) if gpx_first else files:
        drop(settings, name, data)
        ingest_inbox(store, settings)
    assert [a[1:] for a in stored(store)] == [("running", True, "fitparse")]
    gpx_row = next(row for row in sources(store) if row[0] == "phone.gpx")
    assert gpx_row[1] == "duplicate"
    assert "starts 95 s apart, distance 3.6 % apart, but at the same time for 100 %" in gpx_row[3]


def test_a_fit_replacing_its_gpx_in_one_batch_counts_once(
        store: Store, settings: IngestSettings) -> None:
    drop(settings, "a-phone.gpx", gpx_run(RUN, start_offset_s=3))
    drop(settings, "b-watch.fit", fit_of(RUN))
    outcomes = {o.path.name: o for o in ingest_inbox(store, settings)}
    gpx, fit = outcomes["a-phone.gpx"], outcomes["b-watch.fit"]
    [(fit_source, *_)] = stored(store)
    [activity_id] = fit.activity_ids
    assert gpx.status == "duplicate" and gpx.activity_ids == []
    assert gpx.reason.startswith(f"same run as activity #{activity_id} (FIT, source "
                                 f"#{fit_source}): starts 3 s apart")
    assert sum(len(o.activity_ids) for o in outcomes.values()) == 1
    # the replacing file's own row says what it replaced, as its outcome does
    fit_row = next(row for row in sources(store) if row[0] == "b-watch.fit")
    assert fit.reason.startswith("replaces activity #") and fit_row[3] == fit.reason


# --- reprocess ----------------------------------------------------------------------------------


def test_reprocess_reads_an_archived_export_once(store: Store, settings: IngestSettings,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Every run of a zip export read again from one pass over the zip, not one per run."""
    runs = [Run(START + timedelta(days=day), 5000.0 + day, 1600.0) for day in range(12)]
    export = strava_export_zip([exported(1000 + i, "Run", run.start, ".tcx.gz",
                                         tcx_run(run))
                                for i, run in enumerate(runs)])
    drop(settings, "export.zip", export)
    assert {o.status for o in ingest_inbox(store, settings)} == {"ingested"}
    opened: list[object] = []
    original_init = zipfile.ZipFile.__init__

    def counting_init(self: zipfile.ZipFile, file: object, *args: object,
                      **kwargs: object) -> None:
        if not isinstance(file, io.BytesIO):
            opened.append(file)
        original_init(self, file, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(zipfile.ZipFile, "__init__", counting_init)
    outcomes = reprocess_archive(store, settings)
    assert [o.status for o in outcomes] == ["reprocessed"] * len(runs)
    assert len(opened) == 1
    assert [a[1:] for a in stored(store)] == [("running", True, "lxml")] * len(runs)


def test_reprocess_names_a_member_gone_from_the_archived_zip(
        store: Store, settings: IngestSettings) -> None:
    runs = [Run(START + timedelta(days=day), 5000.0, 1600.0) for day in range(3)]
    members = {f"runs/{i}.tcx": tcx_run(run) for i, run in enumerate(runs)}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    drop(settings, "backup.zip", buffer.getvalue())
    ingest_inbox(store, settings)
    with store.session() as session:
        [stored_path] = set(session.scalars(select(SourceFile.stored_path)))
    smaller = io.BytesIO()
    with zipfile.ZipFile(smaller, "w") as archive:
        for name in ("runs/0.tcx", "runs/2.tcx"):
            archive.writestr(name, members[name])
    Path(stored_path).write_bytes(smaller.getvalue())
    outcomes = {o.member: o for o in reprocess_archive(store, settings)}
    assert {m: o.status for m, o in outcomes.items()} == {
        "runs/0.tcx": "reprocessed", "runs/1.tcx": "error", "runs/2.tcx": "reprocessed"}
    assert outcomes["runs/1.tcx"].reason.endswith(
        "runs/1.tcx is not in the archived file any more")


@pytest.mark.parametrize("gpx_first", [False, True])
def test_a_tcx_naming_no_sport_takes_the_sport_of_the_gpx_it_beats(
        store: Store, settings: IngestSettings, gpx_first: bool) -> None:
    """TCX beats GPX, but a TCX of Sport="Other" keeps the run a run when the GPX names it:
    the kept activity takes the GPX's sport, and keeps it when reprocess reads the TCX again."""
    files = [("other.tcx", tcx_run(RUN, sport="Other")), ("strava.gpx", gpx_run(RUN))]
    for name, data in reversed(files) if gpx_first else files:
        drop(settings, name, data)
        ingest_inbox(store, settings)
    [(_, sport, is_run, decoder)] = stored(store)
    assert (sport, is_run, decoder.split()[0]) == ("running", True, "lxml")
    reprocess_archive(store, settings)
    assert [a[1:3] for a in stored(store)] == [("running", True)]
