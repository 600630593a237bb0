"""Metric benchmark: the whole catalogue from a fresh store, as `report` and `evaluate` do it.

Two stores are filled with activity rows written straight into the tables (metrics read rows,
not FIT files; bench/ingest.py measures ingest): "history" (one athlete, five years) and
"squad" (1,000 athletes, one year). Each athlete runs five times a week (Mon, Tue, Thu
workout, Sat, Sun long run; 5-24 km) with per-run steady cadence and speed, first/last-fifth
cadence and speed, ground-contact balance and a perceived effort, and does two strength
sessions a week. Timed: for every athlete, `load_history` (one SQL query) then `compute_all`
(the daily series in numpy, every catalogue metric), as of the last day, in one process.
Target: the squad in under 10 s on SQLite on this machine.

    .venv/bin/python bench/evaluate.py [--athletes N] [--squad-weeks N] [--history-years N]
        [--repeats N] [--json PATH] [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

from sqlalchemy import insert, select  # noqa: E402

from metrics import CATALOGUE, compute_all, load_history  # noqa: E402
from store import Activity, Athlete, SourceFile, Store, open_store  # noqa: E402

END = date(2026, 11, 22)  # a Sunday
RUN_DAYS = (0, 1, 3, 5, 6)
STRENGTH_DAYS = (2, 4)
INSERT_BATCH = 20_000


def _activity_rows(athlete_id: str, source_id: int, weeks: int,
                   rng: np.random.Generator) -> list[dict[str, Any]]:
    """Five runs and two strength sessions a week, oldest first, for `weeks` weeks to END."""
    first_monday = END - timedelta(days=7 * weeks - 1)
    base_cadence = rng.uniform(158, 182)
    slope_spm_per_mps = rng.uniform(4, 9)
    balance = rng.normal(50, 0.8)
    rows: list[dict[str, Any]] = []
    for week in range(weeks):
        for weekday in (*RUN_DAYS, *STRENGTH_DAYS):
            day = first_monday + timedelta(days=7 * week + weekday)
            is_run = weekday in RUN_DAYS
            start = datetime(day.year, day.month, day.day, 6 if is_run else 18,
                             int(rng.integers(0, 60)), tzinfo=UTC)
            row: dict[str, Any] = {
                "athlete_id": athlete_id, "source_file_id": source_id,
                "session_index": len(rows), "start_utc": start, "is_run": is_run,
                "is_strength": not is_run, "sport": "running" if is_run else "training",
                "sub_sport": "generic" if is_run else "strength_training", "warnings": [],
            }
            if is_run:
                speed = {3: 3.7, 6: 2.8}.get(weekday, 3.1) + rng.normal(0, 0.1)
                km = {6: rng.uniform(14, 24), 3: rng.uniform(8, 12)}.get(
                    weekday, rng.uniform(5, 10))
                cadence = base_cadence + slope_spm_per_mps * (speed - 3.1) + rng.normal(0, 1.5)
                row |= {
                    "distance_m": km * 1000, "timer_s": km * 1000 / speed,
                    "avg_speed_mps": speed, "steady_speed_mps": speed,
                    "steady_cadence_spm": cadence, "avg_cadence_spm": cadence - 2,
                    "cadence_first_fifth_spm": cadence + 1, "cadence_last_fifth_spm": cadence - 2,
                    "speed_first_fifth_mps": speed, "speed_last_fifth_mps": speed - 0.05,
                    "gct_balance_left_pct": balance + rng.normal(0, 0.3),
                    "rpe": float(rng.integers(3, 8)),
                }
            else:
                row |= {"timer_s": 2400.0}
            rows.append(row)
    return rows


def fill(store: Store, athletes: int, weeks: int, seed: int = 1) -> int:
    """Athletes, one source row each, and their activities in batched executemany inserts."""
    rng = np.random.default_rng(seed)
    pending: list[dict[str, Any]] = []
    count = 0
    with store.session() as session:
        for number in range(athletes):
            athlete_id = f"runner-{number:04d}"
            session.add(Athlete(id=athlete_id))
            source = SourceFile(sha256=f"{number:064x}", athlete_id=athlete_id,
                                original_name="bench.fit", size_bytes=1, status="ingested")
            session.add(source)
            session.flush()
            pending += _activity_rows(athlete_id, source.id, weeks, rng)
            if len(pending) >= INSERT_BATCH:
                session.execute(insert(Activity), pending)
                count, pending = count + len(pending), []
        if pending:
            session.execute(insert(Activity), pending)
            count += len(pending)
    return count


def evaluate_all(store: Store, as_of: date) -> tuple[float, int, dict[str, int]]:
    """Seconds to load and compute the catalogue for every athlete; metrics with a value."""
    with store.session() as session:
        athlete_ids = session.scalars(select(Athlete.id).order_by(Athlete.id)).all()
    non_null = dict.fromkeys(CATALOGUE, 0)
    started = time.perf_counter()
    with store.session() as session:
        for athlete_id in athlete_ids:
            history = load_history(session, athlete_id, "Europe/Berlin", as_of)
            for name, result in compute_all(history).items():
                non_null[name] += result.value is not None
    return time.perf_counter() - started, len(athlete_ids), non_null


def _fresh_store(folder: Path, name: str) -> Store:
    return open_store(f"sqlite:///{folder / f'{name}.db'}")


def run_dataset(name: str, folder: Path, athletes: int, weeks: int,
                repeats: int) -> dict[str, Any]:
    store = _fresh_store(folder, name)
    started = time.perf_counter()
    rows = fill(store, athletes, weeks)
    fill_s = time.perf_counter() - started
    timings = []
    for _ in range(repeats):
        seconds, count, non_null = evaluate_all(store, END)
        timings.append(seconds)
    store.dispose()
    best = min(timings)
    print(f"[{name}] {athletes} athlete(s) x {weeks} weeks, {rows:,} activities (filled in "
          f"{fill_s:.1f} s): catalogue for all in {best:.3f} s (best of {repeats}; median "
          f"{statistics.median(timings):.3f} s), {best / count * 1000:.2f} ms an athlete")
    return {"dataset": name, "athletes": athletes, "weeks": weeks, "activities": rows,
            "seconds_best": best, "seconds_median": statistics.median(timings),
            "ms_per_athlete": best / count * 1000, "metrics_with_a_value": non_null,
            "repeats": repeats}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--athletes", type=int, default=1000, help="squad size (%(default)s)")
    parser.add_argument("--squad-weeks", type=int, default=52, help="default: %(default)s")
    parser.add_argument("--history-years", type=int, default=5, help="default: %(default)s")
    parser.add_argument("--repeats", type=int, default=3, help="default: %(default)s")
    parser.add_argument("--json", type=Path, help="save the results here")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile one evaluation of the squad instead")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="strideguard-evaluate-") as temp:
        folder = Path(temp)
        if args.profile:
            import cProfile
            import pstats

            store = _fresh_store(folder, "profile")
            fill(store, args.athletes, args.squad_weeks)
            profiler = cProfile.Profile()
            profiler.runcall(evaluate_all, store, END)
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
            return
        results = [
            run_dataset("history", folder, 1, 52 * args.history_years, args.repeats * 5),
            run_dataset("squad", folder, args.athletes, args.squad_weeks, args.repeats),
        ]
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    squad = results[1]
    verdict = "holds" if squad["seconds_best"] < 10 else "MISSED"
    print(f"\nsquad: {squad['seconds_best']:.2f} s for {squad['athletes']} athletes "
          f"(target < 10 s): {verdict}; peak RSS {peak_rss_mb:.0f} MB")
    if args.json:
        args.json.write_text(json.dumps({
            "machine": {"nproc": os.cpu_count(), "python": platform.python_version()},
            "results": results, "peak_rss_mb": peak_rss_mb}, indent=2, default=str))


if __name__ == "__main__":
    main()
