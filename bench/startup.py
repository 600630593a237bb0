"""How long `strideguard --help` and `strideguard check-config` take from a cold process.

Each command runs `--runs` times as its own process (the console script beside this Python when
there is one, else `python -m cli`), after one warm-up run that fills the OS page cache; the
minimum and median wall times are reported. Targets (issue 10): `--help` under 0.3 s and
`check-config` under 0.8 s.

    .venv/bin/python bench/startup.py [--runs 15] [--json bench/results/startup-DATE.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

TARGETS_S = {"--help": 0.3, "check-config": 0.8}


def strideguard_command() -> list[str]:
    """`strideguard` as a user runs it: the console script beside this Python, if installed."""
    script = Path(sys.executable).with_name("strideguard")
    return [str(script)] if script.exists() else [sys.executable, "-m", "cli"]


def timed_runs(command: list[str], runs: int, cwd: Path) -> list[float]:
    """Wall seconds of each run; the first (warm-up) run is not counted."""
    seconds: list[float] = []
    for index in range(runs + 1):
        started = time.perf_counter()
        result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
        elapsed_s = time.perf_counter() - started
        if result.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr}")
        if index:
            seconds.append(elapsed_s)
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    base = strideguard_command()
    work = Path(tempfile.mkdtemp(prefix="sg-startup-"))
    try:
        subprocess.run([*base, "init", str(work)], check=True, capture_output=True)
        config = str(work / "strideguard.yaml")
        commands = {"--help": [*base, "--help"],
                    "check-config": [*base, "--config", config, "check-config"]}
        results = {}
        for name, command in commands.items():
            seconds = timed_runs(command, args.runs, work)
            results[name] = {"min_s": round(min(seconds), 3),
                             "median_s": round(statistics.median(seconds), 3),
                             "target_s": TARGETS_S[name], "runs": len(seconds)}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'command':<14} {'min s':>7} {'median s':>9} {'target s':>9}")
    for name, row in results.items():
        verdict = "ok" if row["median_s"] < row["target_s"] else "MISSED"
        print(f"{name:<14} {row['min_s']:>7.3f} {row['median_s']:>9.3f} "
              f"{row['target_s']:>9.1f}  {verdict}")
    if args.json:
        args.json.write_text(json.dumps({
            "date": datetime.now(UTC).date().isoformat(), "python": platform.python_version(),
            "command": base, "results": results}, indent=2) + "\n", encoding="utf-8")
    return 0 if all(r["median_s"] < r["target_s"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
