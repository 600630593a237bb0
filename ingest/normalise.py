"""Decoded FIT messages to SI-unit session summaries with per-run form numbers (DESIGN §3)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ingest.decode import Message
from ingest.device_time import TimeReader, time_reader
from ingest.fit_values import enum_name, fit_number, steps_per_min
from ingest.form import compact_series, fill_form, records_in
from ingest.session_rebuild import rebuilt_session
from ingest.summary import FileSummary, SessionSummary, Timeline

STEP_CADENCE_SPORTS = {"running", "walking", "hiking"}  # FIT cadence is strides/min for these
# messages the summaries read; decoders may skip the rest
NEEDED_MESSAGES = frozenset({"file_id", "session", "record", "sport", "activity", "lap"})
FILE_ID_KEY = ("manufacturer", "serial_number", "time_created", "type", "number")
FIT_UINT8_INVALID = 0xFF


def _session_byte(values: dict[str, Any], name: str, field_number: int) -> int | None:
    """A uint8 session field by its number: newer decoders name it (FIT SDK 21.141), fitparse
    1.2.0's older profile calls it unknown_<number>; 0xFF (invalid) comes out as None."""
    raw = values.get(name, values.get(f"unknown_{field_number}"))
    if isinstance(raw, bool) or not isinstance(raw, int | float) or raw == FIT_UINT8_INVALID:
        return None
    return int(raw)


def _session_rpe(values: dict[str, Any]) -> float | None:
    """Session `workout_rpe` (field 193, Borg CR10 × 10): RPE = value / 10. Watches write 0 for
    "not rated", so 0 and anything above 100 are missing (science-addendum §3)."""
    raw = _session_byte(values, "workout_rpe", 193)
    return raw / 10.0 if raw is not None and 0 < raw <= 100 else None


def _session_feel(values: dict[str, Any]) -> float | None:
    """Session `workout_feel` (field 192): 0 (felt very weak) .. 100 (very strong), kept as is;
    0 is a real answer, only 0xFF (or anything above 100) is missing (science-addendum §3)."""
    raw = _session_byte(values, "workout_feel", 192)
    return float(raw) if raw is not None and 0 <= raw <= 100 else None


def _session_cadence_spm(values: dict[str, Any], sport: str) -> float | None:
    if sport not in STEP_CADENCE_SPORTS:
        return None
    strides = values.get("avg_running_cadence", values.get("avg_cadence"))
    return steps_per_min(strides, values.get("avg_fractional_cadence"))


def _session_summary(index: int, session: dict[str, Any], records: Timeline,
                     read_time: TimeReader) -> SessionSummary | None:
    """One session's summary (with form numbers for a run); None if it cannot be placed."""
    start = read_time(session.get("start_time"))
    if start is None:
        return None
    sport = enum_name(session.get("sport")) or "generic"
    elapsed_s = fit_number(session.get("total_elapsed_time"))
    end = start + timedelta(seconds=elapsed_s or 0.0)
    session_end = read_time(session.get("timestamp"))
    if session_end is not None:
        end = max(end, session_end)
    summary = SessionSummary(
        index=index,
        sport=sport,
        sub_sport=enum_name(session.get("sub_sport")),
        start_utc=start,
        distance_m=fit_number(session.get("total_distance")),
        timer_s=fit_number(session.get("total_timer_time")),
        elapsed_s=elapsed_s,
        avg_speed_mps=fit_number(session.get("enhanced_avg_speed", session.get("avg_speed"))),
        avg_heart_rate_bpm=fit_number(session.get("avg_heart_rate")),
        avg_cadence_spm=_session_cadence_spm(session, sport),
        rpe=_session_rpe(session),
        feel=_session_feel(session),
    )
    if summary.is_run:
        run_records = records_in(records, start, end)
        fill_form(summary, run_records, session)
        summary.series = compact_series(run_records) if run_records else None
    return summary


def summarise(messages: list[Message], timezone_name: str = "UTC", *,
              rebuild_missing_session: bool = True) -> FileSummary:
    """One SessionSummary per FIT session message (multisport files hold several).

    `timezone_name` is the athlete's zone, needed only for devices that wrote relative times.
    A file holding all the data its header declares but no session (never finalised) gets one
    rebuilt from its records, unless `rebuild_missing_session` is off (a file cut short, whose
    records would give a partial run).
    """
    read_time, time_warning = time_reader(messages, timezone_name)
    file_id: dict[str, Any] = {}
    sessions: list[dict[str, Any]] = []
    sport_values: dict[str, Any] = {}
    records: Timeline = []
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
            key = tuple(values.get(k) for k in FILE_ID_KEY)
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
    if not sessions and enum_name(file_id.get("type")) == "activity" and rebuild_missing_session:
        rebuilt, note = rebuilt_session(records, sport_values)
        if rebuilt is None:
            no_session_reason = note
        else:
            sessions, file_warnings = [rebuilt], [*file_warnings, note]

    summaries = [summary for index, session in enumerate(sessions)
                 if (summary := _session_summary(index, session, records, read_time)) is not None]
    unplaced = len(sessions) - len(summaries)
    if unplaced and not summaries:
        no_session_reason = (f"{unplaced} session(s) have no usable start time (device-relative "
                             "times and no activity local time to anchor them)")

    return FileSummary(
        file_type=enum_name(file_id.get("type")),
        manufacturer=enum_name(file_id.get("manufacturer")),
        serial_number=file_id.get("serial_number") if isinstance(
            file_id.get("serial_number"), int) else None,
        time_created=read_time(file_id.get("time_created")),
        sessions=summaries,
        record_count=len(records),
        warnings=file_warnings,
        no_session_reason=no_session_reason,
    )
