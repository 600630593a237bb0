"""Realistic FIT histories for the ingest benchmarks, written with the project's FIT writer:
five runs a week (5-22 km, a long run on Sundays; per-record noise on pace, cadence 160-180 spm,
heart rate, ground-contact balance, vertical ratio, stance time, vertical oscillation; a GPS
track), strength sessions, one device serial per athlete."""

from __future__ import annotations

import math
import os
import random
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

END = date(2025, 12, 28)  # a Sunday: every history ends with a long run
RUN_DAYS = (0, 1, 3, 5, 6)  # Mon, Tue, Thu (workout), Sat, Sun (long run)
STRENGTH_DAY = 2  # Wednesday evening
SERIAL_BASE = 3_900_000_000


@dataclass(frozen=True)
class Dataset:
    name: str
    athletes: int
    weeks: int
    interval_s: float
    strength_per_week: int

    def describe(self) -> str:
        return (f"{self.athletes} athlete(s) x {self.weeks} weeks, 5 runs + "
                f"{self.strength_per_week} strength a week, records every {self.interval_s:g} s")


def run_samples(rng: random.Random, start: datetime, distance_m: float, pace_s_per_km: float,
                 interval_s: float, athlete: dict[str, float]) -> list[Any]:
    """One run's records: noisy pace, cadence, heart rate, running dynamics and a GPS track."""
    from fitwriter.encode import RecordSample

    duration_s = distance_m / 1000 * pace_s_per_km
    count = int(duration_s // interval_s) + 1
    speed = 1000 / pace_s_per_km
    speeds = [speed * (0.9 if i * interval_s < 300 else 1.0) * rng.gauss(1, 0.03)
              for i in range(count)]
    scale = distance_m / (sum(speeds[1:]) * interval_s or 1)  # end exactly at distance_m
    lat, lon, heading, distance = athlete["lat"], athlete["lon"], rng.uniform(0, 6.28), 0.0
    samples = []
    for i, raw_speed in enumerate(speeds):
        t = i * interval_s
        v = raw_speed * scale
        if i:
            distance += v * interval_s
            heading += rng.gauss(0, 0.05)
            lat += v * interval_s * math.cos(heading) / 111_320
            lon += v * interval_s * math.sin(heading) / (111_320 * math.cos(math.radians(lat)))
        warmup = -6.0 if t < 300 else 0.0
        cadence = athlete["cadence"] + (v - 3.0) * 4 + warmup + rng.gauss(0, 1.2)
        samples.append(RecordSample(
            start + timedelta(seconds=t), distance_m=distance, speed_mps=v,
            heart_rate_bpm=round(athlete["hr"] + (v - 2.8) * 12 + 8 * t / duration_s
                                 + rng.gauss(0, 2)),
            cadence_spm=cadence, vertical_oscillation_mm=rng.gauss(athlete["vo"], 3),
            stance_time_ms=rng.gauss(athlete["stance"] - (v - 3.0) * 20, 4),
            stance_time_balance_left_pct=rng.gauss(athlete["balance"], 0.5),
            vertical_ratio_pct=rng.gauss(athlete["vr"], 0.25),
            step_length_mm=v * 60_000 / cadence, latitude_deg=lat, longitude_deg=lon))
    return samples


def athlete_profile(index: int) -> dict[str, float]:
    rng = random.Random(f"athlete-{index}")
    return {"cadence": rng.uniform(162, 176), "hr": rng.uniform(138, 152),
            "balance": rng.uniform(49.2, 50.8), "vr": rng.uniform(7.2, 9.0),
            "stance": rng.uniform(225, 270), "vo": rng.uniform(80, 100),
            "easy_pace": rng.uniform(320, 380), "lat": rng.uniform(45, 55),
            "lon": rng.uniform(-3, 15), "minute": rng.randrange(0, 45)}


def _write_week(folder: str, index: int, week: int, weeks: int, interval_s: float,
                strength_per_week: int) -> None:
    """One athlete's week as FIT files: runs Mon/Tue/Thu/Sat/Sun, strength from Wednesday."""
    from fitwriter.encode import SessionSpec, encode_activity, encode_strength

    athlete, rng = athlete_profile(index), random.Random(f"{index}-{week}")
    serial = SERIAL_BASE + index * 7919
    monday = END - timedelta(days=7 * (weeks - week) - 1)
    long_km = min(22.0, 14 + (week % 12) * 0.7 + rng.uniform(-1, 1))
    for day in RUN_DAYS:
        if day == 6:
            km, pace = long_km, athlete["easy_pace"] + rng.uniform(5, 20)
        elif day == 3:
            km, pace = rng.uniform(8, 12), athlete["easy_pace"] * rng.uniform(0.82, 0.88)
        else:
            km, pace = rng.uniform(5, 11), athlete["easy_pace"] + rng.uniform(-10, 15)
        start = datetime.combine(monday + timedelta(days=day), datetime.min.time(), UTC)
        start += timedelta(hours=7 if day < 5 else 8, minutes=athlete["minute"] + rng.randrange(9))
        samples = run_samples(rng, start, km * 1000, pace, interval_s, athlete)
        data = encode_activity([SessionSpec("running", "generic", samples)], serial_number=serial)
        Path(folder, f"{start:%Y-%m-%d-%H%M}-run.fit").write_bytes(data)
    for n in range(strength_per_week):
        start = datetime.combine(monday + timedelta(days=STRENGTH_DAY + 2 * n),
                                 datetime.min.time(), UTC) + timedelta(hours=18, minutes=30)
        data = encode_strength(start, rng.uniform(1800, 2700), serial_number=serial)
        Path(folder, f"{start:%Y-%m-%d-%H%M}-strength.fit").write_bytes(data)


def generate(dataset: Dataset, folder: Path) -> None:
    """Write the dataset's files under folder/<athlete>/, in parallel over (athlete, week)."""
    jobs = []
    for index in range(dataset.athletes):
        athlete_folder = folder / f"athlete-{index:03d}"
        athlete_folder.mkdir(parents=True, exist_ok=True)
        jobs += [(str(athlete_folder), index, week, dataset.weeks, dataset.interval_s,
                  dataset.strength_per_week) for week in range(dataset.weeks)]
    with ProcessPoolExecutor(os.cpu_count()) as pool:
        list(pool.map(_write_week, *zip(*jobs, strict=True), chunksize=4))


