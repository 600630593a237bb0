"""Ingest benchmark: StrideGuard's ingest against plain fitparse, on realistic FIT histories.

Datasets: "history" (one athlete, 156 weeks, 1 s records) and "squad" (athletes in inbox
subfolders; by default 50 athletes x 52 weeks with records thinned to one every 30 s, which
keeps the whole run near 26 minutes on 2 cores; see --squad-*). For each, three phases:

- raw: plain fitparse on the same files (`fitparse.FitFile(bytes)`, `get_values()` for every
  message), files read one by one from the page cache, in one process;
- single: `ingest.ingest_inbox` with `workers=1` into a fresh SQLite store, from a fresh
  copy of the files in a fresh inbox (`stability_s=0`);
- pool: the same with `workers=0` (one decoding process per usable core).

Each phase runs in its own interpreter (this script with the hidden `--phase` option), so its
peak RSS is its own: `ru_maxrss` of RUSAGE_SELF and, for the pool, the largest worker's peak
(RUSAGE_CHILDREN once the pool and its forkserver have exited); CPU seconds likewise (for the
whole phase process, so about a second of imports and store opening too). Only `ingest_inbox`
(or the decode loop) is timed; copying files and opening the store are not. After
each ingest phase the store must hold exactly one activity per file, every file must be
"ingested" and the inbox empty, and all phases must count the same records, or the bench fails.
Targets: single/raw <= 1.15, single/pool >= 1.7 on 2 cores, peak RSS < 400 MB (history).

Files come from the project's FIT writer (`fitwriter.encode`): five runs a week (5-22 km, a long
run on Sundays, per-record noise on pace, cadence 160-180 spm, heart rate, ground-contact
balance, vertical ratio, stance time, vertical oscillation, GPS), a strength session a week, one
device serial per athlete.

    .venv/bin/python bench/ingest.py [--quick] [--squad-athletes N] [--squad-weeks N]
        [--squad-interval-s S] [--work DIR] [--keep] [--json PATH]
    .venv/bin/python bench/ingest.py --profile WEEKS [--profile-interval-s S]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# run as a script, this file's folder comes first on sys.path and its name would shadow the
# `ingest` package: put the repository there instead
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

from bench.common import machine as common_machine  # noqa: E402
from bench.common import print_top_functions  # noqa: E402
from bench.fit_histories import Dataset, generate  # noqa: E402

MB = 1024  # ru_maxrss is in KiB on Linux


# --- the phases, each in its own process ------------------------------------------------------


def _usage() -> dict[str, float]:
    """Peak RSS and CPU seconds of this process and of its waited-for children (pool workers)."""
    own, children = (resource.getrusage(who)
                     for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return {"peak_rss_mb": own.ru_maxrss / MB, "worker_peak_rss_mb": children.ru_maxrss / MB,
            "cpu_s": own.ru_utime + own.ru_stime,
            "worker_cpu_s": children.ru_utime + children.ru_stime}


def phase_raw(source: Path) -> dict[str, Any]:
    import fitparse

    files = sorted(source.rglob("*.fit"))
    records = 0
    started = time.perf_counter()
    for path in files:
        for message in fitparse.FitFile(path.read_bytes()).get_messages():
            message.get_values()
            records += message.name == "record"
    seconds = time.perf_counter() - started
    if not files or not records:
        raise SystemExit(f"raw phase read nothing under {source}")
    return {"files": len(files), "records": records, "seconds": seconds}


def phase_ingest(run_dir: Path, workers: int) -> dict[str, Any]:
    """ingest_inbox on run_dir/inbox into a fresh SQLite store; then check what it stored."""
    from multiprocessing import forkserver

    from sqlalchemy import func, select

    from ingest import IngestSettings, ingest_inbox
    from ingest.pool import worker_count
    from store import Activity, SourceFile, open_store

    inbox = run_dir / "inbox"
    files = len(list(inbox.rglob("*.fit")))
    settings = IngestSettings(inbox=inbox, archive=run_dir / "archive",
                              quarantine=run_dir / "quarantine", stability_s=0, workers=workers)
    store = open_store(f"sqlite:///{run_dir / 'strideguard.db'}")
    started = time.perf_counter()
    outcomes = ingest_inbox(store, settings)
    seconds = time.perf_counter() - started
    forkserver._forkserver._stop()  # type: ignore[attr-defined]  # so its workers' peak counts
    with store.session() as session:
        activities = session.scalar(select(func.count()).select_from(Activity))
        sources = session.scalar(select(func.count()).select_from(SourceFile)
                                 .where(SourceFile.status == "ingested"))
    store.dispose()
    left = [p for p in inbox.rglob("*") if p.is_file()]
    statuses = {o.status for o in outcomes}
    if not files or activities != files or sources != files or left or statuses != {"ingested"}:
        raise SystemExit(f"ingest check failed in {run_dir}: {files} files, {activities} "
                         f"activities, {sources} sources ingested, {len(left)} left in the "
                         f"inbox, statuses {sorted(statuses)}")
    return {"files": files, "records": sum(o.record_count for o in outcomes),
            "seconds": seconds, "workers": worker_count(workers)}


def run_phase(args: argparse.Namespace) -> None:
    if args.phase == "raw":
        result = phase_raw(Path(args.source))
    else:
        result = phase_ingest(Path(args.run_dir), 1 if args.phase == "single" else 0)
    result |= _usage()
    Path(args.out).write_text(json.dumps(result))


def measure(phase: str, source: Path, work: Path, dataset: str) -> dict[str, Any]:
    """Run one phase in a fresh interpreter (ingest phases on a fresh copy of the files)."""
    run_dir = work / "runs" / f"{dataset}-{phase}"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    if phase != "raw":
        shutil.copytree(source, run_dir / "inbox")
    out = work / "runs" / f"{dataset}-{phase}.json"
    load_before = os.getloadavg()[0]
    command = [sys.executable, __file__, "--phase", phase, "--source", str(source),
               "--run-dir", str(run_dir), "--out", str(out)]
    if subprocess.run(command).returncode != 0:
        raise SystemExit(f"the {phase} phase of {dataset} failed (see above)")
    return json.loads(out.read_text()) | {"load_before": load_before,
                                          "load_after": os.getloadavg()[0]}


# --- where the time goes ----------------------------------------------------------------------

STEPS = (  # (label, file, function): cumulative time of the pipeline's steps
    ("whole ingest_inbox", "pipeline.py", "ingest_inbox"),
    ("decode (fitparse + processor)", "decode.py", "decode_fit"),
    ("summarise (normalise.py)", "normalise.py", "summarise"),
    ("completeness/CRC check", "decode.py", "check_fit_complete"),
    ("SHA-256 of the bytes", "record.py", "sha256_hex"),
    ("lookup by SHA-256 (one transaction)", "record.py", "source_by_hash"),
    ("store: one transaction per file", "pipeline.py", "_store_parsed"),
    ("archive move", "inbox.py", "move_file"),
    ("inbox scan", "inbox.py", "scan_inbox"),
)


def profile(work: Path, weeks: int, interval_s: float, top: int) -> None:
    """cProfile single-process ingest of `weeks` weeks of one athlete; print where time goes."""
    import cProfile
    import pstats

    from ingest import IngestSettings, ingest_inbox
    from store import open_store

    source, run_dir = work / "source" / "profile", work / "runs" / "profile"
    generate(Dataset("profile", 1, weeks, interval_s, 1), source)
    shutil.copytree(source, run_dir / "inbox")
    settings = IngestSettings(inbox=run_dir / "inbox", archive=run_dir / "archive",
                              quarantine=run_dir / "quarantine", stability_s=0, workers=1)
    store = open_store(f"sqlite:///{run_dir / 'strideguard.db'}")
    profiler = cProfile.Profile()
    outcomes = profiler.runcall(ingest_inbox, store, settings)
    store.dispose()
    stats: dict[tuple[str, int, str], tuple[Any, ...]] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = sum(row[2] for row in stats.values())
    print(f"\nprofile of single-process ingest: {len(outcomes)} files, {total:.1f} s of "
          f"profiled time (cProfile slows pure-Python code such as fitparse the most)\n")
    print("| step | cumulative s | share |\n|---|--:|--:|")
    for label, file_name, function in STEPS:
        seconds = sum(row[3] for (path, _, name), row in stats.items()
                      if path.endswith(file_name) and name == function)
        print(f"| {label} | {seconds:.2f} | {seconds / total:.0%} |")
    print_top_functions(stats, top, f"top {top} functions outside fitparse by own time",
                        keep=lambda path: "fitparse" not in path)


# --- report -----------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    import fitparse

    return common_machine(fitparse=fitparse.__version__)


def summarise(name: str, config: Dataset, raw: dict[str, Any], single: dict[str, Any],
              pool: dict[str, Any]) -> dict[str, Any]:
    if not (raw["files"], raw["records"]) == (single["files"], single["records"]) == (
            pool["files"], pool["records"]):
        raise SystemExit(f"{name}: the phases saw different files or records")
    return {
        "dataset": name, "config": asdict(config), "files": raw["files"],
        "records": raw["records"], "raw": raw, "single": single, "pool": pool,
        "single_over_raw": single["seconds"] / raw["seconds"],
        "pool_speedup": single["seconds"] / pool["seconds"],
        "single_over_raw_cpu": single["cpu_s"] / raw["cpu_s"],
    }


def table(results: list[dict[str, Any]]) -> str:
    lines = ["| dataset | phase | files | records | time s | CPU s (main + workers) | files/s | "
             "records/s | ratio | peak RSS MB (main / largest worker) |",
             "|---|---|--:|--:|--:|--:|--:|--:|--:|---|"]
    for r in results:
        for phase in ("raw", "single", "pool"):
            p = r[phase]
            ratio = {"raw": "", "single": f"{r['single_over_raw']:.2f} x raw",
                     "pool": f"{r['pool_speedup']:.2f} x faster"}[phase]
            label = {"raw": "raw fitparse", "single": "ingest, 1 process",
                     "pool": f"ingest, pool of {p.get('workers', '')}"}[phase]
            rss = f"{p['peak_rss_mb']:.0f}" + (
                f" / {p['worker_peak_rss_mb']:.0f}" if phase == "pool" else "")
            cpu = f"{p['cpu_s']:.1f}" + (f" + {p['worker_cpu_s']:.1f}" if phase == "pool" else "")
            lines.append(f"| {r['dataset']} | {label} | {p['files']} | {r['records']:,} | "
                         f"{p['seconds']:.1f} | {cpu} | {p['files'] / p['seconds']:.1f} | "
                         f"{r['records'] / p['seconds']:,.0f} | {ratio} | {rss} |")
    return "\n".join(lines)


def verdicts(results: list[dict[str, Any]]) -> list[str]:
    lines = []
    for r in results:
        peak = max(r["single"]["peak_rss_mb"], r["pool"]["peak_rss_mb"],
                   r["pool"]["worker_peak_rss_mb"])
        checks = [(f"single/raw {r['single_over_raw']:.2f} <= 1.15 (in whole-process CPU "
                   f"{r['single_over_raw_cpu']:.2f})", r["single_over_raw"] <= 1.15),
                  (f"pool speed-up {r['pool_speedup']:.2f} >= 1.7", r["pool_speedup"] >= 1.7)]
        if r["dataset"] == "history":
            checks.append((f"peak RSS {peak:.0f} MB < 400 MB", peak < 400))
        lines += [f"- {r['dataset']}: {text}: {'holds' if ok else 'MISSED'}" for text, ok in checks]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run (~30 s here)")
    parser.add_argument("--history-weeks", type=int, default=156, help="default: %(default)s")
    parser.add_argument("--squad-athletes", type=int, default=50, help="default: %(default)s")
    parser.add_argument("--squad-weeks", type=int, default=52, help="default: %(default)s")
    parser.add_argument("--squad-interval-s", type=float, default=30.0,
                        help="seconds between the squad's records (default: %(default)s)")
    parser.add_argument("--strength-per-week", type=int, default=1, help="default: %(default)s")
    parser.add_argument("--work", type=Path, help="work folder (default: a new temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the generated files and stores")
    parser.add_argument("--json", type=Path, help="save the results here")
    parser.add_argument("--profile", type=int, metavar="WEEKS",
                        help="only cProfile single-process ingest of WEEKS weeks of history")
    parser.add_argument("--profile-interval-s", type=float, default=1.0, help="default: 1 s")
    for hidden in ("--phase", "--source", "--run-dir", "--out"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        return run_phase(args)

    if args.quick:
        args.history_weeks, args.squad_athletes, args.squad_weeks = 4, 4, 2
    datasets = [
        Dataset("history", 1, args.history_weeks, 1.0, args.strength_per_week),
        Dataset("squad", args.squad_athletes, args.squad_weeks, args.squad_interval_s,
                args.strength_per_week),
    ]
    work = args.work or Path(tempfile.mkdtemp(prefix="strideguard-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    info = machine()
    print(f"machine: {info}\nwork folder: {work}", flush=True)
    results = []
    try:
        if args.profile:
            return profile(work, args.profile, args.profile_interval_s, 20)
        for dataset in datasets:
            source = work / "source" / dataset.name
            shutil.rmtree(source, ignore_errors=True)
            started = time.perf_counter()
            generate(dataset, source)
            print(f"\n[{dataset.name}] {dataset.describe()}: generated in "
                  f"{time.perf_counter() - started:.0f} s", flush=True)
            phases = {}
            for phase in ("raw", "single", "pool"):
                phases[phase] = p = measure(phase, source, work, dataset.name)
                print(f"[{dataset.name}] {phase}: {p['files']} files, {p['records']:,} records, "
                      f"{p['seconds']:.1f} s, peak RSS {p['peak_rss_mb']:.0f} MB "
                      f"(children {p['worker_peak_rss_mb']:.0f} MB), CPU {p['cpu_s']:.1f} s "
                      f"(children {p['worker_cpu_s']:.1f} s), load {p['load_before']:.1f} -> "
                      f"{p['load_after']:.1f}", flush=True)
                if not args.keep:
                    shutil.rmtree(work / "runs" / f"{dataset.name}-{phase}", ignore_errors=True)
            results.append(summarise(dataset.name, dataset, **phases))
    finally:
        if not args.keep:  # a folder given with --work keeps everything but what we wrote
            for path in [work] if args.work is None else [work / "source", work / "runs"]:
                shutil.rmtree(path, ignore_errors=True)

    squad = datasets[1]
    print("\nMeasured: " + "; ".join(f"{d.name} = {d.describe()}" for d in datasets))
    if (squad.athletes, squad.weeks, squad.interval_s) != (50, 52, 1.0):
        print(f"The squad is scaled down from 50 athletes x 52 weeks at 1 s records: "
              f"{squad.describe()}.")
    print("\n" + table(results) + "\n\n" + "\n".join(verdicts(results)))
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "argv": sys.argv[1:],
                                         "results": results}, indent=2))


if __name__ == "__main__":
    main()
