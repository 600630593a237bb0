"""GPX to an XmlActivity, read with gpxpy: a track is a session, and tracks of one sport that
follow each other within MAX_TRACK_GAP_S (a run saved in parts) make one; distances are gpxpy's
2D lengths, the timer time is what a watch's timer would show (see timer_seconds), heart rate
and cadence from Garmin's TrackPointExtension (`gpxtpx:hr`, `gpxtpx:cad`; running cadence in
strides/min like FIT's).

The sport is the track's <type> ("running", Strava's legacy "9", ...); a track naming none is
stored as 'generic', which does not count as a run, with a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ingest.xml_activity import Point, XmlActivity, XmlSession, fill_speeds, fix_step_cadence
from ingest.xmlread import (
    GENERIC,
    XmlInputError,
    localname,
    number,
    parse_xml,
    sport_from_label,
)

GPX_ROOT = "gpx"
NAIVE_TIME_WARNING = "the file's times carry no UTC offset: they were read as UTC"
NO_SPORT_WARNING = ("the GPX track names no sport (no <type>): stored as 'generic', which does "
                    "not count as a run; a FIT or TCX file of the same activity replaces it")
NO_TRACK_REASON = ("the GPX file holds no timed track points (a route or a planned course), not "
                   "a recorded activity")
# a pause, for the timer: a gap between two points longer than this (a phone or watch records
# no points while paused; smart recording writes one every few seconds, rarely 10-15 s apart)
PAUSE_GAP_S = 20.0
# ... or a stretch of points within STILL_RADIUS_M of its first for longer than STILL_PAUSE_S
# (a phone left recording through a stop); shorter ones are a watch's repeated fixes or a
# traffic light, which a watch's timer counts too
STILL_RADIUS_M = 5.0
STILL_PAUSE_S = 120.0
# tracks of one sport this close in time are one activity saved in parts; further apart, two
MAX_TRACK_GAP_S = 30 * 60.0
# extension element names (any namespace) -> Point field
_EXTENSION_FIELDS = {"hr": "heart_rate_bpm", "heartrate": "heart_rate_bpm",
                     "cad": "cadence", "cadence": "cadence", "runcadence": "cadence",
                     "speed": "speed_mps"}


@dataclass
class _Track:
    """The timed points of one track (or of tracks that follow each other), with totals."""

    sport: str
    sub_sport: str | None
    points: list[Point] = field(default_factory=list)
    distance_m: float = 0.0
    timer_s: float = 0.0


def _utc(value: datetime, naive: list[bool]) -> datetime:
    if value.tzinfo is None:
        naive.append(True)
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _extension_values(point: Any) -> dict[str, float]:
    """hr, cad and speed from a point's extensions, whichever namespace (TrackPointExtension
    v1 or v2, cluetrust gpxdata) wrote them."""
    values: dict[str, float] = {}
    for extension in point.extensions:
        for element in extension.iter():
            field = _EXTENSION_FIELDS.get(localname(element).lower())
            value = number(element.text.strip() if element.text else None)
            if field is not None and value is not None:
                values.setdefault(field, value)
    return values


def timer_seconds(points: list[Any]) -> float:
    """What a watch's timer would show for a segment's timed gpxpy points: the elapsed time
    minus its pauses. A pause is (a) a gap between two points longer than PAUSE_GAP_S (nothing
    is recorded while a timer is stopped or auto-paused), or (b) a stretch of points that stay
    within STILL_RADIUS_M of the stretch's first for longer than STILL_PAUSE_S (a phone left
    recording through a stop). Points a second apart that repeat one position (phones that get
    a fix every few seconds) are neither, unlike in gpxpy's moving time, which drops every
    interval without distance. On the FIT samples converted to GPX this is within 3 % of the
    watch's total_timer_time."""
    paused = [False] * len(points)  # paused[i]: the interval from points[i - 1] to points[i]
    for i in range(1, len(points)):
        if (points[i].time - points[i - 1].time).total_seconds() > PAUSE_GAP_S:
            paused[i] = True
    first = 0  # where the current still stretch began
    for i in range(1, len(points) + 1):
        if i < len(points) and (points[i].distance_2d(points[first]) or 0.0) <= STILL_RADIUS_M:
            continue
        if (points[i - 1].time - points[first].time).total_seconds() > STILL_PAUSE_S:
            paused[first + 1:i] = [True] * (i - first - 1)
        first = i
    return sum((points[i].time - points[i - 1].time).total_seconds()
               for i in range(1, len(points)) if not paused[i])


def _add_segment(track: _Track, segment: Any, naive: list[bool]) -> None:
    """A segment's timed points, distances accumulating from the track's so far (the gap
    between segments, a pause, adds neither distance nor timer time)."""
    timed = [point for point in segment.points if point.time is not None]
    previous = None
    for point in timed:
        if previous is not None:
            track.distance_m += point.distance_2d(previous) or 0.0
        previous = point
        track.points.append(Point(time=_utc(point.time, naive), distance_m=track.distance_m,
                                  **_extension_values(point)))
    track.timer_s += timer_seconds(timed)


def _join(tracks: list[_Track]) -> list[_Track]:
    """Tracks in time order, one joined to the one before when both are of one sport and it
    starts within MAX_TRACK_GAP_S of that one's end (the gap between them a pause)."""
    joined: list[_Track] = []
    for track in sorted((t for t in tracks if t.points), key=lambda t: t.points[0].time):
        before = joined[-1] if joined else None
        if before is None or (before.sport, before.sub_sport) != (track.sport, track.sub_sport) \
                or (track.points[0].time - before.points[-1].time).total_seconds() > \
                MAX_TRACK_GAP_S:
            joined.append(track)
            continue
        for point in track.points:
            if point.distance_m is not None:
                point.distance_m += before.distance_m
        before.points.extend(track.points)
        before.distance_m += track.distance_m
        before.timer_s += track.timer_s
    return joined


def _session(track: _Track) -> XmlSession:
    points = track.points
    return XmlSession(sport=track.sport, sub_sport=track.sub_sport, start=points[0].time,
                      points=points, elapsed_s=(points[-1].time - points[0].time).total_seconds(),
                      timer_s=track.timer_s, distance_m=track.distance_m)


def read_gpx(data: bytes, name: str, sport_hint: str | None = None) -> XmlActivity:
    """A GPX file's recorded tracks (raises XmlInputError for a file that is not GPX). A file of
    routes or untimed tracks records no activity: it comes back as such, to be skipped."""
    import gpxpy
    import gpxpy.gpx
    from lxml import etree

    root = parse_xml(data, name)  # safely, and with the line of any syntax error
    if localname(root) != GPX_ROOT:
        raise XmlInputError(f"{name}: not a GPX file (its root element is <{localname(root)}>, "
                            f"expected <{GPX_ROOT}>)")
    # gpxpy re-reads the checked document (no declaration, no entities, no comments); the lxml
    # tree goes first: both at once would double the memory a large track takes
    text = etree.tostring(root, encoding="unicode")
    del root
    try:
        gpx = gpxpy.parse(text)
    except gpxpy.gpx.GPXException as exc:
        raise XmlInputError(f"{name}: not a readable GPX file ({exc})") from exc
    del text
    result = XmlActivity()
    tracks: list[_Track] = []
    naive: list[bool] = []
    for gpx_track in gpx.tracks:
        sport, sub_sport, unknown = sport_from_label(gpx_track.type)
        if sport == GENERIC and sport_hint:
            sport, sub_sport, unknown = sport_from_label(sport_hint)
        track = _Track(sport, sub_sport)
        for segment in gpx_track.segments:
            _add_segment(track, segment, naive)
        tracks.append(track)
        if track.points and unknown and unknown not in result.warnings:
            result.warnings.append(unknown)
    for track in _join(tracks):
        session = _session(track)
        fill_speeds(session.points)
        step_note = fix_step_cadence(session, "the GPX")
        if step_note:
            result.warnings.append(step_note)
        if session.sport == GENERIC:
            result.warnings.append(NO_SPORT_WARNING)
        result.sessions.append(session)
    result.sessions.sort(key=lambda s: s.start)
    if naive:
        result.warnings.append(NAIVE_TIME_WARNING)
    if not result.sessions:
        return XmlActivity(kind="route", not_activity=NO_TRACK_REASON)
    return result
