"""A small batch, as a runner's first `strideguard ingest` of a month: 24 one-hour runs with 1 s
records (about 3,600 records a file), the command against a bare fitparse decode.

Both sides are whole processes timed from start to exit, each on its own fresh copy of the files:
- raw: `python -c` that imports fitparse and decodes every file one after the other (fitparse's
  `FitFile(bytes)` and `get_values()` on every message), one process;
- command: `strideguard --config CONFIG ingest INBOX` into a fresh SQLite store: process start,
  imports, migrations, the decoding pool, storing, archiving and the evaluation that follows.

Each side runs `--repeats` times (alternating); the medians are compared. Target (issue 10): the
command at most 0.68x the bare decode (the two-core pool must show on a small batch).

    .venv/bin/python bench/ingest_small.py [--repeats 3] [--json bench/results/FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# run as a script, bench/ would come first on sys.path: put the repository there instead
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

from bench.fit_histories import athlete_profile, run_samples  # noqa: E402
from bench.startup import strideguard_command  # noqa: E402
from fitwriter.encode import SessionSpec, encode_activity  # noqa: E402

FILES = 24
RUN_S = 3600.0
TARGET_RATIO = 0.68
RAW_DECODE = """
import sys, time
from pathlib import Path
import fitparse
started = time.perf_counter()
records = 0
for path in sorted(Path(sys.argv[1]).rglob("*.fit")):
    for message in fitparse.FitFile(path.read_bytes()).get_messages():
        message.get_values()
        records += message.name == "record"
print(records, time.perf_counter() - started)
"""


def write_runs(folder: Path) -> int:
    """24 one-hour runs on consecutive mornings, 1 s records with the ingest bench's noise,
    running dynamics and GPS track; returns the bytes written."""
    folder.mkdir(parents=True)
    athlete, rng = athlete_profile(7), random.Random("small-batch")
    start = datetime(2026, 10, 1, 6, 30, tzinfo=UTC)
    total = 0
    for day in range(FILES):
        pace_s_per_km = athlete["easy_pace"] + rng.uniform(-15, 15)
        samples = run_samples(rng, start + timedelta(days=day), RUN_S / pace_s_per_km * 1000,
                              pace_s_per_km, 1.0, athlete)
        data = encode_activity([SessionSpec("running", "generic", samples)],
                               serial_number=3_900_000_777)
        (folder / f"run-{day:02d}.fit").write_bytes(data)
        total += len(data)
    return total


def timed(command: list[str], cwd: Path) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed_s = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return elapsed_s, result.stdout


def run_raw(source: Path, work: Path) -> dict[str, float]:
    copy = work / "raw"
    shutil.copytree(source, copy)
    wall_s, out = timed([sys.executable, "-c", RAW_DECODE, str(copy)], work)
    records, loop_s = out.split()
    shutil.rmtree(copy)
    return {"wall_s": wall_s, "decode_loop_s": float(loop_s), "records": int(records)}


def run_command(source: Path, work: Path) -> dict[str, float]:
    site = work / "site"
    shutil.copytree(source, site / "inbox" / "ana")
    (site / "strideguard.yaml").write_text(
        "database: sqlite:///strideguard.db\ninbox: inbox\narchive: archive\n"
        "quarantine: quarantine\nmail_dir: mail\ntimezone: UTC\n", encoding="utf-8")
    wall_s, _out = timed([*strideguard_command(), "--config", str(site / "strideguard.yaml"),
                          "ingest", str(site / "inbox")], site)
    archived = len(list((site / "archive").rglob("*.fit")))
    shutil.rmtree(site)
    if archived != FILES:
        raise SystemExit(f"the command archived {archived} of {FILES} files")
    return {"wall_s": wall_s}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sg-small-batch-"))
    try:
        size_bytes = write_runs(work / "source")
        raw_runs, command_runs = [], []
        for _ in range(args.repeats):
            raw_runs.append(run_raw(work / "source", work))
            command_runs.append(run_command(work / "source", work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    raw_s = statistics.median(r["wall_s"] for r in raw_runs)
    loop_s = statistics.median(r["decode_loop_s"] for r in raw_runs)
    command_s = statistics.median(r["wall_s"] for r in command_runs)
    ratio = command_s / raw_s
    print(f"{FILES} files, {size_bytes / 1e6:.1f} MB, {raw_runs[0]['records']} records; "
          f"{os.cpu_count()} CPUs")
    print(f"bare fitparse decode, whole process: {raw_s:6.2f} s (its decode loop {loop_s:.2f} s)")
    print(f"strideguard ingest, whole process:   {command_s:6.2f} s")
    print(f"ratio {ratio:.2f} (target <= {TARGET_RATIO}; against the decode loop alone "
          f"{command_s / loop_s:.2f})  {'ok' if ratio <= TARGET_RATIO else 'MISSED'}")
    if args.json:
        args.json.write_text(json.dumps({
            "date": datetime.now(UTC).date().isoformat(), "python": platform.python_version(),
            "cpus": os.cpu_count(), "files": FILES, "bytes": size_bytes,
            "raw": raw_runs, "command": command_runs, "median_raw_wall_s": round(raw_s, 3),
            "median_command_wall_s": round(command_s, 3), "ratio": round(ratio, 3)},
            indent=2) + "\n", encoding="utf-8")
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
