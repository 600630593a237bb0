"""The FIT profile as the writer uses it: enum names, base types and the message layouts."""

import struct
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import NamedTuple

FIT_EPOCH = datetime(1989, 12, 31, tzinfo=UTC)
PROFILE_VERSION = 2132
EPOCH_S = int(FIT_EPOCH.timestamp())

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
SPORT_CODES = {name: code for code, name in enumerate(SPORTS)} | {"all": 254}
SUB_SPORT_CODES = {name: code for code, name in enumerate(SUB_SPORTS)} | {"all": 254}


class Type(NamedTuple):
    """A FIT base type: its number in a definition, its struct format and its invalid value."""

    base: int
    code: str
    invalid: int


ENUM = Type(0x00, "B", 0xFF)
U8 = Type(0x02, "B", 0xFF)
U16 = Type(0x84, "H", 0xFFFF)
U32 = Type(0x86, "I", 0xFFFFFFFF)
S32 = Type(0x85, "i", 0x7FFFFFFF)
U32Z = Type(0x8C, "I", 0)


class Message:
    """One local message type: its definition message and packers for its data messages."""

    def __init__(self, local: int, global_num: int, spec: Sequence[tuple[str, int, Type]]):
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


FILE_ID = Message(0, 0, [
    ("type", 0, ENUM), ("manufacturer", 1, U16), ("product", 2, U16),
    ("serial_number", 3, U32Z), ("time_created", 4, U32),
])
EVENT = Message(1, 21, [("timestamp", 253, U32), ("event", 0, ENUM), ("event_type", 1, ENUM)])
RECORD_LOCAL, RECORD_GLOBAL = 2, 20
SUMMARY = [  # fields shared by lap and session
    ("timestamp", 253, U32), ("start_time", 2, U32), ("total_elapsed_time", 7, U32),
    ("total_timer_time", 8, U32), ("total_distance", 9, U32), ("event", 0, ENUM),
    ("event_type", 1, ENUM), ("message_index", 254, U16),
]
LAP = Message(3, 19, [*SUMMARY, ("sport", 25, ENUM), ("sub_sport", 39, ENUM)])
SESSION = Message(4, 18, [
    *SUMMARY, ("sport", 5, ENUM), ("sub_sport", 6, ENUM), ("total_cycles", 10, U32),
    ("avg_speed", 14, U16), ("avg_heart_rate", 16, U8), ("max_heart_rate", 17, U8),
    ("avg_cadence", 18, U8), ("avg_fractional_cadence", 92, U8),
    ("avg_vertical_oscillation", 89, U16), ("avg_stance_time", 91, U16),
    ("avg_vertical_ratio", 132, U16), ("avg_stance_time_balance", 133, U16),
    ("avg_step_length", 134, U16), ("first_lap_index", 25, U16), ("num_laps", 26, U16),
    ("workout_feel", 192, U8),  # 0 (very weak) .. 100 (very strong) (FIT SDK 21.141)
    ("workout_rpe", 193, U8),  # Borg CR10 × 10 (FIT SDK 21.141)
])
ACTIVITY = Message(5, 34, [
    ("timestamp", 253, U32), ("total_timer_time", 0, U32), ("num_sessions", 1, U16),
    ("type", 2, ENUM), ("event", 3, ENUM), ("event_type", 4, ENUM),
    ("local_timestamp", 5, U32),
])

# Scaled record fields: RecordSample attribute -> (record field number, type, scale, name of the
# session field holding its average).
RECORD_FIELDS = {
    "latitude_deg": (0, S32, 2**31 / 180, None),
    "longitude_deg": (1, S32, 2**31 / 180, None),
    "heart_rate_bpm": (3, U8, 1.0, "avg_heart_rate"),
    "distance_m": (5, U32, 100.0, None),
    "speed_mps": (6, U16, 1000.0, None),
    "vertical_oscillation_mm": (39, U16, 10.0, "avg_vertical_oscillation"),
    "stance_time_ms": (41, U16, 10.0, "avg_stance_time"),
    "vertical_ratio_pct": (83, U16, 100.0, "avg_vertical_ratio"),
    "stance_time_balance_left_pct": (84, U16, 100.0, "avg_stance_time_balance"),
    "step_length_mm": (85, U16, 10.0, "avg_step_length"),
}
