"""The `strideguard` command and the scheduler: wiring only, every decision lives in a room."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text
from sqlalchemy import func, select

from config.loader import (
    ConfigError,
    default_service_config,
    load_service_config,
    redact_url,
)
from config.schema import ServiceConfig
from ingest.inbox import InboxFile, athlete_for, is_fit_name
from ingest.pipeline import IngestOutcome, IngestSettings, ingest_inbox, reprocess_archive
from ingest.watch import InboxWatcher, WatchError
from metrics import CATALOGUE, athlete_metrics
from notify.dispatch import dispatch_due
from notify.outbox import enqueue_alert
from rules.evaluate import EvaluationReport, evaluate, explain_rule, local_today
from rules.loader import SHIPPED_ADVICE, SHIPPED_RULES, RuleSet, RulesReloader, load_rules
from rules.schema import Rule
from store import Activity, Alert, Athlete, OutboxMessage, SourceFile, Store, open_store

log = logging.getLogger("strideguard")
CONFIG_ENV = "STRIDEGUARD_CONFIG"
DEFAULT_CONFIG_NAME = "strideguard.yaml"
EXAMPLE_CONFIG = Path(__file__).resolve().parent / "config" / "strideguard.example.yaml"
EXIT_CONFIG = 2
SCAN_DEBOUNCE_S = 1.0  # a file event brings the inbox scan forward to this far ahead
RULES_CHECK_INTERVAL_S = 2.0  # how often `run` looks for edits to the rules files


@dataclass
class App:
    """The loaded config, rules and store of one command run."""

    config: ServiceConfig
    config_path: Path | None
    rules_reloader: RulesReloader
    store: Store

    @property
    def rules(self) -> RuleSet:
        return self.rules_reloader.rule_set

    def reload_rules(self) -> bool:
        """Take edited rules files into use; a broken edit is logged and the old rules kept."""
        return self.rules_reloader.refresh()

    def ingest_settings(self) -> IngestSettings:
        return IngestSettings(
            inbox=self.config.inbox, archive=self.config.archive,
            quarantine=self.config.quarantine, decoder=self.config.ingest.decoder,
            stability_s=self.config.ingest.stability.total_seconds(),
            workers=self.config.ingest.workers, default_timezone=self.config.timezone,
            athlete_timezones={a.id: a.timezone for a in self.config.athletes if a.timezone},
        )

    def evaluate(self, *, as_of: date | None = None, dry_run: bool = False,
                 athlete_id: str | None = None, rule_id: str | None = None) -> EvaluationReport:
        def enqueue(session: Any, alert: Alert, kind: str) -> None:
            enqueue_alert(session, self.config, alert, kind)

        return evaluate(self.store, self.config, self.rules, as_of=as_of, enqueue=enqueue,
                        dry_run=dry_run, athlete_id=athlete_id, rule_id=rule_id)

    def dispatch(self, *, ignore_backoff: bool = False) -> Counter[str]:
        return dispatch_due(self.store, self.config, ignore_backoff=ignore_backoff)


def config_path_from(arg: str | None) -> tuple[Path, bool]:
    """The config file to read and whether the user named it (a named file must exist)."""
    if arg:
        return Path(arg), True
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV]), True
    return Path(DEFAULT_CONFIG_NAME), False


def load_config(arg: str | None) -> tuple[ServiceConfig, Path | None]:
    path, named = config_path_from(arg)
    if path.is_file():
        return load_service_config(path), path
    if named:
        raise ConfigError([f"{path}: config file not found"])
    return default_service_config(Path.cwd()), None


def open_app(arg: str | None) -> App:
    config, path = load_config(arg)
    rule_paths = list(config.rules) or None
    rule_set = load_rules(rule_paths)
    store = open_store(config.database)
    return App(config, path, RulesReloader(rule_set, rule_paths), store)


# --- commands ---------------------------------------------------------------------------------


def cmd_check_config(args: argparse.Namespace) -> int:
    errors: list[str] = []
    config = None
    try:
        config, _path = load_config(args.config)
    except ConfigError as exc:
        errors.extend(exc.errors)
    if config is not None:
        try:
            load_rules(list(config.rules) or None)
        except ConfigError as exc:
            errors.extend(exc.errors)
    if errors:
        print("\n".join(errors), file=sys.stderr)
        return EXIT_CONFIG
    assert config is not None
    rules_files = ", ".join(str(p) for p in config.rules) or f"{SHIPPED_RULES} (shipped)"
    print(f"config ok: database {redact_url(config.database)}, inbox {config.inbox}, "
          f"rules {rules_files}")
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    folder = Path(args.dir or ".")
    folder.mkdir(parents=True, exist_ok=True)
    for source, name in ((EXAMPLE_CONFIG, DEFAULT_CONFIG_NAME), (SHIPPED_RULES, "rules.yaml"),
                         (SHIPPED_ADVICE, "advice.yaml")):
        target = folder / name
        if target.exists():
            print(f"kept existing {target}")
        else:
            shutil.copyfile(source, target)
            print(f"wrote {target}")
    config = load_service_config(folder / DEFAULT_CONFIG_NAME)
    for path in (config.inbox, config.archive, config.quarantine, config.mail_dir):
        path.mkdir(parents=True, exist_ok=True)
    print(f"drop FIT files into {config.inbox}/<athlete-id>/ and run: "
          f"strideguard --config {folder / DEFAULT_CONFIG_NAME} run")
    return 0


def run_cycle(app: App) -> list[IngestOutcome]:
    """One full cycle: scan → ingest → evaluate → deliver everything queued.

    It evaluates even without new files (a new day can fire a rule) and retries queued
    notifications whatever their backoff: whoever runs a cycle by hand wants it now.
    """
    outcomes = ingest_inbox(app.store, app.ingest_settings())
    app.evaluate()
    app.dispatch(ignore_backoff=True)
    return outcomes


def cmd_run(args: argparse.Namespace) -> int:
    app = open_app(args.config)
    log.info("database %s, inbox %s", redact_url(app.config.database), app.config.inbox)
    if app.config.schedule.digest:
        log.warning("schedule.digest is set but the weekly digest is not implemented yet; "
                    "no digest will be sent")
    app.config.inbox.mkdir(parents=True, exist_ok=True)
    if args.once:
        outcomes = run_cycle(app)
        summary = Counter(o.status for o in outcomes)
        log.info("cycle done: %s", dict(summary) or "inbox empty")
        return 0
    return run_service(app)


class ScanTrigger:
    """When the inbox scan job runs next; thread-safe (file events arrive on their own thread).

    The job keeps its interval (the full rescan that is the guarantee). `poke()` moves its next
    run to the debounce from now, never later than it already is; a poke while a scan runs
    marks the inbox dirty, and the running job scans again as soon as it ends (`run`), so a
    file never waits for the interval. After `close()` nothing touches the scheduler any more:
    the job must never wait for the scheduler's lock while a shutdown holds it and waits for
    the job.
    """

    def __init__(self, scheduler: BackgroundScheduler, job_id: str, debounce_s: float,
                 stopping: threading.Event) -> None:
        self._scheduler = scheduler
        self._job_id = job_id
        self._debounce_s = debounce_s
        self._stopping = stopping
        self._lock = threading.Lock()
        self._running = False
        self._dirty = False
        self._closed = False
        self._due: datetime | None = None  # a poked run not yet started
        self._last_poke = 0.0  # time.monotonic() of the last poke

    def poke(self) -> None:
        """Something may have arrived (a file event): scan within the debounce."""
        with self._lock:
            self._last_poke = time.monotonic()
            if self._running:
                self._dirty = True
                return
            self._bring_forward(self._debounce_s)

    def _bring_forward(self, delay_s: float) -> None:
        """Move the next scan to `delay_s` from now unless it comes sooner; holds self._lock."""
        if self._closed:
            return
        now = datetime.now(UTC)
        due = now + timedelta(seconds=delay_s)
        if self._due is not None and now <= self._due <= due:
            return  # a poked scan is already coming soon enough (the cheap path of a burst)
        job = self._scheduler.get_job(self._job_id)
        if job is None or job.next_run_time is None:
            return
        if job.next_run_time > due:
            # under self._lock, so close() (before the shutdown) cannot overtake this call
            self._scheduler.modify_job(self._job_id, next_run_time=due)
            self._due = due

    def skipped(self, event: JobSubmissionEvent) -> None:
        """Scheduler listener: a scan run was skipped because the previous one still ran."""
        if event.job_id == self._job_id:
            log.debug("a scan is still running; the next one starts when it ends")
            self.poke()

    def run(self, scan: Callable[[], float | None]) -> None:
        """The job body: scan, and again while events came in during the scan.

        `scan` returns in how many seconds to look again (files still being copied), or None.
        """
        with self._lock:
            self._running, self._dirty, self._due = True, False, None
        again_in: float | None = None
        try:
            while True:
                again_in = scan()
                with self._lock:
                    if not self._dirty or self._closed or self._stopping.is_set():
                        break
                    self._dirty = False
                    quiet_s = self._last_poke + self._debounce_s - time.monotonic()
                # let a burst of events settle, but no longer than the debounce
                if quiet_s > 0 and self._stopping.wait(quiet_s):
                    break
        finally:
            with self._lock:
                self._running = False
                if again_in is not None and not self._stopping.is_set():
                    self._bring_forward(again_in)

    def close(self) -> None:
        with self._lock:
            self._closed = True


def _not_a_scan_skip(record: logging.LogRecord) -> bool:
    """APScheduler warns each time the interval comes round during a long scan; ScanTrigger
    handles that (a scan follows right after), so it is no news for an operator."""
    message = record.getMessage()
    return not ("scan_job" in message and "maximum number of running instances" in message)


def run_service(app: App) -> int:
    """The long-running service until SIGTERM/SIGINT; the current file is finished first.

    The inbox is scanned at start and every scan_interval; native file events (ingest.watch)
    only bring the next scan forward.
    """
    stopping = threading.Event()

    def stop(signum: int, _frame: Any) -> None:
        # only flag it: the main thread does the shutdown, outside the signal handler
        if not stopping.is_set():
            log.info("received %s, finishing the current work", signal.Signals(signum).name)
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    evaluation_lock = threading.Lock()
    scheduler = BackgroundScheduler(
        timezone=app.config.timezone,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
    )
    schedule = app.config.schedule
    settings = app.ingest_settings()
    trigger = ScanTrigger(scheduler, "scan", SCAN_DEBOUNCE_S, stopping)
    first_scan = threading.Event()

    def scan_once() -> float | None:
        outcomes = ingest_inbox(app.store, settings, should_continue=lambda: not stopping.is_set())
        if not first_scan.is_set():
            first_scan.set()
            log.info("initial scan of %s done: %s", settings.inbox,
                     dict(Counter(o.status for o in outcomes)) or "inbox empty")
        if any(o.status == "ingested" for o in outcomes):
            with evaluation_lock:
                app.reload_rules()
                app.evaluate()
            app.dispatch()
        if any(o.status == "waiting" for o in outcomes):
            # a file still being copied: look again once it may be stable, not a whole interval
            return max(settings.stability_s, SCAN_DEBOUNCE_S)
        return None

    def scan_job() -> None:
        trigger.run(scan_once)

    def evaluate_job() -> None:
        with evaluation_lock:
            app.reload_rules()
            app.evaluate()

    def rules_job() -> None:
        # an edited rules file is taken into use, and evaluated at once, without a restart
        with evaluation_lock:
            reloaded = app.reload_rules()
            if reloaded:
                app.evaluate()
        if reloaded:
            app.dispatch()

    watcher = InboxWatcher(app.config.inbox, trigger.poke, app.config.ingest.watch,
                           exclude=(app.config.archive, app.config.quarantine),
                           poll_interval_s=schedule.scan_interval.total_seconds())
    try:
        events_on = watcher.start()  # before the first scan, so nothing slips in between
    except WatchError as exc:
        log.error("%s", exc)
        app.store.dispose()
        return EXIT_CONFIG

    now = datetime.now(UTC)
    scheduler.add_job(scan_job, IntervalTrigger(seconds=schedule.scan_interval.total_seconds()),
                      id="scan", next_run_time=now)
    scheduler.add_job(evaluate_job, CronTrigger(hour=schedule.evaluate_at.hour,
                                                minute=schedule.evaluate_at.minute,
                                                timezone=app.config.timezone), id="evaluate")
    scheduler.add_job(app.dispatch,
                      IntervalTrigger(seconds=schedule.dispatch_interval.total_seconds()),
                      id="dispatch", next_run_time=now)
    scheduler.add_job(rules_job, IntervalTrigger(seconds=RULES_CHECK_INTERVAL_S), id="rules")
    scheduler.add_listener(trigger.skipped, EVENT_JOB_MAX_INSTANCES)
    scheduler_log = logging.getLogger("apscheduler.scheduler")
    scheduler_log.addFilter(_not_a_scan_skip)
    log.info("scanning %s every %gs%s; evaluating daily at %s %s", app.config.inbox,
             schedule.scan_interval.total_seconds(), " and on file events" if events_on else "",
             schedule.evaluate_at.strftime("%H:%M"), app.config.timezone)
    scheduler.start()
    try:
        while not stopping.is_set():
            time.sleep(0.2)  # a signal interrupts the sleep; its handler sets `stopping`
    finally:
        watcher.stop()
        trigger.close()
        # waits for running jobs; the scan job stops after its current file
        scheduler.shutdown(wait=True)
        scheduler_log.removeFilter(_not_a_scan_skip)
        app.store.dispose()
    log.info("stopped")
    return 0


PROBLEM_ROWS_SHOWN = 50


class _FilesPerSecond(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:.1f} files/s")


class _IngestProgress:
    """A progress bar over inbox files with running counts, then a summary of the outcomes."""

    def __init__(self, title: str, total: int) -> None:
        self.counts: Counter[str] = Counter()
        self.activities = 0
        self.progress = Progress(
            TextColumn(f"[bold]{title}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[counts]}"),
            _FilesPerSecond(),
            TimeElapsedColumn(), TimeRemainingColumn(),
            console=Console(stderr=True), transient=False)
        self.task = self.progress.add_task(title, total=total, counts="")

    def __enter__(self) -> _IngestProgress:
        if not log.isEnabledFor(logging.DEBUG):  # the bar and the summary say it per file
            logging.getLogger("strideguard.ingest").setLevel(logging.WARNING)
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)  # type: ignore[arg-type]

    def on_outcome(self, outcome: IngestOutcome) -> None:
        self.counts[outcome.status] += 1
        self.activities += len(outcome.activity_ids)
        errors = self.counts["quarantined"] + self.counts["error"]
        shown = ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items())
                          if k not in ("quarantined", "error"))
        self.progress.update(
            self.task, advance=1 if outcome.completes_file else 0,
            counts=f"{shown} | activities {self.activities} | errors {errors}")


def print_ingest_summary(outcomes: Sequence[IngestOutcome], title: str) -> None:
    """Counts per outcome, then every file that was not simply stored, with its reason."""
    console = Console()
    totals = Table(title=title)
    for column in ("outcome", "FIT files", "activities", "records"):
        totals.add_column(column, justify="right" if column != "outcome" else "left")
    for status in sorted({o.status for o in outcomes}):
        rows = [o for o in outcomes if o.status == status]
        totals.add_row(status, str(len(rows)), str(sum(len(o.activity_ids) for o in rows)),
                       str(sum(o.record_count for o in rows)))
    console.print(totals)
    notable = [o for o in outcomes if o.status not in ("ingested", "reprocessed") or o.warnings]
    if not notable:
        return
    details = Table(title="files worth a look")
    for column in ("file", "athlete", "outcome", "reason or warning"):
        details.add_column(column)
    for outcome in notable[:PROBLEM_ROWS_SHOWN]:
        details.add_row(outcome.label, outcome.athlete_id, outcome.status,
                        outcome.reason or "; ".join(outcome.warnings))
    console.print(details)
    if len(notable) > PROBLEM_ROWS_SHOWN:
        console.print(f"... and {len(notable) - PROBLEM_ROWS_SHOWN} more "
                      "(see `strideguard activities` and the .reason.txt files)")


def cmd_ingest(args: argparse.Namespace) -> int:
    app = open_app(args.config)
    paths = [Path(p) for p in args.paths]
    missing = [p for p in paths if not p.exists()]
    for path in missing:
        print(f"strideguard ingest: {path}: no such file or folder", file=sys.stderr)
    items = _items_from_paths(paths, app.config.inbox, args.athlete)
    if not items:
        print("no .fit, .fit.gz or .zip files found in " + ", ".join(args.paths))
        return 1 if missing else 0
    # files named on the command line are taken now: no waiting for them to settle
    settings = replace(app.ingest_settings(), stability_s=0.0)
    with _IngestProgress("ingest", len(items)) as progress:
        outcomes = ingest_inbox(app.store, settings, on_outcome=progress.on_outcome,
                                items=items)
    print_ingest_summary(outcomes, f"ingested {len(items)} files")
    if any(o.status == "ingested" for o in outcomes):
        app.evaluate()
        app.dispatch()
    return 1 if missing else 0


def cmd_reprocess(args: argparse.Namespace) -> int:
    app = open_app(args.config)
    with app.store.session() as session:
        query = select(func.count()).select_from(SourceFile).where(
            SourceFile.status.in_(("ingested", "skipped")))
        if args.athlete:
            query = query.where(SourceFile.athlete_id == args.athlete)
        total = session.scalar(query) or 0
    with _IngestProgress("reprocess", total) as progress:
        outcomes = reprocess_archive(app.store, app.ingest_settings(), args.athlete,
                                     on_outcome=progress.on_outcome)
    print_ingest_summary(outcomes, f"re-read {total} archived files")
    return 1 if any(o.status == "error" for o in outcomes) else 0


def _items_from_paths(paths: Sequence[Path], inbox: Path,
                      athlete: str | None) -> list[InboxFile]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and is_fit_name(p)))
        elif path.is_file():
            files.append(path)
    items = []
    for file in files:
        resolved = file.resolve()
        if athlete:
            owner = athlete
        elif resolved.is_relative_to(inbox.resolve()):
            owner = athlete_for(resolved, inbox.resolve())
        else:
            owner = "default"
        items.append(InboxFile(resolved, owner))
    return items


def cmd_activities(args: argparse.Namespace) -> int:
    app = open_app(args.config)
    with app.store.session() as session:
        query = select(Activity, SourceFile).join(SourceFile).order_by(Activity.start_utc)
        if args.athlete:
            query = query.where(Activity.athlete_id == args.athlete)
        rows = []
        for activity, source in session.execute(query).all():
            zone = ZoneInfo(app.config.timezone_for(activity.athlete_id))
            rows.append({
                "id": activity.id, "athlete": activity.athlete_id, "sport": activity.sport,
                "sub_sport": activity.sub_sport,
                "start_utc": activity.start_utc.isoformat(),
                "start_local": activity.start_utc.astimezone(zone).isoformat(),
                "distance_m": activity.distance_m, "timer_s": activity.timer_s,
                "steady_cadence_spm": activity.steady_cadence_spm,
                "avg_cadence_spm": activity.avg_cadence_spm,
                "source_file": source.original_name, "source_member": source.container_member,
                "decoder": activity.decoder, "warnings": activity.warnings,
            })
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = Table(title=f"{len(rows)} activities")
    for column in ("id", "athlete", "sport", "start (local)", "km", "time", "cadence spm",
                   "file"):
        table.add_column(column)
    for row in rows:
        minutes = (row["timer_s"] or 0) / 60
        cadence = row["steady_cadence_spm"] or row["avg_cadence_spm"]
        table.add_row(str(row["id"]), row["athlete"],
                      f"{row['sport']}/{row['sub_sport'] or '-'}", row["start_local"][:16],
                      f"{(row['distance_m'] or 0) / 1000:.2f}", f"{minutes:.0f} min",
                      f"{cadence:.0f}" if cadence else "-", row["source_file"])
    Console().print(table)
    return 0


def _parse_day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError as exc:
        raise ValueError(f"--as-of: expected a date YYYY-MM-DD, got {text!r} ({exc})") from exc


def _rule_or_error(app: App, rule_id: str) -> Rule:
    rule = app.rules.rule(rule_id)
    if rule is None:
        raise ConfigError(f"no rule {rule_id!r}; the rules are: "
                          f"{', '.join(r.id for r in app.rules.rules)}")
    return rule


def _thresholds_text(rule: Rule, overrides: dict[str, Any] | None) -> str:
    return ", ".join(f"{severity} {condition}"
                     for severity, condition in rule.thresholds(overrides).items())


def cmd_evaluate(args: argparse.Namespace) -> int:
    app = open_app(args.config)
    if args.rule:
        _rule_or_error(app, args.rule)
    report = app.evaluate(as_of=_parse_day(args.as_of), dry_run=args.dry_run,
                          athlete_id=args.athlete, rule_id=args.rule)
    if not args.dry_run:
        app.dispatch()
    rows = [{
        "rule": f.rule.id, "athlete": f.athlete_id, "as_of": f.as_of.isoformat(),
        "metric": f.rule.metric, "window": CATALOGUE[f.rule.metric].meaning,
        "value": f.value, "severity": f.severity, "condition": f.condition,
        "threshold": f.threshold,
        "thresholds": _thresholds_text(f.rule, app.config.overrides_for(f.athlete_id, f.rule.id)),
        "when": str(f.rule.when) if f.rule.when else None,
        "detail": f.result.detail,
    } for f in report.findings]
    changes = [{"change": t.kind, "rule": t.finding.rule.id, "athlete": t.finding.athlete_id,
                "alert_id": t.alert_id, "notified": t.notified,
                "silenced_reason": t.silenced_reason, "summary": t.summary}
               for t in report.transitions]
    changes += [{"change": "resolved", "rule": r.rule_id, "athlete": r.athlete_id,
                 "alert_id": r.alert_id, "notified": True, "silenced_reason": None,
                 "summary": "the rule is no longer in force"} for r in report.retired]
    if args.json:
        print(json.dumps({"dry_run": args.dry_run, "findings": rows, "changes": changes},
                         indent=2))
        return 0
    table = Table(title="rules" + (" (dry run: nothing stored or sent)" if args.dry_run else ""))
    for column in ("athlete", "rule", "metric (window)", "value", "thresholds", "fires"):
        table.add_column(column)
    for row in rows:
        value = "null (not enough data)" if row["value"] is None else f"{row['value']:g}"
        fires = f"{row['severity']} ({row['condition']})" if row["severity"] else "-"
        when = f"; when {row['when']}" if row["when"] else ""
        table.add_row(row["athlete"], row["rule"], f"{row['metric']} ({row['window']})", value,
                      row["thresholds"] + when, fires)
    Console().print(table)
    for change in changes:
        note = "" if change["notified"] else f" [not sent: {change['silenced_reason']}]"
        print(f"{change['change']}: {change['rule']} for {change['athlete']}: "
              f"{change['summary']}{note}")
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    app = open_app(args.config)
    rule = _rule_or_error(app, args.rule)
    timezone_name = app.config.timezone_for(args.athlete)
    as_of = _parse_day(args.as_of) or local_today(timezone_name, datetime.now(UTC))
    if args.days < 1:
        raise ValueError(f"--days: expected a positive number of days, got {args.days}")
    with app.store.session() as session:
        verdicts = explain_rule(session, app.config, rule, args.athlete, as_of, args.days)
    spec = CATALOGUE[rule.metric]
    console = Console()
    console.print(f"[bold]{rule.id}[/bold]: {rule.description}")
    console.print(f"metric {rule.metric}: {spec.meaning} ({spec.unit_for(rule.load)}); fires at "
                  f"{_thresholds_text(rule, app.config.overrides_for(args.athlete, rule.id))}"
                  + (f"; only when {rule.when}" if rule.when else "")
                  + (f"; needs {rule.min_history.days} days of history"
                     if rule.min_history.days else ""))
    table = Table(title=f"{args.athlete}, {verdicts[0].day} to {as_of} ({timezone_name})")
    for column in ("day", "value", "band", "rule says"):
        table.add_column(column)
    for verdict in verdicts:
        value = "null" if verdict.value is None else f"{verdict.value:g}"
        says = verdict.severity or ("- (held back: `when` does not hold)"
                                    if verdict.held_back_by_when else "-")
        table.add_row(verdict.day.isoformat(), value, spec.band(verdict.value, rule.load), says)
    console.print(table)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    app = open_app(args.config)
    as_of_arg = _parse_day(args.as_of)
    athletes: list[dict[str, Any]] = []
    with app.store.session() as session:
        ids = sorted(set(session.scalars(select(Athlete.id)).all())
                     | {a.id for a in app.config.athletes})
        if args.athlete:
            ids = [args.athlete]
        for athlete_id in ids:
            timezone_name = app.config.timezone_for(athlete_id)
            day = as_of_arg or local_today(timezone_name, datetime.now(UTC))
            _history, results = athlete_metrics(session, athlete_id, timezone_name, day)
            athletes.append({"athlete": athlete_id, "as_of": day.isoformat(),
                             "metrics": {name: r.value for name, r in results.items()}})
    as_of_text = (as_of_arg or local_today(app.config.timezone, datetime.now(UTC))).isoformat()
    if args.json:
        print(json.dumps({"as_of": as_of_text, "athletes": [
            {"athlete": a["athlete"], "metrics": a["metrics"]} for a in athletes]}, indent=2))
        return 0
    console = Console()
    for athlete in athletes:
        table = Table(title=f"{athlete['athlete']} as of {athlete['as_of']}")
        for column in ("metric", "value", "unit", "what it means", "band"):
            table.add_column(column)
        for name, value in athlete["metrics"].items():
            spec = CATALOGUE[name]
            table.add_row(name, "not enough data" if value is None else f"{value:g}", spec.unit,
                          spec.meaning, spec.band(value))
        console.print(table)
    return 0


def cmd_alerts(args: argparse.Namespace) -> int:
    app = open_app(args.config)
    with app.store.session() as session:
        alerts = session.scalars(select(Alert).order_by(Alert.fired_at)).all()
        rows = [{
            "alert_id": alert.id, "rule": alert.rule_id, "athlete": alert.athlete_id,
            "episode": alert.episode, "severity": alert.severity, "value": alert.value,
            "as_of": alert.as_of.isoformat(), "fired_at": alert.fired_at.isoformat(),
            "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
            "not_sent_because": alert.silenced_reason,
            "summary": alert.payload.get("summary"),
            "deliveries": [{"channel": m.channel, "kind": m.kind, "status": m.status,
                            "attempts": m.attempts, "last_error": m.last_error}
                           for m in session.scalars(select(OutboxMessage).where(
                               OutboxMessage.alert_id == alert.id)).all()],
        } for alert in alerts]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = Table(title=f"{len(rows)} alerts")
    for column in ("fired", "athlete", "rule", "severity", "state", "deliveries"):
        table.add_column(column)
    for row in rows:
        state = "resolved" if row["resolved_at"] else "firing"
        deliveries = ", ".join(f"{d['channel']} {d['kind']} {d['status']}"
                               for d in row["deliveries"]) or (
            f"not sent: {row['not_sent_because']}" if row["not_sent_because"] else "-")
        table.add_row(row["fired_at"][:16], row["athlete"], row["rule"], row["severity"], state,
                      deliveries)
    Console().print(table)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from ingest.synthetic import demo_plan, write_plan

    folder = Path(args.dir or "strideguard-demo").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    config_file = folder / DEFAULT_CONFIG_NAME
    if not config_file.exists():
        config_file.write_text(
            "# StrideGuard demo: no channel configured, so alerts land in data/mail/*.eml\n"
            "database: sqlite:///data/strideguard.db\n"
            "timezone: UTC\n"
            "ingest:\n  stability: 0s\n"
            "athletes:\n  - id: demo-runner\n    name: Demo Runner\n"
            "    email: runner@example.com\n",
            encoding="utf-8",
        )
    app = open_app(str(config_file))
    today = local_today(app.config.timezone, datetime.now(UTC))
    written = write_plan(demo_plan(today), app.config.inbox / "demo-runner")
    print(f"wrote {len(written)} FIT files (ten weeks, last run a long-run spike) to "
          f"{app.config.inbox / 'demo-runner'}")
    run_cycle(app)
    with app.store.session() as session:
        alerts = session.scalars(select(Alert).where(Alert.athlete_id == "demo-runner")
                                 .order_by(Alert.fired_at)).all()
        mails = sorted(app.config.mail_dir.glob("*.eml"))
    if not alerts:
        print("no alert fired (was the demo already run here? see `strideguard alerts`)")
        return 0
    ranked = sorted(alerts, key=lambda a: ("info", "warn", "critical").index(a.severity),
                    reverse=True)
    for alert in ranked:
        print(f"\nALERT {alert.severity.upper()} {alert.rule_id}: {alert.payload['summary']}")
    print(f"\n{len(mails)} email(s) in {app.config.mail_dir} (open them in any mail client).")
    shown = next((m for m in mails if ranked[0].id.encode() in m.read_bytes()), None)
    if shown is not None:
        from email import message_from_bytes, policy
        message = message_from_bytes(shown.read_bytes(), policy=policy.default)
        body = message.get_body(preferencelist=("plain",))
        print(f"\n{shown.name}\nSubject: {message['Subject']}\n\n"
              f"{body.get_content() if body else ''}")
    print(f"try: strideguard --config {config_file} report")
    return 0


# --- entry point ------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="strideguard",
        description="Watch a folder of FIT files and alert runners about injury-risk patterns.")
    parser.add_argument("--config", help=f"config file (default: ${CONFIG_ENV}, "
                        f"else ./{DEFAULT_CONFIG_NAME}, else embedded defaults)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    init = commands.add_parser("init", help="write a starter config, rules and folders")
    init.add_argument("dir", nargs="?")
    init.set_defaults(handler=cmd_init)

    run = commands.add_parser("run", help="run the service (until SIGTERM/SIGINT)")
    run.add_argument("--once", action="store_true",
                     help="one cycle: scan, ingest, evaluate, deliver; then exit")
    run.set_defaults(handler=cmd_run)

    ingest = commands.add_parser("ingest", help="ingest files or folders now")
    ingest.add_argument("paths", nargs="+")
    ingest.add_argument("--athlete", help="athlete id for files outside the inbox")
    ingest.set_defaults(handler=cmd_ingest)

    reprocess = commands.add_parser(
        "reprocess", help="re-read archived originals and update activities in place")
    reprocess.add_argument("--athlete")
    reprocess.set_defaults(handler=cmd_reprocess)

    activities = commands.add_parser("activities", help="list stored activities")
    activities.add_argument("--athlete")
    activities.add_argument("--json", action="store_true")
    activities.set_defaults(handler=cmd_activities)

    evaluate_cmd = commands.add_parser("evaluate", help="evaluate the rules")
    evaluate_cmd.add_argument("--as-of", help="local date YYYY-MM-DD (default: today)")
    evaluate_cmd.add_argument("--dry-run", action="store_true",
                              help="show what would fire; store and send nothing")
    evaluate_cmd.add_argument("--athlete")
    evaluate_cmd.add_argument("--rule", help="only this rule id")
    evaluate_cmd.add_argument("--json", action="store_true")
    evaluate_cmd.set_defaults(handler=cmd_evaluate)

    explain = commands.add_parser(
        "explain", help="a rule's metric day by day for one athlete, and where it fires")
    explain.add_argument("rule", help="rule id")
    explain.add_argument("--athlete", required=True)
    explain.add_argument("--as-of", help="local date YYYY-MM-DD (default: today)")
    explain.add_argument("--days", type=int, default=28, help="days shown (default: 28)")
    explain.set_defaults(handler=cmd_explain)

    report = commands.add_parser("report", help="every metric per athlete")
    report.add_argument("--athlete")
    report.add_argument("--as-of", help="local date YYYY-MM-DD (default: today)")
    report.add_argument("--json", action="store_true")
    report.set_defaults(handler=cmd_report)

    alerts = commands.add_parser("alerts", help="alerts and their delivery state")
    alerts.add_argument("--json", action="store_true")
    alerts.set_defaults(handler=cmd_alerts)

    check = commands.add_parser("check-config", help="validate config and rules")
    check.set_defaults(handler=cmd_check_config)

    demo = commands.add_parser("demo", help="a ten-week synthetic history that fires an alert")
    demo.add_argument("dir", nargs="?")
    demo.set_defaults(handler=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    chatty = args.command in ("run", "ingest", "reprocess", "demo")
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO if chatty else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    if not args.verbose:
        # their INFO lines repeat every few seconds and say nothing an operator needs
        logging.getLogger("alembic").setLevel(logging.WARNING)
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
    try:
        return int(args.handler(args))
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_CONFIG
    except ValueError as exc:  # e.g. a malformed --as-of date
        print(f"strideguard: {exc}", file=sys.stderr)
        return EXIT_CONFIG


if __name__ == "__main__":
    sys.exit(main())
