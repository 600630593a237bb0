"""A TCX or GPX activity as the FIT path reads it: per-session totals and a timeline of records
in FIT's field names, so ingest/normalise.py summarises it (steady cadence, fifths, the compact
series) exactly as it summarises a FIT file."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import fmean
from typing import Any

from ingest.decode import Message
from ingest.xmlread import RUNNING

# trailing window over which a speed is derived from distances, when the file gives none
SPEED_WINDOW_S = 5.0
# a run's cadence above this many strides/min is steps/min already (some apps write steps
# where TCX and FIT keep strides): 120 strides = 240 steps/min is no one's sustained cadence
MAX_RUN_STRIDES_PER_MIN = 120.0
# which share of a run's point cadences is compared with it: a high percentile, not the median,
# so a run/walk session written in steps (walking at ~110 steps/min half the time) is caught
# too, while a few spikes of a sensor in strides are not
STEP_CHECK_PERCENTILE = 0.9


@dataclass
class Point:
    """One trackpoint in SI units; cadence as FIT records keep it (strides/min for a run)."""

    time: datetime
    distance_m: float | None = None
    speed_mps: float | None = None
    heart_rate_bpm: float | None = None
    cadence: float | None = None


@dataclass
class XmlSession:
    """One activity of the file (a TCX <Activity>, a GPX track); totals None where the file
    gives none (they are then taken from the points)."""

    sport: str
    sub_sport: str | None
    start: datetime
    points: list[Point]
    elapsed_s: float | None = None
    timer_s: float | None = None
    distance_m: float | None = None
    avg_heart_rate_bpm: float | None = None
    avg_cadence: float | None = None  # strides/min for a run, like FIT's avg_running_cadence


@dataclass
class XmlActivity:
    """What a TCX or GPX file holds: sessions, warnings, and, for a file that records no
    activity (a route, a course), what it is instead and why it is skipped."""

    sessions: list[XmlSession] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    kind: str = "activity"  # activity | route | course
    not_activity: str | None = None


def fill_speeds(points: list[Point]) -> None:
    """Speeds from distances over a trailing window, where the file recorded none (GPX never
    does; Polar's TCX does not): the speed-adjusted cadence metrics need them."""
    first = 0
    for i, point in enumerate(points):
        while first < i and (point.time - points[first + 1].time).total_seconds() >= \
                SPEED_WINDOW_S:
            first += 1
        if point.speed_mps is not None or point.distance_m is None:
            continue
        earlier = points[first]
        span_s = (point.time - earlier.time).total_seconds()
        if span_s > 0 and earlier.distance_m is not None:
            point.speed_mps = max(point.distance_m - earlier.distance_m, 0.0) / span_s


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def fix_step_cadence(session: XmlSession, what: str) -> str | None:
    """A run whose cadence is written in steps/min is halved to strides/min (FIT's unit, which
    the summary doubles again); returns the warning that says so. The points' cadence tells
    (its STEP_CHECK_PERCENTILE above MAX_RUN_STRIDES_PER_MIN), or, in a file with cadence only
    on its laps or session, that average."""
    if session.sport != RUNNING:
        return None
    present = [p.cadence for p in session.points if p.cadence]
    if present:
        high = _percentile(present, STEP_CHECK_PERCENTILE)
        if high <= MAX_RUN_STRIDES_PER_MIN:
            return None
        for point in session.points:
            if point.cadence:
                point.cadence /= 2.0
        # an average near the points' mean is in steps too (one near half of it, in strides)
        if session.avg_cadence and session.avg_cadence > 0.75 * fmean(present):
            session.avg_cadence /= 2.0
        return (f"{what} cadence reads {high:.0f} per minute, which must be steps (not "
                "strides) per minute: taken as steps/min")
    if session.avg_cadence and session.avg_cadence > MAX_RUN_STRIDES_PER_MIN:
        average = session.avg_cadence
        session.avg_cadence /= 2.0
        return (f"{what} average cadence reads {average:.0f} per minute, which must be steps "
                "(not strides) per minute: taken as steps/min")
    return None


def _mean_present(values: list[float | None]) -> float | None:
    present = [v for v in values if v]
    return fmean(present) if present else None


def _session_message(session: XmlSession) -> dict[str, Any]:
    """The session in FIT's field names; totals the file lacks come from its points."""
    points = session.points
    elapsed_s = session.elapsed_s
    if elapsed_s is None:
        elapsed_s = (points[-1].time - session.start).total_seconds() if points else 0.0
    distances = [p.distance_m for p in points if p.distance_m is not None]
    distance_m = session.distance_m if session.distance_m is not None else (
        max(distances) if distances else None)
    timer_s = session.timer_s if session.timer_s is not None else elapsed_s
    avg_cadence = session.avg_cadence or _mean_present([p.cadence for p in points])
    return {
        "start_time": session.start,
        "timestamp": session.start + timedelta(seconds=elapsed_s),
        "total_elapsed_time": elapsed_s,
        "total_timer_time": timer_s,
        "total_distance": distance_m,
        "avg_speed": distance_m / timer_s if distance_m and timer_s else None,
        "avg_heart_rate": session.avg_heart_rate_bpm or _mean_present(
            [p.heart_rate_bpm for p in points]),
        "avg_running_cadence": avg_cadence if session.sport == RUNNING else None,
        "sport": session.sport,
        "sub_sport": session.sub_sport,
    }


def _record_message(point: Point) -> dict[str, Any]:
    return {"timestamp": point.time, "distance": point.distance_m, "speed": point.speed_mps,
            "heart_rate": point.heart_rate_bpm, "cadence": point.cadence}


def activity_messages(activity: XmlActivity) -> list[Message]:
    """The activity as decoded FIT messages: a file_id, every point as a record, a session each."""
    messages: list[Message] = [("file_id", {"type": activity.kind})]
    for session in activity.sessions:
        messages.extend(("record", _record_message(p)) for p in session.points)
    messages.extend(("session", _session_message(s)) for s in activity.sessions)
    return messages
