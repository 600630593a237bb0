"""TCX and GPX at their edges: timer time from phone tracks, tracks far apart, laps without
distance, cadence written in steps, sports by other names and in other languages, oversized
XML, localised and broken Strava indexes, and XML that tries to load files."""

from __future__ import annotations

import io
import logging
import re
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from exportwriter import (
    STRAVA_COLUMNS_DE,
    Run,
    exported,
    gpx_run,
    strava_export_zip,
    tcx_run,
)
from helpers import drop, inbox_settings
from sqlalchemy import select

from ingest import IngestSettings, ingest_inbox
from ingest.parse import parse_payload
from ingest.strava import read_strava_index
from ingest.xmlread import MAX_SPORT_CHARS, MAX_XML_BYTES, sport_from_label
from store import Activity, Store

START = datetime(2026, 10, 5, 6, 30, tzinfo=UTC)
RUN = Run(START, 8000.0, 2640.0, cadence_spm=172.0, heart_rate_bpm=148)
METRES_PER_DEGREE = 111_319.49079327357
GPX_HEAD = ('<gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1" '
            'xmlns:gpxtpx="http://www.garmin.com/xmlschemas/TrackPointExtension/v1">')


@pytest.fixture
def settings(tmp_path: Path) -> IngestSettings:
    return inbox_settings(tmp_path)


def trkpt(seconds: float, metres: float, cadence: float | None = None) -> str:
    when = (START + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
    extension = (f"<extensions><gpxtpx:TrackPointExtension><gpxtpx:cad>{cadence:.0f}</gpxtpx:cad>"
                 "</gpxtpx:TrackPointExtension></extensions>" if cadence is not None else "")
    return (f'<trkpt lat="{52.5 + metres / METRES_PER_DEGREE:.8f}" lon="13.4"><time>{when}</time>'
            f"{extension}</trkpt>")


def gpx_of(*tracks: list[str], sport: str = "running") -> bytes:
    body = "".join(f"<trk><type>{sport}</type><trkseg>{''.join(points)}</trkseg></trk>"
                   for points in tracks)
    return f"{GPX_HEAD}{body}</gpx>".encode()


# --- GPX timer time ---------------------------------------------------------------------------


def test_a_phone_repeating_its_fix_every_second_is_not_paused() -> None:
    """1 Hz points with a new GPS position every 3 s: gpxpy's moving time dropped the repeats
    (a 3000 s run came out as 999 s); a watch's timer runs through them."""
    points = [trkpt(i, (i // 3) * 3 * 2.8) for i in range(3000)]
    [session] = parse_payload(gpx_of(points), "gpx", name="phone.gpx").summary.sessions
    assert session.elapsed_s == session.timer_s == 2999.0
    assert session.avg_speed_mps == pytest.approx(2.8, abs=0.01)


def test_gaps_and_long_stops_are_pauses_and_a_traffic_light_is_not() -> None:
    """Points every 2 s for 1000 s; then nothing for 5 min (the timer stopped); 1000 s more;
    3 min standing still with the phone recording; 40 s at a traffic light; 1000 s more."""
    points, t, m = [], 0.0, 0.0

    def run(seconds: float) -> None:
        nonlocal t, m
        for _ in range(int(seconds // 2)):
            t, m = t + 2, m + 6
            points.append(trkpt(t, m))

    def stand(seconds: float) -> None:
        nonlocal t
        for _ in range(int(seconds // 2)):
            t += 2
            points.append(trkpt(t, m + (1.5 if int(t) % 4 else 0)))  # GPS jitter

    points.append(trkpt(0, 0))
    run(1000)
    t += 300
    run(1000)
    stand(180)
    run(1000)
    stand(40)
    [session] = parse_payload(gpx_of(points), "gpx", name="stops.gpx").summary.sessions
    assert session.elapsed_s == 3000 + 300 + 180 + 40
    assert session.timer_s == pytest.approx(3000 + 40, abs=4)


def test_tracks_of_one_sport_far_apart_are_two_activities_and_parts_close_are_one() -> None:
    morning = [trkpt(i * 10, i * 30) for i in range(100)]  # 990 s
    resumed = [trkpt(990 + 600 + i * 10, 3000 + i * 30) for i in range(50)]  # 10 min later
    evening = [trkpt(10 * 3600 + i * 10, i * 30) for i in range(60)]
    parsed = parse_payload(gpx_of(morning, resumed, evening), "gpx", name="day.gpx")
    first, second = parsed.summary.sessions
    assert first.start_utc == START and second.start_utc == START + timedelta(hours=10)
    assert first.distance_m == pytest.approx(99 * 30 + 49 * 30, abs=1)  # none across the gap
    assert first.elapsed_s == 990 + 600 + 490 and first.timer_s == 990 + 490
    assert second.distance_m == pytest.approx(59 * 30, abs=1) and second.timer_s == 590


# --- TCX distance and cadence -----------------------------------------------------------------


@pytest.mark.parametrize("laps_say", ["<DistanceMeters>0.0</DistanceMeters>", "", "far off"])
def test_a_tcx_whose_laps_give_no_or_a_wrong_distance_takes_the_trackpoints(
        laps_say: str) -> None:
    text = tcx_run(RUN).decode()
    lap_distance = re.compile(r"(</TotalTimeSeconds>)<DistanceMeters>([^<]*)</DistanceMeters>")
    if laps_say == "far off":
        text = lap_distance.sub(lambda m: f"{m[1]}<DistanceMeters>{float(m[2]) * 1.5:.1f}"
                                "</DistanceMeters>", text)
    else:
        text = lap_distance.sub(lambda m: m[1] + laps_say, text)
    parsed = parse_payload(text.encode(), "tcx", name="laps.tcx")
    [session] = parsed.summary.sessions
    assert session.distance_m == pytest.approx(8000.0, abs=0.5)
    if laps_say:
        assert any("the trackpoints' distance was taken" in w for w in parsed.warnings)


def test_lap_only_cadence_in_steps_is_not_doubled() -> None:
    """A Polar-style TCX with cadence only on its lap, written in steps/min (172)."""
    text = re.sub(r"<Cadence>\d+</Cadence><SensorState>", "<SensorState>",
                  tcx_run(RUN, "polar").decode())
    text = text.replace("<Cadence>86</Cadence><TriggerMethod>",
                        "<Cadence>172</Cadence><TriggerMethod>")
    parsed = parse_payload(text.encode(), "tcx", name="lap-only.tcx")
    assert parsed.summary.sessions[0].avg_cadence_spm == 172.0
    assert "average cadence reads 172" in parsed.warnings[0]


def test_a_run_walk_session_in_steps_is_not_doubled() -> None:
    """Run 170 steps/min and walk 110 in turns, walking a little more: the median (110) looks
    like strides, the high percentile does not."""
    points = []
    for i in range(300):
        walking = (i // 30) % 2 == 1 or i >= 270
        points.append(trkpt(i * 2, i * (2.6 if not walking else 1.4),
                            cadence=110 if walking else 170))
    parsed = parse_payload(gpx_of(points), "gpx", name="runwalk.gpx")
    [session] = parsed.summary.sessions
    assert session.avg_cadence_spm is not None and session.avg_cadence_spm < 150
    assert "must be steps" in parsed.warnings[0]


# --- sports -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("label", "sub_sport"), [
    ("ultra_run", "ultra"), ("obstacle_run", "obstacle"), ("trail_running", "trail"),
    ("treadmill_running", "treadmill"), ("track_running", "track"),
    ("indoor_running", "indoor_running"), ("street_running", "street"),
    ("virtual_run", "virtual_activity")])
def test_garmin_running_type_keys_are_runs(label: str, sub_sport: str) -> None:
    assert sport_from_label(label) == ("running", sub_sport, None)
    parsed = parse_payload(gpx_run(RUN, sport_type=label), "gpx", name="g.gpx")
    assert parsed.summary.sessions[0].is_run and parsed.warnings == []


@pytest.mark.parametrize(("label", "sport"), [
    ("Lauf", "running"), ("Traillauf", "running"), ("Course à pied", "running"),
    ("Carrera", "running"), ("Corsa", "running"), ("Hardloopsessie", "running"),
    ("Corrida", "running"), ("Spaziergang", "walking"), ("Randonnée", "hiking"),
    ("Radfahrt", "cycling")])
def test_strava_types_in_other_languages(label: str, sport: str) -> None:
    assert sport_from_label(label)[0] == sport


def test_a_long_free_text_sport_is_cut_to_what_the_store_holds(
        store: Store, settings: IngestSettings) -> None:
    label = "Très-Long Sport! " * 8
    sport, _, warning = sport_from_label(label)
    assert re.fullmatch(r"[a-z0-9_]+", sport) and len(sport) == MAX_SPORT_CHARS
    assert warning is not None and sport in warning
    assert sport_from_label("¿¡!")[0] == "generic"
    drop(settings, "long.gpx", gpx_run(RUN, sport_type=label))
    [outcome] = ingest_inbox(store, settings)
    assert outcome.status == "ingested"
    with store.session() as session:
        assert session.scalars(select(Activity.sport)).all() == [sport]


# --- size -------------------------------------------------------------------------------------


def test_xml_larger_than_the_cap_is_refused_before_parsing() -> None:
    head = gpx_run(RUN)
    data = head.replace(b"</gpx>", b" " * (MAX_XML_BYTES - len(head) + 16) + b"</gpx>")
    parsed = parse_payload(data, "gpx", name="huge.gpx")
    assert parsed.summary is None
    assert parsed.problem.startswith("huge.gpx: 64 MB of XML is more than StrideGuard reads")


# --- Strava indexes ---------------------------------------------------------------------------


def test_a_german_strava_export_names_its_runs(store: Store, settings: IngestSettings) -> None:
    bare = gpx_run(RUN, sport_type=None, cadence=False)
    export = strava_export_zip([exported(7, "Lauf", START, ".gpx", bare)],
                               header=STRAVA_COLUMNS_DE)
    drop(settings, "export_de.zip", export)
    [outcome] = ingest_inbox(store, settings)
    assert outcome.status == "ingested" and outcome.warnings == []
    with store.session() as session:
        assert session.scalars(select(Activity.sport)).all() == ["running"]


def test_an_index_with_unknown_columns_maps_nothing_and_says_why() -> None:
    index = read_strava_index(b"Nummer,Art,Datei\n1,Lauf,activities/1.gpx\n")
    assert index.types_by_file == {} and "neither" in index.problem
    assert read_strava_index(b"").problem is not None


def _damaged(zip_data: bytes, member: str) -> bytes:
    """The zip with one stored member's bytes changed (its CRC no longer matches)."""
    with zipfile.ZipFile(io.BytesIO(zip_data)) as archive:
        info = archive.getinfo(member)
        content = archive.read(member)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(zip_data)) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            stored = zipfile.ZipInfo(item.filename, item.date_time)
            target.writestr(stored, source.read(item.filename), zipfile.ZIP_STORED)
    data = out.getvalue()
    at = data.index(content, data.index(info.filename.encode()))
    return data[:at] + b"X" + data[at + 1:]


def test_a_damaged_index_leaves_the_export_readable(
        store: Store, settings: IngestSettings, caplog: pytest.LogCaptureFixture) -> None:
    export = strava_export_zip([exported(1, "Run", START, ".gpx", gpx_run(RUN)),
                                exported(2, "Run", START + timedelta(days=1), ".gpx",
                                         gpx_run(Run(START + timedelta(days=1), 5000, 1600)))])
    drop(settings, "export.zip", _damaged(export, "activities.csv"))
    with caplog.at_level(logging.WARNING, logger="strideguard.ingest"):
        outcomes = ingest_inbox(store, settings)
    assert sorted(o.status for o in outcomes) == ["ingested", "ingested"]
    assert sorted(o.member for o in outcomes) == ["activities/1.gpx", "activities/2.gpx"]
    warnings = [r.getMessage() for r in caplog.records if "activities.csv" in r.getMessage()]
    assert len(warnings) == 1 and "cannot be unpacked" in warnings[0]


# --- hostile XML ------------------------------------------------------------------------------


@pytest.mark.parametrize("payload_format", ["gpx", "tcx"])
def test_an_external_dtd_and_its_entities_are_never_loaded(tmp_path: Path,
                                                           payload_format: str) -> None:
    """A document whose DTD lives in a file beside it, declaring `&x;` as a secret file's
    content: were the DTD or the entity loaded, the secret would be the activity's sport."""
    secret = tmp_path / "secret.txt"
    secret.write_text("leakedsecret", encoding="utf-8")
    (tmp_path / "evil.dtd").write_text(
        f'<!ENTITY x SYSTEM "{secret.as_uri()}"><!ENTITY y "leakedinline">', encoding="utf-8")
    doctype = f'<!DOCTYPE root SYSTEM "{(tmp_path / "evil.dtd").as_uri()}">'
    if payload_format == "gpx":
        document = gpx_run(RUN, sport_type="SPORT").decode().replace("SPORT", "&x;&y;")
    else:
        document = tcx_run(RUN).decode().replace('Sport="Running"', 'Sport="&y;"')
    document = document.replace("?>", f"?>{doctype}", 1)
    parsed = parse_payload(document.encode(), payload_format, name=f"evil.{payload_format}")
    shown = repr((parsed.problem, parsed.warnings,
                  parsed.summary and [s.sport for s in parsed.summary.sessions]))
    assert "leaked" not in shown
