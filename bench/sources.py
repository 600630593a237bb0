"""A source folder another tool owns (GarminDB's, say) with years of FIT files, read by
`strideguard ingest --copy` three times, each a whole process timed from start to exit:

- first: every file is new: read, stored, copied into the archive and remembered;
- again: nothing changed: each file is skipped by its size and mtime, none is opened;
- touched: every mtime changed, no bytes did (a sync tool rewrote them): each file is hashed,
  none is decoded or copied again.

After each run the source folder is checked unchanged (names, sizes, mtimes and bytes) and the
archive counted: it must hold one copy per file after the first run and no more after the
others. Peak RSS is the command's own (`resource.getrusage` of the child).

    .venv/bin/python bench/sources.py [--weeks 156] [--json bench/results/FILE.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# run as a script, bench/ would come first on sys.path: put the repository there instead
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

from bench.common import machine  # noqa: E402
from bench.startup import strideguard_command  # noqa: E402
from fitwriter.synthetic import weekly_plan, write_plan  # noqa: E402

RUNS_KM = (6.0, 8.0, 6.0, 10.0, 16.0)  # five runs a week, plus two strength sessions


def folder_state(folder: Path) -> dict[str, tuple[int, int, str]]:
    """Every file below `folder`: its size, mtime (ns) and SHA-256."""
    state = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        info = path.stat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        state[str(path.relative_to(folder))] = (info.st_size, info.st_mtime_ns, digest)
    return state


def run_copy(config: Path, source: Path) -> dict[str, float]:
    """One `strideguard ingest --copy SOURCE --athlete ana`: wall seconds and the child's peak
    RSS (MB). The child's RUSAGE maximum is of all children waited for so far: the runs are
    in growing order of need, and the first is the largest."""
    command = [*strideguard_command(), "--config", str(config), "ingest", "--copy",
               str(source), "--athlete", "ana"]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    wall_s = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"ingest --copy failed ({result.returncode}):\n{result.stderr[-2000:]}")
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"wall_s": round(wall_s, 2), "peak_rss_mb_so_far": round(peak_mb, 1)}


def touch_all(folder: Path) -> None:
    """A new mtime on every file, same bytes (what a sync tool that rewrites files does)."""
    later_ns = time.time_ns() + 60_000_000_000
    for path in folder.rglob("*"):
        if path.is_file():
            os.utime(path, ns=(later_ns, later_ns))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weeks", type=int, default=156, help="weeks of history (default 156)")
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sg-bench-sources-") as tmp:
        site = Path(tmp)
        source = site / "HealthData" / "FitFiles" / "Activities"
        written = write_plan(weekly_plan(datetime.now(UTC).date(), args.weeks, RUNS_KM), source)
        config = site / "strideguard.yaml"
        config.write_text("ingest:\n  stability: 0s\nmax_alert_age: 3d\n", encoding="utf-8")
        before = folder_state(source)
        results: dict[str, object] = {"files": len(written), "weeks": args.weeks}
        for phase in ("first", "again", "touched"):
            if phase == "touched":
                touch_all(source)
                before = folder_state(source)
            results[phase] = run_copy(config, source)
            if folder_state(source) != before:
                raise SystemExit(f"{phase}: the source folder changed")
            copies = sum(1 for p in (site / "data" / "archive").rglob("*.fit"))
            if copies != len(written):
                raise SystemExit(f"{phase}: {copies} archive copies for {len(written)} files")
            results[phase]["archive_copies"] = copies  # type: ignore[index]
            print(f"{phase:8} {results[phase]}")
        results["machine"] = machine()
        results["date"] = datetime.now(UTC).date().isoformat()
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
