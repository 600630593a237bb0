"""TCX and GPX: the decoders on real-looking files (Garmin Connect, Polar Flow and Strava TCX,
Strava and Garmin GPX), broken and hostile XML, and activity identity across formats (the same
run from a FIT, a TCX and a GPX file stored once, from the best file, in any order)."""

from __future__ import annotations

import gzip
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from exportwriter import Run, fit_of, gpx_route, gpx_run, tcx_run
from helpers import count_rows, drop, files_under, inbox_settings, zip_bytes
from sqlalchemy import select

from fitwriter.encode import encode_strength
from ingest import IngestSettings, ingest_inbox, reprocess_archive
from ingest.containers import payload_format
from ingest.identity import same_activity
from ingest.parse import parse_payload
from store import Activity, ActivitySeries, SourceFile, Store

START = datetime(2026, 10, 5, 6, 30, tzinfo=UTC)
RUN = Run(START, 8000.0, 2640.0, cadence_spm=172.0, heart_rate_bpm=148)


@pytest.fixture
def settings(tmp_path: Path) -> IngestSettings:
    return inbox_settings(tmp_path)


def rows(store: Store) -> list[tuple[str, str, str | None, int | None]]:
    """(format, status, decoder, duplicate_of source id) of every source row, in id order."""
    with store.session() as session:
        return [(s.format, s.status, s.decoder, s.duplicate_of_id)
                for s in session.scalars(select(SourceFile).order_by(SourceFile.id))]


def activities(store: Store) -> list[Activity]:
    with store.session() as session:
        found = session.scalars(select(Activity).order_by(Activity.start_utc)).all()
        session.expunge_all()
        return list(found)


# --- decoders ---------------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["garmin", "strava", "polar"])
def test_tcx_reads_like_the_fit_file_of_the_same_run(style: str) -> None:
    fit = parse_payload(fit_of(RUN)).summary
    parsed = parse_payload(tcx_run(RUN, style), "tcx", name="run.tcx")
    assert parsed.problem is None and parsed.warnings == []
    assert parsed.decoder is not None and parsed.decoder.startswith("lxml ")
    assert parsed.format == "tcx"
    [session], [expected] = parsed.summary.sessions, fit.sessions
    assert session.sport == "running" and session.is_run
    assert session.start_utc == expected.start_utc
    assert session.distance_m == pytest.approx(expected.distance_m)
    assert session.timer_s == pytest.approx(expected.timer_s)
    assert session.elapsed_s == pytest.approx(expected.elapsed_s)
    assert session.avg_heart_rate_bpm == pytest.approx(148)
    # RunCadence (Garmin, Strava) and Polar's <Cadence> are strides/min: steps = 2 x
    assert session.avg_cadence_spm == session.steady_cadence_spm == 172.0
    assert session.cadence_first_fifth_spm == session.cadence_last_fifth_spm == 172.0
    assert session.steady_speed_mps == pytest.approx(expected.steady_speed_mps, abs=0.01)
    assert session.speed_last_fifth_mps == pytest.approx(expected.speed_last_fifth_mps, abs=0.01)
    assert session.series is not None and len(session.series["elapsed_s"]) == \
        len(expected.series["elapsed_s"])
    assert session.series["cadence_spm"][10] == 172.0


def test_polar_flow_tcx_with_offsets_and_no_extension_namespace() -> None:
    """Polar Flow writes local times with an offset, fractions, and cadence in <Cadence>."""
    text = tcx_run(RUN, "polar").decode().replace(".000Z", ".000+02:00")
    [session] = parse_payload(text.encode(), "tcx", name="polar.tcx").summary.sessions
    assert session.start_utc == START - timedelta(hours=2)
    assert session.steady_cadence_spm == 172.0


def test_strava_gpx_with_trackpoint_extensions_and_legacy_types() -> None:
    for sport_type, style in (("running", "strava"), ("9", "strava"), ("running", "garmin")):
        parsed = parse_payload(gpx_run(RUN, sport_type=sport_type, style=style), "gpx",
                               name="run.gpx")
        assert parsed.problem is None and parsed.warnings == [], sport_type
        assert parsed.decoder is not None and parsed.decoder.startswith("gpxpy ")
        [session] = parsed.summary.sessions
        assert session.sport == "running"
        assert session.start_utc == START
        assert session.distance_m == pytest.approx(8000.0, abs=0.05)  # gpxpy's 2D length
        assert session.timer_s == pytest.approx(2640.0)  # no pauses: elapsed
        assert session.avg_heart_rate_bpm == pytest.approx(148)
        assert session.steady_cadence_spm == 172.0  # gpxtpx:cad is strides/min
        assert session.steady_speed_mps == pytest.approx(8000 / 2640, abs=0.01)
    ride = parse_payload(gpx_run(RUN, sport_type="1"), "gpx", name="ride.gpx")
    assert ride.summary.sessions[0].sport == "cycling"


def test_a_gpx_naming_no_sport_is_a_non_run_with_a_warning_unless_its_export_says() -> None:
    bare = gpx_run(RUN, sport_type=None, cadence=False)
    parsed = parse_payload(bare, "gpx", name="12345.gpx")
    [session] = parsed.summary.sessions
    assert session.sport == "generic" and not session.is_run
    assert any("names no sport" in w for w in parsed.warnings)
    hinted = parse_payload(bare, "gpx", name="12345.gpx", sport_hint="Run")
    assert hinted.summary.sessions[0].is_run and hinted.warnings == []
    walk = parse_payload(gpx_run(RUN, sport_type="Nordic Walking"), "gpx", name="x.gpx")
    assert walk.summary.sessions[0].sport == "nordic_walking"
    assert "not one StrideGuard knows" in walk.warnings[0]


def test_cadence_written_in_steps_is_not_doubled_again() -> None:
    text = tcx_run(RUN).decode().replace("<ns3:RunCadence>86</ns3:RunCadence>",
                                         "<ns3:RunCadence>172</ns3:RunCadence>")
    parsed = parse_payload(text.encode(), "tcx", name="treadmill.tcx")
    assert parsed.summary.sessions[0].steady_cadence_spm == 172.0
    assert "steps (not strides) per minute" in parsed.warnings[0]


def test_routes_courses_and_files_that_are_not_ours() -> None:
    route = parse_payload(gpx_route(), "gpx", name="routes/1.gpx")
    assert route.problem is None and route.summary.file_type == "route"
    assert "no timed track points" in route.summary.no_session_reason
    course = (b'<TrainingCenterDatabase xmlns="http://www.garmin.com/xmlschemas/'
              b'TrainingCenterDatabase/v2"><Courses><Course><Name>Loop</Name></Course></Courses>'
              b"</TrainingCenterDatabase>")
    assert parse_payload(course, "tcx", name="loop.tcx").summary.file_type == "course"
    wrong = parse_payload(gpx_route(), "tcx", name="swapped.tcx")
    assert wrong.problem == ("swapped.tcx: not a TCX file (its root element is <gpx>, expected "
                             "<TrainingCenterDatabase>)")


def test_hostile_xml_is_refused_without_expanding_anything() -> None:
    laughs = (b'<?xml version="1.0"?><!DOCTYPE gpx [<!ENTITY a "aaaaaaaaaa">'
              b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><gpx>&b;</gpx>')
    parsed = parse_payload(laughs, "gpx", name="evil.gpx")
    assert parsed.summary is None and "declares XML entities" in parsed.problem
    external = (b'<?xml version="1.0"?><!DOCTYPE t [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                b'<TrainingCenterDatabase><Activities>&x;</Activities></TrainingCenterDatabase>')
    assert "declares XML entities" in parse_payload(external, "tcx", name="x.tcx").problem


def test_payload_formats_by_name_and_by_content() -> None:
    assert [payload_format(n) for n in ("a.FIT", "b.tcx.gz", "c.GPX", "activities/1.gpx.gz")] \
        == ["fit", "tcx", "gpx", "gpx"]
    assert payload_format("named.bin", tcx_run(RUN, "strava")) == "tcx"
    assert payload_format("named.bin", gpx_run(RUN)) == "gpx"
    assert payload_format("named.bin", fit_of(RUN)) == "fit"


def test_workers_and_the_command_line_start_without_the_xml_libraries(tmp_path: Path) -> None:
    """lxml and gpxpy load in the decoding workers, on the first TCX or GPX file: not for
    `--help`, `check-config`, nor when a worker starts."""
    (tmp_path / "strideguard.yaml").write_text("timezone: UTC\n", encoding="utf-8")
    probe = ("import sys, ingest.parse, ingest.pool\nfrom cli import main\ntry:\n"
             "    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
             "print(sorted({m.split('.')[0] for m in sys.modules} & {'lxml', 'gpxpy'}))")
    for args in (["--help"], ["--config", str(tmp_path / "strideguard.yaml"), "check-config"]):
        loaded = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True,
                                text=True, check=True)
        assert loaded.stdout.strip().splitlines()[-1] == "[]", args


# --- identity ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    sport: str = "running"
    start_utc: datetime = START
    distance_m: float | None = 10_000.0
    elapsed_s: float | None = 3000.0
    timer_s: float | None = 3000.0


@pytest.mark.parametrize(("other", "gaps"), [
    (Reading(start_utc=START + timedelta(seconds=4), distance_m=10_030.0),
     "starts 4 s apart, distance 0.3 % apart"),
    (Reading(start_utc=START - timedelta(seconds=60), distance_m=9_800.0),
     "starts 60 s apart, distance 2.0 % apart"),
    # (with durations, these overlap in time: one athlete cannot run two runs at once)
    (Reading(start_utc=START + timedelta(seconds=61), elapsed_s=None, timer_s=None), None),
    (Reading(distance_m=9_790.0, elapsed_s=None, timer_s=None), None),
    (Reading(sport="cycling"), None),
    (Reading(sport="generic"), "starts 0 s apart, distance 0.0 % apart"),  # names no sport
    # a missing (or zero) distance decides nothing: the durations do
    (Reading(distance_m=None, elapsed_s=3030.0),
     "starts 0 s apart, no distance on both: durations 1.0 % apart"),
    (Reading(distance_m=0.0, elapsed_s=3100.0, timer_s=None, start_utc=START + timedelta(
        seconds=400)), None),
    (Reading(distance_m=None, elapsed_s=None, timer_s=None),
     "starts 0 s apart, neither distance nor duration on both"),
])
def test_what_makes_two_readings_one_activity(other: Reading, gaps: str | None) -> None:
    found = same_activity(Reading(), other)
    assert (found.describe() if found else None) == gaps
    back = same_activity(other, Reading())
    assert (back.describe() if back else None) == gaps  # symmetric


@pytest.mark.parametrize(("gap_s", "same"), [(20, True), (40, False), (55, False)])
def test_short_readings_must_overlap_for_half_the_shorter_one(gap_s: int, same: bool) -> None:
    """Under two minutes a start within a minute is no proof: two 200 m repeats recorded one
    after the other (or, in the fitparse samples, a Fenix 5 and an Edge 820 ride of a minute
    that start 53 s apart, 0.5 % apart in distance) are two activities."""
    rep = Reading(distance_m=200.0, elapsed_s=70.0, timer_s=70.0)
    next_rep = Reading(start_utc=START + timedelta(seconds=gap_s), distance_m=200.0,
                       elapsed_s=70.0, timer_s=70.0)
    assert (same_activity(rep, next_rep) is not None) == same
    assert (same_activity(next_rep, rep) is not None) == same


# --- ingest: one activity, the best file, any order -------------------------------------------


def test_gpx_first_then_fit_later_keeps_the_fit(store: Store, settings: IngestSettings) -> None:
    drop(settings, "strava.gpx", gpx_run(RUN, start_offset_s=3, distance_scale=0.996))
    [first] = ingest_inbox(store, settings)
    assert first.status == "ingested"
    assert count_rows(store, ActivitySeries) == 1
    [gpx_activity] = activities(store)
    drop(settings, "watch.fit", fit_of(RUN))
    [second] = ingest_inbox(store, settings)
    assert second.status == "ingested"
    assert second.reason == f"replaces activity #{gpx_activity.id} (GPX, source #1)"
    [kept] = activities(store)
    assert kept.decoder.startswith("fitparse") and kept.steady_cadence_spm == 172.0
    assert count_rows(store, ActivitySeries) == 1  # the GPX reading's series went with it
    assert [r[:2] for r in rows(store)] == [("gpx", "duplicate"), ("fit", "ingested")]
    with store.session() as session:
        gpx_row = session.get(SourceFile, 1)
        assert gpx_row.duplicate_of_id == 2
        assert gpx_row.reason == (f"same run as activity #{kept.id} (FIT, source #2): starts 3 s "
                                  f"apart, distance 0.4 % apart; its activity #{gpx_activity.id}"
                                  " was removed")
    assert len(files_under(settings.archive)) == 2  # nothing deleted


def test_fit_first_then_tcx_and_gpx_are_duplicates(store: Store,
                                                   settings: IngestSettings) -> None:
    drop(settings, "watch.fit", fit_of(RUN))
    ingest_inbox(store, settings)
    [fit_activity] = activities(store)
    drop(settings, "a.tcx.gz", gzip.compress(tcx_run(RUN, "strava")))
    drop(settings, "b.gpx", gpx_run(RUN, start_offset_s=-2))
    outcomes = ingest_inbox(store, settings)
    assert [(o.status, o.reason) for o in outcomes] == [
        ("duplicate", f"same run as activity #{fit_activity.id} (FIT, source #1): starts 0 s "
                      "apart, distance 0.0 % apart"),
        ("duplicate", f"same run as activity #{fit_activity.id} (FIT, source #1): starts 2 s "
                      "apart, distance 0.0 % apart")]
    assert rows(store) == [("fit", "ingested", "fitparse 1.2.0", None),
                           ("tcx", "duplicate", rows(store)[1][2], 1),
                           ("gpx", "duplicate", rows(store)[2][2], 1)]
    assert rows(store)[1][2].startswith("lxml ") and rows(store)[2][2].startswith("gpxpy ")
    assert [a.id for a in activities(store)] == [fit_activity.id]


def test_tcx_replaces_gpx_and_a_gpx_naming_no_sport_matches_a_run(
        store: Store, settings: IngestSettings) -> None:
    drop(settings, "phone.gpx", gpx_run(RUN, sport_type=None, cadence=False))
    ingest_inbox(store, settings)
    assert [a.sport for a in activities(store)] == ["generic"]
    drop(settings, "polar.tcx", tcx_run(RUN, "polar"))
    [outcome] = ingest_inbox(store, settings)
    assert outcome.status == "ingested" and outcome.reason.startswith("replaces activity #")
    [kept] = activities(store)
    assert kept.sport == "running" and kept.steady_cadence_spm == 172.0  # cadence from the TCX
    assert [r[:2] for r in rows(store)] == [("gpx", "duplicate"), ("tcx", "ingested")]
    # the same run again as GPX, now with its sport: the TCX holds it already
    drop(settings, "strava.gpx", gpx_run(RUN))
    [again] = ingest_inbox(store, settings)
    assert again.status == "duplicate" and "(TCX, source #2)" in again.reason


def test_two_fit_recordings_of_one_run_count_once(store: Store, settings: IngestSettings) -> None:
    """Two watches (other serials, so no natural-key match) recording the same run: the same
    athlete cannot run it twice, so the file stored first is kept (equal rank)."""
    drop(settings, "a-watch.fit", fit_of(RUN, serial_number=111))
    drop(settings, "b-second-watch.fit", fit_of(
        Run(START + timedelta(seconds=5), 8040.0, 2650.0, cadence_spm=170.0), serial_number=222))
    drop(settings, "c-evening.fit", fit_of(Run(START + timedelta(hours=10), 8000.0, 2640.0),
                                           serial_number=222))
    drop(settings, "d-strength.fit", encode_strength(START + timedelta(seconds=20), 2640.0))
    outcomes = {o.path.name: o for o in ingest_inbox(store, settings)}
    assert outcomes["b-second-watch.fit"].status == "duplicate"
    assert "same run as activity" in outcomes["b-second-watch.fit"].reason
    assert outcomes["c-evening.fit"].status == "ingested"
    assert outcomes["d-strength.fit"].status == "ingested"  # another sport
    assert len(activities(store)) == 3


def test_a_broken_tcx_is_quarantined_naming_its_line_and_neighbours_are_stored(
        store: Store, settings: IngestSettings) -> None:
    text = tcx_run(RUN).decode().replace("</Lap>", "</Lapp>", 1)
    drop(settings, "broken.tcx", text.encode())
    drop(settings, "good.gpx", gpx_run(RUN))
    strava_text = tcx_run(Run(START + timedelta(days=1), 5000, 1600), "strava").decode()
    drop(settings, "cut.tcx", strava_text[: len(strava_text) // 2].encode())
    outcomes = {o.path.name: o for o in ingest_inbox(store, settings)}
    assert outcomes["good.gpx"].status == "ingested"
    broken = outcomes["broken.tcx"]
    assert broken.status == "quarantined"
    assert broken.reason.startswith("broken.tcx: not well-formed XML at line 3, column ")
    assert "Opening and ending tag mismatch: Lap" in broken.reason
    reason_file = settings.quarantine / "ana" / "broken.tcx.reason.txt"
    assert broken.reason in reason_file.read_text()
    assert outcomes["cut.tcx"].status == "quarantined"
    assert "cut.tcx: not well-formed XML at line 3" in outcomes["cut.tcx"].reason
    assert sorted(r[0] for r in rows(store)) == ["gpx", "tcx", "tcx"]


def test_a_zip_of_junk_routes_and_runs(store: Store, settings: IngestSettings) -> None:
    """Not a Strava export (no activities.csv): every activity file in it is read, a route is
    skipped, a broken member quarantined, and the rest (notes, photos, macOS noise) ignored."""
    drop(settings, "backup.zip", zip_bytes({
        "notes.txt": b"not an activity", "photo.jpg": b"\xff\xd8", "data.json": b"{}",
        "runs/monday.tcx": tcx_run(RUN),
        "runs/tuesday.gpx.gz": gzip.compress(gpx_run(Run(START + timedelta(days=1), 5000,
                                                         1650))),
        "routes/loop.gpx": gpx_route(),
        "runs/garbage.gpx": b"\x00\x01 not xml",
        "__MACOSX/runs/._monday.tcx": b"noise",
    }))
    outcomes = {o.member: o for o in ingest_inbox(store, settings)}
    assert {m: o.status for m, o in outcomes.items()} == {
        "routes/loop.gpx": "skipped", "runs/garbage.gpx": "quarantined",
        "runs/monday.tcx": "ingested", "runs/tuesday.gpx.gz": "ingested"}
    assert outcomes["routes/loop.gpx"].reason.startswith("not an activity: the GPX file holds")
    assert outcomes["runs/garbage.gpx"].reason.startswith(
        "runs/garbage.gpx: not well-formed XML at line 1, column 1")
    assert len(activities(store)) == 2


def test_a_syntax_error_names_the_line_of_the_file_as_it_is() -> None:
    """Blank lines before `<?xml` are cut before parsing; the line named is still the file's."""
    text = "\n\n   " + tcx_run(RUN).decode().replace("<Calories>", "<Calories", 1)
    problem = parse_payload(text.encode(), "tcx", name="late.tcx").problem
    assert problem.startswith("late.tcx: not well-formed XML at line 5, column ")


def test_an_xml_file_still_being_written_waits(store: Store, settings: IngestSettings) -> None:
    text = tcx_run(RUN)
    drop(settings, "writing.tcx", text[: len(text) - 40])
    fresh = IngestSettings(settings.inbox, settings.archive, settings.quarantine,
                           stability_s=60.0)
    [outcome] = ingest_inbox(store, fresh)
    assert outcome.status == "waiting" and "not closed yet" in outcome.reason
    drop(settings, "writing.tcx", text)
    [done] = ingest_inbox(store, fresh)
    assert done.status == "ingested"


def test_reprocess_reads_tcx_and_gpx_again_in_place(store: Store,
                                                    settings: IngestSettings) -> None:
    drop(settings, "a.tcx", tcx_run(RUN))
    drop(settings, "b.gpx.gz", gzip.compress(gpx_run(Run(START + timedelta(days=1), 6000,
                                                         1980))))
    drop(settings, "c.gpx", gpx_run(RUN))  # a duplicate of a.tcx: not read again
    ingest_inbox(store, settings)
    with store.session() as session:
        before = {a.id: (a.distance_m, a.steady_cadence_spm) for a in session.scalars(
            select(Activity))}
        for activity in session.scalars(select(Activity)):
            activity.steady_cadence_spm, activity.decoder = 150.0, None
    outcomes = reprocess_archive(store, settings)
    assert sorted(o.status for o in outcomes) == ["reprocessed", "reprocessed"]
    with store.session() as session:
        after = {a.id: (a.distance_m, a.steady_cadence_spm)
                 for a in session.scalars(select(Activity))}
        decoders = sorted(a.decoder.split()[0] for a in session.scalars(select(Activity)))
    assert after == before and decoders == ["gpxpy", "lxml"]
    assert [r[:2] for r in rows(store)] == [("tcx", "ingested"), ("gpx", "ingested"),
                                            ("gpx", "duplicate")]


@pytest.mark.parametrize("first", ["gpx", "fit"])
def test_reprocess_settles_readings_stored_twice_before_identity_existed(
        store: Store, settings: IngestSettings, monkeypatch: pytest.MonkeyPatch,
        first: str) -> None:
    """A store from before cross-format dedupe may hold one run from a GPX and from a FIT: read
    again, the FIT's reading is kept and the GPX's removed, whichever file is read first."""
    files = {"gpx": ("a.gpx", gpx_run(RUN)), "fit": ("b.fit", fit_of(RUN))}
    with monkeypatch.context() as old_strideguard:  # no identity check yet
        old_strideguard.setattr("ingest.identity.START_TOLERANCE_S", -1.0)
        old_strideguard.setattr("ingest.identity.SAME_TIME_SHARE", 2.0)
        for kind in (first, "fit" if first == "gpx" else "gpx"):
            drop(settings, *files[kind])
            ingest_inbox(store, settings)
    assert len(activities(store)) == 2
    outcomes = reprocess_archive(store, settings)
    assert sorted(o.status for o in outcomes) == ["duplicate", "reprocessed"]
    [kept] = activities(store)
    assert kept.decoder.startswith("fitparse")
    assert sorted(r[:2] for r in rows(store)) == [("fit", "ingested"), ("gpx", "duplicate")]
    assert count_rows(store, ActivitySeries) == 1
