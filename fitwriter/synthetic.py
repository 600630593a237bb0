"""Synthetic training histories written as real FIT files (for `strideguard demo` and tests)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from fitwriter.encode import encode_run, encode_strength

DEFAULT_SERIAL_NUMBER = 3_912_345_678


@dataclass(frozen=True)
class PlannedSession:
    """One session of a plan: a run of `distance_km` or a strength session, at a local time."""

    day: date
    kind: str  # run | strength
    distance_km: float = 0.0
    pace_s_per_km: float = 330.0
    cadence_spm: float = 170.0
    start_local: time = time(7, 0)
    gct_balance_left_pct: float | None = None


def weekly_plan(end: date, weeks: int, runs_km: Sequence[float], *,
                strength_per_week: int = 2, final_run_km: float | None = None,
                cadence_spm: float = 170.0) -> list[PlannedSession]:
    """`weeks` identical weeks ending on `end`; the last run of a week falls on its last day.

    Runs are spread evenly over the seven days, strength goes on free days, and
    `final_run_km` replaces the very last run (the long run on `end`).
    """
    run_offsets = [int(i * 6 / max(len(runs_km) - 1, 1) + 0.5) for i in range(len(runs_km))]
    free_days = [d for d in range(7) if d not in run_offsets]
    strength_offsets = free_days[:strength_per_week]
    plan: list[PlannedSession] = []
    for week in range(weeks):
        week_start = end - timedelta(days=7 * (weeks - week) - 1)
        for offset, distance_km in zip(run_offsets, runs_km, strict=True):
            plan.append(PlannedSession(week_start + timedelta(days=offset), "run", distance_km,
                                       cadence_spm=cadence_spm))
        plan.extend(PlannedSession(week_start + timedelta(days=offset), "strength",
                                   start_local=time(18, 30)) for offset in strength_offsets)
    plan.sort(key=lambda s: (s.day, s.start_local))
    if final_run_km is not None:
        last_run = max((i for i, s in enumerate(plan) if s.kind == "run"))
        old = plan[last_run]
        plan[last_run] = PlannedSession(old.day, "run", final_run_km, old.pace_s_per_km,
                                        old.cadence_spm, old.start_local)
    return plan


def demo_plan(today: date) -> list[PlannedSession]:
    """Ten steady weeks (long runs of 10 km) ending today with a 21 km long run."""
    return weekly_plan(today, 10, [6.0, 8.0, 6.0, 10.0], final_run_km=21.0)


def encode_session(session: PlannedSession, timezone_name: str,
                   serial_number: int = DEFAULT_SERIAL_NUMBER) -> tuple[str, bytes]:
    """A file name and the FIT bytes of one planned session."""
    start = datetime.combine(session.day, session.start_local, tzinfo=ZoneInfo(timezone_name))
    stamp = start.strftime("%Y-%m-%d-%H%M")
    if session.kind == "strength":
        return f"{stamp}-strength.fit", encode_strength(start, 2400, serial_number=serial_number)
    duration_s = session.distance_km * session.pace_s_per_km
    data = encode_run(start, session.distance_km * 1000.0, duration_s,
                      serial_number=serial_number, cadence_spm=session.cadence_spm,
                      stance_time_balance_left_pct=session.gct_balance_left_pct)
    return f"{stamp}-run.fit", data


def write_plan(plan: Sequence[PlannedSession], folder: Path, timezone_name: str = "UTC",
               serial_number: int = DEFAULT_SERIAL_NUMBER) -> list[Path]:
    """Write every session of the plan as a FIT file into `folder`; returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for session in plan:
        name, data = encode_session(session, timezone_name, serial_number)
        path = folder / name
        path.write_bytes(data)
        written.append(path)
    return written
