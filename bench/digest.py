"""Digest benchmark: a week's digests for a squad (1,000 runners by default), end to end.

A store is filled by bench/digest_squad.py with rows written straight into the tables, not FIT
files: encoding and ingesting some 264,000 files takes hours, and
bench/ingest.py measures ingest. Each runner has up to a year of training ending on Sunday
29 November 2026 (ISO week 2026-W48): 3-6 runs a week of 5-25 km at a personal pace with a
tempo run and a Sunday long run, steady cadence that follows speed (a few runners' cadence falls
week by week, a few have no footpod), ground-contact balance for some, strength sessions for
some, late starters, breaks, a few quiet last weeks and long-run spikes; and a year of alerts
shaped like the shipped rules' (resolved episodes, open digest nudges, open immediate warn and
critical alerts, some resolved or held back during the week). The config names every runner
with an email address, a coach address and a webhook; its SMTP host is never contacted: the
bench queues, it does not dispatch. The same seed gives the same data every run.

Timed, in a fresh interpreter (this script with the hidden `--phase measure`), so that peak RSS
is the digest's and not the data generator's: `App.queue_digests(weeks, "2026-W48")`, which
builds each runner's week, renders its charts and templates, claims the ledger row and queues
the email and webhook rows, then the squad digest. Checked afterwards: one ledger row per runner
and one squad row for the week, and two outbox rows per runner plus one for the coach.
Target (issue 11): under 180 s and under 500 MB RSS on this machine.

    .venv/bin/python bench/digest.py [--athletes N] [--database URL] [--json PATH]
    .venv/bin/python bench/digest.py --profile N     # cProfile N runners' digests, one process
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent.parent
# run as a script, this file's folder comes first on sys.path and its name would shadow the
# `digest` package: put the repository there instead
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

from bench.common import machine, print_top_functions  # noqa: E402
from bench.digest_squad import NOW, WEEK, generate  # noqa: E402

if TYPE_CHECKING:

    pass

MB = 1024  # /proc sizes are in KiB
TARGET_S, TARGET_RSS_MB = 180.0, 500.0


@contextmanager
def postgres_schema(base_url: str) -> Iterator[str]:
    """A throwaway schema (as tests/conftest.py does), dropped afterwards."""
    from sqlalchemy import create_engine, text

    schema = f"sg_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base_url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base_url else "?"
    try:
        yield f"{base_url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


# --- the measured phase, in its own interpreter -----------------------------------------------


def status_kb(pid: int | str, field: str) -> int:
    """A `/proc/PID/status` size in KiB (VmRSS: now; VmHWM: the process's peak); 0 if gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return next((int(line.split()[1]) for line in status.splitlines()
                 if line.startswith(field + ":")), 0)


class TreeRss(threading.Thread):
    """Samples this process and all its descendants every `interval_s` (there are none
    today; a render pool's workers would be a forkserver's children): the peak of their
    summed RSS (shared pages count once per process: an upper bound of what the tree holds)
    and each descendant's own peak (VmHWM).

    Not `ru_maxrss`: Linux carries the parent's RSS at fork into a child's ru_maxrss across
    exec, so a phase started by a big process would report its parent's peak."""

    def __init__(self, interval_s: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.interval_s, self.peak_mb = interval_s, 0.0
        self.descendants_hwm_kb: dict[int, int] = {}
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval_s):
            self.sample()

    def stop(self) -> None:
        self.sample()
        self._stop_event.set()
        self.join()

    def sample(self) -> None:
        parents: dict[int, int] = {}
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                try:
                    stat = Path(f"/proc/{entry.name}/stat").read_text()
                except OSError:
                    continue
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        me = os.getpid()
        tree, grown = {me}, True
        while grown:
            found = {pid for pid, parent in parents.items() if parent in tree} - tree
            tree |= found
            grown = bool(found)
        self.peak_mb = max(self.peak_mb, sum(status_kb(pid, "VmRSS") for pid in tree) / MB)
        for pid in tree - {me}:
            hwm = status_kb(pid, "VmHWM")
            self.descendants_hwm_kb[pid] = max(hwm, self.descendants_hwm_kb.get(pid, 0))

    @property
    def processes(self) -> int:
        return 1 + len(self.descendants_hwm_kb)

    @property
    def largest_descendant_mb(self) -> float:
        return max(self.descendants_hwm_kb.values(), default=0) / MB


class QueuedTimes(logging.Handler):
    """The moment each digest was queued (digest.send logs one line per queued digest)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.times: list[tuple[str, float]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "queued" in record.msg and record.args:
            self.times.append((str(record.args[0]), time.perf_counter()))


def phase_measure(config: str) -> dict[str, Any]:
    from wiring import open_app

    app = open_app(config)
    weeks = {athlete.id: WEEK for athlete in app.config.athletes}
    times = QueuedTimes()
    logger = logging.getLogger("strideguard.digest")
    logger.addHandler(times)
    logger.setLevel(logging.INFO)
    sampler = TreeRss()
    load_before = os.getloadavg()[0]
    rss_before = status_kb("self", "VmHWM") / MB
    sampler.start()
    cpu_before = time.process_time()
    started = time.perf_counter()
    outcomes = app.queue_digests(weeks, WEEK, now=NOW)
    seconds = time.perf_counter() - started
    cpu_s = time.process_time() - cpu_before
    sampler.stop()
    load_after = os.getloadavg()[0]
    checks = check_store(app, len(weeks))
    app.store.dispose()
    statuses = sorted({str(o.status) for o in outcomes})
    athlete_times = [t for kind, t in times.times if kind == "athlete"]
    squad_times = [t for kind, t in times.times if kind == "squad"]
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "athletes": len(weeks), "seconds": seconds,
        "ms_per_athlete": seconds / len(weeks) * 1000,
        "first_digest_s": athlete_times[0] - started if athlete_times else None,
        "runners_s": athlete_times[-1] - started if athlete_times else None,
        "squad_s": squad_times[-1] - athlete_times[-1] if squad_times and athlete_times else None,
        "outcomes": len(outcomes), "statuses": statuses,
        "peak_rss_mb": status_kb("self", "VmHWM") / MB, "rss_before_mb": rss_before,
        "worker_peak_rss_mb": sampler.largest_descendant_mb,
        "tree_peak_rss_mb": sampler.peak_mb,
        "processes": sampler.processes,
        "cpu_s": cpu_s, "children_cpu_s": children.ru_utime + children.ru_stime,
        "load_before": load_before, "load_after": load_after,
    } | checks


def check_store(app: Any, athletes: int) -> dict[str, Any]:
    """Ledger and outbox rows of the week, message sizes, and what the digests held."""
    from sqlalchemy import func, select

    from store import Digest, OutboxMessage

    with app.store.session() as session:
        ledger = dict(session.execute(select(Digest.kind, func.count()).where(
            Digest.week == WEEK).group_by(Digest.kind)).all())
        outbox = {(channel.split(":")[0], kind): (count, largest, mean) for
                  channel, kind, count, largest, mean in session.execute(
                      select(OutboxMessage.channel, OutboxMessage.kind, func.count(),
                             func.max(func.length(OutboxMessage.payload)),
                             func.avg(func.length(OutboxMessage.payload)))
                      .join(Digest, Digest.id == OutboxMessage.digest_id)
                      .where(Digest.week == WEEK)
                      .group_by(OutboxMessage.channel, OutboxMessage.kind))}
        shown = {"nudges": 0, "alerts": 0, "still_open": 0, "cadence_chart": 0,
                 "nothing_recorded": 0, "balance": 0}
        # each runner's webhook body holds the digest's numbers (the ledger keeps the subject)
        for (body,) in session.execute(
                select(OutboxMessage.payload).join(Digest, Digest.id == OutboxMessage.digest_id)
                .where(Digest.week == WEEK, Digest.kind == "athlete",
                       OutboxMessage.channel.startswith("webhook"))):
            data = json.loads(body)["data"]
            shown["nudges"] += bool(data["nudges"])
            shown["alerts"] += bool(data["alerts"])
            shown["still_open"] += bool(data["still_open"])
            shown["cadence_chart"] += data["cadence_trend"] is not None
            shown["nothing_recorded"] += not data["recorded"]
            shown["balance"] += data["gct_balance_left_pct"] is not None
    expected_outbox = {("email", "digest"): athletes, ("webhook", "digest"): athletes,
                       ("email", "squad-digest"): 1}
    found_outbox = {key: value[0] for key, value in outbox.items()}
    problems = []
    if ledger != {"athlete": athletes, "squad": 1}:
        problems.append(f"ledger rows {ledger}, expected {athletes} athlete rows and 1 squad")
    if found_outbox != expected_outbox:
        problems.append(f"outbox rows {found_outbox}, expected {expected_outbox}")
    return {"ledger": ledger, "outbox_rows": sum(found_outbox.values()),
            "bytes": {f"{channel} {kind}": {"max": int(largest), "mean": round(float(mean))}
                      for (channel, kind), (_, largest, mean) in outbox.items()},
            "digests_showing": shown, "problems": problems}


# --- where the time goes ----------------------------------------------------------------------

STEPS = (  # (label, file, function): cumulative time of the path's steps
    ("whole App.queue_digests", "wiring/__init__.py", "queue_digests"),
    ("build each runner's week", "digest/send.py", "build_athlete_week"),
    ("  load_history (SQL, local dates)", "metrics/history.py", "load_history"),
    ("  alert listing (SQL)", "rules/listing.py", "athlete_alerts"),
    ("  cadence trend (Theil-Sen)", "metrics/form.py", "cadence_trend"),
    ("render a runner's digest", "digest/send.py", "render_athlete"),
    ("  charts: weekly load", "charts/load.py", "weekly_load"),
    ("  charts: cadence trend", "charts/form.py", "cadence_trend"),
    ("  charts: Agg draw + PNG encode (both above and the squad's)", "charts/encode.py", "to_png"),
    ("  templates (Jinja)", "digest/render.py", "_render"),
    ("  webhook data (digest.data)", "digest/data.py", "athlete_week_data"),
    ("render the squad digest", "digest/send.py", "render_squad"),
    ("  squad chart", "charts/squad.py", "squad_weekly_distance"),
    ("claim + queue, one transaction each", "digest/send.py", "queue_rendered"),
    ("  email: MIME + base64 + bytes", "notify/mail.py", "render_digest_email"),
    ("  webhook body (JSON)", "notify/channels/webhook.py", "render_event"),
    ("  ledger claim", "store/ledger.py", "claim_period"),
    ("  flushes and commits", "sqlalchemy/orm/session.py", "commit"),
    ("imports (none expected after the warm-up)", "<frozen importlib._bootstrap>",
     "_find_and_load"),
)


def profile(folder: Path, database: str, athletes: int, seed: int, top: int) -> None:
    import cProfile
    import pstats

    from digest.send import build_athlete_week, render_athlete, render_squad
    from wiring import open_app

    made = generate(folder, database, athletes, seed)
    print(f"{athletes} runners, {made['activities']:,} activities, {made['alerts']:,} alerts "
          f"(filled in {made['seconds']:.1f} s)", flush=True)
    with open_app(made["config"]) as app:
        weeks = {athlete.id: WEEK for athlete in app.config.athletes}
        # warm-up, not queued: the imports and font loading a process pays once stay out
        warm = build_athlete_week(app.store, app.config, app.rules, next(iter(weeks)), WEEK, NOW)
        render_squad([warm], WEEK), render_athlete(warm)
        profiler = cProfile.Profile()
        outcomes = profiler.runcall(app.queue_digests, weeks, WEEK, now=NOW)
    stats: dict[tuple[str, int, str], tuple[Any, ...]] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = sum(row[2] for row in stats.values())
    print(f"\nprofile of App.queue_digests, one process, after a warm-up: {len(outcomes)} "
          f"digests, {total:.1f} s of profiled time\n\n| step | cumulative s | share |\n"
          "|---|--:|--:|")
    for label, file_name, function in STEPS:
        seconds = sum(row[3] for (path, _, name), row in stats.items()
                      if path.endswith(file_name) and name == function)
        print(f"| {label} | {seconds:.2f} | {seconds / total:.0%} |")
    print_top_functions(stats, top, f"top {top} functions by own time")


# --- report -----------------------------------------------------------------------------------


def table(r: dict[str, Any], database: str) -> str:
    rss = max(r["peak_rss_mb"], r["tree_peak_rss_mb"])
    verdict = ("PASS" if r["seconds"] < TARGET_S else "MISS") + " / " + (
        "PASS" if rss < TARGET_RSS_MB else "MISS")
    return "\n".join([
        "| store | runners | total s | per runner ms | squad s | CPU s (process + "
        "children) | peak RSS MB (process / largest child / all, sampled) | 180 s / 500 MB |",
        "|---|--:|--:|--:|--:|--:|---|---|",
        f"| {database} | {r['athletes']:,} | {r['seconds']:.1f} | "
        f"{r['ms_per_athlete']:.0f} | {r['squad_s'] or 0:.1f} | {r['cpu_s']:.1f} + "
        f"{r['children_cpu_s']:.1f} | {r['peak_rss_mb']:.0f} / {r['worker_peak_rss_mb']:.0f} / "
        f"{r['tree_peak_rss_mb']:.0f} | {verdict} |",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--athletes", type=int, default=1000, help="default: %(default)s")
    parser.add_argument("--database", help="a PostgreSQL URL (a throwaway schema is made in it); "
                        "default: an SQLite file in a temp dir")
    parser.add_argument("--seed", type=int, default=11, help="default: %(default)s")
    parser.add_argument("--json", type=Path, help="save the results here")
    parser.add_argument("--profile", type=int, metavar="N",
                        help="only cProfile the digests of N runners in one process")
    for hidden in ("--phase", "--config", "--out"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase == "measure":
        result = phase_measure(args.config)
        Path(args.out).write_text(json.dumps(result, default=str))
        return

    info = machine()
    print(f"machine: {info}", flush=True)
    with tempfile.TemporaryDirectory(prefix="strideguard-digest-") as temp, \
            _database(args.database, Path(temp)) as database:
        folder = Path(temp)
        kind = "PostgreSQL" if database.startswith("postgresql") else "SQLite"
        if args.profile:
            return profile(folder, database, args.profile, args.seed, 20)
        made = generate(folder, database, args.athletes, args.seed)
        print(f"data: {made['athletes']:,} runners, {made['activities']:,} activities, "
              f"{made['alerts']:,} alerts, generated and inserted in {made['seconds']:.1f} s "
              f"(not timed below)", flush=True)
        out = folder / "measure.json"
        command = [sys.executable, __file__, "--phase", "measure", "--config", made["config"],
                   "--out", str(out)]
        print(f"uptime before: {_uptime()}", flush=True)
        if subprocess.run(command).returncode != 0:
            raise SystemExit("the measured phase failed (see above)")
        print(f"uptime after: {_uptime()}", flush=True)
        result = json.loads(out.read_text())
    print(f"\n{table(result, kind)}\n")
    print(f"first digest queued after {result['first_digest_s']:.1f} s, the last runner's after "
          f"{result['runners_s']:.1f} s; peak RSS before the call {result['rss_before_mb']:.0f} "
          f"MB; processes {result['processes']}; load {result['load_before']:.2f} -> "
          f"{result['load_after']:.2f}")
    print(f"ledger {result['ledger']}, outbox rows {result['outbox_rows']:,}; message bytes "
          f"{result['bytes']}")
    print(f"runners' digests showing: {result['digests_showing']}")
    for problem in result["problems"]:
        print(f"CHECK FAILED: {problem}")
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "argv": sys.argv[1:], "store": kind,
                                         "data": made, "result": result}, indent=2,
                                        default=str))
    if result["problems"] or set(result["statuses"]) != {"queued"}:
        raise SystemExit(f"checks failed (statuses {result['statuses']})")


@contextmanager
def _database(url: str | None, folder: Path) -> Iterator[str]:
    if url is None:
        yield f"sqlite:///{folder / 'strideguard.db'}"
        return
    with postgres_schema(url) as schema_url:
        yield schema_url


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


if __name__ == "__main__":
    main()
