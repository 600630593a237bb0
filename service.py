"""The long-running worker of `strideguard run`: the scheduler's jobs (inbox and source-folder
scan, evaluation, dispatch, rules reload), the scan trigger, the file watchers and signals.
Wiring only: every decision lives in a room, the process's config, rules and store in
`wiring.App`."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from config import redact_url
from config.locate import EXIT_CONFIG
from digest.schedule import FailedDigests
from ingest import (
    InboxWatcher,
    SourceFolders,
    SourceWatchers,
    WatchError,
    batch_needs_evaluation,
    ingest_inbox,
    rescan_delay_s,
)
from store.workers import record_single_cycle
from wiring import App, run_cycle, scan_sources
from wiring.evaluation import (
    CATCH_UP_INTERVAL_S,
    CatchUp,
    evaluate_batch,
    evaluate_daily,
    evaluate_rules_edit,
)
from wiring.http import ListenError
from wiring.operations import Operations

log = logging.getLogger("strideguard")
SCAN_DEBOUNCE_S = 1.0  # a file event brings the inbox scan forward to this far ahead
RULES_CHECK_INTERVAL_S = 2.0  # how often `run` looks for edits to the rules files
# how often `run` asks whether a weekly digest is due: athletes' time zones differ, and the
# ledger (not this process) decides who sends it, so a cheap frequent check beats exact timers
DIGEST_CHECK_INTERVAL_S = 20.0


def serve(app: App, *, once: bool = False) -> int:
    """`strideguard run`: one cycle with `once`, else the service until SIGTERM/SIGINT."""
    with app:  # the store is disposed of however this ends
        log.info("database %s, inbox %s", redact_url(app.config.database), app.config.inbox)
        app.config.inbox.mkdir(parents=True, exist_ok=True)
        if not once:
            return run_service(app)
        started_at = datetime.now(UTC)
        outcomes = run_cycle(app)
        # a row in `workers`, stopped at once: `status` shows this cycle as the last scan
        record_single_cycle(app.store, app.worker_id, started_at)
    log.info("cycle done: %s", dict(Counter(str(o.status) for o in outcomes)) or "inbox empty")
    return 0


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
    """APScheduler warns each time the interval comes round during a long scan (ScanTrigger
    then scans right after), a long digest pass, a long catch-up evaluation (the next check
    picks up the rest) or a rules check waiting for an evaluation to end: no news for an
    operator."""
    message = record.getMessage()
    return not (any(job in message
                    for job in ("scan_job", "digest_job", "catch_up_job", "rules_job"))
                and "maximum number of running instances" in message)


def run_service(app: App) -> int:
    """The long-running service until SIGTERM/SIGINT; the current file is finished first.

    The inbox, then the source folders, are scanned at start and every scan_interval; native
    file events (ingest.watch, sources[].watch) only bring the next scan forward.
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
    own_folders = (app.config.inbox, app.config.archive, app.config.quarantine)
    # a folder that comes back (a watch plugged in again) is watched anew for file events; a
    # source refused (overlapping StrideGuard's own folders) is neither read nor watched
    sources = SourceFolders(app.store, settings,
                            on_back=lambda source: source_watchers.restart(source))
    source_watchers = SourceWatchers(settings.sources, trigger.poke, exclude=own_folders,
                                     poll_interval_s=schedule.scan_interval.total_seconds(),
                                     usable=sources.sources)

    def scan_once() -> float | None:
        def should_continue() -> bool:
            return not stopping.is_set()

        # the folders it cannot list are logged, counted and shown by /readyz (InboxScan)
        inbox = operations.inbox_scan
        items = inbox.list_files((settings.archive, settings.quarantine))
        outcomes = ingest_inbox(app.store, settings, items=items,
                                should_continue=should_continue)
        # in the inbox's job (one scan at a time, one evaluation of what both brought); an
        # error there is logged and costs the inbox's outcomes nothing
        outcomes += scan_sources(sources, should_continue)
        # before the log line tests wait for; an inbox not listed is no successful scan
        operations.telemetry.record_scan(outcomes, inbox.unlisted_reasons(),
                                         inbox_listed=inbox.inbox_listed)
        if not first_scan.is_set():
            first_scan.set()
            unlisted = len(inbox.unlisted_reasons())
            log.info("initial scan of %s%s done: %s%s", settings.inbox,
                     f" and {len(sources.sources)} source folders" if sources.sources else "",
                     dict(Counter(str(o.status) for o in outcomes))
                     or ("nothing new" if sources.sources or unlisted else "inbox empty"),
                     f"; {unlisted} folders could not be listed (see above)" if unlisted else "")
        if batch_needs_evaluation(outcomes):
            with evaluation_lock:
                evaluate_rules_edit(app, should_continue)  # an edit met here is shared too
                evaluate_batch(app, outcomes)  # only the athletes the batch touched
            app.dispatch()
        # a file still being copied is looked at again once it may be stable, not an interval on
        return rescan_delay_s(outcomes, settings.stability_s, SCAN_DEBOUNCE_S)

    def scan_job() -> None:
        trigger.run(scan_once)

    def evaluate_job() -> None:
        # today's `daily:` trigger: each athlete evaluated once across the processes
        with evaluation_lock:
            evaluate_rules_edit(app, lambda: not stopping.is_set())
            evaluate_daily(app, datetime.now(UTC), lambda: not stopping.is_set())

    def rules_job() -> None:
        # an edited rules file is taken into use, and evaluated at once, without a restart
        # (shared with the other processes that reload the same edit)
        with evaluation_lock:
            report = evaluate_rules_edit(app, lambda: not stopping.is_set())
        if report is not None:
            app.dispatch()

    catch_up = CatchUp(app)

    def catch_up_job() -> None:
        # at start and now and then: a daily evaluation missed while down, and claims that a
        # killed or stopped process left open (wiring.evaluation)
        with evaluation_lock:
            reports = catch_up.run(datetime.now(UTC), lambda: not stopping.is_set())
        if any(report.transitions for report in reports):
            app.dispatch()

    started_at = datetime.now(UTC)
    # a store that never sent a digest sends none back-dated: the first goes out at the first
    # digest time after this start (DESIGN §8)
    digest_not_before = None if app.digest_sent_before() else started_at

    failed_digests = FailedDigests()

    def digest_job() -> None:
        # a shutdown finishes the digest being made; the rest are due again at the next start
        outcomes = app.queue_due_digests(datetime.now(UTC), digest_not_before, failed_digests,
                                         should_continue=lambda: not stopping.is_set())
        if any(o.status == "queued" for o in outcomes):
            app.dispatch()

    try:
        # before anything starts: a port in use stops the service with nothing left running
        operations = Operations(app, lambda: scheduler.running and not stopping.is_set())
    except ListenError as exc:
        log.error("%s", exc)
        return EXIT_CONFIG
    watcher = InboxWatcher(app.config.inbox, trigger.poke, app.config.ingest.watch,
                           exclude=(app.config.archive, app.config.quarantine),
                           poll_interval_s=schedule.scan_interval.total_seconds())
    try:
        events_on = watcher.start()  # before the first scan, so nothing slips in between
        sources_on_events = source_watchers.start()
    except WatchError as exc:
        log.error("%s", exc)
        watcher.stop()
        source_watchers.stop()
        operations.stop()
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
    scheduler.add_job(catch_up_job, IntervalTrigger(seconds=CATCH_UP_INTERVAL_S),
                      id="catch_up", next_run_time=now)
    if schedule.digest is not None:
        scheduler.add_job(digest_job, IntervalTrigger(seconds=DIGEST_CHECK_INTERVAL_S),
                          id="digest", next_run_time=now)
    scheduler.add_listener(trigger.skipped, EVENT_JOB_MAX_INSTANCES)
    scheduler_log = logging.getLogger("apscheduler.scheduler")
    scheduler_log.addFilter(_not_a_scan_skip)
    log.info("scanning %s every %gs%s; evaluating daily at %s %s; weekly digest %s",
             app.config.inbox, schedule.scan_interval.total_seconds(),
             " and on file events" if events_on else "", schedule.evaluate_at.strftime("%H:%M"),
             app.config.timezone, schedule.digest or "off")
    if sources.sources:
        log.info("reading %d source folders every %gs%s (copied, never changed): %s",
                 len(sources.sources), schedule.scan_interval.total_seconds(),
                 f", {sources_on_events} also on file events" if sources_on_events else "",
                 ", ".join(str(source.path) for source in sources.sources))
    operations.start()  # /readyz says "scheduler not running" until the next line
    scheduler.start()
    try:
        while not stopping.is_set():
            time.sleep(0.2)  # a signal interrupts the sleep; its handler sets `stopping`
    finally:
        watcher.stop()
        source_watchers.stop()
        trigger.close()
        # waits for running jobs; the scan job stops after its current file
        scheduler.shutdown(wait=True)
        scheduler_log.removeFilter(_not_a_scan_skip)
        operations.stop()  # the worker's row marked stopped, then the endpoint closed
    log.info("stopped")
    return 0
