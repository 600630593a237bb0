"""Activity identity across formats: the same athlete's activity read from two files (a watch's
FIT and a Strava export's GPX of it) is stored once, from the best file.

Two sessions are the same activity in either of two ways:

- The issue's rule: the same sport (a file naming no sport, 'generic', matches any), starts
  within START_TOLERANCE_S and the same distance within DISTANCE_TOLERANCE. A distance missing
  (or 0) on either side decides nothing: the durations (elapsed, else timer) must then agree
  within the same tolerance, and with no durations either the start alone decides. Where both
  durations are known the two must also overlap in time for at least MIN_OVERLAP_SHARE of the
  shorter one: that only bites under two minutes, where a start within a minute is no proof
  (two 200 m repeats recorded one after the other).
- At the same time: the very same sport (not 'generic') and time spans that overlap for at
  least SAME_TIME_SHARE of the shorter one, whatever the starts and distances. One athlete
  cannot run two runs at once, and real exports need it: a GPX track starts at the first GPS
  fix (a minute or two after a watch started before its lock) and a watch may count distance
  from a footpod, so the same run's GPX can be 3-4 % off in distance and more than a minute
  off in start. Files that follow each other (a run the watch split in two, interval repeats
  recorded one by one) overlap little or not at all, so they stay apart.

The kept reading is the best format (FIT > TCX > GPX); among equal formats one that names its
sport over one that does not ('generic': a GPX without <type>, a TCX of Sport="Other"), so a
later file never leaves the run stored as a non-run; then the one stored first. So which
readings are kept does not depend on the order the files arrive in (among files of one format
that both name the sport, or both do not, the first to arrive is kept).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ingest.outcome import IngestStatus
from ingest.xmlread import GENERIC
from store import Activity, SourceFile

START_TOLERANCE_S = 60.0
DISTANCE_TOLERANCE = 0.02
MIN_OVERLAP_SHARE = 0.5
SAME_TIME_SHARE = 0.9
# how far back a stored activity may start and still overlap one being stored (a day-long
# ultra); the (athlete, start) index keeps the lookup short
LONGEST_ACTIVITY = timedelta(days=2)
# which file of an activity is kept: FIT holds the most (running dynamics, the device's own
# totals), TCX the watch's laps and cadence, GPX a track with at best heart rate and cadence
FORMAT_RANK = {"fit": 3, "tcx": 2, "gpx": 1}


class SessionLike(Protocol):
    """What identity compares: a stored Activity and a parsed SessionSummary both have it."""

    @property
    def sport(self) -> str: ...
    @property
    def start_utc(self) -> datetime: ...
    @property
    def distance_m(self) -> float | None: ...
    @property
    def elapsed_s(self) -> float | None: ...
    @property
    def timer_s(self) -> float | None: ...


@dataclass(frozen=True)
class Gaps:
    """How far apart two readings of one activity are."""

    start_s: float
    distance_pct: float | None  # None: no distance on one side, durations compared instead
    duration_pct: float | None  # None: compared by distance, or no durations at all
    # set when only the time spans make them one: the overlap's share of the shorter one
    overlap_pct: float | None = None

    def describe(self) -> str:
        text = f"starts {self.start_s:.0f} s apart"
        if self.overlap_pct is not None:
            distance = ("" if self.distance_pct is None
                        else f", distance {self.distance_pct:.1f} % apart")
            return (f"{text}{distance}, but at the same time for {self.overlap_pct:.0f} % "
                    "of the shorter one")
        if self.distance_pct is not None:
            return f"{text}, distance {self.distance_pct:.1f} % apart"
        if self.duration_pct is not None:
            return f"{text}, no distance on both: durations {self.duration_pct:.1f} % apart"
        return f"{text}, neither distance nor duration on both"


def _relative_gap(a: float, b: float) -> float:
    return abs(a - b) / max(a, b)


def _duration_s(session: SessionLike) -> float | None:
    return session.elapsed_s or session.timer_s or None


def _overlap_share(a: SessionLike, b: SessionLike) -> float | None:
    """The share of the shorter session's time span that the other covers (0 when they do not
    overlap), or None when either duration is unknown."""
    a_duration_s, b_duration_s = _duration_s(a), _duration_s(b)
    if not (a_duration_s and b_duration_s):
        return None
    overlap_s = (min(a.start_utc + timedelta(seconds=a_duration_s),
                     b.start_utc + timedelta(seconds=b_duration_s))
                 - max(a.start_utc, b.start_utc)).total_seconds()
    return max(overlap_s, 0.0) / min(a_duration_s, b_duration_s)


def same_activity(a: SessionLike, b: SessionLike, *, by_time: bool = True) -> Gaps | None:
    """The gaps between two sessions that are one activity read twice, or None. `by_time`
    False leaves the second way out (two FIT files: see `_matches`)."""
    if a.sport != b.sport and GENERIC not in (a.sport, b.sport):
        return None
    start_gap_s = abs((a.start_utc - b.start_utc).total_seconds())
    overlap = _overlap_share(a, b)
    gaps = _same_start_and_size(a, b, start_gap_s, overlap)
    if gaps is not None:
        return gaps
    if (by_time and a.sport == b.sport != GENERIC and overlap is not None
            and overlap >= SAME_TIME_SHARE):
        distance_pct = (round(_relative_gap(a.distance_m, b.distance_m) * 100, 1)
                        if a.distance_m and b.distance_m else None)
        return Gaps(start_gap_s, distance_pct, None, overlap_pct=round(overlap * 100))
    return None


def _same_start_and_size(a: SessionLike, b: SessionLike, start_gap_s: float,
                         overlap: float | None) -> Gaps | None:
    """The issue's rule: starts within a minute, distances (else durations) within 2 %."""
    if start_gap_s > START_TOLERANCE_S or (overlap is not None and overlap < MIN_OVERLAP_SHARE):
        return None
    if a.distance_m and b.distance_m:
        distance_gap = _relative_gap(a.distance_m, b.distance_m)
        if distance_gap > DISTANCE_TOLERANCE:
            return None
        return Gaps(start_gap_s, round(distance_gap * 100, 1), None)
    a_duration_s, b_duration_s = _duration_s(a), _duration_s(b)
    if a_duration_s and b_duration_s:
        duration_gap = _relative_gap(a_duration_s, b_duration_s)
        if duration_gap > DISTANCE_TOLERANCE:
            return None
        return Gaps(start_gap_s, None, round(duration_gap * 100, 1))
    return Gaps(start_gap_s, None, None)


def precedence(payload_format: str, sport: str, source_id: int | None
               ) -> tuple[int, bool, float]:
    """Which reading of an activity is kept: the better format, then one naming its sport,
    then the earlier file (a file not yet stored, `source_id` None, comes last)."""
    order = -math.inf if source_id is None else -float(source_id)
    return FORMAT_RANK.get(payload_format, 0), sport != GENERIC, order


@dataclass(frozen=True)
class Match:
    """A stored activity that is the same as a session being stored."""

    activity_id: int
    source_id: int
    source_format: str
    is_run: bool
    gaps: Gaps

    def describe(self) -> str:
        """'same run as activity #12 (FIT, source #5): starts 4 s apart, distance 0.3 % apart'"""
        what = "run" if self.is_run else "activity"
        return (f"same {what} as activity #{self.activity_id} ({self.source_format.upper()}, "
                f"source #{self.source_id}): {self.gaps.describe()}")


@dataclass
class Placement:
    """Where a file's sessions stand against what is stored: `covered` sessions are held
    already by a reading that takes precedence (they are not stored); `replaces` lists, per
    session stored, the stored readings it takes precedence over (they are removed)."""

    covered: dict[int, Match] = field(default_factory=dict)
    replaces: dict[int, list[Match]] = field(default_factory=dict)

    def covers_all(self, session_count: int) -> bool:
        return session_count > 0 and len(self.covered) == session_count

    def first_cover(self) -> Match:
        return self.covered[min(self.covered)]


def _matches(session: Session, athlete_id: str, candidate: SessionLike, candidate_format: str,
             source_id: int | None) -> list[tuple[Match, tuple[int, bool, float]]]:
    """Stored activities of the athlete that are the same as `candidate` (not of its own file),
    each with its precedence; the index on (athlete, start) makes this one short lookup.

    Two FIT files are compared by start and distance only: the time rule is for exports,
    whose tracks start at the first GPS fix; two watch recordings that merely overlap (a
    sample from another runner, a bike computer left on) are not assumed to be one."""
    window = timedelta(seconds=max(START_TOLERANCE_S, _duration_s(candidate) or 0.0))
    query = (select(Activity, SourceFile.format).join(SourceFile)
             .where(Activity.athlete_id == athlete_id,
                    Activity.start_utc >= candidate.start_utc - LONGEST_ACTIVITY,
                    Activity.start_utc <= candidate.start_utc + window))
    if source_id is not None:
        query = query.where(Activity.source_file_id != source_id)
    found = []
    for activity, payload_format in session.execute(query).all():
        gaps = same_activity(candidate, activity,
                             by_time=not (candidate_format == "fit" == payload_format))
        if gaps is not None:
            match = Match(activity.id, activity.source_file_id, payload_format, activity.is_run,
                          gaps)
            found.append((match, precedence(payload_format, activity.sport,
                                            activity.source_file_id)))
    found.sort(key=lambda pair: pair[0].gaps.start_s)
    return found


def place_sessions(session: Session, athlete_id: str, payload_format: str,
                   source_id: int | None, candidates: Mapping[int, SessionLike]) -> Placement:
    """Compare a file's sessions (by session index) with the athlete's stored activities.
    `source_id` is the file's own row when it is stored already (reprocess), else None."""
    placement = Placement()
    for index, candidate in candidates.items():
        mine = precedence(payload_format, candidate.sport, source_id)
        matches = _matches(session, athlete_id, candidate, payload_format, source_id)
        better = [match for match, rank in matches if rank > mine]
        if better:
            placement.covered[index] = better[0]
        else:
            placement.replaces[index] = [match for match, _rank in matches]
    return placement


@dataclass(frozen=True)
class Replaced:
    """A stored reading a file's session took precedence over, and was removed."""

    activity_id: int
    note: str  # for the file that replaced it: 'replaces activity #3 (GPX, source #1)'
    reason: str  # for the file it came from: 'same run as activity #9 (FIT, source #4): ...'


def replace_readings(session: Session, source: SourceFile, payload_format: str,
                     placement: Placement, stored: dict[int, int]) -> list[Replaced]:
    """Remove the stored readings the file's sessions (`stored`: session index -> activity id)
    take precedence over; a file left with no activity becomes a duplicate of this one.
    Returns what was removed, one per reading."""
    replaced: list[Replaced] = []
    for index, matches in placement.replaces.items():
        new_id = stored.get(index)
        if new_id is None:
            continue
        for match in matches:
            old = session.get(Activity, match.activity_id)
            if old is None:  # removed already (two sessions of this file matched it)
                continue
            old_source = session.get(SourceFile, match.source_id)
            new = session.get(Activity, new_id)
            if new is not None and new.sport == GENERIC != old.sport:
                # the better file names no sport, the replaced one did: keep the run a run
                new.sport, new.sub_sport = old.sport, old.sub_sport
                new.is_run, new.is_strength = old.is_run, old.is_strength
            session.delete(old)  # its series goes with it (ON DELETE CASCADE)
            session.flush()
            what = "run" if match.is_run else "activity"
            mirrored = (f"same {what} as activity #{new_id} ({payload_format.upper()}, source "
                        f"#{source.id}): {match.gaps.describe()}")
            replaced.append(Replaced(
                match.activity_id, f"replaces activity #{match.activity_id} "
                f"({match.source_format.upper()}, source #{match.source_id})", mirrored))
            if old_source is None:
                continue
            left = session.scalar(select(func.count()).select_from(Activity).where(
                Activity.source_file_id == old_source.id)) or 0
            if left:
                old_source.warnings = [*(old_source.warnings or []),
                                       f"activity #{match.activity_id} was removed: {mirrored}"]
            else:
                old_source.status = IngestStatus.DUPLICATE
                old_source.duplicate_of_id = source.id
                old_source.reason = f"{mirrored}; its activity #{match.activity_id} was removed"
    return replaced


class NamedSport(Protocol):
    """A parsed session's sport, as `lend_sport` reads it (SessionSummary has it)."""

    @property
    def sport(self) -> str: ...
    @property
    def sub_sport(self) -> str | None: ...
    @property
    def is_run(self) -> bool: ...
    @property
    def is_strength(self) -> bool: ...


def lend_sport(session: Session, placement: Placement,
               readings: Mapping[int, NamedSport]) -> list[str]:
    """A kept activity that names no sport ('generic': a TCX of Sport="Other", a GPX without
    <type>) takes the sport of a lesser reading of it that names one (a GPX whose <type> says
    running), so the run counts as a run whichever file is kept. Reprocess keeps it: a file
    naming no sport is re-read with the sport its activity holds. Returns a note per change."""
    notes = []
    for index, match in placement.covered.items():
        reading = readings.get(index)
        if reading is None or reading.sport == GENERIC:
            continue
        kept = session.get(Activity, match.activity_id)
        if kept is None or kept.sport != GENERIC:
            continue
        kept.sport, kept.sub_sport = reading.sport, reading.sub_sport
        kept.is_run, kept.is_strength = reading.is_run, reading.is_strength
        notes.append(f"session {index}: activity #{kept.id} names no sport and takes this "
                     f"file's ({reading.sport})")
    return notes
