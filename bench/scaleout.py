"""Scale-out benchmark: one against two `strideguard run` processes on one PostgreSQL database.

Two workloads, each run once with one process and once with two, each run on a fresh
database (a throwaway database per run, dropped at the end):

- **ingest**: a squad's FIT files (2,000 by default: 25 athletes x 16 weeks x 5 runs, records
  every 10 s, written by bench/fit_histories.py) in one shared inbox. Timed from starting the
  processes until the store holds every file. Each process decodes inline (`ingest.workers:
  1`), so one process uses one core and two processes may use both.
- **evaluation**: 5,000 athletes, each with six weekly runs and one today (records every 60 s;
  every tenth athlete's run today is a spike that fires `single_run_spike`), ingested once from
  FIT files into a template database (not timed), copied for each run. The trigger is the
  start catch-up (`evaluate_at` has passed, `daily:<today>` has no claims), so every process
  works on the same trigger from its start. Timed from starting the processes until every
  athlete's claim is done; also from the first claim written to the last one done (the
  database's clock: no process start in it).

Checked, or the bench fails: every file stored once (one `ingested` source row per file, as
many activities, the archive holding each once); each athlete evaluated once for the trigger
(one claim per athlete, all done, none failed, and the processes' logged counts add up to the
squad); the same alerts and outbox rows with two processes as with one, and no alert or outbox
row twice.

The PostgreSQL server runs on the same machine and shares its cores: its CPU time is reported
next to the workers'.

    .venv/bin/python bench/scaleout.py [--database URL] [--files 2000] [--athletes 5000]
        [--repeats N] [--json PATH] [--work DIR] [--keep] [--only ingest|evaluation]
        [--keep-template | --template NAME]
    .venv/bin/python bench/scaleout.py --profile N   # cProfile one process evaluating N athletes
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

from bench.common import machine, print_top_functions  # noqa: E402
from bench.services import Workers, check, database, load_1min, query, run_until  # noqa: E402

DEFAULT_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SPEED_UP_GOAL = 1.7


# --- configs -----------------------------------------------------------------------------------


def early_morning_zone() -> tuple[str, date]:
    """A fixed-offset zone where it is between 06:00 and 07:00 now, and its date: `evaluate_at`
    23:00 is not due there during the bench, 00:00 is (the catch-up does it at start)."""
    offset_h = (6 - datetime.now(UTC).hour) % 24
    offset_h = offset_h - 24 if offset_h > 14 else offset_h
    name = "Etc/GMT" if offset_h == 0 else f"Etc/GMT{-offset_h:+d}"
    return name, datetime.now(ZoneInfo(name)).date()


def write_config(folder: Path, database_url: str, zone: str, evaluate_at: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "strideguard.yaml"
    config.write_text(f"""
database: {database_url}
timezone: {zone}
inbox: {folder.parent}/inbox
archive: {folder.parent}/archive
quarantine: {folder.parent}/quarantine
mail_dir: {folder.parent}/mail
http: {{listen: "off"}}
ingest: {{stability: 0s, workers: 1, watch: polling}}
schedule: {{evaluate_at: "{evaluate_at}", digest: off, dispatch_interval: 1h}}
""", encoding="utf-8")
    return config


# --- (1) ingest ------------------------------------------------------------------------------


def ingest_files(work: Path, files: int) -> Path:
    """The squad's FIT files, written once and copied into each run's inbox."""
    from bench.fit_histories import Dataset, generate

    weeks = 16
    athletes = -(-files // (5 * weeks))
    folder = work / "ingest-files"
    generate(Dataset("scaleout", athletes, weeks, 10.0, 0), folder)
    written = sorted(p for p in folder.rglob("*.fit"))
    for extra in written[files:]:
        extra.unlink()
    return folder


def ingest_run(base_url: str, source: Path, work: Path, processes: int, zone: str,
               files: int) -> dict[str, Any]:
    run_dir = work / f"ingest-{processes}"
    shutil.copytree(source, run_dir / "inbox")
    with database(base_url) as url:
        configs = [write_config(run_dir / f"p{i}", url, zone, "23:00") for i in range(processes)]

        def stored() -> bool:
            try:
                rows = query(url, "SELECT count(*) FROM source_files WHERE status = 'ingested'")
            except Exception:  # noqa: BLE001 - not migrated yet
                return False
            return rows[0][0] == files

        workers = Workers(configs)
        timing = run_until(workers, stored, 3600)
        window = query(url, "SELECT extract(epoch FROM max(received_at) - min(received_at)) "
                            "FROM source_files")[0][0]
        time.sleep(2)  # the evaluation of the batch that follows, before the stop
        logs = workers.stop()
        (sources, distinct), = query(url, "SELECT count(*), count(DISTINCT sha256) FROM "
                                          "source_files")
        activities = query(url, "SELECT count(*) FROM activities")[0][0]
    archived = sum(1 for _ in (run_dir / "archive").rglob("*.fit"))
    left = sum(1 for _ in (run_dir / "inbox").rglob("*.fit"))
    raced = sum(log.count(" duplicate ") for log in logs)
    check(sources == distinct == activities == archived == files and left == 0,
          f"each file stored once: {sources} rows, {distinct} distinct, {activities} "
          f"activities, {archived} archived, {left} left, {files} files")
    shutil.rmtree(run_dir)
    return {"processes": processes, **timing, "store_window_s": round(float(window), 2),
            "files_stored": sources, "activities": activities, "archived": archived,
            "raced_duplicates": raced,
            "per_process_ingested": [log.count(" ingested ") for log in logs]}


# --- (2) evaluation ---------------------------------------------------------------------------


def _write_athlete(folder: str, index: int, today_iso: str, zone: str, weeks: int) -> None:
    """A weekly long run for `weeks` weeks and a run today (a spike for every tenth athlete),
    records every 60 s."""
    import random

    from bench.fit_histories import SERIAL_BASE, athlete_profile, run_samples
    from fitwriter.encode import SessionSpec, encode_activity

    athlete, rng = athlete_profile(index), random.Random(f"eval-{index}")
    today, tz = date.fromisoformat(today_iso), ZoneInfo(zone)
    longest_km = 0.0
    for back in range(weeks, -1, -1):
        day = today - timedelta(days=7 * back)
        if back:
            km = rng.uniform(9, 16)
            longest_km = max(longest_km, km)
        else:
            km = longest_km * 1.7 if index % 10 == 0 else rng.uniform(6, 9)
        start = datetime(day.year, day.month, day.day, 4, tzinfo=tz).astimezone(UTC)
        pace = athlete["easy_pace"] * (1.1 if km > 20 else 1.0)
        samples = run_samples(rng, start, km * 1000, pace, 60.0, athlete)
        data = encode_activity([SessionSpec("running", "generic", samples)],
                               serial_number=SERIAL_BASE + index * 7919)
        Path(folder, f"{start:%Y-%m-%d-%H%M}-run.fit").write_bytes(data)


@contextmanager
def evaluation_template(base_url: str, work: Path, athletes: int, zone: str, today: date,
                        keep: bool = False) -> Iterator[tuple[str, dict[str, float]]]:
    """A database holding the squad's activities, ingested from FIT files (the runs copy it);
    its name and how long writing and ingesting the files took. `keep`: not dropped, for
    `--template` later the same day (the runs are dated today)."""
    from sqlalchemy.engine import make_url

    from ingest import IngestSettings, ingest_inbox
    from store import open_store

    inbox, weeks = work / "evaluation-inbox", 6
    started = time.monotonic()
    folders = []
    for index in range(athletes):
        folder = inbox / f"a{index:05d}"
        folder.mkdir(parents=True)
        folders.append(str(folder))
    with ProcessPoolExecutor(os.cpu_count()) as pool:
        list(pool.map(_write_athlete, folders, range(athletes), [today.isoformat()] * athletes,
                      [zone] * athletes, [weeks] * athletes, chunksize=50))
    written_s = time.monotonic() - started
    with database(base_url, keep=keep) as url:
        store = open_store(url)
        started = time.monotonic()
        settings = IngestSettings(inbox=inbox, archive=work / "evaluation-archive",
                                  quarantine=work / "evaluation-quarantine", stability_s=0.0,
                                  workers=0)
        outcomes = ingest_inbox(store, settings)
        store.dispose()  # a template database takes no connections while it is copied
        ingested = sum(o.status == "ingested" for o in outcomes)
        check(ingested == athletes * (weeks + 1),
              f"{ingested} of {athletes * (weeks + 1)} ingested")
        shutil.rmtree(work / "evaluation-archive")
        yield make_url(url).database or "", {
            "files": ingested, "write_s": round(written_s, 1),
            "ingest_s": round(time.monotonic() - started, 1)}


def evaluation_run(base_url: str, template: str, work: Path, processes: int, zone: str,
                   athletes: int) -> dict[str, Any]:
    run_dir = work / f"evaluation-{processes}"
    (run_dir / "inbox").mkdir(parents=True)
    with database(base_url, template) as url:
        configs = [write_config(run_dir / f"p{i}", url, zone, "00:00") for i in range(processes)]

        def evaluated() -> bool:
            try:
                return query(url, "SELECT count(*) FROM evaluation_claims "
                                  "WHERE done_at IS NOT NULL")[0][0] == athletes
            except Exception:  # noqa: BLE001 - not migrated yet
                return False

        workers = Workers(configs)
        timing = run_until(workers, evaluated, 7200)
        logs = workers.stop()
        (claims, triggers, failed, window), = query(url, """
            SELECT count(*), count(DISTINCT trigger), count(*) FILTER (WHERE done_by LIKE
                   'failed:%'), extract(epoch FROM max(done_at) - min(created_at))
            FROM evaluation_claims""")
        by_worker = [row[0] for row in query(url, "SELECT count(*) FROM evaluation_claims "
                                                  "GROUP BY done_by ORDER BY 1 DESC")]
        alerts = sorted(tuple(row) for row in query(url, "SELECT athlete_id, rule_id, "
                                                         "severity, episode FROM alerts"))
        (outbox, distinct_keys), = query(url, "SELECT count(*), count(DISTINCT dedupe_key) "
                                              "FROM outbox")
        doubled = query(url, "SELECT count(*) FROM (SELECT alert_id, channel, kind FROM outbox "
                             "GROUP BY 1, 2, 3 HAVING count(*) > 1) twice")[0][0]
    logged = sum(int(line.split("evaluated ")[1].split()[0]) for log in logs
                 for line in log.splitlines() if " athletes for daily:" in line)
    check(claims == athletes and triggers == 1 and failed == 0 and logged == athletes,
          f"each athlete once: {claims} claims, {triggers} triggers, {failed} failed, "
          f"{logged} logged")
    check(outbox == distinct_keys and doubled == 0, "no outbox row twice")
    shutil.rmtree(run_dir)
    return {"processes": processes, **timing, "claims_window_s": round(float(window), 2),
            "claims": claims, "claims_by_worker": by_worker, "athletes_logged": logged,
            "alerts": len(alerts), "outbox_rows": outbox, "alert_keys": alerts}


# --- profile -----------------------------------------------------------------------------------


def profile(base_url: str, athletes: int) -> None:
    """cProfile of one process's share of a daily trigger over `athletes` athletes."""
    import cProfile
    import pstats

    from config.schema import ServiceConfig
    from rules.loader import RulesReloader, load_rules
    from store import open_store
    from wiring import App

    zone, today = early_morning_zone()
    with tempfile.TemporaryDirectory(prefix="sg-scaleout-") as tmp, \
            evaluation_template(base_url, Path(tmp), athletes, zone, today) as (template, _), \
            database(base_url, template) as url:
        config = ServiceConfig(database=url, timezone=zone, mail_dir=Path(tmp) / "mail")
        app = App(config, RulesReloader(load_rules(), None), open_store(url))
        app.evaluate(athlete_id="a00000")  # imports and caches, not profiled
        profiler = cProfile.Profile()
        started = time.monotonic()
        profiler.runcall(app.evaluate, trigger=f"daily:{today}")
        print(f"{athletes} athletes in {time.monotonic() - started:.1f} s (profiled)")
        app.store.dispose()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    print_top_functions(stats, 25, "own time")
    cumulative = sorted(stats.items(), key=lambda item: -item[1][3])[:40]
    print("\n| function | cumulative s |\n|---|--:|")
    for (path, line, name), row in cumulative:
        print(f"| `{name}` ({Path(path).name}:{line}) | {row[3]:.2f} |")


# --- main -------------------------------------------------------------------------------------


def median_of(runs: list[dict[str, Any]], processes: int, key: str = "wall_s") -> float:
    return statistics.median(r[key] for r in runs if r["processes"] == processes)


def speed_up(runs: list[dict[str, Any]], key: str = "wall_s") -> float:
    """One process's median time over two processes' median."""
    return round(median_of(runs, 1, key) / median_of(runs, 2, key), 2)


def alternating(repeats: int) -> list[int]:
    """1, 2, 1, 2, ...: a busy spell of the machine hits both sides alike."""
    return [1, 2] * repeats


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default=DEFAULT_DATABASE,
                        help="a PostgreSQL URL; the bench creates and drops its own databases")
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--athletes", type=int, default=5000)
    parser.add_argument("--only", choices=("ingest", "evaluation"))
    parser.add_argument("--repeats", type=int, default=1,
                        help="run one and two processes this often each, alternating")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--work", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--keep-template", action="store_true",
                        help="keep the evaluation's template database (its name is printed)")
    parser.add_argument("--template", help="evaluate copies of this template database, kept "
                                           "the same day by --keep-template, instead of a new one")
    parser.add_argument("--profile", type=int, metavar="N",
                        help="cProfile one process evaluating N athletes, then exit")
    args = parser.parse_args()
    if args.profile:
        profile(args.database, args.profile)
        return 0
    zone, today = early_morning_zone()
    work = args.work or Path(tempfile.mkdtemp(prefix="sg-scaleout-"))
    work.mkdir(parents=True, exist_ok=True)
    server = query(args.database, "SHOW server_version")[0][0]
    results: dict[str, Any] = {"machine": machine(postgresql=server), "zone": zone,
                               "speed_up_goal": SPEED_UP_GOAL,
                               "started": datetime.now(UTC).isoformat(timespec="seconds")}
    try:
        if args.only in (None, "ingest"):
            source = ingest_files(work, args.files)
            results["ingest"] = [{"load_1min_before": load_1min(),
                                  **ingest_run(args.database, source, work, n, zone,
                                               args.files)}
                                 for n in alternating(args.repeats)]
            results["ingest_speed_up"] = speed_up(results["ingest"])
            print(json.dumps(results["ingest"], indent=1), flush=True)
        if args.only in (None, "evaluation"):
            with ExitStack() as stack:
                if args.template:
                    template, filled = args.template, {"reused": args.template}
                else:
                    template, filled = stack.enter_context(evaluation_template(
                        args.database, work, args.athletes, zone, today, args.keep_template))
                    print(f"template database: {template}", flush=True)
                results["evaluation_store"] = filled
                runs = [{"load_1min_before": load_1min(),
                         **evaluation_run(args.database, template, work, n, zone,
                                          args.athletes)}
                        for n in alternating(args.repeats)]
            check(all(run["alert_keys"] == runs[0]["alert_keys"]
                      and run["outbox_rows"] == runs[0]["outbox_rows"] for run in runs),
                  "the same alerts and outbox rows with one process and with two")
            for run in runs:
                del run["alert_keys"]
            results["evaluation"] = runs
            results["evaluation_speed_up"] = speed_up(runs)
            results["evaluation_speed_up_claims_window"] = speed_up(runs, "claims_window_s")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results, indent=1))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
