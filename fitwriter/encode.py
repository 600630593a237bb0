"""A small, fast, stdlib-only FIT encoder for synthetic runs, strength sessions and other files."""

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from itertools import chain, repeat
from operator import attrgetter
from typing import NamedTuple

from fitwriter.crc import fit_crc
from fitwriter.profile import (
    ACTIVITY,
    EPOCH_S,
    EVENT,
    FILE_ID,
    FILE_TYPES,
    LAP,
    PROFILE_VERSION,
    RECORD_FIELDS,
    RECORD_GLOBAL,
    RECORD_LOCAL,
    SESSION,
    SPORT_CODES,
    SUB_SPORT_CODES,
    U8,
    U32,
    Message,
)


@dataclass(frozen=True)
class RecordSample:
    """One record message in SI-ish units; None fields are written as FIT invalid."""

    timestamp: datetime  # tz-aware UTC (naive is taken as UTC)
    distance_m: float | None = None  # cumulative
    speed_mps: float | None = None
    heart_rate_bpm: int | None = None
    cadence_spm: float | None = None  # steps/min, written as strides/min + fractional
    vertical_oscillation_mm: float | None = None
    stance_time_ms: float | None = None
    stance_time_balance_left_pct: float | None = None
    vertical_ratio_pct: float | None = None
    step_length_mm: float | None = None
    latitude_deg: float | None = None
    longitude_deg: float | None = None


@dataclass(frozen=True)
class SessionSpec:
    """One session: sport, records and optional totals (defaults derive from the records)."""

    sport: int | str = "running"
    sub_sport: int | str = "generic"
    records: Sequence[RecordSample] = ()
    start: datetime | None = None  # default: first record's timestamp
    duration_s: float | None = None  # default: last record's timestamp - start
    distance_m: float | None = None  # default: last record distance
    rpe: float | None = None  # perceived effort, Borg CR10 (0-10), written × 10 as workout_rpe
    feel: int | None = None  # workout_feel as written: 0 (very weak) .. 100 (very strong)


_SAMPLE_FIELDS = tuple(f.name for f in fields(RecordSample))


def _fit_file(data: bytes) -> bytes:
    """Header (with its CRC) + data + file CRC."""
    header = struct.pack("<BBHI4s", 14, 0x20, PROFILE_VERSION, len(data), b".FIT")
    header += struct.pack("<H", fit_crc(header))
    return header + data + struct.pack("<H", fit_crc(data, fit_crc(header)))


def _fit_time(when: datetime) -> int:
    """Seconds since the FIT epoch (naive datetimes are taken as UTC)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp()) - EPOCH_S


def _code(value: int | str, codes: Mapping[str, int], what: str) -> int:
    """A profile name's code; ints pass through (unknown codes allowed)."""
    if isinstance(value, int):
        return value
    try:
        return codes[value]
    except KeyError:
        raise ValueError(f"unknown {what} {value!r}") from None


def _scaled(value: float | None, scale: float) -> int | None:
    """SI value to FIT integer units (None stays None, written invalid)."""
    return None if value is None else round(value * scale)


def _mean(column: Sequence[float | None]) -> float | None:
    """Mean of the non-None values, or None."""
    values = [v for v in column if v is not None]
    return sum(values) / len(values) if values else None


def _cadence_units(spm: float) -> int:
    """Steps/min as 1/128 strides/min: cadence = units >> 7, fractional_cadence = units & 127."""
    return round(spm * 64)


class _Session(NamedTuple):
    sport: int
    sub_sport: int
    start: datetime
    duration_s: float
    distance_m: float | None
    columns: dict[str, list]  # RecordSample attribute -> values; a missing one is all None
    count: int
    rpe: float | None = None
    feel: int | None = None


def _session(spec: SessionSpec) -> _Session:
    """Resolve a SessionSpec's defaults and turn its records into columns."""
    records = spec.records
    columns = {}
    for name in _SAMPLE_FIELDS:
        column = list(map(attrgetter(name), records))
        if column.count(None) < len(column):
            columns[name] = column
    start = spec.start or (records[0].timestamp if records else None)
    if start is None:
        raise ValueError("a session needs records or a start")
    duration_s = spec.duration_s
    if duration_s is None:
        duration_s = (records[-1].timestamp - start).total_seconds() if records else 0.0
    distance_m = spec.distance_m
    if distance_m is None:
        distances = [d for d in columns.get("distance_m", ()) if d is not None]
        distance_m = distances[-1] if distances else None
    return _Session(_code(spec.sport, SPORT_CODES, "sport"),
                    _code(spec.sub_sport, SUB_SPORT_CODES, "sub_sport"),
                    start, duration_s, distance_m, columns, len(records), spec.rpe, spec.feel)


def _records(sessions: Sequence[_Session]) -> bytes:
    """One record definition (the fields any sample has) and all record data messages."""
    merged = {
        name: list(chain.from_iterable(s.columns.get(name) or repeat(None, s.count)
                                       for s in sessions))
        for name in _SAMPLE_FIELDS if any(name in s.columns for s in sessions)
    }
    spec = [(253, U32)]
    columns = [[_fit_time(t) for t in merged.pop("timestamp")]]
    if (spm := merged.pop("cadence_spm", None)) is not None:
        units = [None if v is None else _cadence_units(v) for v in spm]
        spec += [(4, U8), (53, U8)]
        columns.append([0xFF if u is None else u >> 7 for u in units])
        columns.append([0xFF if u is None else u & 0x7F for u in units])
    for name, raw in merged.items():
        num, ftype, scale, _ = RECORD_FIELDS[name]
        spec.append((num, ftype))
        invalid = ftype.invalid
        columns.append([invalid if v is None else round(v * scale) for v in raw])
    message = Message(RECORD_LOCAL, RECORD_GLOBAL, [(str(n), n, t) for n, t in spec])
    return message.definition + message.pack_columns(columns)


def _summary(session: _Session) -> dict[str, int | None]:
    """Lap/session totals and the session's averages over its records."""
    start = _fit_time(session.start)
    columns = session.columns
    values = {
        "timestamp": start + int(session.duration_s), "start_time": start,
        "total_elapsed_time": _scaled(session.duration_s, 1000),
        "total_timer_time": _scaled(session.duration_s, 1000),
        "total_distance": _scaled(session.distance_m, 100),
        "workout_rpe": _scaled(session.rpe, 10),
        "workout_feel": session.feel,
    }
    if session.distance_m is not None and session.duration_s > 0:
        values["avg_speed"] = _scaled(session.distance_m / session.duration_s, 1000)
    else:
        values["avg_speed"] = _scaled(_mean(columns.get("speed_mps", ())), 1000)
    for name, (_, _, scale, avg_name) in RECORD_FIELDS.items():
        if avg_name:
            values[avg_name] = _scaled(_mean(columns.get(name, ())), scale)
    heart_rates = [v for v in columns.get("heart_rate_bpm", ()) if v is not None]
    values["max_heart_rate"] = round(max(heart_rates)) if heart_rates else None
    if (spm := _mean(columns.get("cadence_spm", ()))) is not None:
        units = _cadence_units(spm)
        values |= {"avg_cadence": units >> 7, "avg_fractional_cadence": units & 127,
                   "total_cycles": round(spm / 2 * session.duration_s / 60)}
    return values


def _encode(sessions: Sequence[_Session], manufacturer: int, product: int, serial_number: int,
            time_created: datetime | None) -> bytes:
    if not sessions:
        raise ValueError("an activity needs at least one session")
    start = _fit_time(sessions[0].start)
    end = max(_fit_time(s.start) + int(s.duration_s) for s in sessions)
    out = [FILE_ID.definition, FILE_ID.pack(
        type=FILE_TYPES["activity"], manufacturer=manufacturer, product=product,
        serial_number=serial_number, time_created=_fit_time(time_created or sessions[0].start),
    ), EVENT.definition, EVENT.pack(timestamp=start, event=0, event_type=0)]  # timer start
    if any(s.count for s in sessions):
        out.append(_records(sessions))
    out += [EVENT.pack(timestamp=end, event=0, event_type=4),  # timer stop_all
            LAP.definition, SESSION.definition]
    for index, session in enumerate(sessions):
        summary = _summary(session)
        totals = {k: summary[k] for k in LAP.names if k in summary}
        out.append(LAP.pack(**totals, event=9, event_type=1, message_index=index,
                             sport=session.sport, sub_sport=session.sub_sport))
        out.append(SESSION.pack(**summary, event=8, event_type=1, message_index=index,
                                 sport=session.sport, sub_sport=session.sub_sport,
                                 first_lap_index=index, num_laps=1))
    timer_ms = sum(round(s.duration_s * 1000) for s in sessions)
    out += [ACTIVITY.definition, ACTIVITY.pack(
        timestamp=end, total_timer_time=timer_ms, num_sessions=len(sessions), type=0,
        event=26, event_type=1, local_timestamp=end,  # activity stop; local time = UTC
    )]
    return _fit_file(b"".join(out))


def encode_activity(sessions: Sequence[SessionSpec], *, manufacturer: int = 1,
                    product: int = 2697, serial_number: int = 3_900_000_001,
                    time_created: datetime | None = None) -> bytes:
    """One activity FIT file with one lap and one session per spec (several = multisport).

    time_created defaults to the first session's start.
    """
    return _encode([_session(s) for s in sessions], manufacturer, product, serial_number,
                   time_created)


def _run_columns(start: datetime, distance_m: float, duration_s: float, *, cadence_spm: float,
                 interval_s: float, heart_rate_bpm: int | None,
                 stance_time_balance_left_pct: float | None, vertical_ratio_pct: float | None,
                 step_length_mm: float | None, stance_time_ms: float | None,
                 warmup_cadence_spm: float | None, warmup_s: float) -> dict[str, list]:
    """Columns of run_records' samples, by RecordSample attribute (all-None ones left out)."""
    if duration_s <= 0 or interval_s <= 0:
        raise ValueError("duration_s and interval_s must be positive")
    offsets = [i * interval_s for i in range(int(duration_s // interval_s) + 1)]
    if offsets[-1] < duration_s:
        offsets.append(duration_s)
    count, speed_mps = len(offsets), distance_m / duration_s
    cadence = [cadence_spm] * count
    if warmup_cadence_spm is not None:
        cadence = [warmup_cadence_spm if t < warmup_s else cadence_spm for t in offsets]
    columns = {
        "timestamp": [start + timedelta(seconds=t) for t in offsets],
        "distance_m": [distance_m * (t / duration_s) for t in offsets],
        "speed_mps": [speed_mps] * count,
        "cadence_spm": cadence,
        "step_length_mm": [speed_mps * 60_000 / spm if spm else None for spm in cadence]
        if step_length_mm is None else [step_length_mm] * count,
    }
    constants = {"heart_rate_bpm": heart_rate_bpm, "stance_time_ms": stance_time_ms,
                 "stance_time_balance_left_pct": stance_time_balance_left_pct,
                 "vertical_ratio_pct": vertical_ratio_pct}
    columns |= {name: [value] * count for name, value in constants.items() if value is not None}
    return columns


def run_records(start: datetime, distance_m: float, duration_s: float, *,
                cadence_spm: float = 170.0, interval_s: float = 10.0,
                heart_rate_bpm: int | None = 145,
                stance_time_balance_left_pct: float | None = None,
                vertical_ratio_pct: float | None = None, step_length_mm: float | None = None,
                stance_time_ms: float | None = None, warmup_cadence_spm: float | None = None,
                warmup_s: float = 300.0) -> list[RecordSample]:
    """Records of an evenly paced run, every interval_s, reaching distance_m at start+duration_s.

    Step length defaults to speed / cadence; warmup_cadence_spm applies for the first warmup_s.
    """
    columns = _run_columns(**locals())
    count = len(columns["timestamp"])
    return list(map(RecordSample, *(columns.get(n) or repeat(None, count) for n in _SAMPLE_FIELDS)))


def encode_run(start: datetime, distance_m: float, duration_s: float, *,
               serial_number: int = 3_900_000_001, time_created: datetime | None = None,
               sub_sport: str | int = "generic", rpe: float | None = None,
               feel: int | None = None, **record_options: float | None) -> bytes:
    """A one-session running file; record_options are run_records' keyword arguments.

    `rpe` is Borg CR10 (written × 10 as workout_rpe), `feel` the raw workout_feel (0-100); None
    writes either as invalid (0xFF).

    Builds the record columns directly, skipping RecordSample objects (about 1.5x faster).
    """
    options = (run_records.__kwdefaults__ or {}) | record_options
    columns = _run_columns(start, distance_m, duration_s, **options)
    session = _Session(SPORT_CODES["running"], _code(sub_sport, SUB_SPORT_CODES, "sub_sport"),
                       start, duration_s, distance_m, columns, len(columns["timestamp"]), rpe,
                       feel)
    return _encode([session], 1, 2697, serial_number, time_created)


def encode_strength(start: datetime, duration_s: float = 2400, *,
                    serial_number: int = 3_900_000_001,
                    time_created: datetime | None = None) -> bytes:
    """A strength session (training / strength_training): records carry heart rate only."""
    records = [RecordSample(start + timedelta(seconds=t), heart_rate_bpm=110)
               for t in range(0, int(duration_s) + 1, 10)]
    spec = SessionSpec("training", "strength_training", records, start, duration_s)
    return encode_activity([spec], serial_number=serial_number, time_created=time_created)


def encode_file_id_only(file_type: int | str, *, serial_number: int = 3_900_000_001,
                        time_created: datetime | None = None) -> bytes:
    """A valid non-activity FIT file (e.g. settings, workout) holding only a file_id message.

    time_created None is written invalid.
    """
    message = FILE_ID.pack(
        type=_code(file_type, FILE_TYPES, "file type"), manufacturer=1, product=2697,
        serial_number=serial_number,
        time_created=None if time_created is None else _fit_time(time_created),
    )
    return _fit_file(FILE_ID.definition + message)
