"""TCX and GPX text of the runs the FIT fixture encoder writes (fitwriter.encode.run_records),
in the styles real exporters use: Garmin Connect and Strava TCX (RunCadence in the
ActivityExtension/v2 namespace, Strava's leading blanks before `<?xml`), Polar Flow TCX
(cadence in the plain <Cadence> element, no speeds), Strava and Garmin GPX (TrackPointExtension
hr and cad); and a Strava-style bulk export zip around them."""

from __future__ import annotations

import csv
import gzip
import io
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from xml.sax.saxutils import escape

from fitwriter.encode import RecordSample, encode_run, run_records

# gpxpy's metres per degree (2 pi R / 360, R = 6378.137 km): along a meridian the GPX length
# is then the run's distance to the centimetre
METRES_PER_DEGREE = 111_319.49079327357
START_LAT, START_LON = 52.5, 13.4
STRAVA_LEADING_BLANKS = " " * 10
TCX_NS = "http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2"
AX_NS = "http://www.garmin.com/xmlschemas/ActivityExtension/v2"
TPX_NS = "http://www.garmin.com/xmlschemas/TrackPointExtension/v1"


@dataclass(frozen=True)
class Run:
    """A run as fitwriter.encode.encode_run takes it (evenly paced, records every 10 s)."""

    start: datetime
    distance_m: float
    duration_s: float
    cadence_spm: float = 170.0
    heart_rate_bpm: int = 145

    def samples(self) -> list[RecordSample]:
        return run_records(self.start, self.distance_m, self.duration_s,
                           cadence_spm=self.cadence_spm, heart_rate_bpm=self.heart_rate_bpm)


def fit_of(run: Run, serial_number: int = 3_900_000_001) -> bytes:
    """The run as a watch's FIT file (the original the TCX and GPX versions are exports of)."""
    return encode_run(run.start, run.distance_m, run.duration_s, serial_number=serial_number,
                      cadence_spm=run.cadence_spm, heart_rate_bpm=run.heart_rate_bpm)


def _time(when: datetime, fraction: bool = False) -> str:
    text = when.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.000Z" if fraction else f"{text}Z"


def _latitude(distance_m: float) -> str:
    return f"{START_LAT + distance_m / METRES_PER_DEGREE:.9f}"


# --- TCX -------------------------------------------------------------------------------------


def _tcx_trackpoint(sample: RecordSample, style: str) -> str:
    strides = (sample.cadence_spm or 0) / 2
    fraction = style == "polar"
    lines = [f"<Trackpoint><Time>{_time(sample.timestamp, fraction)}</Time>",
             f"<Position><LatitudeDegrees>{_latitude(sample.distance_m or 0)}</LatitudeDegrees>"
             f"<LongitudeDegrees>{START_LON}</LongitudeDegrees></Position>",
             "<AltitudeMeters>34.0</AltitudeMeters>",
             f"<DistanceMeters>{sample.distance_m:.2f}</DistanceMeters>",
             f"<HeartRateBpm><Value>{sample.heart_rate_bpm}</Value></HeartRateBpm>"]
    if style == "polar":
        lines.append(f"<Cadence>{strides:.0f}</Cadence><SensorState>Present</SensorState>")
    elif style == "strava":
        lines.append(f'<Extensions><TPX xmlns="{AX_NS}"><Speed>{sample.speed_mps:.3f}</Speed>'
                     f"<RunCadence>{strides:.0f}</RunCadence></TPX></Extensions>")
    else:
        lines.append(f"<Extensions><ns3:TPX><ns3:Speed>{sample.speed_mps:.3f}</ns3:Speed>"
                     f"<ns3:RunCadence>{strides:.0f}</ns3:RunCadence></ns3:TPX></Extensions>")
    return "".join(lines) + "</Trackpoint>"


def _tcx_lap(run: Run, samples: Sequence[RecordSample], style: str) -> str:
    lap_start, lap_end = samples[0], samples[-1]
    seconds = (lap_end.timestamp - lap_start.timestamp).total_seconds()
    metres = (lap_end.distance_m or 0) - (lap_start.distance_m or 0)
    strides = run.cadence_spm / 2
    head = (f'<Lap StartTime="{_time(lap_start.timestamp, style == "polar")}">'
            f"<TotalTimeSeconds>{seconds:.1f}</TotalTimeSeconds>"
            f"<DistanceMeters>{metres:.2f}</DistanceMeters><Calories>80</Calories>"
            f"<AverageHeartRateBpm><Value>{run.heart_rate_bpm}</Value></AverageHeartRateBpm>"
            "<Intensity>Active</Intensity>")
    if style == "polar":
        head += f"<Cadence>{strides:.0f}</Cadence>"
    head += "<TriggerMethod>Distance</TriggerMethod><Track>"
    points = "".join(_tcx_trackpoint(s, style) for s in samples)
    if style == "polar":
        tail = f'<Extensions><LX xmlns="{AX_NS}"><AvgSpeed>{metres / seconds:.3f}</AvgSpeed></LX>'
    elif style == "strava":
        tail = (f'<Extensions><LX xmlns="{AX_NS}"><AvgRunCadence>{strides:.0f}</AvgRunCadence>'
                "</LX>")
    else:
        tail = (f"<Extensions><ns3:LX><ns3:AvgSpeed>{metres / seconds:.3f}</ns3:AvgSpeed>"
                f"<ns3:AvgRunCadence>{strides:.0f}</ns3:AvgRunCadence></ns3:LX>")
    return f"{head}{points}</Track>{tail}</Extensions></Lap>"


def _laps(samples: Sequence[RecordSample], lap_m: float) -> list[list[RecordSample]]:
    """Samples split every lap_m; a lap's last sample starts the next (as watches write it)."""
    laps: list[list[RecordSample]] = [[samples[0]]]
    for sample in samples[1:]:
        laps[-1].append(sample)
        if (sample.distance_m or 0) >= lap_m * len(laps) and sample is not samples[-1]:
            laps.append([sample])
    return laps


def tcx_run(run: Run, style: str = "garmin", *, sport: str = "Running",
            lap_m: float = 1000.0) -> bytes:
    """A TCX file of the run: style garmin (Garmin Connect), strava (its export, blanks before
    `<?xml`) or polar (Polar Flow: cadence in <Cadence>, no speeds, one lap)."""
    samples = run.samples()
    laps = [list(samples)] if style == "polar" else _laps(samples, lap_m)
    creator = {"polar": "Polar Vantage M", "strava": "Garmin Forerunner 255"}.get(
        style, "Forerunner 255")
    body = (f'<Activities><Activity Sport="{sport}"><Id>{_time(run.start)}</Id>'
            + "".join(_tcx_lap(run, lap, style) for lap in laps)
            + f'<Creator xsi:type="Device_t"><Name>{creator}</Name><UnitId>3991234567</UnitId>'
            "<ProductID>3990</ProductID></Creator></Activity></Activities>")
    root = (f'<TrainingCenterDatabase xmlns="{TCX_NS}" xmlns:ns3="{AX_NS}" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">')
    text = f'<?xml version="1.0" encoding="UTF-8"?>\n{root}\n{body}\n</TrainingCenterDatabase>\n'
    if style == "strava":
        text = STRAVA_LEADING_BLANKS + text
    return text.encode("utf-8")


# --- GPX -------------------------------------------------------------------------------------


def gpx_run(run: Run, *, sport_type: str | None = "running", cadence: bool = True,
            style: str = "strava", name: str = "Morning Run", start_offset_s: float = 0.0,
            distance_scale: float = 1.0) -> bytes:
    """A GPX track of the run (Strava style: blanks before `<?xml`, creator StravaGPX; or
    garmin: Garmin Connect's). `sport_type` None writes no <type>; `cadence` False leaves out
    gpxtpx:cad (a phone app's track); the offset and scale make a recording that differs a
    little from the watch's, as real ones do."""
    shift = timedelta(seconds=start_offset_s)
    points = []
    for sample in run.samples():
        extension = f"<gpxtpx:hr>{sample.heart_rate_bpm}</gpxtpx:hr>"
        if cadence:
            extension += f"<gpxtpx:cad>{(sample.cadence_spm or 0) / 2:.0f}</gpxtpx:cad>"
        points.append(
            f'<trkpt lat="{_latitude((sample.distance_m or 0) * distance_scale)}" '
            f'lon="{START_LON}"><ele>34.0</ele><time>{_time(sample.timestamp + shift)}</time>'
            f"<extensions><gpxtpx:TrackPointExtension>{extension}</gpxtpx:TrackPointExtension>"
            "</extensions></trkpt>")
    creator = "StravaGPX" if style == "strava" else "Garmin Connect"
    kind = f"<type>{escape(sport_type)}</type>" if sport_type is not None else ""
    text = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<gpx creator="{creator}" version="1.1" xmlns="http://www.topografix.com/GPX/1/1" '
            f'xmlns:gpxtpx="{TPX_NS}" '
            'xmlns:gpxx="http://www.garmin.com/xmlschemas/GpxExtensions/v3">\n'
            f"<metadata><time>{_time(run.start + shift)}</time></metadata>\n"
            f"<trk><name>{escape(name)}</name>{kind}<trkseg>\n" + "\n".join(points)
            + "\n</trkseg></trk>\n</gpx>\n")
    if style == "strava":
        text = STRAVA_LEADING_BLANKS + text
    return text.encode("utf-8")


def gpx_route(name: str = "Planned loop") -> bytes:
    """A planned route as Strava exports it under routes/: points without times."""
    points = "".join(f'<rtept lat="{_latitude(i * 100.0)}" lon="{START_LON}"/>' for i in range(20))
    return (f'<?xml version="1.0" encoding="UTF-8"?><gpx creator="StravaGPX" version="1.1" '
            f'xmlns="http://www.topografix.com/GPX/1/1"><rte><name>{escape(name)}</name>'
            f"{points}</rte></gpx>").encode()


# --- a Strava bulk export --------------------------------------------------------------------

# activities.csv's first columns as Strava writes them (it repeats some names further on)
STRAVA_COLUMNS = ["Activity ID", "Activity Date", "Activity Name", "Activity Type",
                  "Activity Description", "Elapsed Time", "Distance", "Max Heart Rate",
                  "Relative Effort", "Commute", "Activity Private Note", "Activity Gear",
                  "Filename", "Athlete Weight", "Bike Weight", "Elapsed Time", "Moving Time",
                  "Distance"]

# the same columns in a German account's export (Strava translates the header and the types)
STRAVA_COLUMNS_DE = ["Aktivitäts-ID", "Aktivitätsdatum", "Name der Aktivität", "Aktivitätsart",
                     "Aktivitätsbeschreibung", "Verstrichene Zeit", "Distanz",
                     "Max. Herzfrequenz", "Relative Leistung", "Pendeln",
                     "Hinweis zur Privatsphäre für Aktivitäten", "Aktivitätsausrüstung",
                     "Dateiname", "Sportlergewicht", "Fahrradgewicht", "Verstrichene Zeit",
                     "Bewegungszeit", "Distanz"]


@dataclass(frozen=True)
class ExportedActivity:
    """One activity of a Strava export: its id, type, the day it was, and its file."""

    activity_id: int
    activity_type: str
    start: datetime
    filename: str  # activities/<id>.gpx, .tcx.gz or .fit.gz
    data: bytes  # the file's bytes as they sit in the zip (gzipped for .gz names)


def exported(activity_id: int, activity_type: str, start: datetime, suffix: str,
             data: bytes) -> ExportedActivity:
    """An activity file as the export holds it (gzipped when the suffix ends in .gz)."""
    stored = gzip.compress(data, mtime=0) if suffix.endswith(".gz") else data
    return ExportedActivity(activity_id, activity_type, start,
                            f"activities/{activity_id}{suffix}", stored)


def activities_csv(activities: Sequence[ExportedActivity],
                   header: Sequence[str] = STRAVA_COLUMNS) -> bytes:
    """The export's index, with Strava's English header or another (STRAVA_COLUMNS_DE)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for a in activities:
        row = [str(a.activity_id), a.start.strftime("%b %d, %Y, %I:%M:%S %p"), "Morning Run",
               a.activity_type, "", "3300", "10.0", "160", "40", "false", "", "", a.filename,
               "", "", "3300.0", "3290.0", "10000.0"]
        writer.writerow(row)
    return out.getvalue().encode("utf-8")


def strava_export_zip(activities: Sequence[ExportedActivity],
                      extra: Mapping[str, bytes] | None = None,
                      header: Sequence[str] = STRAVA_COLUMNS) -> bytes:
    """A Strava bulk export: activities.csv, activities/, and the files that come with it and
    are not activities (profile, gear, media, planned routes, macOS noise); `extra` members
    replace or add to those."""
    members: dict[str, bytes] = {
        "activities.csv": activities_csv(activities, header),
        "profile.csv": b"Athlete ID,Email Address,First Name\n1,ana@example.com,Ana\n",
        "bikes.csv": b"Bike Name,Bike Brand\n",
        "shoes.csv": b"Shoe Name,Shoe Brand\nRoad,Acme\n",
        "media/2f1c9a.jpg": b"\xff\xd8\xff\xe0 not really a jpeg",
        "routes/1234.gpx": gpx_route(),
        "clubs.csv": b"Club Name\n",
        "activities/.DS_Store": b"\x00\x00\x00\x01Bud1",
        "__MACOSX/activities/._1.gpx": b"resource fork noise",
    }
    members.update({a.filename: a.data for a in activities})
    members.update(extra or {})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()
