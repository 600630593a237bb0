"""Decoded FIT messages to SI-unit session summaries with per-run form numbers (DESIGN §3)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from statistics import fmean, median
from typing import Any
from zoneinfo import ZoneInfo

from ingest.decode import Message

RUNNING_SPORTS = {"running"}
STEP_CADENCE_SPORTS = {"running", "walking", "hiking"}  # FIT cadence is strides/min for these
STRENGTH_SPORTS = {"training", "fitness_equipment"}
STRENGTH_SUB_SPORTS = {"strength_training"}
WARMUP_S = 300.0  # form summaries skip the first 5 minutes (DESIGN §3)
WALKING_BELOW_SPM = 140.0
MOVING_ABOVE_MPS = 1.0
SERIES_INTERVAL_S = 10.0  # one compact-series row per 10 s of a run
# FIT date_time values below 0x10000000 are "system time": seconds since the device powered on
FIT_SYSTEM_TIME_LIMIT = 0x10000000
# rebuilding a session from bare records: gaps longer than this are pauses, not timer time
REBUILT_PAUSE_GAP_S = 60.0
REBUILT_MIN_SPAN_S = 60.0
# messages the summaries read; decoders may skip the rest
NEEDED_MESSAGES = frozenset({"file_id", "session", "record", "sport", "activity", "lap"})

SERIES_COLUMNS = ("distance_m", "speed_mps", "heart_rate_bpm", "cadence_spm",
                  "gct_balance_left_pct", "vertical_ratio_pct", "step_length_m",
                  "ground_contact_ms")


@dataclass
class SessionSummary:
    """One FIT session, SI units; cadence in steps/min."""

    index: int
    sport: str
    sub_sport: str | None
    start_utc: datetime
    distance_m: float | None
    timer_s: float | None
    elapsed_s: float | None
    avg_speed_mps: float | None = None
    avg_heart_rate_bpm: float | None = None
    avg_cadence_spm: float | None = None
    steady_cadence_spm: float | None = None
    steady_speed_mps: float | None = None
    cadence_first_fifth_spm: float | None = None
    cadence_last_fifth_spm: float | None = None
    speed_first_fifth_mps: float | None = None
    speed_last_fifth_mps: float | None = None
    gct_balance_left_pct: float | None = None
    vertical_ratio_pct: float | None = None
    step_length_m: float | None = None
    ground_contact_ms: float | None = None
    rpe: float | None = None  # the session's perceived effort, Borg CR10 (0-10)
    # compact run series: column name -> one value per SERIES_INTERVAL_S bucket (runs only)
    series: dict[str, list[float | None]] | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def is_run(self) -> bool:
        return self.sport in RUNNING_SPORTS

    @property
    def is_strength(self) -> bool:
        return self.sport in STRENGTH_SPORTS and (self.sub_sport in STRENGTH_SUB_SPORTS)


@dataclass
class FileSummary:
    file_type: str | None
    manufacturer: str | None
    serial_number: int | None
    time_created: datetime | None
    sessions: list[SessionSummary]
    record_count: int
    warnings: list[str] = field(default_factory=list)  # about the whole file
    # why no session could be read, when sessions is empty
    no_session_reason: str | None = None


@dataclass(frozen=True)
class _Record:
    elapsed_s: float
    cadence_spm: float | None
    speed_mps: float | None
    heart_rate_bpm: float | None
    distance_m: float | None
    gct_balance_left_pct: float | None
    vertical_ratio_pct: float | None
    step_length_mm: float | None
    ground_contact_ms: float | None


def _number(value: Any) -> float | None:
    """A usable measurement, or None; FIT writes 0 where a sensor had no data."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if value != 0 else None


def _steps_per_min(strides_per_min: Any, fraction: Any) -> float | None:
    """steps/min = 2 × (cadence + fractional_cadence) for running (FIT cadence is strides/min)."""
    whole = _number(strides_per_min)
    if whole is None:
        return None
    frac = fraction if isinstance(fraction, int | float) else 0.0
    return 2.0 * (whole + frac)


def _name(value: Any) -> str | None:
    """An enum name as text; an unknown code stays as its raw number (e.g. '54')."""
    return None if value is None else str(value)


def _median(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v]
    return median(present) if present else None


def _session_rpe(values: dict[str, Any]) -> float | None:
    """Session `workout_rpe` (field 193: Borg CR10 × 10, FIT SDK 21); fitparse 1.2.0's older
    profile names it unknown_193."""
    raw = values.get("workout_rpe", values.get("unknown_193"))
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not 0 <= raw <= 100:
        return None
    return raw / 10.0


def _session_cadence_spm(values: dict[str, Any], sport: str) -> float | None:
    if sport not in STEP_CADENCE_SPORTS:
        return None
    strides = values.get("avg_running_cadence", values.get("avg_cadence"))
    return _steps_per_min(strides, values.get("avg_fractional_cadence"))


TimeReader = Callable[[Any], datetime | None]


def _time_reader(messages: list[Message], timezone_name: str) -> tuple[TimeReader, str | None]:
    """How to turn a FIT time value into UTC, and a warning when that needed an anchor.

    Decoders give absolute times as datetimes. Old devices (e.g. Forerunner 70 files with
    compressed timestamps) write device-relative seconds instead; the activity message's
    `local_timestamp` (local wall-clock time at its relative `timestamp`) anchors them, read in
    the athlete's time zone.
    """
    anchor: tuple[datetime, int] | None = None
    relative_seen = False
    for name, values in messages:
        if name == "activity":
            local, relative = values.get("local_timestamp"), values.get("timestamp")
            if isinstance(local, datetime) and isinstance(relative, int):
                local_utc = local.replace(tzinfo=ZoneInfo(timezone_name)).astimezone(UTC)
                anchor = (local_utc, relative)
        elif name == "session" and isinstance(values.get("start_time"), int):
            relative_seen = True

    def read_absolute(value: Any) -> datetime | None:
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        return None

    if not relative_seen or anchor is None:
        return read_absolute, None
    anchor_utc, anchor_relative = anchor

    def read_anchored(value: Any) -> datetime | None:
        if isinstance(value, int) and not isinstance(value, bool) and (
                0 <= value < FIT_SYSTEM_TIME_LIMIT):
            return anchor_utc + timedelta(seconds=value - anchor_relative)
        return read_absolute(value)

    anchor_local = anchor_utc.astimezone(ZoneInfo(timezone_name))
    warning = (f"the device wrote times as seconds since power-on; they were placed on the "
               f"calendar from the activity's local time {anchor_local:%Y-%m-%d %H:%M:%S} "
               f"({timezone_name})")
    return read_anchored, warning


def _records_in(records: list[tuple[datetime, dict[str, Any]]], start: datetime,
                end: datetime) -> list[_Record]:
    """Records carry no sport: a session takes those in its time window (research/fit.md §4.2)."""
    picked: list[_Record] = []
    for timestamp, values in records:
        if start <= timestamp <= end:
            speed = values.get("enhanced_speed", values.get("speed"))
            distance = values.get("distance")
            picked.append(_Record(
                elapsed_s=(timestamp - start).total_seconds(),
                cadence_spm=_steps_per_min(values.get("cadence"), values.get("fractional_cadence")),
                speed_mps=speed if isinstance(speed, int | float) else None,
                heart_rate_bpm=_number(values.get("heart_rate")),
                distance_m=distance if isinstance(distance, int | float) else None,
                gct_balance_left_pct=_number(values.get("stance_time_balance")),
                vertical_ratio_pct=_number(values.get("vertical_ratio")),
                step_length_mm=_number(values.get("step_length")),
                ground_contact_ms=_number(values.get("stance_time")),
            ))
    return picked


def _steady_records(records: list[_Record]) -> list[_Record]:
    """Running, not walking or standing, after the first 5 minutes (all of a shorter run)."""
    running = [
        r for r in records
        if r.cadence_spm is not None and r.cadence_spm >= WALKING_BELOW_SPM
        and (r.speed_mps is None or r.speed_mps >= MOVING_ABOVE_MPS)
    ]
    after_warmup = [r for r in running if r.elapsed_s >= WARMUP_S]
    return after_warmup or running


def _fill_form(summary: SessionSummary, records: list[_Record], session: dict[str, Any]) -> None:
    """Per-run form numbers: steady cadence and speed, first/last fifth, dynamics medians."""
    steady = _steady_records(records)
    if steady:
        summary.steady_cadence_spm = _median(r.cadence_spm for r in steady)
        summary.steady_speed_mps = _median(r.speed_mps for r in steady)
        span_s = steady[-1].elapsed_s - steady[0].elapsed_s
        if span_s > 0:
            fifth_s = span_s / 5
            first = [r for r in steady if r.elapsed_s <= steady[0].elapsed_s + fifth_s]
            last = [r for r in steady if r.elapsed_s >= steady[-1].elapsed_s - fifth_s]
            summary.cadence_first_fifth_spm = _median(r.cadence_spm for r in first)
            summary.cadence_last_fifth_spm = _median(r.cadence_spm for r in last)
            # the drift metric compares the fifths at matched speed, so keep their speeds
            summary.speed_first_fifth_mps = _median(r.speed_mps for r in first)
            summary.speed_last_fifth_mps = _median(r.speed_mps for r in last)
    source = steady or records
    summary.gct_balance_left_pct = _median(r.gct_balance_left_pct for r in source) or _number(
        session.get("avg_stance_time_balance"))
    summary.vertical_ratio_pct = _median(r.vertical_ratio_pct for r in source) or _number(
        session.get("avg_vertical_ratio"))
    step_length_mm = _median(r.step_length_mm for r in source) or _number(
        session.get("avg_step_length"))
    summary.step_length_m = step_length_mm / 1000.0 if step_length_mm else None
    summary.ground_contact_ms = _median(r.ground_contact_ms for r in source) or _number(
        session.get("avg_stance_time"))


def _median_of_present(values: list[float | None]) -> float | None:
    present = [v for v in values if v]
    if len(present) == 1:  # the common bucket at 1 s records is small, at sparse ones single
        return present[0]
    return median(present) if present else None


def _last_distance(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(present[-1], 1) if present else None


def _mean_speed(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(fmean(present), 3) if present else None


def _step_length(values: list[float | None]) -> float | None:
    value_mm = _median_of_present(values)
    return round(value_mm / 1000.0, 3) if value_mm else None


def _median_2dp(values: list[float | None]) -> float | None:
    value = _median_of_present(values)
    return round(value, 2) if value else None


# series column -> (_Record attribute, one value per bucket): the last cumulative distance,
# the mean speed (distance over time), medians of the rest (robust to a sensor's spikes)
_SERIES_AGGREGATES: dict[str, tuple[str, Callable[[list[float | None]], float | None]]] = {
    "distance_m": ("distance_m", _last_distance),
    "speed_mps": ("speed_mps", _mean_speed),
    "step_length_m": ("step_length_mm", _step_length),
}


def compact_series(records: list[_Record],
                   interval_s: float = SERIES_INTERVAL_S) -> dict[str, list[float | None]]:
    """The run downsampled to one row per `interval_s` of elapsed time (empty buckets skipped).

    `elapsed_s` holds each bucket's start; columns that are empty for the whole run are left out.
    """
    buckets: dict[int, list[_Record]] = {}
    for record in records:
        buckets.setdefault(int(record.elapsed_s // interval_s), []).append(record)
    keys = sorted(buckets)
    ordered = [buckets[k] for k in keys]
    series: dict[str, list[float | None]] = {"elapsed_s": [k * interval_s for k in keys]}
    for column in SERIES_COLUMNS:
        attribute, aggregate = _SERIES_AGGREGATES.get(column, (column, _median_2dp))
        values = [aggregate([getattr(r, attribute) for r in bucket]) for bucket in ordered]
        if any(v is not None for v in values):
            series[column] = values
    return series


def _rebuilt_session(records: list[tuple[datetime, dict[str, Any]]],
                     sport_values: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """A session summary from bare records, for files that never got one (a watch that died
    before saving, a fragment). Returns the session and a warning, or None and the reason."""
    if len(records) < 2:
        return None, f"the file has no session message and only {len(records)} timestamped records"
    start, end = records[0][0], records[-1][0]
    span_s = (end - start).total_seconds()
    if span_s < REBUILT_MIN_SPAN_S:
        return None, (f"the file has no session message and its {len(records)} records cover "
                      f"only {span_s:.0f} s")
    gaps_s = ((b[0] - a[0]).total_seconds() for a, b in zip(records, records[1:], strict=False))
    timer_s = sum(gap for gap in gaps_s if gap <= REBUILT_PAUSE_GAP_S)
    distances = [v.get("distance") for _t, v in records
                 if isinstance(v.get("distance"), int | float)]
    session = {
        "start_time": start, "timestamp": end, "total_elapsed_time": span_s,
        "total_timer_time": timer_s, "total_distance": max(distances) if distances else None,
        "sport": sport_values.get("sport") or "generic", "sub_sport": sport_values.get("sub_sport"),
    }
    return session, (f"the file has no session message (never finalised or cut short): the "
                     f"summary was rebuilt from its {len(records)} records")


def summarise(messages: list[Message], timezone_name: str = "UTC", *,
              rebuild_missing_session: bool = True) -> FileSummary:
    """One SessionSummary per FIT session message (multisport files hold several).

    `timezone_name` is the athlete's zone, needed only for devices that wrote relative times.
    A file holding all the data its header declares but no session (never finalised) gets one
    rebuilt from its records, unless `rebuild_missing_session` is off (a file cut short, whose
    records would give a partial run).
    """
    read_time, time_warning = _time_reader(messages, timezone_name)
    file_id: dict[str, Any] = {}
    sessions: list[dict[str, Any]] = []
    sport_values: dict[str, Any] = {}
    records: list[tuple[datetime, dict[str, Any]]] = []
    # a chained file starts each part with a file_id; a part that repeats an earlier part's
    # identity is the same activity written twice and must not count twice
    part_keys: list[tuple[Any, ...]] = []
    repeated_part = False
    for name, values in messages:
        if name == "record":
            timestamp = read_time(values.get("timestamp"))
            if timestamp is not None and not repeated_part:
                records.append((timestamp, values))
        elif name == "session":
            if not repeated_part:
                sessions.append(values)
        elif name == "file_id":
            key = tuple(values.get(k) for k in ("manufacturer", "serial_number", "time_created",
                                                "type", "number"))
            repeated_part = key in part_keys
            part_keys.append(key)
            file_id = file_id or values
        elif name in ("sport", "lap") and not sport_values.get("sport") and values.get("sport"):
            sport_values = values
    records.sort(key=lambda item: item[0])

    file_warnings = [time_warning] if time_warning else []
    repeats = len(part_keys) - len(set(part_keys))
    if repeats:
        file_warnings.append(f"the file chains {repeats} more cop{'y' if repeats == 1 else 'ies'}"
                             " of a part it already holds; each was read once")
    no_session_reason = None
    if not sessions and _name(file_id.get("type")) == "activity" and rebuild_missing_session:
        rebuilt, note = _rebuilt_session(records, sport_values)
        if rebuilt is None:
            no_session_reason = note
        else:
            sessions, file_warnings = [rebuilt], [*file_warnings, note]

    summaries: list[SessionSummary] = []
    unplaced = 0
    for index, session in enumerate(sessions):
        start = read_time(session.get("start_time"))
        if start is None:
            unplaced += 1
            continue
        sport = _name(session.get("sport")) or "generic"
        elapsed_s = _number(session.get("total_elapsed_time"))
        end = start + timedelta(seconds=elapsed_s or 0.0)
        session_end = read_time(session.get("timestamp"))
        if session_end is not None:
            end = max(end, session_end)
        summary = SessionSummary(
            index=index,
            sport=sport,
            sub_sport=_name(session.get("sub_sport")),
            start_utc=start,
            distance_m=_number(session.get("total_distance")),
            timer_s=_number(session.get("total_timer_time")),
            elapsed_s=elapsed_s,
            avg_speed_mps=_number(session.get("enhanced_avg_speed", session.get("avg_speed"))),
            avg_heart_rate_bpm=_number(session.get("avg_heart_rate")),
            avg_cadence_spm=_session_cadence_spm(session, sport),
            rpe=_session_rpe(session),
        )
        if summary.is_run:
            run_records = _records_in(records, start, end)
            _fill_form(summary, run_records, session)
            summary.series = compact_series(run_records) if run_records else None
        summaries.append(summary)
    if unplaced and not summaries:
        no_session_reason = (f"{unplaced} session(s) have no usable start time (device-relative "
                             "times and no activity local time to anchor them)")

    return FileSummary(
        file_type=_name(file_id.get("type")),
        manufacturer=_name(file_id.get("manufacturer")),
        serial_number=file_id.get("serial_number") if isinstance(
            file_id.get("serial_number"), int) else None,
        time_created=read_time(file_id.get("time_created")),
        sessions=summaries,
        record_count=len(records),
        warnings=file_warnings,
        no_session_reason=no_session_reason,
    )
