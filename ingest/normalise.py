"""Decoded FIT messages to SI-unit session summaries with per-run form numbers (DESIGN §3)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import median
from typing import Any

from ingest.decode import Message

RUNNING_SPORTS = {"running"}
STEP_CADENCE_SPORTS = {"running", "walking", "hiking"}  # FIT cadence is strides/min for these
STRENGTH_SPORTS = {"training", "fitness_equipment"}
STRENGTH_SUB_SPORTS = {"strength_training"}
WARMUP_S = 300.0  # form summaries skip the first 5 minutes (DESIGN §3)
WALKING_BELOW_SPM = 140.0
MOVING_ABOVE_MPS = 1.0


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
    gct_balance_left_pct: float | None = None
    vertical_ratio_pct: float | None = None
    step_length_m: float | None = None
    ground_contact_ms: float | None = None
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


@dataclass(frozen=True)
class _Record:
    elapsed_s: float
    timestamp: datetime
    cadence_spm: float | None
    speed_mps: float | None
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
    return None if value is None else str(value)


def _median(values: list[float]) -> float | None:
    return median(values) if values else None


def _session_cadence_spm(values: dict[str, Any], sport: str) -> float | None:
    if sport not in STEP_CADENCE_SPORTS:
        return None
    strides = values.get("avg_running_cadence", values.get("avg_cadence"))
    return _steps_per_min(strides, values.get("avg_fractional_cadence"))


def _records_in(records: list[tuple[datetime, dict[str, Any]]], start: datetime,
                end: datetime) -> list[_Record]:
    """Records carry no sport: a session takes those in its time window (research/fit.md §4.2)."""
    picked: list[_Record] = []
    for timestamp, values in records:
        if start <= timestamp <= end:
            speed = values.get("enhanced_speed", values.get("speed"))
            picked.append(_Record(
                elapsed_s=(timestamp - start).total_seconds(),
                timestamp=timestamp,
                cadence_spm=_steps_per_min(values.get("cadence"), values.get("fractional_cadence")),
                speed_mps=speed if isinstance(speed, int | float) else None,
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
        summary.steady_cadence_spm = median(r.cadence_spm for r in steady if r.cadence_spm)
        summary.steady_speed_mps = _median([r.speed_mps for r in steady if r.speed_mps])
        span_s = steady[-1].elapsed_s - steady[0].elapsed_s
        if span_s > 0:
            fifth_s = span_s / 5
            first = [r.cadence_spm for r in steady if r.elapsed_s <= steady[0].elapsed_s + fifth_s]
            last = [r.cadence_spm for r in steady if r.elapsed_s >= steady[-1].elapsed_s - fifth_s]
            summary.cadence_first_fifth_spm = _median([c for c in first if c])
            summary.cadence_last_fifth_spm = _median([c for c in last if c])
    source = steady or records
    summary.gct_balance_left_pct = _median(
        [r.gct_balance_left_pct for r in source if r.gct_balance_left_pct]
    ) or _number(session.get("avg_stance_time_balance"))
    summary.vertical_ratio_pct = _median(
        [r.vertical_ratio_pct for r in source if r.vertical_ratio_pct]
    ) or _number(session.get("avg_vertical_ratio"))
    step_length_mm = _median([r.step_length_mm for r in source if r.step_length_mm]) or _number(
        session.get("avg_step_length"))
    summary.step_length_m = step_length_mm / 1000.0 if step_length_mm else None
    summary.ground_contact_ms = _median(
        [r.ground_contact_ms for r in source if r.ground_contact_ms]
    ) or _number(session.get("avg_stance_time"))


def summarise(messages: list[Message]) -> FileSummary:
    """One SessionSummary per FIT session message (multisport files hold several)."""
    file_id: dict[str, Any] = {}
    sessions: list[dict[str, Any]] = []
    records: list[tuple[datetime, dict[str, Any]]] = []
    for name, values in messages:
        if name == "record":
            timestamp = values.get("timestamp")
            if isinstance(timestamp, datetime):
                records.append((timestamp, values))
        elif name == "session":
            sessions.append(values)
        elif name == "file_id" and not file_id:
            file_id = values
    records.sort(key=lambda item: item[0])

    summaries: list[SessionSummary] = []
    for index, session in enumerate(sessions):
        start = session.get("start_time")
        if not isinstance(start, datetime):
            continue
        sport = _name(session.get("sport")) or "generic"
        elapsed_s = _number(session.get("total_elapsed_time"))
        end = start + timedelta(seconds=elapsed_s or 0.0)
        if isinstance(session.get("timestamp"), datetime):
            end = max(end, session["timestamp"])
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
        )
        if summary.is_run:
            _fill_form(summary, _records_in(records, start, end), session)
        summaries.append(summary)

    return FileSummary(
        file_type=_name(file_id.get("type")),
        manufacturer=_name(file_id.get("manufacturer")),
        serial_number=file_id.get("serial_number") if isinstance(
            file_id.get("serial_number"), int) else None,
        time_created=file_id.get("time_created") if isinstance(
            file_id.get("time_created"), datetime) else None,
        sessions=summaries,
        record_count=len(records),
    )
