"""TCX (Garmin Training Center XML) to an XmlActivity, read with lxml: every <Activity> a
session, its laps' totals, its trackpoints as records.

Running cadence is strides/min like FIT's: Garmin writes it as <RunCadence> in the
ActivityExtension/v2 namespace (trackpoint TPX, lap LX <AvgRunCadence>); Polar Flow writes it in
the schema's own <Cadence> element (meant for a bike's rpm) on running activities.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from ingest.xml_activity import Point, XmlActivity, XmlSession, fill_speeds, fix_step_cadence
from ingest.xmlread import (
    GENERIC,
    RUNNING,
    XmlElement,
    XmlInputError,
    child,
    children,
    descendants,
    localname,
    number_at,
    parse_xml,
    read_time,
    sport_from_label,
    text_at,
)

TCX_ROOT = "TrainingCenterDatabase"
NAIVE_TIME_WARNING = "the file's times carry no UTC offset: they were read as UTC"
# the laps' distances more than this share apart from the trackpoints' give way to those
MAX_LAP_DISTANCE_GAP = 0.05


class _Times:
    """Reads times, remembering whether any had to be taken as UTC."""

    def __init__(self) -> None:
        self.naive = False

    def read(self, text: str | None) -> datetime | None:
        value, naive = read_time(text)
        self.naive = self.naive or naive
        return value


def _weighted_mean(pairs: list[tuple[float | None, float | None]]) -> float | None:
    """Mean of lap values weighted by lap time (equal weights when times are missing); values
    of 0 are "no reading", as in FIT."""
    present = [(value, weight or 0.0) for value, weight in pairs if value]
    if not present:
        return None
    total_weight = sum(weight for _, weight in present)
    if total_weight <= 0:
        return sum(value for value, _ in present) / len(present)
    return sum(value * weight for value, weight in present) / total_weight


def _trackpoints(lap: XmlElement) -> Iterator[XmlElement]:
    for track in children(lap, "Track"):
        yield from children(track, "Trackpoint")


def _point(trackpoint: XmlElement, time: datetime, is_run: bool) -> Point:
    extension = child(trackpoint, "Extensions", "TPX")
    cadence = number_at(trackpoint, "Cadence")
    if is_run:  # Garmin's RunCadence; Polar's plain Cadence on a run
        cadence = number_at(extension, "RunCadence") or cadence
    return Point(time=time, distance_m=number_at(trackpoint, "DistanceMeters"),
                 speed_mps=number_at(extension, "Speed"),
                 heart_rate_bpm=number_at(trackpoint, "HeartRateBpm", "Value"),
                 cadence=cadence)


def _lap_cadence(lap: XmlElement, is_run: bool) -> float | None:
    if not is_run:
        return None
    return number_at(lap, "Extensions", "LX", "AvgRunCadence") or number_at(lap, "Cadence")


def _distance_m(laps: list[XmlElement], points: list[Point],
                warnings: list[str]) -> float | None:
    """The activity's distance: the laps' sum, unless it is missing, 0 or more than
    MAX_LAP_DISTANCE_GAP apart from the trackpoints' cumulative distance when every lap has
    trackpoint distances (an exporter that writes 0 or leaves the laps' totals out)."""
    lap_distances_m = [number_at(lap, "DistanceMeters") for lap in laps]
    laps_m = (sum(d for d in lap_distances_m if d is not None)
              if any(d is not None for d in lap_distances_m) else None)
    distances = [p.distance_m for p in points if p.distance_m is not None]
    if not distances:
        return laps_m
    track_m = max(distances)  # TCX trackpoint distances count from the activity's start
    if not laps_m:
        if laps_m == 0 and track_m > 0:
            warnings.append(f"the laps' DistanceMeters add up to 0, the trackpoints to "
                            f"{track_m:.0f} m: the trackpoints' distance was taken")
        return track_m if track_m > 0 else laps_m
    every_lap_tracked = all(any(number_at(tp, "DistanceMeters") is not None
                                for tp in _trackpoints(lap)) for lap in laps)
    if every_lap_tracked and abs(laps_m - track_m) > MAX_LAP_DISTANCE_GAP * max(laps_m, track_m):
        warnings.append(f"the laps' DistanceMeters add up to {laps_m:.0f} m, the trackpoints "
                        f"to {track_m:.0f} m: the trackpoints' distance was taken")
        return track_m
    return laps_m


def _session(activity: XmlElement, times: _Times, sport_hint: str | None,
             warnings: list[str]) -> XmlSession | None:
    """One <Activity> as a session; None (with a warning) when nothing in it has a time."""
    label = activity.get("Sport")
    sport, sub_sport, unknown = sport_from_label(label)
    if sport == GENERIC and sport_hint:
        sport, sub_sport, unknown = sport_from_label(sport_hint)
    if unknown:
        warnings.append(unknown)
    is_run = sport == RUNNING
    laps = list(children(activity, "Lap"))
    points = [_point(tp, time, is_run) for lap in laps for tp in _trackpoints(lap)
              if (time := times.read(text_at(tp, "Time"))) is not None]
    lap_starts = [times.read(lap.get("StartTime")) for lap in laps]
    start = next((t for t in lap_starts if t is not None), None) or times.read(
        text_at(activity, "Id")) or (points[0].time if points else None)
    if start is None:
        warnings.append(f"an <Activity Sport={label!r}> has no time at all; it was left out")
        return None
    lap_times_s = [number_at(lap, "TotalTimeSeconds") for lap in laps]
    ends = [s + timedelta(seconds=t) for s, t in zip(lap_starts, lap_times_s, strict=True)
            if s is not None and t is not None]
    if points:
        ends.append(points[-1].time)
    session = XmlSession(
        sport=sport, sub_sport=sub_sport, start=start, points=points,
        elapsed_s=(max(ends) - start).total_seconds() if ends else None,
        timer_s=sum(t for t in lap_times_s if t) if any(lap_times_s) else None,
        distance_m=_distance_m(laps, points, warnings),
        avg_heart_rate_bpm=_weighted_mean(
            [(number_at(lap, "AverageHeartRateBpm", "Value"), t)
             for lap, t in zip(laps, lap_times_s, strict=True)]),
        avg_cadence=_weighted_mean([(_lap_cadence(lap, is_run), t)
                                    for lap, t in zip(laps, lap_times_s, strict=True)]),
    )
    fill_speeds(points)
    step_note = fix_step_cadence(session, "the TCX")
    if step_note:
        warnings.append(step_note)
    return session


def read_tcx(data: bytes, name: str, sport_hint: str | None = None) -> XmlActivity:
    """A TCX file's activities (raises XmlInputError for a file that is not TCX at all). A file
    of courses or workouts only records no activity: it comes back as such, to be skipped."""
    root = parse_xml(data, name)
    if localname(root) != TCX_ROOT:
        raise XmlInputError(f"{name}: not a TCX file (its root element is <{localname(root)}>, "
                            f"expected <{TCX_ROOT}>)")
    activities = list(descendants(root, "Activity"))
    if not activities:
        if next(descendants(root, "Course"), None) is not None:
            return XmlActivity(kind="course", not_activity="a TCX course (a planned route), "
                                                          "not a recorded activity")
        return XmlActivity(kind="none", not_activity="the TCX file holds no <Activity>")
    times = _Times()
    result = XmlActivity()
    for activity in activities:
        session = _session(activity, times, sport_hint, result.warnings)
        if session is not None:
            result.sessions.append(session)
    if times.naive:
        result.warnings.append(NAIVE_TIME_WARNING)
    if not result.sessions:
        result.not_activity = "no <Activity> in the TCX file has a start time"
    return result
