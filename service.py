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
from wiring import App, run_cycle, scan_sources

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
        outcomes = run_cycle(app)
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
    then scans right after) or a long digest pass (the next check picks up the rest): no news
    for an operator."""
    message = record.getMessage()
    return not (("scan_job" in message or "digest_job" in message)
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

        outcomes = ingest_inbox(app.store, settings, should_continue=should_continue)
        # in the inbox's job (one scan at a time, one evaluation of what both brought); an
        # error there is logged and costs the inbox's outcomes nothing
        outcomes += scan_sources(sources, should_continue)
        if not first_scan.is_set():
            first_scan.set()
            log.info("initial scan of %s%s done: %s", settings.inbox,
                     f" and {len(sources.sources)} source folders" if sources.sources else "",
                     dict(Counter(str(o.status) for o in outcomes))
                     or ("nothing new" if sources.sources else "inbox empty"))
        if batch_needs_evaluation(outcomes):
            with evaluation_lock:
                app.reload_rules()
                app.evaluate()
            app.dispatch()
        # a file still being copied is looked at again once it may be stable, not an interval on
        return rescan_delay_s(outcomes, settings.stability_s, SCAN_DEBOUNCE_S)

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
    log.info("stopped")
    return 0
