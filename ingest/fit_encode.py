"""A small, fast, stdlib-only FIT encoder for synthetic runs, strength sessions and other files."""

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from itertools import chain, repeat
from operator import attrgetter
from typing import NamedTuple

from ingest.fit_crc import fit_crc

FIT_EPOCH = datetime(1989, 12, 31, tzinfo=UTC)
PROFILE_VERSION = 2132
_EPOCH_S = int(FIT_EPOCH.timestamp())

# Enum names from the FIT profile (fitparse 1.2.0, SDK 20.8): a name's index is its code; 254 = all.
SPORTS = (
    "generic", "running", "cycling", "transition", "fitness_equipment", "swimming", "basketball",
    "soccer", "tennis", "american_football", "training", "walking", "cross_country_skiing",
    "alpine_skiing", "snowboarding", "rowing", "mountaineering", "hiking", "multisport",
    "paddling", "flying", "e_biking", "motorcycling", "boating", "driving", "golf",
    "hang_gliding", "horseback_riding", "hunting", "fishing", "inline_skating", "rock_climbing",
    "sailing", "ice_skating", "sky_diving", "snowshoeing", "snowmobiling",
    "stand_up_paddleboarding", "surfing", "wakeboarding", "water_skiing", "kayaking", "rafting",
    "windsurfing", "kitesurfing", "tactical", "jumpmaster", "boxing", "floor_climbing",
)
SUB_SPORTS = (
    "generic", "treadmill", "street", "trail", "track", "spin", "indoor_cycling", "road",
    "mountain", "downhill", "recumbent", "cyclocross", "hand_cycling", "track_cycling",
    "indoor_rowing", "elliptical", "stair_climbing", "lap_swimming", "open_water",
    "flexibility_training", "strength_training", "warm_up", "match", "exercise", "challenge",
    "indoor_skiing", "cardio_training", "indoor_walking", "e_bike_fitness", "bmx",
    "casual_walking", "speed_walking", "bike_to_run_transition", "run_to_bike_transition",
    "swim_to_bike_transition", "atv", "motocross", "backcountry", "resort", "rc_drone",
    "wingsuit", "whitewater", "skate_skiing", "yoga", "pilates", "indoor_running",
    "gravel_cycling", "e_bike_mountain", "commuting", "mixed_surface", "navigate", "track_me",
    "map", "single_gas_diving", "multi_gas_diving", "gauge_diving", "apnea_diving",
    "apnea_hunting", "virtual_activity", "obstacle",
)
FILE_TYPES = {
    "device": 1, "settings": 2, "sport": 3, "activity": 4, "workout": 5, "course": 6,
    "schedules": 7, "weight": 9, "totals": 10, "goals": 11, "blood_pressure": 14,
    "monitoring_a": 15, "activity_summary": 20, "monitoring_daily": 28, "monitoring_b": 32,
    "segment": 34, "segment_list": 35, "exd_configuration": 40,
}
_SPORT_CODES = {name: code for code, name in enumerate(SPORTS)} | {"all": 254}
_SUB_SPORT_CODES = {name: code for code, name in enumerate(SUB_SPORTS)} | {"all": 254}


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
    rpe: float | None = None  # perceived effort, Borg CR10 (0-10)


class _Type(NamedTuple):
    base: int
    code: str
    invalid: int


_ENUM = _Type(0x00, "B", 0xFF)
_U8 = _Type(0x02, "B", 0xFF)
_U16 = _Type(0x84, "H", 0xFFFF)
_U32 = _Type(0x86, "I", 0xFFFFFFFF)
_S32 = _Type(0x85, "i", 0x7FFFFFFF)
_U32Z = _Type(0x8C, "I", 0)


class _Message:
    """One local message type: its definition message and packers for its data messages."""

    def __init__(self, local: int, global_num: int, spec: Sequence[tuple[str, int, _Type]]):
        self.names = [name for name, _, _ in spec]
        self.invalid = [t.invalid for _, _, t in spec]
        self.struct = struct.Struct("<" + "".join(t.code for _, _, t in spec))
        self.header = bytes([local])
        self.definition = struct.pack("<BBBHB", 0x40 | local, 0, 0, global_num, len(spec)) + bytes(
            b for _, num, t in spec for b in (num, struct.calcsize(t.code), t.base)
        )

    def pack(self, **values: int | None) -> bytes:
        """One data message; fields not given or None are written invalid."""
        if unknown := values.keys() - set(self.names):
            raise TypeError(f"unknown fields {sorted(unknown)}")
        row = [values.get(n) for n in self.names]
        return self.header + self.struct.pack(
            *(i if v is None else v for v, i in zip(row, self.invalid, strict=True))
        )

    def pack_columns(self, columns: Sequence[Sequence[int]]) -> bytes:
        """Many data messages from per-field columns of raw values (invalid already filled in)."""
        return self.header + self.header.join(map(self.struct.pack, *columns))


_FILE_ID = _Message(0, 0, [
    ("type", 0, _ENUM), ("manufacturer", 1, _U16), ("product", 2, _U16),
    ("serial_number", 3, _U32Z), ("time_created", 4, _U32),
])
_EVENT = _Message(1, 21, [("timestamp", 253, _U32), ("event", 0, _ENUM), ("event_type", 1, _ENUM)])
_RECORD_LOCAL, _RECORD_GLOBAL = 2, 20
_SUMMARY = [  # fields shared by lap and session
    ("timestamp", 253, _U32), ("start_time", 2, _U32), ("total_elapsed_time", 7, _U32),
    ("total_timer_time", 8, _U32), ("total_distance", 9, _U32), ("event", 0, _ENUM),
    ("event_type", 1, _ENUM), ("message_index", 254, _U16),
]
_LAP = _Message(3, 19, [*_SUMMARY, ("sport", 25, _ENUM), ("sub_sport", 39, _ENUM)])
_SESSION = _Message(4, 18, [
    *_SUMMARY, ("sport", 5, _ENUM), ("sub_sport", 6, _ENUM), ("total_cycles", 10, _U32),
    ("avg_speed", 14, _U16), ("avg_heart_rate", 16, _U8), ("max_heart_rate", 17, _U8),
    ("avg_cadence", 18, _U8), ("avg_fractional_cadence", 92, _U8),
    ("avg_vertical_oscillation", 89, _U16), ("avg_stance_time", 91, _U16),
    ("avg_vertical_ratio", 132, _U16), ("avg_stance_time_balance", 133, _U16),
    ("avg_step_length", 134, _U16), ("first_lap_index", 25, _U16), ("num_laps", 26, _U16),
    ("workout_rpe", 193, _U8),  # Borg CR10 × 10 (FIT SDK 21)
])
_ACTIVITY = _Message(5, 34, [
    ("timestamp", 253, _U32), ("total_timer_time", 0, _U32), ("num_sessions", 1, _U16),
    ("type", 2, _ENUM), ("event", 3, _ENUM), ("event_type", 4, _ENUM),
    ("local_timestamp", 5, _U32),
])

# Scaled record fields: RecordSample attribute -> (record field number, type, scale, name of the
# session field holding its average).
_RECORD_FIELDS = {
    "latitude_deg": (0, _S32, 2**31 / 180, None),
    "longitude_deg": (1, _S32, 2**31 / 180, None),
    "heart_rate_bpm": (3, _U8, 1.0, "avg_heart_rate"),
    "distance_m": (5, _U32, 100.0, None),
    "speed_mps": (6, _U16, 1000.0, None),
    "vertical_oscillation_mm": (39, _U16, 10.0, "avg_vertical_oscillation"),
    "stance_time_ms": (41, _U16, 10.0, "avg_stance_time"),
    "vertical_ratio_pct": (83, _U16, 100.0, "avg_vertical_ratio"),
    "stance_time_balance_left_pct": (84, _U16, 100.0, "avg_stance_time_balance"),
    "step_length_mm": (85, _U16, 10.0, "avg_step_length"),
}
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
    return int(when.timestamp()) - _EPOCH_S


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
    return _Session(_code(spec.sport, _SPORT_CODES, "sport"),
                    _code(spec.sub_sport, _SUB_SPORT_CODES, "sub_sport"),
                    start, duration_s, distance_m, columns, len(records), spec.rpe)


def _records(sessions: Sequence[_Session]) -> bytes:
    """One record definition (the fields any sample has) and all record data messages."""
    merged = {
        name: list(chain.from_iterable(s.columns.get(name) or repeat(None, s.count)
                                       for s in sessions))
        for name in _SAMPLE_FIELDS if any(name in s.columns for s in sessions)
    }
    spec = [(253, _U32)]
    columns = [[_fit_time(t) for t in merged.pop("timestamp")]]
    if (spm := merged.pop("cadence_spm", None)) is not None:
        units = [None if v is None else _cadence_units(v) for v in spm]
        spec += [(4, _U8), (53, _U8)]
        columns.append([0xFF if u is None else u >> 7 for u in units])
        columns.append([0xFF if u is None else u & 0x7F for u in units])
    for name, raw in merged.items():
        num, ftype, scale, _ = _RECORD_FIELDS[name]
        spec.append((num, ftype))
        invalid = ftype.invalid
        columns.append([invalid if v is None else round(v * scale) for v in raw])
    message = _Message(_RECORD_LOCAL, _RECORD_GLOBAL, [(str(n), n, t) for n, t in spec])
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
    }
    if session.distance_m is not None and session.duration_s > 0:
        values["avg_speed"] = _scaled(session.distance_m / session.duration_s, 1000)
    else:
        values["avg_speed"] = _scaled(_mean(columns.get("speed_mps", ())), 1000)
    for name, (_, _, scale, avg_name) in _RECORD_FIELDS.items():
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
    out = [_FILE_ID.definition, _FILE_ID.pack(
        type=FILE_TYPES["activity"], manufacturer=manufacturer, product=product,
        serial_number=serial_number, time_created=_fit_time(time_created or sessions[0].start),
    ), _EVENT.definition, _EVENT.pack(timestamp=start, event=0, event_type=0)]  # timer start
    if any(s.count for s in sessions):
        out.append(_records(sessions))
    out += [_EVENT.pack(timestamp=end, event=0, event_type=4),  # timer stop_all
            _LAP.definition, _SESSION.definition]
    for index, session in enumerate(sessions):
        summary = _summary(session)
        totals = {k: summary[k] for k in _LAP.names if k in summary}
        out.append(_LAP.pack(**totals, event=9, event_type=1, message_index=index,
                             sport=session.sport, sub_sport=session.sub_sport))
        out.append(_SESSION.pack(**summary, event=8, event_type=1, message_index=index,
                                 sport=session.sport, sub_sport=session.sub_sport,
                                 first_lap_index=index, num_laps=1))
    timer_ms = sum(round(s.duration_s * 1000) for s in sessions)
    out += [_ACTIVITY.definition, _ACTIVITY.pack(
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
               **record_options: float | None) -> bytes:
    """A one-session running file; record_options are run_records' keyword arguments.

    Builds the record columns directly, skipping RecordSample objects (about 1.5x faster).
    """
    options = (run_records.__kwdefaults__ or {}) | record_options
    columns = _run_columns(start, distance_m, duration_s, **options)
    session = _Session(_SPORT_CODES["running"], _code(sub_sport, _SUB_SPORT_CODES, "sub_sport"),
                       start, duration_s, distance_m, columns, len(columns["timestamp"]), rpe)
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
    message = _FILE_ID.pack(
        type=_code(file_type, FILE_TYPES, "file type"), manufacturer=1, product=2697,
        serial_number=serial_number,
        time_created=None if time_created is None else _fit_time(time_created),
    )
    return _fit_file(_FILE_ID.definition + message)
