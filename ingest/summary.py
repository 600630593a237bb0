"""The summaries a FIT file is read into: one per session, SI units, cadence in steps/min."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

RUNNING_SPORTS = {"running"}
STRENGTH_SPORTS = {"training", "fitness_equipment"}
STRENGTH_SUB_SPORTS = {"strength_training"}

# a file's timestamped record messages, in time order: (UTC time, the record's fields)
Timeline = list[tuple[datetime, dict[str, Any]]]


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
    feel: float | None = None  # how the runner felt: 0 (very weak) .. 100 (very strong)
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
